//! protovalidate rules as the generated documents show them: JSON Schema
//! keywords where OpenAPI 3.0 has one, and one line of text per rule
//! that has none (for descriptions, the SDL and TypeScript doc comments).

use serde_json::{Map, Value, json};

use crate::model::{FieldRules, RuleValue, TypedRules};

/// A rule value as text: numbers as written, strings quoted, lists bracketed.
pub fn text(v: &RuleValue) -> String {
    match v {
        RuleValue::Bool(b) => b.to_string(),
        RuleValue::Int(n) => n.to_string(),
        RuleValue::Uint(n) => n.to_string(),
        RuleValue::Float(x) => x.to_string(),
        RuleValue::Text(s) => format!("{s:?}"),
        RuleValue::Bytes(b) => format!("{b:?}"),
        RuleValue::Time(s, 0) => format!("{s}s"),
        RuleValue::Time(s, n) => format!("{s}s {n}ns"),
        RuleValue::List(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(", ")),
    }
}

/// Every rule of `rules` as one line each: `string.min_len = 1`.
pub fn lines(rules: &FieldRules) -> Vec<String> {
    let mut out = Vec::new();
    if rules.required {
        out.push("required".to_owned());
    }
    if let Some(t) = &rules.typed {
        typed_lines(t, "", &mut out);
    }
    out
}

fn typed_lines(t: &TypedRules, prefix: &str, out: &mut Vec<String>) {
    for (name, value) in &t.rules {
        match value {
            RuleValue::Bool(true) => out.push(format!("{prefix}{}.{name}", t.kind)),
            other => out.push(format!("{prefix}{}.{name} = {}", t.kind, text(other))),
        }
    }
    let (first, second) = if t.kind == "map" { ("keys", "values") } else { ("items", "") };
    for (which, inner) in [(first, &t.items), (second, &t.values)] {
        if let Some(inner) = inner {
            let p = format!("{prefix}{}.{which}.", t.kind);
            if inner.required {
                out.push(format!("{p}required"));
            }
            if let Some(typed) = &inner.typed {
                typed_lines(typed, &p, out);
            }
        }
    }
}

/// Adds the JSON Schema keywords of `t` to `schema` (the schema of one
/// value: a string, a number, an array or an object); returns the lines of
/// the rules no keyword says. `json_number` is false for 64-bit integers,
/// which the JSON mapping writes as strings.
pub fn keywords(schema: &mut Map<String, Value>, t: &TypedRules, json_number: bool) -> Vec<String> {
    let mut rest = Vec::new();
    for (name, value) in &t.rules {
        let said = match (t.kind.as_str(), name.as_str(), value) {
            ("string", "min_len", RuleValue::Uint(n)) => put(schema, "minLength", json!(n)),
            ("string", "max_len", RuleValue::Uint(n)) => put(schema, "maxLength", json!(n)),
            ("string", "len", RuleValue::Uint(n)) => {
                put(schema, "minLength", json!(n)) && put(schema, "maxLength", json!(n))
            }
            ("string", "pattern", RuleValue::Text(p)) => put(schema, "pattern", json!(p)),
            ("string", "const", RuleValue::Text(s)) => put(schema, "enum", json!([s])),
            ("string", "in", RuleValue::List(items)) => {
                put(schema, "enum", json!(items.iter().map(as_json).collect::<Vec<_>>()))
            }
            ("string", format, RuleValue::Bool(true)) => match openapi_format(format) {
                Some(f) => put(schema, "format", json!(f)),
                None => false,
            },
            ("bytes", "min_len", RuleValue::Uint(_)) | ("bytes", "max_len", RuleValue::Uint(_)) => false,
            ("repeated", "min_items", RuleValue::Uint(n)) => put(schema, "minItems", json!(n)),
            ("repeated", "max_items", RuleValue::Uint(n)) => put(schema, "maxItems", json!(n)),
            ("repeated", "unique", RuleValue::Bool(true)) => put(schema, "uniqueItems", json!(true)),
            ("map", "min_pairs", RuleValue::Uint(n)) => put(schema, "minProperties", json!(n)),
            ("map", "max_pairs", RuleValue::Uint(n)) => put(schema, "maxProperties", json!(n)),
            (_, rule, v) if json_number && is_number(&t.kind) => number_keyword(schema, t, rule, v),
            _ => false,
        };
        if !said {
            match value {
                RuleValue::Bool(true) => rest.push(format!("{}.{name}", t.kind)),
                other => rest.push(format!("{}.{name} = {}", t.kind, text(other))),
            }
        }
    }
    rest
}

fn number_keyword(schema: &mut Map<String, Value>, t: &TypedRules, rule: &str, v: &RuleValue) -> bool {
    // A range with lt below gt is its complement: no keyword says that.
    let exclusive_range = matches!((t.get("lt").or(t.get("lte")), t.get("gt").or(t.get("gte"))), (Some(hi), Some(lo)) if as_f64(hi) < as_f64(lo));
    match rule {
        "const" => put(schema, "enum", json!([as_json(v)])),
        "in" => match v {
            RuleValue::List(items) => put(schema, "enum", json!(items.iter().map(as_json).collect::<Vec<_>>())),
            _ => false,
        },
        "gte" if !exclusive_range => put(schema, "minimum", as_json(v)),
        "gt" if !exclusive_range => put(schema, "minimum", as_json(v)) && put(schema, "exclusiveMinimum", json!(true)),
        "lte" if !exclusive_range => put(schema, "maximum", as_json(v)),
        "lt" if !exclusive_range => put(schema, "maximum", as_json(v)) && put(schema, "exclusiveMaximum", json!(true)),
        _ => false,
    }
}

fn put(schema: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    schema.insert(key.to_owned(), value);
    true
}

fn is_number(kind: &str) -> bool {
    !matches!(kind, "string" | "bytes" | "bool" | "enum" | "repeated" | "map" | "duration" | "timestamp" | "any")
}

fn as_f64(v: &RuleValue) -> f64 {
    match v {
        RuleValue::Int(n) => *n as f64,
        RuleValue::Uint(n) => *n as f64,
        RuleValue::Float(x) => *x,
        _ => f64::NAN,
    }
}

fn as_json(v: &RuleValue) -> Value {
    match v {
        RuleValue::Bool(b) => json!(b),
        RuleValue::Int(n) => json!(n),
        RuleValue::Uint(n) => json!(n),
        RuleValue::Float(x) => json!(x),
        RuleValue::Text(s) => json!(s),
        other => json!(text(other)),
    }
}

/// The OpenAPI `format` of a well-known string rule that has one.
fn openapi_format(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "email" => "email",
        "hostname" => "hostname",
        "ipv4" => "ipv4",
        "ipv6" => "ipv6",
        "uri" => "uri",
        "uri_ref" => "uri-reference",
        "uuid" => "uuid",
        _ => return None,
    })
}
