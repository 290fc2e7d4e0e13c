// The browser validators (ts/validate.ts) against protovalidate itself: the cases of
// runtime/tests/validate_cases/cases.json (recorded from PyPI's protovalidate), whose rules
// make.py also wrote as one .proto file (cases.proto: message C<i> for case i, with `buf.validate`
// options, and the shapes); `apigen generate` writes its TypeScript, tsc compiles it, and every
// case must give the recorded rule ids, messages and field paths, and the zod schema the same
// verdict, custom (CEL) rules included.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** Under tests/node, so that the compiled file resolves "zod" from its node_modules. */
const WORK = join(REPO, "tests", "node", "validate-cases");

/** cases.json, with integers past 2^53 read as strings so that they stay exact. */
function loadCases(): Case[] {
  const text = readFileSync(join(REPO, "runtime", "tests", "validate_cases", "cases.json"), "utf8");
  return JSON.parse(text.replace(/(?<=[:\[,]\s*)(-?\d{16,})(?=\s*[,\]}\n])/g, '"$1"')) as Case[];
}

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

/** As protovalidate's conformance harness compares them: in any order. */
function sorted(list: Found[]): string[] {
  return list.map((v) => JSON.stringify([v.field, v.ruleId, v.message])).sort();
}

test("validate.ts gives protovalidate's violations for every recorded case", { timeout: 300_000 }, async () => {
  const cases = loadCases();
  assert.ok(cases.length >= 1270, `${cases.length} cases`);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const numbered = cases.map((c, i) => [i, c] as const);
  copyFileSync(join(REPO, "runtime", "tests", "validate_cases", "cases.proto"), join(WORK, "cases.proto"));
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
  let agree = 0;
  let withViolations = 0;
  for (const [i, c] of numbered) {
    const schema = mod[`${c.shape ?? `C${i}`}Schema`];
    const value = c.shape ? c.value : c.unset ? {} : { f: c.value };
    const expected = sorted(c.violations.map((v) => ({ field: render(v.field), ruleId: v.rule_id, message: v.message })));
    const found = sorted(schema === undefined ? [] : mod.violations(schema, value));
    const verdict = schema === undefined ? true : schema.safeParse(value).success;
    const detail = () =>
      `${c.name} ${JSON.stringify(c.rules ?? c.shape)} value ${JSON.stringify(c.value)}:\n  expected ${JSON.stringify(expected)}\n  found    ${JSON.stringify(found)} (zod ${verdict ? "passes" : "fails"})`;
    if (JSON.stringify(found) === JSON.stringify(expected) && verdict === (expected.length === 0)) {
      agree++;
      if (expected.length > 0) withViolations++;
    } else {
      failures.push(detail());
    }
  }
  console.log(
    `validate.ts agrees with protovalidate on ${agree} of ${cases.length} cases (${withViolations} of them with violations)`,
  );
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases differ:\n${failures.join("\n")}`);
  rmSync(WORK, { recursive: true, force: true });
});
