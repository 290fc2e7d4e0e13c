//! Every schema error names `file:line:col`, shows the source, says how to fix
//! it, and exits 1. Each case is a small schema written to a temp directory.

use std::path::Path;
use std::process::Command;

const HEADER: &str = "syntax = \"proto3\";\npackage t.v1;\nimport \"google/api/annotations.proto\";\n";

/// Runs `apigen generate` on `schema` (saved as `bad.proto`); returns stderr.
fn fails(schema: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.proto");
    std::fs::write(&file, schema).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .args(["generate"])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(!dir.path().join("out").exists(), "nothing is written on error");
    stderr
}

fn assert_has(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

fn with_service(messages: &str, rpcs: &str) -> String {
    format!("{HEADER}{messages}\nservice S {{\n{rpcs}\n}}\n")
}

#[test]
fn syntax_error() {
    let err = fails("syntax = \"proto3\";\nmessage A {\n  string x = ;\n}\n");
    assert_has(&err, &["bad.proto:3:14", "expected an integer"]);
}

#[test]
fn unknown_import() {
    let err = fails("syntax = \"proto3\";\nimport \"nowhere/missing.proto\";\n");
    assert_has(&err, &["bad.proto:2:1", "nowhere/missing.proto"]);
}

#[test]
fn unknown_type() {
    let err = fails("syntax = \"proto3\";\nmessage A {\n  Missing m = 1;\n}\n");
    assert_has(&err, &["bad.proto:3:3", "Missing"]);
}

#[test]
fn path_variable_naming_a_missing_field() {
    let schema = with_service(
        "message R { string name = 1; }",
        "  rpc Get(R) returns (R) { option (google.api.http) = {get: \"/v1/{nmae=things/*}\"}; }",
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:6:66", "`{nmae}`", "t.v1.R has no field `nmae`", "help: name a field of t.v1.R"]);
}

#[test]
fn nested_path_variable_through_a_scalar() {
    let schema = with_service(
        "message R { string name = 1; }",
        "  rpc Get(R) returns (R) { option (google.api.http) = {get: \"/v1/{name.id}\"}; }",
    );
    assert_has(&fails(&schema), &["bad.proto:6:", "`name` is not a singular message field"]);
}

#[test]
fn body_naming_a_missing_field() {
    let schema = with_service(
        "message R { string name = 1; R inner = 2; }",
        "  rpc Make(R) returns (R) {\n    option (google.api.http) = {post: \"/v1/things\" body: \"innr\"};\n  }",
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:7:58", "`body: \"innr\"`", "has no field `innr`", "use \"*\" for the whole request"]);
}

#[test]
fn response_body_naming_a_missing_field() {
    let schema = with_service(
        "message R { string name = 1; }",
        "  rpc Get(R) returns (R) { option (google.api.http) = {get: \"/v1/x\" response_body: \"nope\"}; }",
    );
    assert_has(&fails(&schema), &["bad.proto:6:", "`response_body: \"nope\"`", "has no field `nope`"]);
}

#[test]
fn path_variable_on_a_map_or_message_field() {
    let schema = with_service(
        "message R { map<string, string> labels = 1; R inner = 2; }",
        "  rpc A(R) returns (R) { option (google.api.http) = {get: \"/v1/{labels}\"}; }\n  rpc B(R) returns (R) { option (google.api.http) = {get: \"/v2/{inner}\"}; }",
    );
    let err = fails(&schema);
    assert_has(
        &err,
        &[
            "bound to a map field",
            "bound to a message field",
            "bad.proto:6:",
            "bad.proto:7:",
            "bind a scalar or enum field",
        ],
    );
}

#[test]
fn repeated_scalar_in_a_path_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = with_service(
        "message R { repeated int64 ids = 1; }",
        "  rpc A(R) returns (R) { option (google.api.http) = {get: \"/v1/{ids}\"}; }",
    );
    std::fs::write(dir.path().join("ok.proto"), schema).expect("write");
    let status = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .arg("generate")
        .arg(dir.path().join("ok.proto"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .status()
        .expect("runs");
    assert!(status.success());
}

#[test]
fn two_bindings_with_the_same_verb_and_path() {
    let schema = with_service(
        "message R { string name = 1; string parent = 2; }",
        "  rpc A(R) returns (R) { option (google.api.http) = {get: \"/v1/{name=shelves/*}\"}; }\n  rpc B(R) returns (R) { option (google.api.http) = {get: \"/v1/{parent=shelves/*}\"}; }",
    );
    let err = fails(&schema);
    assert_has(
        &err,
        &[
            "bad.proto:7:59",
            "`GET /v1/{parent=shelves/*}` of t.v1.S.B is already bound by t.v1.S.A",
            "change the path or the verb",
        ],
    );
}

#[test]
fn malformed_path_template() {
    let schema = with_service(
        "message R { string name = 1; }",
        "  rpc A(R) returns (R) { option (google.api.http) = {get: \"/v1/{name=shelves/*\"}; }",
    );
    assert_has(&fails(&schema), &["bad.proto:6:", "this `{` is never closed"]);
}

#[test]
fn names_that_collide_after_case_conversion() {
    let err = fails("syntax = \"proto3\";\npackage t.v1;\nmessage FooBar {}\nmessage Foo_Bar {}\n");
    assert_has(
        &err,
        &[
            "bad.proto:4:1",
            "`t.v1.Foo_Bar` and `t.v1.FooBar` (line 3) both become the Rust type `FooBar`",
            "rename one",
        ],
    );
    let err = fails(&with_service("message R {}", "  rpc GetBook(R) returns (R);\n  rpc get_book(R) returns (R);"));
    assert_has(&err, &["bad.proto:7:3", "the Rust method `get_book`"]);
    let err = fails(
        "syntax = \"proto2\";\npackage t.v1;\nmessage M {\n  optional int32 foo_bar = 1;\n  optional int32 fooBar = 2;\n}\n",
    );
    assert_has(&err, &["bad.proto:4:", "JSON name"]);
}

#[test]
fn apigen_options_are_checked() {
    let schema = format!(
        "{HEADER}import \"apigen/options.proto\";\nmessage R {{}}\nservice S {{\n  rpc W(R) returns (stream R) {{ option (apigen.method) = {{graphql: {{operation: GRAPHQL_OPERATION_MUTATION}} rest: {{success_status: 404}}}}; }}\n}}\n"
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:7:", "cannot be a GraphQL Mutation", "`success_status: 404` is not a 2xx status"]);
    let schema = format!(
        "{HEADER}import \"apigen/options.proto\";\nmessage R {{}}\nservice S {{\n  rpc W(R) returns (R) {{ option (apigen.method) = {{scopes: \"books write\"}}; }}\n}}\n"
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:7:", "`books write` is not a scope", "one word"]);
    let schema = format!(
        "{HEADER}import \"apigen/options.proto\";\nmessage R {{}}\nservice S {{\n  rpc W(R) returns (R) {{ option (apigen.method) = {{rate_limit: {{per: MINUTE}}}}; }}\n}}\n"
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:7:", "a rate limit of 0 calls", "set `calls` to 1 or more"]);
}

#[test]
fn no_input_makes_the_generator_panic() {
    // Every prefix of a real schema, cut at every 7th byte: each either
    // generates or fails with diagnostics, never panics.
    let schema =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/examples/bookstore.proto"))
            .expect("bookstore.proto");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cut.proto");
    let mut outcomes = [0usize; 2];
    for end in (0..schema.len()).step_by(7).chain([schema.len()]) {
        let Some(prefix) = schema.get(..end) else { continue };
        std::fs::write(&file, prefix).expect("write");
        let result = std::panic::catch_unwind(|| apigen::generate(std::slice::from_ref(&file), &[]));
        match result {
            Ok(Ok(_)) => outcomes[0] += 1,
            Ok(Err(e)) => {
                assert!(!e.render(false).is_empty());
                outcomes[1] += 1;
            }
            Err(_) => panic!("the generator panicked on the first {end} bytes of bookstore.proto"),
        }
    }
    assert!(outcomes[0] >= 2 && outcomes[1] > 100, "{outcomes:?}");
}

#[test]
fn files_without_a_package_or_in_editions_syntax() {
    let err = fails("syntax = \"proto3\";\nmessage A {}\n");
    assert_has(&err, &["bad.proto:1:1", "has no package declaration", "package myapi.v1;"]);
    let err = fails("edition = \"2023\";\npackage t.v1;\nmessage A {}\n");
    // protox stops at the `edition` line itself; lowering would reject it too.
    assert_has(&err, &["bad.proto:1:1", "edition"]);
}

/// Two types with one GraphQL name: an error between the user's own files (the option is the fix),
/// resolved by a package prefix when one comes from an import nobody named (nobody edits it).
#[test]
fn graphql_type_names_that_collide_across_packages() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("other.proto"),
        "syntax = \"proto3\";\npackage other.v1;\nmessage Book { string id = 1; }\n",
    )
    .expect("write");
    let main = "syntax = \"proto3\";\npackage t.v1;\nimport \"other.proto\";\nmessage Book { string title = 1; }\nmessage Both { Book mine = 1; other.v1.Book theirs = 2; }\nservice S { rpc Get(Both) returns (Both) { option idempotency_level = NO_SIDE_EFFECTS; } }\n";
    let file = dir.path().join("main.proto");
    std::fs::write(&file, main).expect("write");
    let generate = |files: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_apigen"));
        command.arg("generate").args(files.iter().map(|f| dir.path().join(f))).arg("--out").arg(dir.path().join("out"));
        command.output().expect("runs")
    };
    let out = generate(&["main.proto", "other.proto"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "both files are the user's: {stderr}");
    assert_has(&stderr, &["would both be the GraphQL type `Book", "graphql_name", ".proto:"]);

    let out = generate(&["main.proto"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let sdl = std::fs::read_to_string(dir.path().join("out/schema.graphql")).expect("the SDL");
    assert_has(&sdl, &["type Book {", "type OtherV1Book {", "theirs: OtherV1Book", "mine: Book"]);
}

#[test]
fn services_that_share_a_trpc_router_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = "syntax = \"proto3\";\npackage other.v1;\nmessage M { string id = 1; }\nservice Library { rpc Get(M) returns (M); }\n";
    std::fs::write(dir.path().join("other.proto"), other).expect("write");
    let main = "syntax = \"proto3\";\npackage t.v1;\nimport \"other.proto\";\nservice Library { rpc Get(other.v1.M) returns (other.v1.M); }\n";
    let file = dir.path().join("main.proto");
    std::fs::write(&file, main).expect("write");
    let run = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_apigen"))
            .arg("generate")
            .arg(file)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .expect("runs")
    };
    let out = run(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, &["main.proto:4:", "the tRPC router key `library`", "exclude one from TRPC"]);

    // Excluding one of them is the fix (from GraphQL too, where the same
    // method names would make one field).
    let fixed =
        main.replace("import \"other.proto\";", "import \"other.proto\";\nimport \"apigen/options.proto\";").replace(
            "service Library {",
            "service Library { option (apigen.service) = {exclude: [PROTOCOL_TRPC, PROTOCOL_GRAPHQL]};",
        );
    std::fs::write(&file, fixed).expect("write");
    let out = run(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn methods_that_would_be_one_graphql_field() {
    let schema = with_service(
        "import \"apigen/options.proto\";\nmessage R { string name = 1; }",
        "  rpc GetA(R) returns (R) { option (apigen.method) = {graphql: {name: \"fetch\"}}; }\n  rpc GetB(R) returns (R) { option (apigen.method) = {graphql: {name: \"fetch\"}}; }",
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:", "would both be the GraphQL field `Mutation.fetch`", "graphql: {name:"]);
}

/// `buf/validate/validate.proto` is built in; a rule apigen does not enforce,
/// a rule that does not fit its field and a pattern that is not RE2 are each
/// an error at the field, never ignored.
#[test]
fn validation_rules_that_cannot_be_enforced() {
    let schema = |field: &str| {
        format!(
            "syntax = \"proto3\";\npackage t.v1;\nimport \"buf/validate/validate.proto\";\nmessage R {{\n  {field}\n}}\nservice S {{ rpc Get(R) returns (R); }}\n"
        )
    };
    // Custom rules are checked as they are read: an expression that does not
    // compile, a rule without an id, and the variables only predefined rules have.
    let err = fails(&schema("string name = 1 [(buf.validate.field).cel = {id: \"x\", expression: \"this >\"}];"));
    assert_has(&err, &["bad.proto:5:", "the CEL rule `this >` of field `name` does not compile"]);
    let err = fails(&schema("string name = 1 [(buf.validate.field).cel = {expression: \"this != ''\"}];"));
    assert_has(&err, &["bad.proto:5:", "a `cel` rule of field `name` has no `id`"]);
    let err = fails(&schema("string name = 1 [(buf.validate.field).cel_expression = \"this == rule\"];"));
    assert_has(&err, &["bad.proto:5:", "uses `rule` or `rules`, which only predefined rules have"]);
    let err = fails(&schema("option (buf.validate.message).cel_expression = \"this.a ==\";\n  string a = 1;"));
    assert_has(&err, &["bad.proto:4:", "the CEL rule `this.a ==` of message `R` does not compile"]);
    let err = fails(&schema("int32 size = 1 [(buf.validate.field).string.min_len = 1];"));
    assert_has(&err, &["bad.proto:5:", "`string` rules do not fit field `size`, a int32"]);
    let err = fails(&schema("repeated string tags = 1 [(buf.validate.field).string.min_len = 1];"));
    assert_has(&err, &["`string` rules do not fit field `tags`, a repeated string", "`items`"]);
    let err = fails(&schema(
        "string name = 1 [(buf.validate.field).string.well_known_regex = KNOWN_REGEX_HTTP_HEADER_NAME];",
    ));
    assert_has(&err, &["rule `string.well_known_regex` on field `name` is not enforced by apigen"]);
    let err = fails(&schema("string name = 1 [(buf.validate.field).string.pattern = \"(?<=a)b\"];"));
    assert_has(&err, &["`string.pattern` of field `name` is not a valid regular expression", "RE2"]);
    let err = fails(&schema("repeated string tags = 1 [(buf.validate.field).repeated.items.string.strict = true];"));
    assert_has(&err, &["rule `repeated.items.string.strict` on field `tags`"]);
    let err = fails(&schema("repeated R rs = 1 [(buf.validate.field).repeated.unique = true];"));
    assert_has(&err, &["`repeated.unique` cannot apply to field `rs`, a repeated message"]);
}

/// A schema with an author loader and a book that relates to it through `relation`.
fn relation_schema(loader: &str, relation: &str) -> String {
    format!(
        "{HEADER}import \"apigen/options.proto\";
message Author {{ string name = 1; int32 age = 2; }}
message Book {{
  option (apigen.message) = {{ relations: {{ {relation} }} }};
  string title = 1;
  repeated string authors = 2;
  int64 isbn = 3;
  map<string, string> labels = 4;
}}
message GetAuthorsRequest {{ repeated string names = 1; int32 limit = 2; }}
message GetAuthorsResponse {{ repeated Author authors = 1; Author first = 2; }}
message GetBookRequest {{ string title = 1; }}
service Library {{
  rpc GetBook(GetBookRequest) returns (Book) {{ option idempotency_level = NO_SIDE_EFFECTS; }}
  rpc GetAuthors(GetAuthorsRequest) returns (GetAuthorsResponse) {{
    option idempotency_level = NO_SIDE_EFFECTS;
    {loader}
  }}
  rpc Plain(GetAuthorsRequest) returns (GetAuthorsResponse) {{ option idempotency_level = NO_SIDE_EFFECTS; }}
}}
"
    )
}

const LOADER: &str = "option (apigen.method) = {batch: {keys: \"names\" results: \"authors\" key: \"name\"}};";

#[test]
fn batch_loaders_that_do_not_fit_their_messages() {
    let relation = "name: \"writers\" method: \"Library.GetAuthors\" key: \"authors\"";
    let cases = [
        ("keys: \"limit\" results: \"authors\" key: \"name\"", "`keys: \"limit\"`", "candidates: `names`"),
        ("keys: \"names\" results: \"first\" key: \"name\"", "`results: \"first\"`", "candidates: `authors`"),
        ("keys: \"names\" results: \"authors\" key: \"age\"", "`key: \"age\"`", "candidates: `name`"),
    ];
    for (batch, message, help) in cases {
        let err = fails(&relation_schema(&format!("option (apigen.method) = {{batch: {{{batch}}}}};"), relation));
        assert_has(&err, &["bad.proto:20:5", message, help]);
        assert!(!err.contains("is not a batch loader"), "a broken loader is reported once:\n{err}");
    }
    // A loader must only read: relations call it while a query runs.
    let writes = relation_schema(LOADER, relation).replace(
        "rpc GetAuthors(GetAuthorsRequest) returns (GetAuthorsResponse) {\n    option idempotency_level = NO_SIDE_EFFECTS;",
        "rpc GetAuthors(GetAuthorsRequest) returns (GetAuthorsResponse) {",
    );
    assert_has(&fails(&writes), &["bad.proto:19:", "must be a unary method that only reads", "NO_SIDE_EFFECTS"]);
}

#[test]
fn relations_that_cannot_be_loaded() {
    let cases = [
        (
            "name: \"writers\" method: \"Library.Nope\" key: \"authors\"",
            "there is no method `Library.Nope`",
            "`t.v1.Library.GetAuthors`",
        ),
        (
            "name: \"writers\" method: \"Library.Plain\" key: \"authors\"",
            "t.v1.Library.Plain is not a batch loader",
            "batch: {keys:",
        ),
        (
            "name: \"writers\" method: \"Library.GetAuthors\" key: \"nope\"",
            "has no field `nope`",
            "candidates: `title`, `authors`",
        ),
        (
            "name: \"writers\" method: \"Library.GetAuthors\" key: \"isbn\"",
            "does not hold keys of the loader's type",
            "`names`",
        ),
        (
            "name: \"writers\" method: \"Library.GetAuthors\" key: \"labels\"",
            "does not hold keys of the loader's type",
            "`names`",
        ),
        (
            "name: \"title\" method: \"Library.GetAuthors\" key: \"authors\"",
            "already has a field `title`",
            "pick a name",
        ),
        ("name: \"2x\" method: \"Library.GetAuthors\" key: \"authors\"", "`2x` is not a valid GraphQL name", "letters"),
        (
            "name: \"writers\" method: \"Library.GetAuthors\" key: \"authors\" group: true",
            "`group` needs a singular key field",
            "drop `group`",
        ),
        (
            "name: \"w\" method: \"Library.GetAuthors\" key: \"title\" group: true required: true",
            "`required` does not apply to a group",
            "drop `required`",
        ),
    ];
    for (relation, message, help) in cases {
        let err = fails(&relation_schema(LOADER, relation));
        assert_has(&err, &["bad.proto:7:3", "relation `", message, help]);
    }
    let excluded = relation_schema(
        &format!(
            "{}\n    option (apigen.method) = {{exclude: [PROTOCOL_GRAPHQL]}};",
            LOADER.replace("};", "exclude: [PROTOCOL_GRAPHQL]};")
        ),
        "name: \"writers\" method: \"t.v1.Library.GetAuthors\" key: \"authors\"",
    );
    let excluded = excluded.replace("\n    option (apigen.method) = {exclude: [PROTOCOL_GRAPHQL]};", "");
    assert_has(&fails(&excluded), &["bad.proto:7:3", "is excluded from GraphQL", "remove PROTOCOL_GRAPHQL"]);
}

#[test]
fn entities_that_cannot_be_found() {
    let schema = |entity: &str| {
        relation_schema(LOADER, "name: \"writers\" method: \"Library.GetAuthors\" key: \"authors\"").replace(
            "message Author { string name = 1; int32 age = 2; }",
            &format!("message Author {{ option (apigen.message) = {{ {entity} }}; string name = 1; int32 age = 2; }}"),
        )
    };
    let cases = [
        (
            "entity: {key: \"age\" method: \"Library.GetAuthors\"}",
            "is not a singular key field of the loader's key type",
            "`name` matches",
        ),
        (
            "entity: {key: \"name\" method: \"Library.Plain\"}",
            "t.v1.Library.Plain is not a batch loader",
            "batch: {keys:",
        ),
        (
            "entity: {key: \"name\" method: \"Library.Nope\"}",
            "there is no method `Library.Nope`",
            "`t.v1.Library.GetAuthors`",
        ),
    ];
    for (entity, message, help) in cases {
        let err = fails(&schema(entity));
        assert_has(&err, &["bad.proto:5:", "entity t.v1.Author", message, help]);
    }
    // The loader must return the entity itself.
    let book = relation_schema(LOADER, "name: \"writers\" method: \"Library.GetAuthors\" key: \"authors\"").replace(
        "relations: { name: \"writers\" method: \"Library.GetAuthors\" key: \"authors\" }",
        "entity: {key: \"title\" method: \"Library.GetAuthors\"}",
    );
    assert_has(
        &fails(&book),
        &["bad.proto:7:3", "entity t.v1.Book: t.v1.Library.GetAuthors loads t.v1.Author, not t.v1.Book"],
    );
}

#[test]
fn a_cache_hint_on_a_method_that_writes() {
    let schema = with_service(
        "import \"apigen/options.proto\";\nmessage R { string name = 1; }",
        "  rpc Save(R) returns (R) {\n    option (google.api.http) = {post: \"/v1/r\" body: \"*\"};\n    option (apigen.method) = {cache: {max_age_seconds: 60}};\n  }",
    );
    let err = fails(&schema);
    assert_has(&err, &["bad.proto:9:5", "t.v1.S.Save has a cache hint but does not only read", "NO_SIDE_EFFECTS"]);
}
