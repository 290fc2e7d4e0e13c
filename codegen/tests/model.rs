//! What lowering puts in the model for the bookstore example and for
//! apigen's own options: the facts every backend builds on.

use std::path::{Path, PathBuf};

use apigen::model::*;

fn lower(file: &Path) -> Api {
    apigen::generate(&[file.to_owned()], &[]).map_err(|e| e.render(false)).expect("generates").api
}

fn bookstore() -> Api {
    lower(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/examples/bookstore.proto"))
}

#[test]
fn methods_have_kinds_operations_and_http_bindings() {
    let api = bookstore();
    assert_eq!(api.packages.len(), 1, "annotation files are not generated");
    let service = &api.packages[0].services[0];
    assert_eq!(service.full_name, "bookstore.v1.Bookstore");
    let method = |name: &str| service.methods.iter().find(|m| m.name == name).expect(name);

    let get_book = method("GetBook");
    assert_eq!((get_book.kind, get_book.graphql), (MethodKind::Unary, Some(GraphqlOperation::Query)));
    assert_eq!(get_book.http.len(), 2, "additional_bindings");
    assert_eq!(get_book.http[1].path.raw, "/v1/books/{name=shelves/*/books/*}");
    assert_eq!(get_book.docs, ["Returns one book."]);
    assert_eq!((get_book.span.line, get_book.span.column), (58, 3));
    assert!(get_book.scopes.is_empty());

    let update = method("UpdateBook");
    assert_eq!(update.graphql, Some(GraphqlOperation::Mutation));
    assert_eq!(update.http[0].method, HttpMethod::Patch);
    assert_eq!(update.http[0].body, Body::Field(vec!["book".into()]));
    let var = update.http[0].path.variables().next().expect("a variable");
    assert_eq!(var.field_path, ["book", "name"]);
    assert_eq!(
        var.pattern,
        [Segment::Literal("shelves".into()), Segment::Wildcard, Segment::Literal("books".into()), Segment::Wildcard]
    );

    let mv = method("MoveBook");
    assert_eq!((mv.http[0].path.verb.as_deref(), &mv.http[0].body), (Some("move"), &Body::All));
    assert_eq!(method("SearchBooks").http[0].body, Body::None);
    let watch = method("WatchShelf");
    assert_eq!((watch.kind, watch.graphql), (MethodKind::ServerStreaming, Some(GraphqlOperation::Subscription)));
    assert_eq!(watch.scopes, ["shelves.watch"], "(apigen.method).scopes");
    assert_eq!(
        watch.scopes_sentence().as_deref(),
        Some("Requires the scope `shelves.watch` in the caller's credential.")
    );
    let import = method("ImportBooks");
    assert_eq!((import.kind, import.graphql, import.http.len()), (MethodKind::ClientStreaming, None, 0));
    assert_eq!(import.success_status, 200);
    assert!(get_book.http.iter().all(|b| !b.implicit), "the schema's bindings are its own");
}

#[test]
fn rate_limits_come_from_the_schema_into_the_model_openapi_sdl_and_generated_code() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let file = dir.path().join("limited.proto");
    let schema = r#"syntax = "proto3";
package limited.v1;
import "apigen/options.proto";
message M { string name = 1; }
service S {
  rpc Get(M) returns (M) { option (apigen.method) = {rate_limit: {calls: 10 per: MINUTE burst: 20}}; }
  rpc Put(M) returns (M) { option (apigen.method) = {rate_limit: {calls: 5}}; }
  rpc Free(M) returns (M);
}
"#;
    std::fs::write(&file, schema).expect("written");
    let api = lower(&file);
    let methods = &api.packages[0].services[0].methods;
    let limit = |i: usize| methods[i].rate_limit.map(|l| (l.calls, l.period_seconds, l.burst));
    assert_eq!([limit(0), limit(1), limit(2)], [Some((10, 60, 20)), Some((5, 1, 5)), None]);
    assert_eq!(
        methods[0].rate_limit_sentence().as_deref(),
        Some(
            "Limited to 10 calls per minute per caller, in bursts of up to 20; more fail with RESOURCE_EXHAUSTED (HTTP 429)."
        )
    );
    let generated = apigen::generate(std::slice::from_ref(&file), &[]).expect("generates");
    let files = &generated.files.0;
    let text = |name: &str| files.iter().find(|(path, _)| path.ends_with(name)).expect(name).1.clone();
    let rust: String = files.iter().filter(|(path, _)| path.ends_with(".rs")).map(|(_, text)| text.as_str()).collect();
    assert!(rust.contains(".rate_limit(10, 60, 20)") && rust.contains(".rate_limit(5, 1, 5)"), "{rust}");
    let openapi: serde_json::Value = serde_json::from_str(&text("openapi.json")).expect("JSON");
    let get = &openapi["paths"]["/limited.v1.S/Get"]["post"];
    assert_eq!(get["x-apigen-rate-limit"], serde_json::json!({"calls": 10, "per": "minute", "burst": 20}));
    assert!(get["responses"]["429"]["headers"]["Retry-After"].is_object(), "{get}");
    assert!(openapi["paths"]["/limited.v1.S/Free"]["post"]["responses"].get("429").is_none());
    assert!(text("schema.graphql").contains("Limited to 5 calls per second per caller"));
}

