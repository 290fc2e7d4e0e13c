// protovalidate's standard rules in the browser: a port of the server's checks
// (runtime/src/core/validate/), giving the same rule ids, messages and field paths, over values in
// their proto3 JSON form. The generated part below the helpers describes each message's rules as
// data; `violations(schema, value)` and each `…Schema` (zod) walk a value with them.
//
// Every rule is a refinement over this walker rather than a zod built-in: no built-in has
// protovalidate's semantics in proto3 JSON (lengths count code points, 64-bit integers are
// strings, floats may be "NaN", bytes are base64) or reports its rule id and message.
//
// Custom rules (`cel`, `cel_expression`) run on @bufbuild/cel (imported only when the schema has
// some), with the server's functions (`isEmail`, `isIp`, `unique`, ...) on the same checks as the
// standard rules'; a rule that cannot be evaluated, which fails the whole request on the server
// (INVALID_ARGUMENT "validation error: rule `id` could not be evaluated: ..."), is reported here
// as one violation of that rule with that message.
//
// Differences from the server, which cannot be helped in a browser:
// - `timestamp.lt_now`, `gt_now`, `within` and CEL's `now` read this machine's clock, not the
//   server's.
// - CEL runs on @bufbuild/cel, the server on the `cel` crate: both implement CEL's specification,
//   and agree on protovalidate's recorded cases (runtime/tests/validate_cases/), CEL rules included.
// - `pattern` runs on the JavaScript RegExp engine, with RE2's syntax translated (inline flags,
//   ASCII `\d \w \s \b`, `\z`, `(?P<name>`, `\p{Greek}`, POSIX classes; `[\W]` stays ASCII); a
//   pattern it cannot translate matches nothing, as on the server for a pattern that does not
//   compile.
// - A value that is not valid proto3 JSON for its field (a string in an int32 field that is not a
//   number) is a zod issue without a rule id, not a violation: the server refuses it before any
//   rule runs. `google.api.field_behavior` REQUIRED is checked by the server only.

import { z } from "zod";
// apigen:cel-begin
import { CelScalar, celEnv, celFunc, celMethod, celUint, isCelError, listType, objectType, parse, plan } from "@bufbuild/cel";
import type { CelFunc, CelInput, CelList, CelValue } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
// apigen:cel-end

/** One broken rule, as protovalidate reports it (`buf.validate.Violation`). */
export interface Violation {
  /** The field path as protovalidate renders it, with proto field names: `book.authors[0]`, `labels["k"]`. */
  field: string;
  /** The rule id: `string.min_len`, `required`, `message.oneof`. */
  ruleId: string;
  message: string;
}

/** A message's rules, as generated below. */
interface $Msg {
  f: $Field[];
  /** Required oneofs: the name and each member's JSON and proto name. */
  o?: { name: string; members: [string, string][] }[];
  /** `(buf.validate.message).oneof` groups. */
  mo?: { fields: $Field[]; required: boolean }[];
  /** The message's own custom (CEL) rules, and its fields as they see it (`this`). */
  c?: $Cel;
  s?: () => $CelField[];
}

/** How a value becomes CEL's `this`: a message's field (proto name, JSON name, type, presence...). */
interface $CelField {
  n: string;
  j: string;
  t: string;
  p?: boolean;
  c?: "list" | "map";
  k?: string;
  e?: Record<string, number>;
  /** A message's fields, for a message type. */
  s?: () => $CelField[];
  /** A well-known type with a JSON form of its own: `wrapper`, `struct`, `value`, `list_value`, `empty`, `field_mask`. */
  w?: string;
}

/**
 * Custom (CEL) rules at one place, compiled once (`$cel`). `check` evaluates each with `this`, the
 * proto3 JSON value `raw` at `at` (a field's whole value, one of its elements or keys, or a
 * message with its fields), and reports each broken rule.
 */
interface $Cel {
  check(at: $CelAt, raw: unknown, report: $Report): void;
}

type $CelAt = { f: $CelField; part: "value" | "element" | "key" } | { m: $CelField[] };

/** A field: proto name, JSON name, type (map: value type), presence, collection, rules. */
interface $Field extends $CelField {
  /** Presence: proto3 `optional`, a oneof member or a message. */
  p?: boolean;
  /** A map's key type. */
  k?: string;
  req?: boolean;
  /** `ignore: IGNORE_IF_ZERO_VALUE`. */
  zero?: boolean;
  r?: $Rules;
  /** `repeated.items`, or `map.keys`. */
  i?: $Rules;
  /** `map.values`. */
  v?: $Rules;
  /** A nested message with rules. */
  m?: () => $Msg;
  /** An enum's values by name. */
  e?: Record<string, number>;
  /** Custom rules: the field's, its items' (or a map's keys'), a map's values'. */
  x?: $Cel;
  ix?: $Cel;
  vx?: $Cel;
  /** `ignore` of the items (or keys), of the values. */
  ig?: "zero" | "always";
  vg?: "zero" | "always";
}

/** One type's rules, by their names in its `*Rules` message (`kind`: which message). */
interface $Rules {
  kind: string;
  const?: unknown;
  len?: unknown;
  min_len?: unknown;
  max_len?: unknown;
  len_bytes?: unknown;
  min_bytes?: unknown;
  max_bytes?: unknown;
  pattern?: unknown;
  prefix?: unknown;
  suffix?: unknown;
  contains?: unknown;
  not_contains?: unknown;
  in?: unknown;
  not_in?: unknown;
  lt?: unknown;
  lte?: unknown;
  gt?: unknown;
  gte?: unknown;
  finite?: unknown;
  defined_only?: unknown;
  /** An enum's numbers, for `defined_only`. */
  defined?: unknown;
  lt_now?: unknown;
  gt_now?: unknown;
  within?: unknown;
  min_items?: unknown;
  max_items?: unknown;
  unique?: unknown;
  min_pairs?: unknown;
  max_pairs?: unknown;
  /** The string and bytes formats (`email: true`). */
  [format: string]: unknown;
}

/** What a walk finds: a violation, or a value that is not proto3 JSON (no rule id). */
interface $Issue extends Violation {
  path: (string | number)[];
}

class $Bad extends Error {}

const $registry = new WeakMap<object, $Msg>();

/**
 * The violations the server would report for `value` (a request in its proto3 JSON form), in the
 * server's order (map entries in their JSON order); empty when it passes. `schema` is one of the
 * `…Schema` exports of this file (not one derived from it: that would check other rules).
 */
export function violations(schema: z.ZodType, value: unknown): Violation[] {
  const desc = $registry.get(schema);
  if (desc === undefined) throw new TypeError("violations() takes one of the …Schema exports of validate.ts");
  return $walk(desc, value)
    .filter((i) => i.ruleId !== "")
    .map(({ field, ruleId, message }) => ({ field, ruleId, message }));
}

function $walk(desc: $Msg, value: unknown): $Issue[] {
  const out: $Issue[] = [];
  if ($isObject(value)) $message(desc, value, [], [], out);
  return out;
}

/** A zod schema for a message: its issues carry the server's messages, `params.ruleId` and `params.field`. */
function $schema<T>(desc: $Msg): z.ZodType<T> {
  const schema = z
    .custom<T>((v) => $isObject(v), { error: "must be a JSON object" })
    .superRefine((value, ctx) => {
      for (const issue of $walk(desc, value)) {
        ctx.addIssue({
          code: "custom",
          message: issue.message,
          path: issue.path,
          params: { ruleId: issue.ruleId, field: issue.field },
        });
      }
    });
  $registry.set(schema, desc);
  return schema;
}

