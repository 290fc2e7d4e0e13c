//! The OpenAPI document covers what the server serves: server streams as
//! Server-Sent Events (on their bindings, else at `/sse/…`), message-typed
//! query parameters as the server reads them (unknown keys ignored), and
//! links from create methods to the methods that take the created name.

use std::path::PathBuf;

use serde_json::{Value, json};

const SCHEMA: &str = r#"syntax = "proto3";
package s.v1;
import "google/api/annotations.proto";
import "apigen/options.proto";
service S {
  // Streams ticks.
  rpc Watch(WatchRequest) returns (stream Tick) {
    option (google.api.http) = {get: "/v1/{name=clocks/*}:watch"};
  }
  rpc Follow(WatchRequest) returns (stream Tick);
  rpc Hidden(WatchRequest) returns (stream Tick) {
    option (apigen.method) = {exclude: [PROTOCOL_SSE]};
    option (google.api.http) = {get: "/v1/{name=clocks/*}:hidden"};
  }
  rpc Find(FindRequest) returns (Tick) {
    option (google.api.http) = {get: "/v1/ticks:find"};
  }
}
message WatchRequest {
  string name = 1;
  int32 every = 2;
}
message Tick {
  int64 n = 1;
}
message Filter {
  string label = 1;
  Range range = 2;
  Filter inner = 3;
}
message Range {
  int32 low = 1;
  int32 high = 2;
}
message FindRequest {
  Filter filter = 1;
}
"#;

fn document(files: &[PathBuf]) -> Value {
    let generated = apigen::generate(files, &[]).map_err(|e| e.render(false)).expect("generates");
    let text = generated.files.0.get("openapi.json").cloned().expect("openapi.json");
    serde_json::from_str(&text).expect("json")
}

fn fixture() -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.proto");
    std::fs::write(&file, SCHEMA).expect("write");
    document(&[file])
}

fn bookstore() -> Value {
    document(&[PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/examples/bookstore.proto"))])
}

fn operation<'a>(doc: &'a Value, id: &str) -> (&'a str, &'a str, &'a Value) {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, op) in item.as_object().expect("path item") {
            if op["operationId"] == id {
                found.push((path.as_str(), verb.as_str(), op));
            }
        }
    }
    assert_eq!(found.len(), 1, "operations with id {id}: {}", found.len());
    found[0]
}

fn parameter_names(op: &Value) -> Vec<(String, String)> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (p["in"].as_str().unwrap_or_default().to_owned(), p["name"].as_str().unwrap_or_default().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The 200 response of a server stream: events whose `data` is the response
/// message (or the `end` event's `sse.End`), described with the `end` event.
fn assert_event_stream(doc: &Value, op: &Value, message: &str) {
    let ok = &op["responses"]["200"];
    let content = ok["content"].as_object().expect("content");
    assert_eq!(content.keys().collect::<Vec<_>>(), ["text/event-stream"], "{ok}");
    let event = &content["text/event-stream"]["schema"];
    assert_eq!(
        event["properties"]["data"]["anyOf"],
        json!([{"$ref": format!("#/components/schemas/{message}")}, {"$ref": "#/components/schemas/sse.End"}]),
        "{event}"
    );
    assert_eq!(event["properties"]["event"]["enum"], json!(["end"]));
    let description = ok["description"].as_str().expect("description");
    for said in ["`end`", "`id: end`", "retry", "Last-Event-ID"] {
        assert!(description.contains(said), "the description does not mention {said}: {description}");
    }
    assert!(doc["components"]["schemas"]["sse.End"]["properties"]["code"].is_object());
    assert_eq!(
        op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
    assert!(op["responses"]["204"].is_object(), "no 204 for `Last-Event-ID: end`");
    let names = parameter_names(op);
    assert!(names.contains(&("header".into(), "Last-Event-ID".into())), "{names:?}");
}

#[test]
fn a_bound_server_stream_is_an_event_stream_at_its_binding() {
    let doc = fixture();
    let (path, verb, op) = operation(&doc, "S_Watch");
    assert_eq!((path, verb), ("/v1/clocks/{clock}:watch", "get"));
    assert_event_stream(&doc, op, "s.v1.Tick");
    // Parameters as a unary binding's: the path segment, the other fields in the query.
    let names = parameter_names(op);
    assert!(names.contains(&("path".into(), "clock".into())), "{names:?}");
    assert!(names.contains(&("query".into(), "every".into())), "{names:?}");
    assert!(op["responses"]["200"]["description"].as_str().unwrap_or_default().contains("Accept: text/event-stream"));
}

#[test]
fn an_unbound_server_stream_is_an_event_stream_at_its_sse_path() {
    let doc = fixture();
    let (path, verb, get) = operation(&doc, "S_Follow");
    assert_eq!((path, verb), ("/sse/s.v1.S/Follow", "get"));
    assert_event_stream(&doc, get, "s.v1.Tick");
    let names = parameter_names(get);
    assert!(names.contains(&("query".into(), "name".into())) && names.contains(&("query".into(), "every".into())));
    let (path, verb, post) = operation(&doc, "S_Follow_1");
    assert_eq!((path, verb), ("/sse/s.v1.S/Follow", "post"));
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/s.v1.WatchRequest"
    );
    assert_event_stream(&doc, post, "s.v1.Tick");
}

#[test]
fn a_stream_sse_does_not_serve_is_left_out() {
    let doc = fixture();
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values().filter_map(|op| op["operationId"].as_str()))
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("S_Hidden")), "{ids:?}");
}

