//! protovalidate rules in the model and in the generated OpenAPI document:
//! keywords where OpenAPI 3.0 has one, the rule's text where it has none.

use std::path::PathBuf;

use apigen::model::{Ignore, RuleValue};

const SCHEMA: &str = r#"syntax = "proto3";
package v.v1;
import "buf/validate/validate.proto";
message Req {
  option (buf.validate.message).cel = {id: "req.ratio", message: "ratio needs a title", expression: "this.ratio == 0.0 || this.title != ''"};
  string title = 1 [(buf.validate.field).string = {min_len: 1, max_len: 200, prefix: "T"}];
  string email = 2 [(buf.validate.field).string.email = true];
  int32 page_size = 3 [(buf.validate.field).int32 = {gte: 0, lte: 1000}];
  int64 isbn = 4 [(buf.validate.field).int64.gt = 0];
  double ratio = 5 [(buf.validate.field).double = {gt: 0, lt: 1}];
  repeated string tags = 6 [(buf.validate.field).repeated = {max_items: 5, unique: true, items: {string: {min_len: 2}}}];
  map<string, int32> counts = 7 [(buf.validate.field).map = {max_pairs: 3, values: {int32: {gte: 1}}}, (buf.validate.field).cel_expression = "size(this) != 2"];
  string id = 8 [(buf.validate.field).required = true, (buf.validate.field).string.uuid = true];
  optional string note = 9 [(buf.validate.field).ignore = IGNORE_IF_ZERO_VALUE, (buf.validate.field).string.max_len = 10];
  oneof choice {
    option (buf.validate.oneof).required = true;
    string a = 10;
    string b = 11;
  }
}
service S { rpc Do(Req) returns (Req); }
"#;

fn generate() -> apigen::Generated {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("v.proto");
    std::fs::write(&file, SCHEMA).expect("write");
    apigen::generate(&[PathBuf::from(&file)], &[]).map_err(|e| e.render(false)).expect("generates")
}

#[test]
fn rules_reach_the_model() {
    let api = generate().api;
    let req = &api.packages[0].messages[0];
    let field = |name: &str| req.fields.iter().find(|f| f.name == name).expect(name);
    let title = field("title").rules.clone().expect("rules");
    let typed = title.typed.expect("string rules");
    assert_eq!(typed.kind, "string");
    assert_eq!(typed.get("min_len"), Some(&RuleValue::Uint(1)));
    assert_eq!(typed.get("prefix"), Some(&RuleValue::Text("T".into())));
    let tags = field("tags").rules.clone().expect("rules").typed.expect("repeated");
    assert_eq!(tags.items.expect("items").typed.expect("string").get("min_len"), Some(&RuleValue::Uint(2)));
    assert!(field("id").rules.as_ref().is_some_and(|r| r.required));
    assert_eq!(field("note").rules.as_ref().map(|r| r.ignore), Some(Ignore::IfZeroValue));
    assert!(req.oneofs[0].required);
    assert_eq!(
        field("counts").rules.as_ref().map(|r| r.custom.expressions.clone()),
        Some(vec!["size(this) != 2".into()])
    );
    let rule = &req.custom_rules.rules[0];
    assert_eq!((rule.id.as_str(), rule.message.as_str()), ("req.ratio", "ratio needs a title"));
}