function $isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function $get(obj: Record<string, unknown>, f: { j: string; n: string }): [unknown, string] {
  if (Object.prototype.hasOwnProperty.call(obj, f.j)) return [obj[f.j], f.j];
  if (Object.prototype.hasOwnProperty.call(obj, f.n)) return [obj[f.n], f.n];
  return [undefined, f.j];
}

function $message(desc: $Msg, obj: Record<string, unknown>, fp: string[], jp: (string | number)[], out: $Issue[]) {
  // The message's own custom rules first, at its place, as the server reports them.
  if (desc.c !== undefined && desc.s !== undefined) {
    try {
      desc.c.check({ m: desc.s() }, obj, (id, msg) => $report(out, fp, jp, id, msg));
    } catch (e) {
      if (!(e instanceof $Bad)) throw e;
      out.push({ field: fp.join("."), path: jp, ruleId: "", message: e.message });
    }
  }
  for (const f of desc.f) $field(f, obj, fp, jp, out);
  for (const o of desc.o ?? []) {
    const set = o.members.some(([j, n]) => $present(obj[j]) || $present(obj[n]));
    if (!set) $report(out, [...fp, o.name], jp, "required", "exactly one field is required in oneof");
  }
  for (const group of desc.mo ?? []) {
    const count = group.fields.filter((f) => {
      try {
        return $isSet(f, $get(obj, f)[0]);
      } catch {
        return true;
      }
    }).length;
    const names = group.fields.map((f) => f.n).join(", ");
    if (count > 1) $report(out, fp, jp, "message.oneof", `only one of ${names} can be set`);
    else if (count === 0 && group.required) $report(out, fp, jp, "message.oneof", `one of ${names} must be set`);
  }
}

function $present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function $report(out: $Issue[], fp: string[], jp: (string | number)[], ruleId: string, message: string) {
  out.push({ field: fp.join("."), path: jp, ruleId, message });
}

/** Whether a field counts as set: present, or without presence, not its zero value. */
function $isSet(f: $Field, raw: unknown): boolean {
  if (!$present(raw)) return false;
  if (f.p) return true;
  if (f.c === "list") return Array.isArray(raw) && raw.length > 0;
  if (f.c === "map") return $isObject(raw) && Object.keys(raw).length > 0;
  return !$isZero(f.t, $decode(f, f.t, raw));
}

function $isZero(t: string, v: unknown): boolean {
  switch (t) {
    case "string":
      return v === "";
    case "bytes":
      return (v as number[]).length === 0;
    case "bool":
      return v === false;
    case "message":
    case "duration":
    case "timestamp":
    case "any":
      return false;
    default:
      return v === 0 || v === 0n;
  }
}

function $zero(f: $Field): unknown {
  if (f.c === "list") return [];
  if (f.c === "map") return {};
  switch (f.t) {
    case "string":
    case "bytes":
      return "";
    case "bool":
      return false;
    default:
      return 0;
  }
}

function $field(f: $Field, obj: Record<string, unknown>, fp: string[], jp: (string | number)[], out: $Issue[]) {
  const [raw, key] = $get(obj, f);
  const here = [...fp, f.n];
  const jhere = [...jp, key];
  try {
    if (f.p) {
      if (!$present(raw)) {
        if (f.req) $report(out, here, jhere, "required", "value is required");
        return;
      }
      $checks(f, raw, here, jhere, out);
      return;
    }
    const set = $isSet(f, raw);
    if (f.req && !set) {
      $report(out, here, jhere, "required", "value is required");
      return;
    }
    if (f.zero && !set) return;
    $checks(f, $present(raw) ? raw : $zero(f), here, jhere, out);
  } catch (e) {
    if (!(e instanceof $Bad)) throw e;
    out.push({ field: here.join("."), path: jhere, ruleId: "", message: e.message });
  }
}

function $checks(f: $Field, raw: unknown, here: string[], jhere: (string | number)[], out: $Issue[]) {
  const last = here.length - 1;
  const name = here[last];
  // Custom rules come first, as the server reports them.
  const custom = (cel: $Cel | undefined, at: $CelAt, x: unknown, fp: string[], jp: (string | number)[]) =>
    cel?.check(at, x, (id, msg) => $report(out, fp, jp, id, msg));
  if (f.c === "list") {
    if (!Array.isArray(raw)) throw new $Bad("must be a JSON array");
    const items = raw.map((x) => $decode(f, f.t, x));
    custom(f.x, { f, part: "value" }, raw, here, jhere);
    if (f.r) $repeated(items, f.r, (id, msg) => $report(out, here, jhere, id, msg));
    items.forEach((item, i) => {
      if ($skip(f.ig, f.t, item)) return;
      const at = [...here.slice(0, last), `${name}[${i}]`];
      const jat = [...jhere, i];
      custom(f.ix, { f, part: "element" }, raw[i], at, jat);
      if (f.i) $value(f.i, item, (id, msg) => $report(out, at, jat, id, msg));
      if (f.m && $isObject(item)) $message(f.m(), item, at, jat, out);
    });
    return;
  }
  if (f.c === "map") {
    if (!$isObject(raw)) throw new $Bad("must be a JSON object");
    const entries = Object.entries(raw);
    custom(f.x, { f, part: "value" }, raw, here, jhere);
    if (f.r) $mapRules(entries.length, f.r, (id, msg) => $report(out, here, jhere, id, msg));
    for (const [k, x] of entries) {
      const key = $decode(f, f.k ?? "string", k);
      const at = [...here.slice(0, last), `${name}[${$subscript(f.k ?? "string", key)}]`];
      const jat = [...jhere, k];
      if (!$skip(f.ig, f.k ?? "string", key)) {
        custom(f.ix, { f, part: "key" }, k, at, jat);
        if (f.i) $value(f.i, key, (id, msg) => $report(out, at, jat, id, msg));
      }
      if (!$present(x)) continue;
      const value = $decode(f, f.t, x);
      if ($skip(f.vg, f.t, value)) continue;
      custom(f.vx, { f, part: "element" }, x, at, jat);
      if (f.v) $value(f.v, value, (id, msg) => $report(out, at, jat, id, msg));
      if (f.m && $isObject(value)) $message(f.m(), value, at, jat, out);
    }
    return;
  }
  const value = $decode(f, f.t, raw);
  custom(f.x, { f, part: "value" }, raw, here, jhere);
  if (f.r) $value(f.r, value, (id, msg) => $report(out, here, jhere, id, msg));
  if (f.m && $isObject(value)) $message(f.m(), value, here, jhere, out);
}

/** Whether an element's rules are skipped (`ignore` on items, keys or values). */
function $skip(ignore: "zero" | "always" | undefined, t: string, value: unknown): boolean {
  if (ignore === "always") return true;
  if (ignore !== "zero") return false;
  if (t === "message") return $isObject(value) && Object.keys(value).length === 0;
  return $isZero(t, value);
}

function $subscript(t: string, key: unknown): string {
  if (t === "string") return $quote(key as string);
  return String(key);
}

/** Rust's `{:?}` of a string, as the server renders a map key. */
function $quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c === 0) out += "\\0";
    else if (c < 0x20 || c === 0x7f) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

