// Custom (CEL) rules in the browser validators (ts/validate.ts) where protovalidate's recorded
// cases do not reach: how proto3 JSON becomes CEL's `this` (proto field names, presence, 64-bit
// and unsigned integers, enums by name, map keys, nested messages, durations), and a rule that
// cannot be evaluated (an INVALID_ARGUMENT error on the server) reported as one violation.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import { binary, REPO } from "./support/servers.js";

/** Under tests/node, so that the compiled file resolves "zod" and "@bufbuild/cel" from its node_modules. */
const WORK = join(REPO, "tests", "node", "validate-cel");

const PROTO = `syntax = "proto3";
package celtest.v1;
import "buf/validate/validate.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_GREEN = 2; }

message Inner { string display_name = 1; }

message Order {
  option (buf.validate.message).cel = { id: "order.total", message: "total too big", expression: "this.total_cents < 1000000000000000000" };
  option (buf.validate.message).cel_expression = "!has(this.note) || this.note != ''";
  option (buf.validate.message).cel_expression = "this.color != 1";
  option (buf.validate.message).cel_expression = "this.inner.display_name != 'x'";
  int64 total_cents = 1;
  optional string note = 2;
  Color color = 3;
  Inner inner = 4;
  map<uint64, string> by_id = 5 [(buf.validate.field).map.keys.cel = { id: "key.small", message: "key too big", expression: "this < 10u" }];
  google.protobuf.Duration wait = 6 [(buf.validate.field).cel = { id: "wait.short", expression: "this < duration('2s') ? '' : 'wait ' + string(this)" }];
  int32 divisor = 7 [(buf.validate.field).cel = { id: "divide", expression: "10 / this > 1" }];
  repeated string tags = 8 [(buf.validate.field).cel = { id: "tags.type", expression: "size(this)" }];
  google.protobuf.Timestamp at = 9 [(buf.validate.field).cel = { id: "at.text", expression: "'at ' + string(this)" }];
}
`;

interface Found {
  field: string;
  ruleId: string;
  message: string;
}

type Module = { violations: (schema: unknown, value: unknown) => Found[] } & Record<string, unknown>;

test("custom rules see proto3 JSON as the server's CEL values", { timeout: 120_000 }, async () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  writeFileSync(join(WORK, "cel.proto"), PROTO);
  const generated = spawnSync(binary("apigen"), ["generate", join(WORK, "cel.proto"), "--out", join(WORK, "out")], {
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
        outDir: "dist",
      },
      include: ["out/ts/*.ts"],
    }),
  );
  const tsc = join(REPO, "tests", "node", "node_modules", ".bin", "tsc");
  const compiled = spawnSync(tsc, ["-p", WORK], { encoding: "utf8" });
  assert.equal(compiled.status, 0, `tsc failed on the generated validate.ts:\n${compiled.stdout}${compiled.stderr}`);
  const mod = (await import(pathToFileURL(join(WORK, "dist", "validate.js")).href)) as Module;
  const schema = mod["OrderSchema"];
  const check = (value: unknown) => mod.violations(schema, value);

  const good = { totalCents: "999", color: "COLOR_GREEN", inner: { displayName: "y" }, byId: { "3": "a" }, wait: "1.25s", divisor: 5, tags: [] };
  // `tags` gives an int: on the server an error, here one violation with its message.
  const tagsError = (found: Found[]) => found.filter((v) => v.ruleId === "tags.type");
  assert.equal(tagsError(check(good)).length, 1);
  assert.match(tagsError(check(good))[0]?.message ?? "", /^rule `tags.type` gave 0, where a bool or a string was expected$/);
  const rest = (value: unknown) => check(value).filter((v) => v.ruleId !== "tags.type");
  assert.deepEqual(rest(good), []);

  assert.deepEqual(
    rest({ ...good, totalCents: "1000000000000000001", note: "", color: "COLOR_RED", inner: { displayName: "x" } }),
    [
      { field: "", ruleId: "!has(this.note) || this.note != ''", message: "\"!has(this.note) || this.note != ''\" returned false" },
      { field: "", ruleId: "this.color != 1", message: "\"this.color != 1\" returned false" },
      { field: "", ruleId: "this.inner.display_name != 'x'", message: "\"this.inner.display_name != 'x'\" returned false" },
      { field: "", ruleId: "order.total", message: "total too big" },
    ],
  );
  assert.deepEqual(rest({ ...good, byId: { "18446744073709551615": "z", "2": "b" }, wait: "2.5s", at: "2020-01-01T00:00:00.500+01:00" }), [
    { field: "by_id[18446744073709551615]", ruleId: "key.small", message: "key too big" },
    { field: "wait", ruleId: "wait.short", message: "wait 2.5s" },
    { field: "at", ruleId: "at.text", message: "at 2019-12-31T23:00:00.5Z" },
  ]);
  // An unset message read without has(): an error on the server, one violation here.
  const unset = rest({ ...good, inner: undefined });
  assert.equal(unset.length, 1);
  assert.equal(unset[0]?.ruleId, "this.inner.display_name != 'x'");
  assert.match(unset[0]?.message ?? "", /^rule `this.inner.display_name != 'x'` could not be evaluated: /);
  const divided = rest({ ...good, divisor: 0 });
  assert.equal(divided.length, 1);
  assert.match(divided[0]?.message ?? "", /^rule `divide` could not be evaluated: .*divide by zero/);
  rmSync(WORK, { recursive: true, force: true });
});