#[test]
fn openapi_shows_the_rules() {
    let generated = generate();
    let doc = generated.files.0.get("openapi.json").cloned().expect("openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("json");
    let props = &doc["components"]["schemas"]["v.v1.Req"]["properties"];
    assert_eq!(props["title"]["minLength"], 1);
    assert_eq!(props["title"]["maxLength"], 200);
    assert!(props["title"]["description"].as_str().expect("text").contains("`string.prefix = \"T\"`"));
    assert_eq!(props["email"]["format"], "email");
    assert_eq!((props["pageSize"]["minimum"].clone(), props["pageSize"]["maximum"].clone()), (0.into(), 1000.into()));
    // 64-bit integers are JSON strings: the range is the pattern of their digits.
    assert!(props["isbn"].get("minimum").is_none());
    let isbn = regex::Regex::new(props["isbn"]["pattern"].as_str().expect("a pattern")).expect("valid");
    assert!(isbn.is_match("1") && isbn.is_match("9223372036854775807") && !isbn.is_match("0") && !isbn.is_match("-5"));
    assert_eq!(props["ratio"]["exclusiveMinimum"], true);
    assert_eq!(props["ratio"]["exclusiveMaximum"], true);
    assert_eq!((props["tags"]["maxItems"].clone(), props["tags"]["uniqueItems"].clone()), (5.into(), true.into()));
    assert_eq!(props["tags"]["items"]["minLength"], 2);
    assert_eq!(props["counts"]["maxProperties"], 3);
    assert_eq!(props["counts"]["additionalProperties"]["minimum"], 1);
    assert_eq!(props["id"]["format"], "uuid");
    let required = doc["components"]["schemas"]["v.v1.Req"]["required"].as_array().expect("required").clone();
    assert!(required.contains(&"id".into()));
}

#[test]
fn the_sdl_and_typescript_name_the_rules() {
    let generated = generate();
    let sdl = generated.files.0.get("schema.graphql").cloned().expect("schema.graphql");
    let ts = generated.files.0.get("ts/index.ts").cloned().expect("ts/index.ts");
    let line = "Validation: `string.min_len = 1`, `string.max_len = 200`, `string.prefix = \"T\"`.";
    assert!(ts.contains(line), "ts/index.ts:\n{ts}");
    assert!(ts.contains("`repeated.items.string.min_len = 2`"), "items rules are named with their path");
    assert!(sdl.contains(line), "schema.graphql:\n{sdl}");
    // Custom rules: the field's, and the message's on its type and on the operation taking it.
    assert!(ts.contains("`cel = \"size(this) != 2\"`"), "ts/index.ts:\n{ts}");
    let message = "Validation: `cel = \"this.ratio == 0.0 || this.title != ''\" (ratio needs a title)`.";
    assert!(ts.contains(message), "ts/index.ts:\n{ts}");
    assert!(sdl.contains(message), "schema.graphql:\n{sdl}");
    let doc = generated.files.0.get("openapi.json").cloned().expect("openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("json");
    let description = doc["components"]["schemas"]["v.v1.Req"]["description"].as_str().unwrap_or_default();
    assert!(description.contains(message), "{description}");
    let counts = doc["components"]["schemas"]["v.v1.Req"]["properties"]["counts"]["description"].as_str();
    assert!(counts.unwrap_or_default().contains("`cel = \"size(this) != 2\"`"), "{counts:?}");
}

/// A service compiles its package's `CEL_RULES` exactly when the package
/// declares them: a custom rule under `IGNORE_ALWAYS` is never checked and
/// declares nothing (the service once named a list that did not exist).
#[test]
fn services_compile_only_the_custom_rules_their_packages_declare() {
    for (field, declared) in [
        ("string name = 1 [(buf.validate.field) = {ignore: IGNORE_ALWAYS, cel_expression: \"this != 'x'\"}];", false),
        ("string name = 1 [(buf.validate.field).cel_expression = \"this != 'x'\"];", true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.proto");
        let schema = format!(
            "syntax = \"proto3\";\npackage c.v1;\nimport \"buf/validate/validate.proto\";\nmessage R {{\n  {field}\n  string t = 2 [(buf.validate.field).string.max_len = 3];\n}}\nservice S {{ rpc Get(R) returns (R); }}\n"
        );
        std::fs::write(&file, schema).expect("write");
        let generated = apigen::generate(&[file], &[]).map_err(|e| e.render(false)).expect("generates");
        let code = generated.files.0.get("c.v1.rs").expect("c.v1.rs");
        assert_eq!(code.contains("pub static CEL_RULES"), declared, "{field}");
        assert_eq!(code.contains("prepare(CEL_RULES)"), declared, "{field}");
    }
}