const $INT_RANGE: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/**
 * A proto3 JSON value of type `t` as the checks compare it: integers as bigint, floats as
 * number, enums as their number, bytes decoded, durations and timestamps as nanoseconds.
 */
function $decode(f: $Field, t: string, raw: unknown): unknown {
  const range = $INT_RANGE[t];
  if (range !== undefined) {
    let n: bigint;
    if (typeof raw === "number" && Number.isInteger(raw)) n = BigInt(raw);
    else if (typeof raw === "string" && /^-?[0-9]+$/.test(raw.trim())) n = BigInt(raw.trim());
    else throw new $Bad(`must be a ${t} (a JSON number or a string of digits)`);
    if (n < range[0] || n > range[1]) throw new $Bad(`must be a ${t} (out of range)`);
    return n;
  }
  switch (t) {
    case "double":
    case "float": {
      let x: number;
      if (typeof raw === "number") x = raw;
      else if (raw === "NaN") x = NaN;
      else if (raw === "Infinity") x = Infinity;
      else if (raw === "-Infinity") x = -Infinity;
      else if (typeof raw === "string" && raw.trim() !== "" && !Number.isNaN(Number(raw))) x = Number(raw);
      else throw new $Bad(`must be a ${t}`);
      return t === "float" ? Math.fround(x) : x;
    }
    case "bool":
      if (raw === true || raw === "true") return true;
      if (raw === false || raw === "false") return false;
      throw new $Bad("must be a boolean");
    case "string":
      if (typeof raw !== "string") throw new $Bad("must be a string");
      return raw;
    case "bytes": {
      const b = typeof raw === "string" ? $base64(raw) : undefined;
      if (b === undefined) throw new $Bad("must be base64");
      return b;
    }
    case "enum":
      if (typeof raw === "number" && Number.isInteger(raw)) return raw;
      if (typeof raw === "string" && f.e !== undefined && Object.prototype.hasOwnProperty.call(f.e, raw)) return f.e[raw];
      throw new $Bad("must be one of the enum's value names or numbers");
    case "duration": {
      const d = typeof raw === "string" ? $parseDuration(raw) : undefined;
      if (d === undefined) throw new $Bad('must be a duration such as "1.5s"');
      return d;
    }
    case "timestamp": {
      const ts = typeof raw === "string" ? $parseTimestamp(raw) : undefined;
      if (ts === undefined) throw new $Bad('must be an RFC 3339 timestamp such as "2020-01-01T00:00:00Z"');
      return ts;
    }
    case "any":
      if (!$isObject(raw) || typeof raw["@type"] !== "string") throw new $Bad('must be an object with "@type"');
      return raw["@type"];
    default:
      if (!$isObject(raw)) throw new $Bad("must be a JSON object");
      return raw;
  }
}

function $base64(s: string): number[] | undefined {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const clean = s.replace(/=+$/, "");
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of clean) {
    let v = alphabet.indexOf(ch);
    if (ch === "+" || ch === "-") v = 62;
    else if (ch === "/" || ch === "_") v = 63;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return clean.length % 4 === 1 ? undefined : out;
}

const $NANOS = 1_000_000_000n;

function $parseDuration(s: string): bigint | undefined {
  const m = /^(-)?([0-9]+)(?:\.([0-9]{1,9}))?s$/.exec(s);
  if (m === null) return undefined;
  const nanos = BigInt(m[2] ?? "0") * $NANOS + BigInt((m[3] ?? "").padEnd(9, "0"));
  return m[1] ? -nanos : nanos;
}

function $parseTimestamp(s: string): bigint | undefined {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))$/.exec(s);
  if (m === null) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  let seconds = BigInt(date.getTime() / 1000);
  if (m[8] !== undefined) {
    const offset = BigInt(Number(m[9]) * 3600 + Number(m[10]) * 60);
    seconds += m[8] === "+" ? -offset : offset;
  }
  return seconds * $NANOS + BigInt((m[7] ?? "").padEnd(9, "0"));
}