#[test]
fn a_unary_method_without_a_binding_gets_the_default_one() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let file = dir.path().join("unbound.proto");
    let schema = r#"syntax = "proto3";
package unbound.v1;
message M { string name = 1; }
service S {
  rpc Get(M) returns (M);
  rpc Watch(M) returns (stream M);
}
"#;
    std::fs::write(&file, schema).expect("written");
    let api = lower(&file);
    let service = &api.packages[0].services[0];
    let get = &service.methods[0];
    assert_eq!(get.http.len(), 1);
    let binding = &get.http[0];
    assert!(binding.implicit);
    assert_eq!(
        (&binding.method, binding.path.raw.as_str(), &binding.body),
        (&HttpMethod::Post, "/unbound.v1.S/Get", &Body::All)
    );
    assert!(!get.reads, "a POST binding does not make a read");
    assert!(service.serves(get, Protocol::Rest));
    assert!(service.methods[1].http.is_empty(), "server streams keep /sse/… only");
}

#[test]
fn fields_carry_behaviour_presence_maps_and_oneofs() {
    let api = bookstore();
    let book = api.packages[0].messages.iter().find(|m| m.name == "Book").expect("Book");
    let field = |name: &str| book.fields.iter().find(|f| f.name == name).expect(name);
    assert!(field("title").has(FieldBehavior::Required));
    assert!(field("create_time").has(FieldBehavior::OutputOnly));
    assert!(field("name").has(FieldBehavior::Identifier));
    assert_eq!(field("cover_thumbnail").json_name, "coverThumbnail");
    assert_eq!(field("authors").cardinality, Cardinality::Repeated);
    assert_eq!(field("labels").cardinality, Cardinality::Map(Box::new(FieldType::String), Box::new(FieldType::String)));
    assert_eq!(book.oneofs[0].name, "availability");
    assert_eq!(book.oneofs[0].rust_path, "book::Availability");
    assert_eq!(field("in_stock").oneof, Some(0));
    assert!(matches!(&field("genre").ty, FieldType::Enum(t) if t.full_name == "bookstore.v1.Genre"));
    assert!(
        matches!(&field("subtitle").ty, FieldType::Message(t) if t.rust_path == "::apigen_runtime::wkt::StringValue")
    );
    let search = api.packages[0].messages.iter().find(|m| m.name == "SearchBooksRequest").expect("request");
    assert_eq!(
        search.fields.iter().find(|f| f.name == "max_price").expect("max_price").cardinality,
        Cardinality::Optional
    );
    let kind =
        api.packages[0].enums.iter().find(|e| e.full_name == "bookstore.v1.ShelfEvent.Kind").expect("nested enum");
    assert_eq!(kind.rust_path, "shelf_event::Kind");
}