#[test]
fn message_query_parameters_accept_unknown_keys_as_the_server_does() {
    let doc = fixture();
    let (_, _, op) = operation(&doc, "S_Find");
    let filter =
        op["parameters"].as_array().expect("parameters").iter().find(|p| p["name"] == "filter").expect("filter");
    assert_eq!(filter["style"], "deepObject");
    let schema = &filter["schema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], true, "{schema}");
    assert_eq!(schema["properties"]["label"]["type"], "string");
    // Messages inside are inlined the same way; a recursion stops at a plain object.
    let range = &schema["properties"]["range"];
    assert_eq!(range["additionalProperties"], true, "{range}");
    assert_eq!(range["properties"]["low"]["type"], "integer");
    assert_eq!(schema["properties"]["inner"], json!({"type": "object"}));
    // Request bodies still refuse unknown fields, as the JSON decoder does.
    assert_eq!(doc["components"]["schemas"]["s.v1.Filter"]["additionalProperties"], false);
}

#[test]
fn bookstore_watch_shelf_is_documented_as_events() {
    let doc = bookstore();
    let (path, verb, op) = operation(&doc, "Bookstore_WatchShelf");
    assert_eq!((path, verb), ("/v1/shelves/{shelf}:watch", "get"));
    assert_event_stream(&doc, op, "bookstore.v1.ShelfEvent");
}

#[test]
fn bookstore_search_publisher_is_an_open_object() {
    let doc = bookstore();
    let (_, _, op) = operation(&doc, "Bookstore_SearchBooks");
    let publisher =
        op["parameters"].as_array().expect("parameters").iter().find(|p| p["name"] == "publisher").expect("publisher");
    assert_eq!(publisher["schema"]["additionalProperties"], true, "{publisher}");
    assert_eq!(publisher["schema"]["properties"]["country"]["pattern"], "^([A-Z]{2})?$");
}

fn links<'a>(doc: &'a Value, id: &str) -> &'a serde_json::Map<String, Value> {
    let (_, _, op) = operation(doc, id);
    op["responses"]["200"]["links"].as_object().unwrap_or_else(|| panic!("{id} has no links: {op}"))
}

#[test]
fn bookstore_create_methods_link_to_the_methods_of_their_resource() {
    let doc = bookstore();
    let shelf = links(&doc, "Bookstore_CreateShelf");
    let mut ids: Vec<&String> = shelf.keys().collect();
    ids.sort();
    assert_eq!(ids, ["Bookstore_CreateBook", "Bookstore_DeleteShelf", "Bookstore_GetShelf", "Bookstore_ListBooks"]);
    let get = &shelf["Bookstore_GetShelf"];
    assert_eq!(get["operationId"], "Bookstore_GetShelf");
    assert_eq!(get["parameters"], json!({"path.shelf": "$response.body#/name#regex:^shelves/([^/]+)$"}));

    let book = links(&doc, "Bookstore_CreateBook");
    let mut ids: Vec<&String> = book.keys().collect();
    ids.sort();
    assert_eq!(ids, ["Bookstore_GetBook", "Bookstore_GetBook_1", "Bookstore_UpdateBook"]);
    for link in book.values() {
        assert_eq!(
            link["parameters"],
            json!({
                "path.shelf": "$response.body#/name#regex:^shelves/([^/]+)/books/[^/]+$",
                "path.book": "$response.body#/name#regex:^shelves/[^/]+/books/([^/]+)$",
            }),
            "{link}"
        );
    }
    // Every link names an operation of the document and only its path parameters.
    for (_, item) in doc["paths"].as_object().expect("paths") {
        for (_, op) in item.as_object().expect("item") {
            for (_, link) in op["responses"]["200"]["links"].as_object().into_iter().flatten() {
                let (_, _, target) = operation(&doc, link["operationId"].as_str().expect("operationId"));
                let names = parameter_names(target);
                for key in link["parameters"].as_object().expect("parameters").keys() {
                    let name = key.strip_prefix("path.").expect("a path parameter");
                    assert!(names.contains(&("path".into(), name.into())), "{key} is not a parameter of {target}");
                }
            }
        }
    }
}

#[test]
fn link_expressions_take_the_right_segments_out_of_the_name() {
    // The expressions' regular expressions, applied as schemathesis applies them.
    let doc = bookstore();
    let book = links(&doc, "Bookstore_CreateBook");
    let params = book["Bookstore_GetBook"]["parameters"].as_object().expect("parameters");
    let extract = |expression: &str, name: &str| -> Option<String> {
        let pattern = expression.strip_prefix("$response.body#/name#regex:")?;
        let re = regex::Regex::new(pattern).expect("a regular expression");
        Some(re.captures(name)?.get(1)?.as_str().to_owned())
    };
    assert_eq!(extract(params["path.shelf"].as_str().unwrap(), "shelves/7/books/12").as_deref(), Some("7"));
    assert_eq!(extract(params["path.book"].as_str().unwrap(), "shelves/7/books/12").as_deref(), Some("12"));
    assert_eq!(extract(params["path.book"].as_str().unwrap(), "shelves/7"), None);
}