/** `%s` of a duration in CEL: seconds with the fraction's zeros trimmed. */
function $durationText(nanos: bigint): string {
  const negative = nanos < 0n;
  const abs = negative ? -nanos : nanos;
  const fraction = (abs % $NANOS).toString().padStart(9, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${abs / $NANOS}${fraction ? "." + fraction : ""}s`;
}

/** `%s` of a timestamp in CEL: RFC 3339 in UTC, the fraction's zeros trimmed. */
function $timestampText(nanos: bigint): string {
  let seconds = nanos / $NANOS;
  let rest = nanos % $NANOS;
  if (rest < 0n) {
    seconds -= 1n;
    rest += $NANOS;
  }
  const date = new Date(Number(seconds) * 1000);
  const fraction = rest.toString().padStart(9, "0").replace(/0+$/, "");
  return `${date.toISOString().slice(0, 19)}${fraction ? "." + fraction : ""}Z`;
}

/** A float as the server writes it: the shortest decimal, never with an exponent. */
function $floatText(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0";
  const s = String(x);
  const e = s.indexOf("e");
  if (e < 0) return s;
  const sign = s.startsWith("-") ? "-" : "";
  const mantissa = s.slice(sign.length, e);
  const exponent = Number(s.slice(e + 1));
  const [whole = "", frac = ""] = mantissa.split(".");
  const digits = whole + frac;
  const point = whole.length + exponent;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

type $Report = (ruleId: string, message: string) => void;

const $INTS = new Set(Object.keys($INT_RANGE));

/** The checks of one value (`value` decoded) against one type's rules. */
function $value(r: $Rules, value: unknown, report: $Report) {
  switch (r.kind) {
    case "string":
      return $string(value as string, r, report);
    case "bytes":
      return $bytes(value as number[], r, report);
    case "bool":
      if (r.const !== undefined && value !== r.const) report("bool.const", `must equal ${String(r.const)}`);
      return;
    case "enum":
      return $enum(value as number, r, report);
    case "duration":
      return $time(value as bigint, r, report, "duration", $durationText);
    case "timestamp":
      return $time(value as bigint, r, report, "timestamp", $timestampText);
    case "any":
      if (Array.isArray(r.in) && !(r.in as string[]).includes(value as string))
        report("any.in", "type URL must be in the allow list");
      if (Array.isArray(r.not_in) && (r.not_in as string[]).includes(value as string))
        report("any.not_in", "type URL must not be in the block list");
      return;
    default:
      return $number(value as number | bigint, r, report);
  }
}

/** protovalidate's range rules for any ordered type; a NaN fails every bound. */
function $range<T>(
  value: T,
  r: $Rules,
  conv: (x: unknown) => T,
  text: (x: T) => string,
  prefix: string,
  report: $Report,
) {
  const upper: [T, string, string, boolean] | undefined =
    r.lt !== undefined
      ? [conv(r.lt), "lt", "less than", value < conv(r.lt)]
      : r.lte !== undefined
        ? [conv(r.lte), "lte", "less than or equal to", value <= conv(r.lte)]
        : undefined;
  const lower: [T, string, string, boolean] | undefined =
    r.gt !== undefined
      ? [conv(r.gt), "gt", "greater than", value > conv(r.gt)]
      : r.gte !== undefined
        ? [conv(r.gte), "gte", "greater than or equal to", value >= conv(r.gte)]
        : undefined;
  if (upper === undefined && lower === undefined) return;
  if (upper === undefined || lower === undefined) {
    const [bound, name, words, ok] = (upper ?? lower) as [T, string, string, boolean];
    if (!ok) report(`${prefix}.${name}`, `must be ${words} ${text(bound)}`);
    return;
  }
  const [high, hname, hwords, hok] = upper;
  const [low, lname, lwords, lok] = lower;
  // Bounds in order ask for a value between them; reversed, for a value outside them.
  const inside = high >= low;
  if (inside ? lok && hok : lok || hok) return;
  const id = inside ? `${lname}_${hname}` : `${lname}_${hname}_exclusive`;
  report(
    `${prefix}.${id}`,
    `must be ${lwords} ${text(low)} ${inside ? "and" : "or"} ${hwords} ${text(high)}`,
  );
}

function $list<T>(items: T[], text: (x: T) => string): string {
  return `[${items.map(text).join(", ")}]`;
}

function $number(value: number | bigint, r: $Rules, report: $Report) {
  const kind = r.kind;
  const integer = $INTS.has(kind);
  const conv = (x: unknown): number | bigint =>
    integer ? BigInt(x as string) : kind === "float" ? Math.fround(x as number) : (x as number);
  const text = (x: number | bigint) => (typeof x === "bigint" ? x.toString() : $floatText(x));
  if (r.const !== undefined && value !== conv(r.const)) report(`${kind}.const`, `must equal ${text(conv(r.const))}`);
  $range(value, r, conv, text, kind, report);
  if (Array.isArray(r.in)) {
    const list = r.in.map(conv);
    if (list.length > 0 && !list.some((x) => x === value)) report(`${kind}.in`, `must be in list ${$list(list, text)}`);
  }
  if (Array.isArray(r.not_in)) {
    const list = r.not_in.map(conv);
    if (list.some((x) => x === value)) report(`${kind}.not_in`, `must not be in list ${$list(list, text)}`);
  }
  if (r.finite === true && typeof value === "number" && !Number.isFinite(value)) report(`${kind}.finite`, "must be finite");
}

function $enum(value: number, r: $Rules, report: $Report) {
  if (r.const !== undefined && value !== Number(r.const)) report("enum.const", `must equal ${Number(r.const)}`);
  if (r.defined_only === true && Array.isArray(r.defined) && !(r.defined as number[]).includes(value))
    report("enum.defined_only", "value must be one of the defined enum values");
  if (Array.isArray(r.in)) {
    const list = r.in.map(Number);
    if (list.length > 0 && !list.includes(value)) report("enum.in", `must be in list ${$list(list, String)}`);
  }
  if (Array.isArray(r.not_in)) {
    const list = r.not_in.map(Number);
    if (list.includes(value)) report("enum.not_in", `must not be in list ${$list(list, String)}`);
  }
}

function $time(value: bigint, r: $Rules, report: $Report, prefix: string, text: (n: bigint) => string) {
  const conv = (x: unknown): bigint => {
    const [s, n] = x as [number, number];
    return BigInt(s) * $NANOS + BigInt(n);
  };
  if (r.const !== undefined && value !== conv(r.const)) report(`${prefix}.const`, `must equal ${text(conv(r.const))}`);
  $range(value, r, conv, text, prefix, report);
  if (Array.isArray(r.in)) {
    const list = r.in.map(conv);
    if (list.length > 0 && !list.includes(value)) report(`${prefix}.in`, `must be in list ${$list(list, text)}`);
  }
  if (Array.isArray(r.not_in)) {
    const list = r.not_in.map(conv);
    if (list.includes(value)) report(`${prefix}.not_in`, `must not be in list ${$list(list, text)}`);
  }
  if (r.lt_now !== true && r.gt_now !== true && r.within === undefined) return;
  const now = BigInt(Date.now()) * 1_000_000n;
  if (r.lt_now === true && value > now) report("timestamp.lt_now", "must be less than now");
  if (r.gt_now === true && value < now) report("timestamp.gt_now", "must be greater than now");
  if (r.within !== undefined) {
    const within = conv(r.within);
    if (value < now - within || value > now + within)
      report("timestamp.within", `must be within ${$durationText(within)} of now`);
  }
}

function $repeated(items: unknown[], r: $Rules, report: $Report) {
  if (r.min_items !== undefined && items.length < Number(r.min_items))
    report("repeated.min_items", `must contain at least ${String(r.min_items)} item(s)`);
  if (r.max_items !== undefined && items.length > Number(r.max_items))
    report("repeated.max_items", `must contain no more than ${String(r.max_items)} item(s)`);
  if (r.unique === true) {
    const seen = new Set<string>();
    for (const item of items) {
      // Floats as CEL compares them: NaN equals nothing, -0 equals 0.
      if (typeof item === "number" && Number.isNaN(item)) continue;
      const key = Array.isArray(item) ? item.join(",") : typeof item === "number" ? String(item + 0) : String(item);
      if (seen.has(key)) {
        report("repeated.unique", "repeated value must contain unique items");
        break;
      }
      seen.add(key);
    }
  }
}

function $mapRules(count: number, r: $Rules, report: $Report) {
  if (r.min_pairs !== undefined && count < Number(r.min_pairs))
    report("map.min_pairs", `map must be at least ${String(r.min_pairs)} entries`);
  if (r.max_pairs !== undefined && count > Number(r.max_pairs))
    report("map.max_pairs", `map must be at most ${String(r.max_pairs)} entries`);
}

function $utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

function $codePoints(s: string): number {
  return Array.from(s).length;
}

/** The string formats: rule name, message when invalid, and what an empty value is not. */
const $FORMATS: [string, string, string, (s: string) => boolean][] = [
  ["email", "must be a valid email address", "a valid email address", (s) => $email(s)],
  ["hostname", "must be a valid hostname", "a valid hostname", (s) => $hostname(s)],
  ["ip", "must be a valid IP address", "a valid IP address", (s) => $ipv4(s) || $ipv6(s)],
  ["ipv4", "must be a valid IPv4 address", "a valid IPv4 address", (s) => $ipv4(s)],
  ["ipv6", "must be a valid IPv6 address", "a valid IPv6 address", (s) => $ipv6(s)],
  ["uri", "must be a valid URI", "a valid URI", (s) => $uri(s, false)],
  ["uri_ref", "must be a valid URI Reference", "", (s) => $uri(s, true)],
  ["address", "must be a valid hostname, or ip address", "a valid hostname, or ip address", (s) => $hostname(s) || $ipv4(s) || $ipv6(s)],
  ["uuid", "must be a valid UUID", "a valid UUID", (s) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s)],
  ["tuuid", "must be a valid trimmed UUID", "a valid trimmed UUID", (s) => /^[0-9a-fA-F]{32}$/.test(s)],
  ["host_and_port", "must be a valid host (hostname or IP address) and port pair", "a valid host and port pair", (s) => $hostAndPort(s)],
  ["ip_with_prefixlen", "must be a valid IP prefix", "a valid IP prefix", (s) => $ipPrefix(s, 0, false)],
  ["ipv4_with_prefixlen", "must be a valid IPv4 address with prefix length", "a valid IPv4 address with prefix length", (s) => $ipPrefix(s, 4, false)],
  ["ipv6_with_prefixlen", "must be a valid IPv6 address with prefix length", "a valid IPv6 address with prefix length", (s) => $ipPrefix(s, 6, false)],
  ["ip_prefix", "must be a valid IP prefix", "a valid IP prefix", (s) => $ipPrefix(s, 0, true)],
  ["ipv4_prefix", "must be a valid IPv4 prefix", "a valid IPv4 prefix", (s) => $ipPrefix(s, 4, true)],
  ["ipv6_prefix", "must be a valid IPv6 prefix", "a valid IPv6 prefix", (s) => $ipPrefix(s, 6, true)],
  ["ulid", "must be a valid ULID", "a valid ULID", (s) => /^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$/.test(s)],
  ["protobuf_fqn", "must be a valid fully-qualified Protobuf name", "a valid fully-qualified Protobuf name", (s) => $fqn(s)],
  ["protobuf_dot_fqn", "must be a valid fully-qualified Protobuf name with a leading dot", "a valid fully-qualified Protobuf name with a leading dot", (s) => s.startsWith(".") && $fqn(s.slice(1))],
];

function $string(value: string, r: $Rules, report: $Report) {
  if (r.const !== undefined && value !== r.const) report("string.const", `must equal \`${String(r.const)}\``);
  if (r.len !== undefined && $codePoints(value) !== Number(r.len)) report("string.len", `must be ${String(r.len)} characters`);
  if (r.min_len !== undefined && $codePoints(value) < Number(r.min_len))
    report("string.min_len", `must be at least ${String(r.min_len)} characters`);
  if (r.max_len !== undefined && $codePoints(value) > Number(r.max_len))
    report("string.max_len", `must be at most ${String(r.max_len)} characters`);
  const bytes = $utf8Length(value);
  if (r.len_bytes !== undefined && bytes !== Number(r.len_bytes)) report("string.len_bytes", `must be ${String(r.len_bytes)} bytes`);
  if (r.min_bytes !== undefined && bytes < Number(r.min_bytes))
    report("string.min_bytes", `must be at least ${String(r.min_bytes)} bytes`);
  if (r.max_bytes !== undefined && bytes > Number(r.max_bytes))
    report("string.max_bytes", `must be at most ${String(r.max_bytes)} bytes`);
  if (typeof r.pattern === "string" && !$matches(r.pattern, value))
    report("string.pattern", `does not match regex pattern \`${r.pattern}\``);
  if (typeof r.prefix === "string" && !value.startsWith(r.prefix)) report("string.prefix", `does not have prefix \`${r.prefix}\``);
  if (typeof r.suffix === "string" && !value.endsWith(r.suffix)) report("string.suffix", `does not have suffix \`${r.suffix}\``);
  if (typeof r.contains === "string" && !value.includes(r.contains))
    report("string.contains", `does not contain substring \`${r.contains}\``);
  if (typeof r.not_contains === "string" && value.includes(r.not_contains))
    report("string.not_contains", `contains substring \`${r.not_contains}\``);
  if (Array.isArray(r.in) && r.in.length > 0 && !r.in.includes(value))
    report("string.in", `must be in list ${$list(r.in as string[], String)}`);
  if (Array.isArray(r.not_in) && r.not_in.includes(value))
    report("string.not_in", `must not be in list ${$list(r.not_in as string[], String)}`);
  for (const [name, invalid, what, check] of $FORMATS) {
    if (r[name] !== true) continue;
    if (value === "" && name !== "uri_ref") report(`string.${name}_empty`, `value is empty, which is not ${what}`);
    else if (!check(value)) report(`string.${name}`, invalid);
    break;
  }
}

