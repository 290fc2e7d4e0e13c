//! `portal.json`: what the developer portal (`GET /` on a running server)
//! shows. For every service and method: its kind, documentation, and where
//! each protocol serves it, with an example request filled in from the
//! schema; for every message and enum: its fields or values, documentation
//! and validation rules. The server embeds the file; the portal's script
//! renders it and builds the ready-to-paste examples from it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::backend::rules_doc;
use crate::model::{
    Api, Body, Cardinality, Enum, Field, FieldBehavior, FieldType, GraphqlOperation, Message, Method, MethodKind,
    Protocol, Segment, Service, TrpcProcedure,
};

/// The portal's document for `api`, as pretty JSON with a final newline.
pub fn generate(api: &Api) -> String {
    let names = Names {
        messages: api.messages_by_name(),
        enums: api.enums_by_name(),
        graphql: crate::backend::graphql::field_names(api),
    };
    let (messages, enums) = (&names.messages, &names.enums);
    let services: Vec<Value> = api.packages.iter().flat_map(|p| &p.services).map(|s| service(s, &names)).collect();
    let mut types = Map::new();
    for m in messages.values().filter(|m| !m.is_map_entry) {
        types.insert(m.full_name.clone(), message(m));
    }
    let mut enum_types = Map::new();
    for e in enums.values() {
        enum_types.insert(e.full_name.clone(), enumeration(e));
    }
    let doc = json!({ "services": services, "messages": types, "enums": enum_types });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

type Messages<'a> = BTreeMap<&'a str, &'a Message>;
type Enums<'a> = BTreeMap<&'a str, &'a Enum>;

/// The schema's types by full name, and its methods' GraphQL fields.
struct Names<'a> {
    messages: Messages<'a>,
    enums: Enums<'a>,
    graphql: BTreeMap<(String, String), String>,
}

fn docs(lines: &[String]) -> String {
    lines.join("\n").trim().to_owned()
}

fn service(s: &Service, names: &Names<'_>) -> Value {
    let methods: Vec<Value> = s.methods.iter().map(|m| method(s, m, names)).collect();
    json!({
        "name": s.name,
        "fullName": s.full_name,
        "docs": docs(&s.docs),
        "deprecated": s.deprecated,
        "methods": methods,
    })
}

fn kind(k: MethodKind) -> &'static str {
    match k {
        MethodKind::Unary => "unary",
        MethodKind::ServerStreaming => "server_streaming",
        MethodKind::ClientStreaming => "client_streaming",
        MethodKind::BidiStreaming => "bidi_streaming",
    }
}