#[test]
fn apigen_options_override_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("opts.proto");
    std::fs::write(
        &file,
        r#"syntax = "proto3";
package opts.v1;
import "apigen/options.proto";
message M {}
service S {
  option (apigen.service) = {exclude: [PROTOCOL_TRPC] graphql_limits: {max_depth: 5 max_complexity: 50}};
  rpc Read(M) returns (M) {
    option (apigen.method) = {graphql: {operation: GRAPHQL_OPERATION_QUERY name: "readIt"} rest: {success_status: 201}};
  }
  rpc Hidden(M) returns (M) {
    option (apigen.method) = {exclude: [PROTOCOL_GRAPHQL, PROTOCOL_REST]};
  }
  rpc Plain(M) returns (M) { option deprecated = true; }
}
"#,
    )
    .expect("write");
    let generated = apigen::generate(std::slice::from_ref(&file), &[]).map_err(|e| e.render(false)).expect("generates");
    let sdl = generated.files.0.get("schema.graphql").expect("a GraphQL schema");
    let query = &sdl[sdl.find("type Query").expect("a Query type")..];
    let query = &query[..query.find('}').expect("its end")];
    assert!(query.contains("readIt"), "the overridden name and kind: {sdl}");
    assert!(!sdl.contains("hidden"), "an excluded method is left out: {sdl}");
    let api = generated.api;
    let s = &api.packages[0].services[0];
    assert_eq!(s.excluded, [Protocol::Trpc]);
    assert_eq!(s.graphql_limits, GraphqlLimits { max_depth: 5, max_complexity: 50 });
    let read = &s.methods[0];
    assert_eq!(
        (read.graphql, read.graphql_name.as_deref(), read.success_status),
        (Some(GraphqlOperation::Query), Some("readIt"), 201)
    );
    let hidden = &s.methods[1];
    assert_eq!((hidden.graphql, hidden.excluded.as_slice()), (None, [Protocol::Rest, Protocol::Graphql].as_slice()));
    let plain = &s.methods[2];
    assert_eq!((plain.graphql, plain.deprecated), (Some(GraphqlOperation::Mutation), true));
}