function $hex(b: number[]): string {
  return b.map((x) => x.toString(16).padStart(2, "0")).join("");
}

function $startsWith(b: number[], p: number[]): boolean {
  return p.length <= b.length && p.every((x, i) => b[i] === x);
}

function $bytesEqual(a: number[], b: number[]): boolean {
  return a.length === b.length && $startsWith(a, b);
}

function $bytes(value: number[], r: $Rules, report: $Report) {
  const get = (name: string) => (Array.isArray(r[name]) ? (r[name] as number[]) : undefined);
  const c = get("const");
  if (c !== undefined && !$bytesEqual(value, c)) report("bytes.const", `must be ${$hex(c)}`);
  if (r.len !== undefined && value.length !== Number(r.len)) report("bytes.len", `must be ${String(r.len)} bytes`);
  if (r.min_len !== undefined && value.length < Number(r.min_len))
    report("bytes.min_len", `must be at least ${String(r.min_len)} bytes`);
  if (r.max_len !== undefined && value.length > Number(r.max_len))
    report("bytes.max_len", `must be at most ${String(r.max_len)} bytes`);
  if (typeof r.pattern === "string") {
    const text = $utf8Decode(value, false);
    if (text === undefined || !$matches(r.pattern, text)) report("bytes.pattern", `must match regex pattern \`${r.pattern}\``);
  }
  const prefix = get("prefix");
  if (prefix !== undefined && !$startsWith(value, prefix)) report("bytes.prefix", `does not have prefix ${$hex(prefix)}`);
  const suffix = get("suffix");
  if (suffix !== undefined && !$startsWith(value.slice(Math.max(0, value.length - suffix.length)), suffix))
    report("bytes.suffix", `does not have suffix ${$hex(suffix)}`);
  const contains = get("contains");
  if (contains !== undefined && contains.length > 0) {
    let found = false;
    for (let i = 0; i + contains.length <= value.length && !found; i++) found = $startsWith(value.slice(i), contains);
    if (!found) report("bytes.contains", `does not contain ${$hex(contains)}`);
  }
  const lossy = (b: number[]) => $utf8Decode(b, true) ?? "";
  const inList = r.in as number[][] | undefined;
  if (Array.isArray(inList) && inList.length > 0 && !inList.some((x) => $bytesEqual(value, x)))
    report("bytes.in", `must be in list ${$list(inList, lossy)}`);
  const notIn = r.not_in as number[][] | undefined;
  if (Array.isArray(notIn) && notIn.some((x) => $bytesEqual(value, x)))
    report("bytes.not_in", `must not be in list ${$list(notIn, lossy)}`);
  const formats: [string, number[], string][] = [
    ["ip", [4, 16], "IP address"],
    ["ipv4", [4], "IPv4 address"],
    ["ipv6", [16], "IPv6 address"],
    ["uuid", [16], "UUID"],
  ];
  for (const [name, sizes, what] of formats) {
    if (r[name] !== true) continue;
    if (value.length === 0) report(`bytes.${name}_empty`, `value is empty, which is not a valid ${what}`);
    else if (!sizes.includes(value.length)) report(`bytes.${name}`, `must be a valid ${what}`);
    break;
  }
}

/** UTF-8 to text; invalid input is `undefined`, or with `lossy` has U+FFFD per maximal bad subpart. */
function $utf8Decode(b: number[], lossy: boolean): string | undefined {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    let need = 0;
    let cp = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) {
      out += String.fromCodePoint(c);
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else {
      if (!lossy) return undefined;
      out += "\ufffd";
      i++;
      continue;
    }
    let j = i + 1;
    let ok = true;
    for (let k = 0; k < need; k++, j++) {
      const next = b[j];
      const [min, max] = k === 0 ? [lo, hi] : [0x80, 0xbf];
      if (next === undefined || next < min || next > max) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (next & 0x3f);
    }
    if (!ok) {
      if (!lossy) return undefined;
      out += "\ufffd";
      i = j;
      continue;
    }
    out += String.fromCodePoint(cp);
    i = j;
  }
  return out;
}

