// The browser validators (ts/validate.ts) against protovalidate itself: the 1,190 cases of
// runtime/tests/validate_cases/cases.json (recorded from PyPI's protovalidate) become one .proto
// file, one message per case with its rules as `buf.validate` options; `apigen generate` writes
// its TypeScript, tsc compiles it, and every case must give the recorded rule ids, messages and
// field paths, and the zod schema the same verdict. KNOWN lists the cases that cannot agree.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import { binary, REPO } from "./support/servers.js";

interface Element {
  field_name?: string;
  index?: number;
  string_key?: string;
  int_key?: number | string;
  uint_key?: number | string;
  bool_key?: boolean;
}

interface Case {
  name: string;
  kind?: string;
  label?: string;
  map?: [string, string];
  rules?: Record<string, unknown>;
  shape?: string;
  unset?: boolean;
  value: unknown;
  violations: { field: Element[]; rule_id: string; message: string }[];
}

/** Cases that cannot agree in a browser, with the reason. */
const KNOWN: Record<string, string> = {};

/** Under tests/node, so that the compiled file resolves "zod" from its node_modules. */
const WORK = join(REPO, "tests", "node", "validate-cases");

/** cases.json, with integers past 2^53 read as strings so that they stay exact. */
function loadCases(): Case[] {
  const text = readFileSync(join(REPO, "runtime", "tests", "validate_cases", "cases.json"), "utf8");
  return JSON.parse(text.replace(/(?<=[:\[,]\s*)(-?\d{16,})(?=\s*[,\]}\n])/g, '"$1"')) as Case[];
}

function octal(bytes: Iterable<number>): string {
  let out = '"';
  for (const b of bytes) {
    const printable = b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x27;
    out += printable ? String.fromCharCode(b) : "\\" + b.toString(8).padStart(3, "0");
  }
  return out + '"';
}

const textString = (s: string) => octal(Buffer.from(s, "utf8"));
const textBytes = (b64: string) => octal(Buffer.from(b64, "base64"));

function durationText(s: string): string {
  const m = /^(-)?(\d+)(?:\.(\d+))?s$/.exec(s);
  if (m === null) throw new Error(`duration ${s}`);
  const sign = m[1] ? "-" : "";
  return `{ seconds: ${sign}${m[2]} nanos: ${sign}${Number((m[3] ?? "").padEnd(9, "0"))} }`;
}

function timestampText(s: string): string {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(s);
  if (m === null) throw new Error(`timestamp ${s}`);
  return `{ seconds: ${Date.parse(m[1] + "Z") / 1000} nanos: ${Number((m[2] ?? "").padEnd(9, "0"))} }`;
}

/** One rule value of a `*Rules` message of `kind` in the text format. */
function ruleValue(kind: string, key: string, v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => ruleValue(kind, key, x)).join(", ")}]`;
  const float = kind === "float" || kind === "double";
  // A float rule written as a long integer would be read as an integer, and be too large.
  if (float && /^-?\d+$/.test(String(v))) return `${String(v)}.0`;
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  const s = String(v);
  if (kind === "bytes" && key !== "pattern") return textBytes(s);
  if (kind === "duration" || key === "within") return durationText(s);
  if (kind === "timestamp") return timestampText(s);
  if (float) {
    const special: Record<string, string> = { Infinity: "inf", "-Infinity": "-inf", NaN: "nan" };
    return special[s] ?? s;
  }
  if (/^-?\d+$/.test(s) && kind !== "string") return s;
  return textString(s);
}

/** `buf.validate.FieldRules` from its proto JSON to the text format. */
function fieldRules(rules: Record<string, unknown>): string {
  const parts = Object.entries(rules).map(([kind, value]) => {
    if (typeof value !== "object" || value === null) return `${kind}: ${String(value)}`;
    const inner = Object.entries(value as Record<string, unknown>).map(([key, v]) =>
      (kind === "repeated" && key === "items") || (kind === "map" && (key === "keys" || key === "values"))
        ? `${key}: ${fieldRules(v as Record<string, unknown>)}`
        : `${key}: ${ruleValue(kind, key, v)}`,
    );
    return `${kind}: { ${inner.join(" ")} }`;
  });
  return `{ ${parts.join(" ")} }`;
}

const TYPES: Record<string, string> = {
  enum: "Color",
  message: "Inner",
  duration: "google.protobuf.Duration",
  timestamp: "google.protobuf.Timestamp",
  any: "google.protobuf.Any",
};

function caseMessage(i: number, c: Case): string {
  const type = (k: string) => TYPES[k] ?? k;
  const options = c.rules && Object.keys(c.rules).length > 0 ? ` [(buf.validate.field) = ${fieldRules(c.rules)}]` : "";
  let field: string;
  if (c.map) field = `map<${type(c.map[0])}, ${type(c.map[1])}> f = 1`;
  else if (c.label === "repeated") field = `repeated ${type(c.kind!)} f = 1`;
  else if (c.label === "optional") field = `optional ${type(c.kind!)} f = 1`;
  else field = `${type(c.kind!)} f = 1`;
  return `message C${i} {\n  ${field}${options};\n}\n`;
}

const PROLOGUE = `syntax = "proto3";
package t;

