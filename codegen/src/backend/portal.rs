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
    Protocol, RuleValue, Segment, Service, TrpcProcedure, TypedRules,
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
    if let Some(binding) = m.http.first() {
        // A plain `{id}` keeps the value its field's rules gave it.
        for var in binding.path.variables().filter(|v| !v.pattern.is_empty()) {
            set_variable(&mut example, &m.input.full_name, &var.field_path, pattern_example(&var.pattern), messages);
        }
    }
    json!({
        "name": m.name,
        "kind": m.kind.snake_name(),
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

/// Sets the string field at `path` (proto names, from message `name`) in `example`.
fn set_variable(example: &mut Value, name: &str, path: &[String], value: String, messages: &Messages<'_>) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(field) = messages.get(name).and_then(|m| m.fields.iter().find(|f| &f.name == first)) else { return };
    let Value::Object(object) = example else { return };
    match (&field.ty, rest.is_empty()) {
        (FieldType::String, true) => {
            object.insert(field.json_name.clone(), Value::String(value));
        }
        (FieldType::Message(t), false) => {
            let inner = object.entry(field.json_name.clone()).or_insert_with(|| json!({}));
            set_variable(inner, &t.full_name, rest, value, messages);
        }
        _ => {}
    }
}

/// A resource name the pattern `shelves/*/books/*` matches: `shelves/1/books/1`.
fn pattern_example(pattern: &[Segment]) -> String {
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
        // Output-only fields are ignored on input; a page token or an etag only ever comes from the server.
        if f.behavior.contains(&FieldBehavior::OutputOnly) || matches!(f.name.as_str(), "page_token" | "etag") {
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
            Cardinality::Repeated => {
                let typed = f.rules.as_ref().and_then(|r| r.typed.as_ref());
                let count = match rule(typed, "min_items") {
                    Some(RuleValue::Uint(n)) => (*n as usize).clamp(1, 16),
                    _ => 1,
                };
                // `repeated.unique` would refuse copies: one item then.
                let unique = matches!(rule(typed, "unique"), Some(RuleValue::Bool(true)));
                Value::Array(vec![example_value(f, &f.ty, messages, enums, depth); if unique { 1 } else { count }])
            }
            Cardinality::Map(k, v) => {
                // JSON map keys are strings: "1" for an integer key, "true" for a bool.
                let key = match **k {
                    FieldType::Bool => "true",
                    FieldType::String => "key",
                    _ => "1",
                };
                let mut entry = Map::new();
                entry.insert(key.to_owned(), example_value(f, v, messages, enums, depth));
                Value::Object(entry)
            }
            _ => example_value(f, &f.ty, messages, enums, depth),
        };
        object.insert(f.json_name.clone(), value);
    }
    Value::Object(object)
}

fn example_value(f: &Field, ty: &FieldType, messages: &Messages<'_>, enums: &Enums<'_>, depth: usize) -> Value {
    let rules = typed_rules(f);
    match ty {
        FieldType::Double | FieldType::Float => json!(number_example(rules, 1.5)),
        FieldType::Int32 | FieldType::Uint32 | FieldType::Sint32 | FieldType::Fixed32 | FieldType::Sfixed32 => {
            json!(number_example(rules, 1.0) as i64)
        }
        FieldType::Int64 | FieldType::Uint64 | FieldType::Sint64 | FieldType::Fixed64 | FieldType::Sfixed64 => {
            json!((number_example(rules, 1.0) as i64).to_string())
        }
        FieldType::Bool => json!(rule(rules, "const").is_none_or(|v| matches!(v, RuleValue::Bool(true)))),
        FieldType::String => json!(string_example(f, rules)),
        FieldType::Bytes => json!("aGVsbG8="),
        FieldType::Enum(t) => {
            let values = enums.get(t.full_name.as_str()).map(|e| e.values.as_slice()).unwrap_or_default();
            let allowed = |n: i32| match rule(rules, "in") {
                Some(RuleValue::List(items)) => {
                    items.iter().any(|i| matches!(i, RuleValue::Int(x) if *x == i64::from(n)))
                }
                _ => {
                    !matches!(rule(rules, "defined_only"), Some(RuleValue::Bool(true)))
                        || values.iter().any(|v| v.number == n)
                }
            };
            values
                .iter()
                .find(|v| v.number != 0 && allowed(v.number))
                .or(values.first())
                .map_or(Value::Null, |v| json!(v.name))
        }
        FieldType::Message(t) => example_message(&t.full_name, messages, enums, depth + 1),
    }
}

/// The rules of a field's own type (for a repeated or map field, its items' or values').
fn typed_rules(f: &Field) -> Option<&TypedRules> {
    let typed = f.rules.as_ref()?.typed.as_ref()?;
    match typed.kind.as_str() {
        "repeated" => typed.items.as_ref()?.typed.as_ref(),
        "map" => typed.values.as_ref()?.typed.as_ref(),
        _ => Some(typed),
    }
}

fn rule<'a>(rules: Option<&'a TypedRules>, name: &str) -> Option<&'a RuleValue> {
    rules?.rules.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn as_f64(v: &RuleValue) -> Option<f64> {
    match v {
        RuleValue::Int(n) => Some(*n as f64),
        RuleValue::Uint(n) => Some(*n as f64),
        RuleValue::Float(x) => Some(*x),
        _ => None,
    }
}