const $patterns = new Map<string, RegExp | null>();

/** Whether an RE2 pattern matches; a pattern that cannot be translated matches nothing. */
function $matches(pattern: string, text: string): boolean {
  let re = $patterns.get(pattern);
  if (re === undefined) {
    try {
      re = $re2(pattern);
    } catch {
      re = null;
    }
    $patterns.set(pattern, re);
  }
  return re !== null && re.test(text);
}

const $POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7f",
  blank: "\\t ",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

/** RE2 syntax as a JavaScript RegExp with the `u` flag (code points, as RE2 reads UTF-8). */
function $re2(source: string): RegExp {
  let flags = "u";
  let s = source;
  const lead = /^\(\?([imsU]+)\)/.exec(s);
  if (lead !== null) {
    const inline = lead[1] ?? "";
    if (inline.includes("U")) throw new Error("ungreedy mode");
    for (const f of inline) if (!flags.includes(f)) flags += f;
    s = s.slice(lead[0].length);
  }
  let out = "";
  let inClass = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === "\\") {
      const next = s.charAt(i + 1);
      if (next === "") throw new Error("trailing backslash");
      i++;
      // Outside a class ASCII, as RE2 has them; inside one, as the server's regex crate reads
      // them (the negated ones are Unicode there).
      const classes: Record<string, [string, string]> = {
        d: ["[0-9]", "0-9"],
        D: ["[^0-9]", "\\P{Nd}"],
        w: ["[0-9A-Za-z_]", "0-9A-Za-z_"],
        W: ["[^0-9A-Za-z_]", "\\W"],
        s: ["[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "],
        S: ["[^\\t\\n\\f\\r ]", "\\P{White_Space}"],
      };
      const cls = classes[next];
      if (cls !== undefined) {
        out += cls[inClass ? 1 : 0];
      } else if (next === "z" && !inClass) out += "(?![\\s\\S])";
      else if (next === "A" && !inClass) out += "(?<![\\s\\S])";
      else if (next === "p" || next === "P") {
        // `\pL`, `\p{Lu}`: general categories; `\p{Greek}`: a script, which JavaScript names.
        let name = s.charAt(i + 1);
        if (name === "{") {
          const end = s.indexOf("}", i + 2);
          if (end < 0) throw new Error("bad property");
          name = s.slice(i + 2, end);
          i = end;
        } else {
          i++;
        }
        // `\p{^L}` does not compile on the server either.
        if (name.startsWith("^")) throw new Error("negated property");
        const property = name.length <= 2 || name === "Any" ? name : `Script=${name}`;
        out += `\\${next}{${property}}`;
      } else if (next === "x" && s.charAt(i + 1) === "{") {
        out += "\\u";
      } else if (/[0-9A-Za-z]/.test(next)) out += "\\" + next;
      else out += `\\u{${(next.codePointAt(0) ?? 0).toString(16)}}`;
      continue;
    }
    if (inClass) {
      if (c === "[" && s.charAt(i + 1) === ":") {
        const end = s.indexOf(":]", i + 2);
        if (end < 0) throw new Error("bad class");
        let name = s.slice(i + 2, end);
        const negated = name.startsWith("^");
        if (negated) name = name.slice(1);
        const set = $POSIX[name];
        if (set === undefined || negated) throw new Error("unsupported class");
        out += set;
        i = end + 1;
        continue;
      }
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal.
      if (s.charAt(i + 1) === "^") {
        out += "^";
        i++;
      }
      if (s.charAt(i + 1) === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && s.startsWith("(?P<", i)) {
      out += "(?<";
      i += 3;
      continue;
    }
    out += c;
  }
  return new RegExp(out, flags);
}