import "buf/validate/validate.proto";
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_GREEN = 2; COLOR_BLUE = 3; }
message Inner { string name = 1 [(buf.validate.field).string.min_len = 2]; }
message Outer {
  Inner inner = 1;
  repeated Inner items = 2 [(buf.validate.field).repeated.max_items = 2];
  map<string, Inner> by_name = 3 [(buf.validate.field).map.keys.string.min_len = 2];
  map<int32, Inner> deep = 4;
}
message Choice {
  option (buf.validate.message).oneof = { fields: ["x", "y"], required: true };
  oneof kind {
    option (buf.validate.oneof).required = true;
    string a = 1 [(buf.validate.field).string.min_len = 3];
    int32 b = 2;
  }
  string x = 3;
  int32 y = 4;
}
`;

/** protovalidate's rendering of a field path: `a.b[0]`, `m["k"]`. */
function render(path: Element[]): string {
  return path
    .map((e) => {
      let out = e.field_name ?? "";
      if (e.index !== undefined) out += `[${e.index}]`;
      else if (e.string_key !== undefined) out += `[${JSON.stringify(e.string_key)}]`;
      else if (e.int_key !== undefined) out += `[${e.int_key}]`;
      else if (e.uint_key !== undefined) out += `[${e.uint_key}]`;
      else if (e.bool_key !== undefined) out += `[${e.bool_key}]`;
      return out;
    })
    .join(".");
}

interface Found {
  field: string;
  ruleId: string;
  message: string;
}

type Module = {
  violations: (schema: unknown, value: unknown) => Found[];
} & Record<string, { safeParse(value: unknown): { success: boolean } } | undefined>;

function sorted(list: Found[]): string[] {
  return list.map((v) => JSON.stringify([v.field, v.ruleId, v.message])).sort();
}

test("validate.ts gives protovalidate's violations for every recorded case", { timeout: 300_000 }, async () => {
  const cases = loadCases();
  assert.ok(cases.length >= 1190, `${cases.length} cases`);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const numbered = cases.map((c, i) => [i, c] as const);
  const proto = PROLOGUE + numbered.filter(([, c]) => !c.shape).map(([i, c]) => caseMessage(i, c)).join("");
  writeFileSync(join(WORK, "cases.proto"), proto);
  const generated = spawnSync(binary("apigen"), ["generate", join(WORK, "cases.proto"), "--out", join(WORK, "out")], {
    encoding: "utf8",
  });
  assert.equal(generated.status, 0, `apigen generate failed:\n${generated.stderr}`);
  writeFileSync(
    join(WORK, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023", "DOM", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: [],
        strict: true,
        // Not noUnusedLocals: index.ts imports tRPC's procedure types even without services.
        noUnusedParameters: true,
        noImplicitReturns: true,
        outDir: "dist",
      },
      include: ["out/ts/*.ts"],
    }),
  );
  const tsc = join(REPO, "tests", "node", "node_modules", ".bin", "tsc");
  const compiled = spawnSync(tsc, ["-p", WORK], { encoding: "utf8" });
  assert.equal(compiled.status, 0, `tsc failed on the generated validate.ts:\n${compiled.stdout}${compiled.stderr}`);
  const mod = (await import(pathToFileURL(join(WORK, "dist", "validate.js")).href)) as Module;

  const failures: string[] = [];
  const known: string[] = [];
  let agree = 0;
  let withViolations = 0;
  let checked = 0;
  for (const [i, c] of numbered) {
    const schema = mod[`${c.shape ?? `C${i}`}Schema`];
    const value = c.shape ? c.value : c.unset ? {} : { f: c.value };
    const expected = c.violations.map((v) => ({ field: render(v.field), ruleId: v.rule_id, message: v.message }));
    const found = schema === undefined ? [] : mod.violations(schema, value);
    const verdict = schema === undefined ? true : schema.safeParse(value).success;
    const same =
      JSON.stringify(sorted(found)) === JSON.stringify(sorted(expected)) && verdict === (expected.length === 0);
    if (schema !== undefined) checked++;
    if (same) {
      agree++;
      if (expected.length > 0) withViolations++;
    }
    else if (KNOWN[c.name] !== undefined) known.push(`${c.name}: ${KNOWN[c.name]}`);
    else
      failures.push(
        `${c.name} ${JSON.stringify(c.rules)} value ${JSON.stringify(c.value)}:\n  expected ${JSON.stringify(sorted(expected))}\n  found    ${JSON.stringify(sorted(found))} (zod ${verdict ? "passes" : "fails"})`,
      );
  }
  console.log(
    `validate.ts agrees with protovalidate on ${agree} of ${cases.length} cases ` +
      `(${withViolations} of them with violations; ${checked} with a schema)`,
  );
  for (const k of known) console.log(`  cannot agree: ${k}`);
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases differ:\n${failures.join("\n")}`);
  rmSync(WORK, { recursive: true, force: true });
});