#[test]
fn one_rule_decides_which_protocols_serve_a_method_and_the_documents_follow_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("served.proto");
    std::fs::write(
        &file,
        r#"syntax = "proto3";
package served.v1;
import "apigen/options.proto";
import "google/api/annotations.proto";
message M {}
service NoRest {
  option (apigen.service) = {exclude: [PROTOCOL_REST]};
  rpc Bound(M) returns (M) { option (google.api.http) = {get: "/v1/bound"}; }
}
service Mixed {
  rpc NoConnect(M) returns (M) { option (apigen.method) = {exclude: [PROTOCOL_CONNECT]}; }
  rpc Watch(M) returns (stream M) {
    option (google.api.http) = {get: "/v1/watch"};
    option (apigen.method) = {exclude: [PROTOCOL_SSE]};
  }
  rpc NoTrpc(M) returns (M) { option (apigen.method) = {exclude: [PROTOCOL_TRPC]}; }
  rpc Upload(stream M) returns (M);
}
"#,
    )
    .expect("write");
    let generated = apigen::generate(std::slice::from_ref(&file), &[]).map_err(|e| e.render(false)).expect("generates");
    let services = &generated.api.packages[0].services;
    let (no_rest, mixed) = (&services[0], &services[1]);
    let method = |s: &Service, name: &str| s.methods.iter().find(|m| m.name == name).cloned().expect("a method");
    let bound = method(no_rest, "Bound");
    assert!(!no_rest.serves(&bound, Protocol::Rest) && no_rest.serves(&bound, Protocol::Connect));
    let watch = method(mixed, "Watch");
    assert!(!mixed.serves(&watch, Protocol::Rest), "a stream's binding is SSE's, which is excluded");
    assert!(!mixed.serves(&method(mixed, "Upload"), Protocol::Trpc), "tRPC cannot carry request streams");

    let openapi = generated.files.0.get("openapi.json").expect("an OpenAPI document");
    let doc: serde_json::Value = serde_json::from_str(openapi).expect("JSON");
    let paths: Vec<&str> = doc["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
    // REST excluded: documented where it is served, at its Connect path, not at its binding.
    assert!(paths.contains(&"/served.v1.NoRest/Bound") && !paths.contains(&"/v1/bound"), "{paths:?}");
    // Unbound and not served over Connect: REST serves it at its default binding, the RPC path.
    let no_connect = &doc["paths"]["/served.v1.Mixed/NoConnect"]["post"];
    assert_eq!(
        no_connect["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
    assert!(paths.contains(&"/served.v1.Mixed/NoTrpc"), "{paths:?}");

    let ts = generated.files.0.get("ts/index.ts").expect("TypeScript");
    let router = &ts[ts.find("export type AppRouter").expect("an AppRouter")..];
    let router = &router[..router.find("export type Methods").unwrap_or(router.len())];
    assert!(!router.contains("noTrpc") && !router.contains("upload"), "{router}");
    assert!(router.contains("noConnect") && router.contains("watch"), "{router}");
}

/// A unary method reads when it promises NO_SIDE_EFFECTS or is bound to GET;
/// reads are GraphQL queries and tRPC queries, unless the operation option
/// names another operation. Only NO_SIDE_EFFECTS opens Connect GET.
#[test]
fn get_bindings_and_no_side_effects_make_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("reads.proto");
    std::fs::write(
        &file,
        r#"syntax = "proto3";
package reads.v1;
import "apigen/options.proto";
import "google/api/annotations.proto";
message R { string name = 1; }
service S {
  rpc Fetch(R) returns (R) { option (google.api.http) = {get: "/v1/{name=r/*}"}; }
  rpc Search(R) returns (R) {
    option idempotency_level = NO_SIDE_EFFECTS;
    option (google.api.http) = {post: "/v1/r:search" body: "*"};
  }
  rpc Touch(R) returns (R) {
    option (apigen.method) = {graphql: {operation: GRAPHQL_OPERATION_MUTATION}};
    option (google.api.http) = {get: "/v1/{name=r/*}:touch"};
  }
  rpc Write(R) returns (R) { option (google.api.http) = {post: "/v1/r" body: "*"}; }
}
"#,
    )
    .expect("write");
    let api = lower(&file);
    let methods = &api.packages[0].services[0].methods;
    let summary: Vec<(&str, bool, Option<GraphqlOperation>, Option<TrpcProcedure>)> =
        methods.iter().map(|m| (m.name.as_str(), m.reads, m.graphql, m.trpc_procedure())).collect();
    use GraphqlOperation::{Mutation, Query};
    assert_eq!(
        summary,
        [
            ("Fetch", true, Some(Query), Some(TrpcProcedure::Query)),
            ("Search", true, Some(Query), Some(TrpcProcedure::Query)),
            ("Touch", false, Some(Mutation), Some(TrpcProcedure::Mutation)),
            ("Write", false, Some(Mutation), Some(TrpcProcedure::Mutation)),
        ]
    );
}

#[test]
fn relations_resolve_to_their_loaders() {
    let api = bookstore();
    let messages = api.messages_by_name();
    let relations = |name: &str| -> Vec<(String, String, RelationKind, bool)> {
        messages[name]
            .relations
            .iter()
            .map(|r| (r.name.clone(), format!("{}.{}", r.service, r.method), r.kind, r.required))
            .collect()
    };
    assert_eq!(
        relations("bookstore.v1.Shelf"),
        [("books".into(), "bookstore.v1.Bookstore.ListBooksByShelves".into(), RelationKind::Group, false)]
    );
    assert_eq!(
        relations("bookstore.v1.Book"),
        [
            ("shelfDetails".into(), "bookstore.v1.Bookstore.BatchGetShelves".into(), RelationKind::One, true),
            ("authorDetails".into(), "bookstore.v1.Bookstore.BatchGetAuthors".into(), RelationKind::Many, false),
        ]
    );
    let book = &messages["bookstore.v1.Book"].relations[1];
    assert_eq!((book.key.json_name.as_str(), book.batch.keys.json_name.as_str()), ("authors", "names"));
    assert_eq!((book.batch.key.name.as_str(), book.batch.max_batch_size), ("name", 25));
    assert_eq!(book.batch.result_type, "bookstore.v1.Author");
}