function $email(value: string): boolean {
  const at = value.indexOf("@");
  if (at <= 0) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (!/^[0-9A-Za-z!#$%&'*+/=?^_`{|}~.-]+$/.test(local)) return false;
  return domain.split(".").every((label) => /^[0-9A-Za-z]([0-9A-Za-z-]{0,61}[0-9A-Za-z])?$/.test(label));
}

function $hostname(value: string): boolean {
  if ($utf8Length(value) > 253) return false;
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  let allDigits = false;
  for (const label of name.split(".")) {
    if (!/^[0-9A-Za-z]([0-9A-Za-z-]{0,61}[0-9A-Za-z])?$/.test(label)) return false;
    allDigits = /^[0-9]+$/.test(label);
  }
  return !allDigits;
}

/** Dotted decimal without leading zeros, as Rust's `Ipv4Addr` parses it. */
function $ipv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** The 16 bytes of an IPv6 address as Rust's `Ipv6Addr` parses it, or undefined. */
function $ipv6Bytes(value: string): number[] | undefined {
  // Groups of 1 to 4 hex digits; the last 32 bits may be an IPv4 address.
  const groups = (text: string, limit: number): number[] | undefined => {
    const out: number[] = [];
    if (text === "") return out;
    const parts = text.split(":");
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1 && p.includes(".")) {
        if (out.length + 2 > limit || !$ipv4(p)) return undefined;
        const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = p.split(".").map(Number);
        out.push((b0 << 8) | b1, (b2 << 8) | b3);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out.length <= limit ? out : undefined;
  };
  const split = value.indexOf("::");
  let all: number[];
  if (split < 0) {
    const g = groups(value, 8);
    if (g === undefined || g.length !== 8) return undefined;
    all = g;
  } else {
    const head = groups(value.slice(0, split), 7);
    if (head === undefined) return undefined;
    const tail = groups(value.slice(split + 2), 7 - head.length);
    if (tail === undefined) return undefined;
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function $ipv6(value: string): boolean {
  const pct = value.indexOf("%");
  if (pct >= 0) {
    const zone = value.slice(pct + 1);
    if (zone === "" || zone.includes("\0")) return false;
    return $ipv6Bytes(value.slice(0, pct)) !== undefined;
  }
  return $ipv6Bytes(value) !== undefined;
}

function $ipPrefix(value: string, version: number, strict: boolean): boolean {
  const slash = value.indexOf("/");
  if (slash < 0) return false;
  const addr = value.slice(0, slash);
  const len = value.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(len)) return false;
  const n = Number(len);
  const zeroFrom = (bytes: number[], bits: number) =>
    bytes.every((b, i) => {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      return (b & (0xff >> keep)) === 0;
    });
  if (version !== 6 && $ipv4(addr)) {
    return n <= 32 && (!strict || zeroFrom(addr.split(".").map(Number), n));
  }
  if (version !== 4) {
    const bytes = $ipv6Bytes(addr);
    if (bytes !== undefined) return n <= 128 && (!strict || zeroFrom(bytes, n));
  }
  return false;
}

function $fqn(value: string): boolean {
  return value.split(".").every((part) => /^[A-Za-z_][0-9A-Za-z_]*$/.test(part));
}

function $hostAndPort(value: string): boolean {
  const split = value.lastIndexOf(":");
  if (split < 0) return false;
  const host = value.slice(0, split);
  const port = value.slice(split + 1);
  const portOk = /^(0|[1-9][0-9]*)$/.test(port) && Number(port) <= 65535;
  if (host.startsWith("[")) return portOk && host.endsWith("]") && $ipv6(host.slice(1, -1));
  return portOk && ($hostname(host) || $ipv4(host));
}

// RFC 3986.

const $UNRESERVED = /[0-9A-Za-z\-._~]/;
const $SUB_DELIM = /[!$&'()*+,;=]/;

function $pchar(c: string): boolean {
  return $UNRESERVED.test(c) || $SUB_DELIM.test(c) || c === ":" || c === "@";
}

/** `%XX` escapes and characters `allowed` accepts; with `utf8`, the escapes must decode to UTF-8. */
function $uriChars(s: string, allowed: (c: string) => boolean, utf8: boolean): boolean {
  const decoded: number[] = [];
  for (let i = 0; i < s.length; ) {
    const c = s.charAt(i);
    if (c === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return false;
      decoded.push(parseInt(hex, 16));
      i += 3;
    } else if (c.charCodeAt(0) < 0x80 && allowed(c)) {
      decoded.push(c.charCodeAt(0));
      i++;
    } else {
      return false;
    }
  }
  return !utf8 || $utf8Decode(decoded, false) !== undefined;
}

function $uriPath(s: string): boolean {
  return $uriChars(s, (c) => $pchar(c) || c === "/", false);
}

function $ipLiteral(s: string): boolean {
  if (s.startsWith("v") || s.startsWith("V")) {
    const dot = s.indexOf(".");
    if (dot < 0) return false;
    const version = s.slice(1, dot);
    const rest = s.slice(dot + 1);
    return /^[0-9A-Fa-f]+$/.test(version) && rest !== "" && [...rest].every((c) => c.charCodeAt(0) < 0x80 && ($UNRESERVED.test(c) || $SUB_DELIM.test(c) || c === ":"));
  }
  const zone = s.indexOf("%25");
  if (zone >= 0) {
    const z = s.slice(zone + 3);
    return $ipv6Bytes(s.slice(0, zone)) !== undefined && z !== "" && $uriChars(z, (c) => $UNRESERVED.test(c), false);
  }
  return $ipv6Bytes(s) !== undefined;
}

function $authority(s: string): boolean {
  const at = s.indexOf("@");
  const userinfo = at >= 0 ? s.slice(0, at) : undefined;
  const hostport = at >= 0 ? s.slice(at + 1) : s;
  if (userinfo !== undefined && !$uriChars(userinfo, (c) => $UNRESERVED.test(c) || $SUB_DELIM.test(c) || c === ":", false))
    return false;
  let host: string;
  let port: string | undefined;
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0 || !$ipLiteral(hostport.slice(1, end))) return false;
    const after = hostport.slice(end + 1);
    if (after.startsWith(":")) port = after.slice(1);
    else if (after !== "") return false;
    host = "";
  } else {
    const colon = hostport.indexOf(":");
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    port = colon >= 0 ? hostport.slice(colon + 1) : undefined;
  }
  return (port === undefined || /^[0-9]*$/.test(port)) && $uriChars(host, (c) => $UNRESERVED.test(c) || $SUB_DELIM.test(c), true);
}

function $uri(value: string, reference: boolean): boolean {
  let rest = value;
  const hash = rest.indexOf("#");
  const fragment = hash >= 0 ? rest.slice(hash + 1) : undefined;
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  const query = q >= 0 ? rest.slice(q + 1) : undefined;
  if (q >= 0) rest = rest.slice(0, q);
  const tail = (s: string) => $uriChars(s, (c) => $pchar(c) || c === "/" || c === "?", false);
  if ((fragment !== undefined && !tail(fragment)) || (query !== undefined && !tail(query))) return false;
  // A scheme is what comes before the first ':' if no '/' comes first.
  const colon = rest.indexOf(":");
  let hier: string;
  if (colon >= 0 && !rest.slice(0, colon).includes("/")) {
    if (!/^[A-Za-z][0-9A-Za-z+\-.]*$/.test(rest.slice(0, colon))) return false;
    hier = rest.slice(colon + 1);
  } else if (reference) {
    hier = rest;
  } else {
    return false;
  }
  if (hier.startsWith("//")) {
    const after = hier.slice(2);
    const slash = after.indexOf("/");
    const end = slash >= 0 ? slash : after.length;
    return $authority(after.slice(0, end)) && $uriPath(after.slice(end));
  }
  return $uriPath(hier);
}
// apigen:cel-begin

// Custom (CEL) rules, as the server evaluates them (runtime/src/core/validate/cel.rs): `this` is
// the value, `now` the current time; CEL's standard library, its strings extension, and
// protovalidate's functions on the standard rules' checks above. A message is a CEL map of its
// proto field names: fields without presence always (zero values included), fields with presence
// only when set, so that `has(this.f)` answers as on the server.

const $CEL_VERSIONS = [CelScalar.INT, CelScalar.UINT] as const;

function $celVersion(v: bigint | { value: bigint }): number {
  const n = typeof v === "bigint" ? v : v.value;
  return n === 0n || n === 4n || n === 6n ? Number(n) : -1;
}

function $ip(value: string, version: number): boolean {
  if (version === 4) return $ipv4(value);
  if (version === 6) return $ipv6(value);
  return version === 0 && ($ipv4(value) || $ipv6(value));
}

function $ipPrefixVersion(value: string, version: number, strict: boolean): boolean {
  return version >= 0 && $ipPrefix(value, version, strict);
}

const $CEL_FUNCS: CelFunc[] = [
  ...strings,
  celMethod("isEmail", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $email(this);
  }),
  celMethod("isHostname", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $hostname(this);
  }),
  celMethod("isUri", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $uri(this, false);
  }),
  celMethod("isUriRef", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $uri(this, true);
  }),
  celMethod("isIp", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $ip(this, 0);
  }),
  ...$CEL_VERSIONS.map((t) =>
    celMethod("isIp", CelScalar.STRING, [t], CelScalar.BOOL, function (v) {
      return $ip(this, $celVersion(v));
    }),
  ),
  celMethod("isIpPrefix", CelScalar.STRING, [], CelScalar.BOOL, function () {
    return $ipPrefix(this, 0, false);
  }),
  celMethod("isIpPrefix", CelScalar.STRING, [CelScalar.BOOL], CelScalar.BOOL, function (strict) {
    return $ipPrefix(this, 0, strict);
  }),
  ...$CEL_VERSIONS.flatMap((t) => [
    celMethod("isIpPrefix", CelScalar.STRING, [t], CelScalar.BOOL, function (v) {
      return $ipPrefixVersion(this, $celVersion(v), false);
    }),
    celMethod("isIpPrefix", CelScalar.STRING, [t, CelScalar.BOOL], CelScalar.BOOL, function (v, strict) {
      return $ipPrefixVersion(this, $celVersion(v), strict);
    }),
  ]),
  celMethod("isHostAndPort", CelScalar.STRING, [CelScalar.BOOL], CelScalar.BOOL, function (required) {
    if ($hostAndPort(this)) return true;
    if (required) return false;
    return this.startsWith("[") ? this.endsWith("]") && $ipv6(this.slice(1, -1)) : $hostname(this) || $ipv4(this);
  }),
  celMethod("isNan", CelScalar.DOUBLE, [], CelScalar.BOOL, function () {
    return Number.isNaN(this);
  }),
  celMethod("isInf", CelScalar.DOUBLE, [], CelScalar.BOOL, function () {
    return this === Infinity || this === -Infinity;
  }),
  celMethod("isInf", CelScalar.DOUBLE, [CelScalar.INT], CelScalar.BOOL, function (sign) {
    return sign === 0n ? this === Infinity || this === -Infinity : this === (sign > 0n ? Infinity : -Infinity);
  }),
  // As the server (and CEL's specification) writes them: the fraction's trailing zeros trimmed
  // ("1.5s", not "1.500s").
  ...(["google.protobuf.Duration", "google.protobuf.Timestamp"] as const).map((name) =>
    celFunc("string", [objectType(name)], CelScalar.STRING, (v) => {
      const { seconds, nanos } = v.message as unknown as { seconds: bigint; nanos: number };
      const total = BigInt(seconds) * $NANOS + BigInt(nanos);
      return name === "google.protobuf.Duration" ? $durationText(total) : $timestampText(total);
    }),
  ),
  celMethod("unique", listType(CelScalar.DYN), [], CelScalar.BOOL, function () {
    const items: CelValue[] = [...(this as CelList)];
    return items.every((a, i) => items.slice(0, i).every((b) => $celEquals({ a, b }) !== true));
  }),
];