fn method(s: &Service, m: &Method, names: &Names<'_>) -> Value {
    let (messages, enums) = (&names.messages, &names.enums);
    let path = format!("/{}/{}", s.full_name, m.name);
    let serves = |p: Protocol| s.serves(m, p);
    let rest: Vec<Value> = if serves(Protocol::Rest) {
        m.http
            .iter()
            .map(|b| {
                let body = match &b.body {
                    Body::None => String::new(),
                    Body::All => "*".to_owned(),
                    Body::Field(f) => f.join("."),
                };
                json!({
                    "method": b.method.as_str(),
                    "path": b.path.raw,
                    "body": body,
                    "status": m.success_status,
                    "implicit": b.implicit,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let field = names.graphql.get(&(s.full_name.clone(), m.name.clone()));
    let graphql = match (serves(Protocol::Graphql), m.graphql, field) {
        (true, Some(op), Some(field)) => json!({
            "operation": match op {
                GraphqlOperation::Query => "query",
                GraphqlOperation::Mutation => "mutation",
                GraphqlOperation::Subscription => "subscription",
            },
            "field": field,
        }),
        _ => Value::Null,
    };
    let trpc = match (serves(Protocol::Trpc), m.trpc_procedure()) {
        (true, Some(p)) => json!({
            "procedure": format!("{}.{}", s.trpc_key(), heck::ToLowerCamelCase::to_lower_camel_case(m.name.as_str())),
            "type": match p {
                TrpcProcedure::Query => "query",
                TrpcProcedure::Mutation => "mutation",
                TrpcProcedure::Subscription => "subscription",
            },
        }),
        _ => Value::Null,
    };
    let connect = serves(Protocol::Connect) && m.kind != MethodKind::BidiStreaming;
    let sse = serves(Protocol::Sse).then(|| format!("/sse{path}"));
    let cursor = m.cursor_field(messages).map(|f| f.json_name.clone());
    let mut example = example_message(&m.input.full_name, messages, enums, 0);
    // Path variables get a value their template's pattern accepts.
    if let (Some(binding), Value::Object(object)) = (m.http.first(), &mut example) {
        for var in binding.path.variables() {
            if let [field] = var.field_path.as_slice()
                && let Some(f) =
                    messages.get(m.input.full_name.as_str()).and_then(|i| i.fields.iter().find(|x| &x.name == field))
                && f.ty == FieldType::String
            {
                object.insert(f.json_name.clone(), Value::String(pattern_example(&var.pattern)));
            }
        }
    }
    json!({
        "name": m.name,
        "kind": kind(m.kind),
        "docs": docs(&m.docs),
        "deprecated": m.deprecated,
        "input": m.input.full_name,
        "output": m.output.full_name,
        "noSideEffects": m.reads,
        "scopes": m.scopes,
        "rateLimit": m.rate_limit.map(|l| l.describe()),
        "cursor": cursor,
        "rest": rest,
        "grpc": serves(Protocol::Grpc).then_some(&path),
        "grpcWeb": serves(Protocol::GrpcWeb),
        "connect": connect.then_some(&path),
        "graphql": graphql,
        "trpc": trpc,
        "websocket": serves(Protocol::WebSocket).then(|| path[1..].to_owned()),
        "sse": sse,
        "example": example,
    })
}

/// A resource name the pattern `shelves/*/books/*` matches: `shelves/1/books/1`.
fn pattern_example(pattern: &[Segment]) -> String {
    if pattern.is_empty() {
        return "1".to_owned();
    }
    let parts: Vec<String> = pattern
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => l.clone(),
            Segment::Wildcard => "1".to_owned(),
            Segment::DeepWildcard => "1".to_owned(),
            Segment::Variable(_) => "1".to_owned(),
        })
        .collect();
    parts.join("/")
}

/// An example of `name` in proto3 JSON: every field a client sets, with a
/// value of its type; nested messages two levels deep.
fn example_message(name: &str, messages: &Messages<'_>, enums: &Enums<'_>, depth: usize) -> Value {
    if let Some(wkt) = well_known_example(name) {
        return wkt;
    }
    let Some(m) = messages.get(name) else { return json!({}) };
    let mut object = Map::new();
    if depth > 2 {
        return Value::Object(object);
    }
    let mut seen_oneofs = Vec::new();
    for f in &m.fields {
        if f.behavior.contains(&FieldBehavior::OutputOnly) {
            continue;
        }
        // One member per oneof.
        if let Some(o) = f.oneof {
            if seen_oneofs.contains(&o) {
                continue;
            }
            seen_oneofs.push(o);
        }
        let value = match &f.cardinality {
            Cardinality::Repeated => Value::Array(vec![example_value(f, &f.ty, messages, enums, depth)]),
            Cardinality::Map(_, v) => {
                let mut entry = Map::new();
                entry.insert("key".to_owned(), example_value(f, v, messages, enums, depth));
                Value::Object(entry)
            }
            _ => example_value(f, &f.ty, messages, enums, depth),
        };
        object.insert(f.json_name.clone(), value);
    }
    Value::Object(object)
}

fn example_value(f: &Field, ty: &FieldType, messages: &Messages<'_>, enums: &Enums<'_>, depth: usize) -> Value {
    match ty {
        FieldType::Double | FieldType::Float => json!(1.5),
        FieldType::Int32 | FieldType::Uint32 | FieldType::Sint32 | FieldType::Fixed32 | FieldType::Sfixed32 => json!(1),
        FieldType::Int64 | FieldType::Uint64 | FieldType::Sint64 | FieldType::Fixed64 | FieldType::Sfixed64 => {
            json!("1")
        }
        FieldType::Bool => json!(true),
        FieldType::String => json!(string_example(f)),
        FieldType::Bytes => json!("aGVsbG8="),
        FieldType::Enum(t) => enums
            .get(t.full_name.as_str())
            .and_then(|e| e.values.iter().find(|v| v.number != 0).or(e.values.first()))
            .map_or(Value::Null, |v| json!(v.name)),
        FieldType::Message(t) => example_message(&t.full_name, messages, enums, depth + 1),
    }
}

/// A string that its rules accept where they say what one looks like.
fn string_example(f: &Field) -> String {
    let rules = f.rules.as_ref().and_then(|r| r.typed.as_ref());
    let rule = |name: &str| rules.and_then(|t| t.rules.iter().find(|(n, _)| n == name)).map(|(_, v)| v);
    use crate::model::RuleValue;
    if rule("email").is_some() {
        return "someone@example.com".to_owned();
    }
    if rule("uri").is_some() || rule("uri_ref").is_some() {
        return "https://example.com/".to_owned();
    }
    if rule("uuid").is_some() {
        return "00000000-0000-4000-8000-000000000000".to_owned();
    }
    if let Some(RuleValue::List(items)) = rule("in")
        && let Some(RuleValue::Text(first)) = items.first()
    {
        return first.clone();
    }
    let min = match rule("min_len") {
        Some(RuleValue::Uint(n)) => *n as usize,
        _ => 0,
    };
    let text = if f.name.ends_with("name") || f.name == "parent" { "example" } else { "text" };
    text.repeat(min.div_ceil(text.len()).max(1))
}

fn well_known_example(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Timestamp" => json!("2026-01-01T00:00:00Z"),
        "google.protobuf.Duration" => json!("1.5s"),
        "google.protobuf.FieldMask" => json!(""),
        "google.protobuf.Empty" | "google.protobuf.Struct" => json!({}),
        "google.protobuf.Value" => Value::Null,
        "google.protobuf.ListValue" => json!([]),
        "google.protobuf.Any" => json!({"@type": "type.googleapis.com/google.protobuf.Empty"}),
        "google.protobuf.StringValue" => json!("text"),
        "google.protobuf.BoolValue" => json!(true),
        "google.protobuf.BytesValue" => json!("aGVsbG8="),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => json!("1"),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!(1),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!(1.5),
        _ => return None,
    })
}

fn type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::Message(t) | FieldType::Enum(t) => t.full_name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn message(m: &Message) -> Value {
    let fields: Vec<Value> = m
        .fields
        .iter()
        .map(|f| {
            let (label, ty) = match &f.cardinality {
                Cardinality::Repeated => ("repeated", type_name(&f.ty)),
                Cardinality::Map(k, v) => ("map", format!("map<{}, {}>", type_name(k), type_name(v))),
                Cardinality::Optional => ("optional", type_name(&f.ty)),
                Cardinality::Required => ("required", type_name(&f.ty)),
                Cardinality::Singular => ("", type_name(&f.ty)),
            };
            let behavior: Vec<String> = f.behavior.iter().map(|b| format!("{b:?}")).collect();
            json!({
                "name": f.name,
                "jsonName": f.json_name,
                "number": f.number,
                "type": ty,
                "label": label,
                "oneof": f.oneof.and_then(|i| m.oneofs.get(i)).map(|o| o.name.clone()),
                "behavior": behavior,
                "rules": f.rules.as_ref().map(rules_doc::lines).unwrap_or_default(),
                "docs": docs(&f.docs),
                "deprecated": f.deprecated,
            })
        })
        .collect();
    json!({
        "docs": docs(&m.docs),
        "rules": rules_doc::message_sentence(m),
        "deprecated": m.deprecated,
        "fields": fields,
    })
}

fn enumeration(e: &Enum) -> Value {
    let values: Vec<Value> =
        e.values.iter().map(|v| json!({"name": v.name, "number": v.number, "docs": docs(&v.docs)})).collect();
    json!({ "docs": docs(&e.docs), "deprecated": e.deprecated, "values": values })
}