/// `preferred`, moved inside the bounds (`gt`, `gte`, `lt`, `lte`) or to the `const` or first `in` value.
fn number_example(rules: Option<&TypedRules>, preferred: f64) -> f64 {
    if let Some(v) = rule(rules, "const").and_then(as_f64) {
        return v;
    }
    if let Some(RuleValue::List(items)) = rule(rules, "in")
        && let Some(v) = items.first().and_then(as_f64)
    {
        return v;
    }
    let low = rule(rules, "gt").or(rule(rules, "gte")).and_then(as_f64);
    let high = rule(rules, "lt").or(rule(rules, "lte")).and_then(as_f64);
    let inside = |v: f64| {
        let above = |name: &str, strict: bool| {
            rule(rules, name).and_then(as_f64).is_none_or(|b| if strict { v > b } else { v >= b })
        };
        let below = |name: &str, strict: bool| {
            rule(rules, name).and_then(as_f64).is_none_or(|b| if strict { v < b } else { v <= b })
        };
        above("gt", true) && above("gte", false) && below("lt", true) && below("lte", false)
    };
    if inside(preferred) {
        return preferred;
    }
    // Both bounds: the middle, which is inside whichever of them are strict.
    if let (Some(low), Some(high)) = (low, high)
        && low < high
    {
        let middle = low + (high - low) / 2.0;
        return if preferred.fract() == 0.0 && (high - low) >= 2.0 { middle.floor() } else { middle };
    }
    let mut v = preferred;
    if let Some(gte) = rule(rules, "gte").and_then(as_f64) {
        v = v.max(gte);
    }
    if let Some(gt) = rule(rules, "gt").and_then(as_f64)
        && v <= gt
    {
        v = gt + 1.0;
    }
    if let Some(lte) = rule(rules, "lte").and_then(as_f64) {
        v = v.min(lte);
    }
    if let Some(lt) = rule(rules, "lt").and_then(as_f64)
        && v >= lt
    {
        v = lt - 1.0;
    }
    v
}

/// A string its rules accept: the well-known formats, `const`, `in`, a
/// `pattern` that one of a few candidates matches, lengths, affixes.
fn string_example(f: &Field, rules: Option<&TypedRules>) -> String {
    let has = |name: &str| matches!(rule(rules, name), Some(RuleValue::Bool(true)));
    let text = |name: &str| match rule(rules, name) {
        Some(RuleValue::Text(t)) => Some(t.clone()),
        _ => None,
    };
    if let Some(v) = text("const") {
        return v;
    }
    if let Some(RuleValue::List(items)) = rule(rules, "in")
        && let Some(RuleValue::Text(first)) = items.first()
    {
        return first.clone();
    }
    let formats = [
        ("email", "someone@example.com"),
        ("uri", "https://example.com/"),
        ("uri_ref", "https://example.com/"),
        ("uuid", "00000000-0000-4000-8000-000000000000"),
        ("tuuid", "00000000000040008000000000000000"),
        ("hostname", "example.com"),
        ("address", "example.com"),
        ("ip", "192.0.2.1"),
        ("ipv4", "192.0.2.1"),
        ("ipv6", "2001:db8::1"),
    ];
    if let Some((_, v)) = formats.iter().find(|(name, _)| has(name)) {
        return (*v).to_owned();
    }
    let len = |name: &str| match rule(rules, name) {
        Some(RuleValue::Uint(n)) => Some(*n as usize),
        Some(RuleValue::Int(n)) => Some(*n as usize),
        _ => None,
    };
    let base = if f.name.ends_with("name") || f.name == "parent" { "example" } else { "text" };
    let mut out = format!("{}{base}{}", text("prefix").unwrap_or_default(), text("contains").unwrap_or_default());
    let suffix = text("suffix").unwrap_or_default();
    let min = len("min_len").or(len("len")).or(len("min_bytes")).unwrap_or(0).min(4096);
    let short = min.saturating_sub(out.chars().count() + suffix.chars().count());
    out.push_str(&"x".repeat(short));
    if let Some(max) = len("max_len").or(len("len")).or(len("max_bytes")) {
        out = out.chars().take(max.saturating_sub(suffix.chars().count())).collect();
    }
    out.push_str(&suffix);
    if let Some(pattern) = text("pattern")
        && let Ok(re) = regex::Regex::new(&pattern)
        && !re.is_match(&out)
    {
        let candidates = ["", "US", "en", "a", "A", "1", "abc", "ABC", "example", "a1", "abc-123", "2026-01-01"];
        return candidates.iter().find(|c| re.is_match(c)).map_or(out, |c| (*c).to_owned());
    }
    out
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