const $CEL_ENV = celEnv({ funcs: $CEL_FUNCS });

/** CEL's own equality, for `unique`. */
const $celEquals = plan($CEL_ENV, parse("a == b"));

const $CEL_UNSIGNED = new Set(["uint32", "uint64", "fixed32", "fixed64"]);

/** A proto3 JSON value at a place as CEL's `this`; `$Bad` when it is not proto3 JSON. */
function $celInput(at: $CelAt, raw: unknown): CelInput {
  if ("m" in at) return $celMessage(at.m, raw);
  const f = at.f;
  if (at.part === "key") return $celKey(f.k ?? "string", raw);
  if (at.part === "element" || f.c === undefined) return $celOf(f, raw);
  if (f.c === "list") {
    if (!Array.isArray(raw)) throw new $Bad("must be a JSON array");
    return raw.map((x) => $celOf(f, x));
  }
  if (!$isObject(raw)) throw new $Bad("must be a JSON object");
  const map = new Map<string | bigint | boolean | ReturnType<typeof celUint>, CelInput>();
  for (const [k, x] of Object.entries(raw)) if ($present(x)) map.set($celKey(f.k ?? "string", k), $celOf(f, x));
  return map;
}

function $celKey(t: string, raw: unknown): string | bigint | boolean | ReturnType<typeof celUint> {
  const key = $decode({ n: "", j: "", t }, t, raw);
  if (typeof key === "bigint") return $CEL_UNSIGNED.has(t) ? celUint(key) : key;
  return key as string | boolean;
}

function $celMessage(fields: $CelField[], raw: unknown): CelInput {
  if (!$isObject(raw)) throw new $Bad("must be a JSON object");
  const map = new Map<string, CelInput>();
  for (const f of fields) {
    const value = $get(raw, f)[0];
    if ($present(value)) map.set(f.n, $celInput({ f, part: "value" }, value));
    else if (!f.p) map.set(f.n, $celInput({ f, part: "value" }, $zero(f)));
  }
  return map;
}

/** One value of a field's type (an element of a list or map). */
function $celOf(f: $CelField, raw: unknown): CelInput {
  if (f.w !== undefined) {
    if (f.w.startsWith("wrapper:")) return $celScalar(f, f.w.slice(8), raw);
    if (f.w === "empty") return new Map<string, CelInput>();
    if (f.w === "field_mask") {
      if (typeof raw !== "string") throw new $Bad("must be a field mask string");
      const paths = raw === "" ? [] : raw.split(",").map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
      return new Map<string, CelInput>([["paths", paths]]);
    }
    return $celJson(raw);
  }
  return $celScalar(f, f.t, raw);
}

function $celScalar(f: $CelField, t: string, raw: unknown): CelInput {
  const value = $decode(f, t, raw);
  if (typeof value === "bigint") {
    if (t === "duration" || t === "timestamp") return $celTime(t, value);
    return $CEL_UNSIGNED.has(t) ? celUint(value) : value;
  }
  switch (t) {
    case "bytes":
      return new Uint8Array(value as number[]);
    case "enum":
      return BigInt(value as number);
    case "any": {
      // The packed bytes are not at hand in JSON: the type URL only.
      const fields = new Map<string, CelInput>([["type_url", value as string]]);
      return fields.set("value", new Uint8Array(0));
    }
    case "message":
      return f.s === undefined ? $celJson(value) : $celMessage(f.s(), value);
    default:
      return value as number | boolean | string;
  }
}

/** A Timestamp or Duration message, which CEL reads as its timestamp or duration. */
function $celTime(t: string, nanos: bigint): CelInput {
  let seconds = nanos / $NANOS;
  let rest = nanos % $NANOS;
  if (t === "timestamp" && rest < 0n) {
    seconds -= 1n;
    rest += $NANOS;
  }
  const typeName = t === "timestamp" ? "google.protobuf.Timestamp" : "google.protobuf.Duration";
  return { $typeName: typeName, seconds, nanos: Number(rest) } as unknown as CelInput;
}

/** `google.protobuf.Value` and its kin: JSON, numbers as doubles. */
function $celJson(raw: unknown): CelInput {
  if (raw === null || raw === undefined) return null;
  if (Array.isArray(raw)) return raw.map($celJson);
  if ($isObject(raw)) return new Map<string, CelInput>(Object.entries(raw).map(([k, v]) => [k, $celJson(v)]));
  if (typeof raw === "number" || typeof raw === "string" || typeof raw === "boolean") return raw;
  throw new $Bad("must be JSON");
}

/** Compiles the custom rules of one place: its `cel_expression` list, then its `cel` list. */
function $cel(expressions: string[], rules: [string, string, string][]): $Cel {
  const programs = [...expressions.map((e): [string, string, string] => [e, "", e]), ...rules].map(
    ([id, message, expression]) => {
      try {
        return { id, message, expression, run: plan($CEL_ENV, parse(expression)), error: "" };
      } catch (e) {
        return { id, message, expression, run: undefined, error: `rule \`${id}\` does not compile: ${String(e)}` };
      }
    },
  );
  return {
    check(at, raw, report) {
      const value = $celInput(at, raw);
      const ms = Date.now();
      const now = $celTime("timestamp", BigInt(ms) * 1_000_000n);
      for (const { id, message, expression, run, error } of programs) {
        // On the server a rule that cannot be evaluated fails the request (INVALID_ARGUMENT with
        // this message) instead of reporting violations: here, one violation of that rule.
        if (run === undefined) return report(id, error);
        let result: unknown;
        try {
          result = run({ this: value, now });
        } catch (e) {
          result = e instanceof Error ? e : new Error(String(e));
        }
        if (isCelError(result) || result instanceof Error)
          return report(id, `rule \`${id}\` could not be evaluated: ${result.message}`);
        if (result === true || result === "") continue;
        if (result === false) report(id, message !== "" ? message : `${$quote(expression)} returned false`);
        else if (typeof result === "string") report(id, result);
        else return report(id, `rule \`${id}\` gave ${String(result)}, where a bool or a string was expected`);
      }
    },
  };
}
// apigen:cel-end
