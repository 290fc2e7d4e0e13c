//! protovalidate rules as the generated documents show them: JSON Schema
//! keywords where OpenAPI 3.0 has one, and one line of text per rule
//! that has none (for descriptions, the SDL and TypeScript doc comments).

use serde_json::{Map, Value, json};

use crate::model::{CustomRules, FieldRules, Message, RuleValue, TypedRules};

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

/// `Validation: `…`, `…`.`: the sentence doc comments and descriptions end with.
pub fn sentence(rules: &FieldRules) -> Option<String> {
    let lines = lines(rules);
    (!lines.is_empty())
        .then(|| format!("Validation: {}.", lines.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")))
}

/// One rule as written: `string.max_len = 300`, a flag as `string.email`;
/// `prefix` names the enclosing rule (`repeated.items.`).
pub fn rule_line(prefix: &str, kind: &str, name: &str, value: &RuleValue) -> String {
    match value {
        RuleValue::Bool(true) => format!("{prefix}{kind}.{name}"),
        other => format!("{prefix}{kind}.{name} = {}", text(other)),
    }
}

/// Every rule of `rules` as one line each: `string.min_len = 1`.
pub fn lines(rules: &FieldRules) -> Vec<String> {
    let mut out = Vec::new();
    if rules.required {
        out.push("required".to_owned());
    }
    custom_lines(&rules.custom, "", &mut out);
    if let Some(t) = &rules.typed {
        typed_lines(t, "", &mut out);
    }
    out
}

/// A message's own rules (oneof groups, custom rules) as lines; the
/// sentence its description ends with, when it has any.
pub fn message_sentence(m: &Message) -> Option<String> {
    let mut out = Vec::new();
    for rule in &m.oneof_rules {
        let which = if rule.required { "exactly one" } else { "at most one" };
        out.push(format!("oneof: {which} of {}", rule.fields.join(", ")));
    }
    custom_lines(&m.custom_rules, "", &mut out);
    (!out.is_empty())
        .then(|| format!("Validation: {}.", out.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")))
}

/// The custom rules of a field and of its items, keys and values, as lines.
pub fn custom(rules: &FieldRules) -> Vec<String> {
    let mut out = Vec::new();
    custom_lines(&rules.custom, "", &mut out);
    if let Some(t) = &rules.typed {
        let (first, second) = if t.kind == "map" { ("keys", "values") } else { ("items", "") };
        for (which, inner) in [(first, &t.items), (second, &t.values)] {
            if let Some(inner) = inner {
                custom_lines(&inner.custom, &format!("{}.{which}.", t.kind), &mut out);
            }
        }
    }
    out
}

/// Custom rules as `cel = "this > 0"`, with the message a violation shows.
fn custom_lines(custom: &CustomRules, prefix: &str, out: &mut Vec<String>) {
    for (_, message, expression) in custom.all() {
        let line = format!("{prefix}cel = {expression:?}");
        out.push(if message.is_empty() { line } else { format!("{line} ({message})") });
    }
}

/// The rules of one `FieldRules.type` member as lines, as [`lines`] writes them.
pub fn typed(t: &TypedRules) -> Vec<String> {
    let mut out = Vec::new();
    typed_lines(t, "", &mut out);
    out
}

fn typed_lines(t: &TypedRules, prefix: &str, out: &mut Vec<String>) {
    for (name, value) in &t.rules {
        out.push(rule_line(prefix, &t.kind, name, value));
    }
    let (first, second) = if t.kind == "map" { ("keys", "values") } else { ("items", "") };
    for (which, inner) in [(first, &t.items), (second, &t.values)] {
        if let Some(inner) = inner {
            let p = format!("{prefix}{}.{which}.", t.kind);
            if inner.required {
                out.push(format!("{p}required"));
            }
            custom_lines(&inner.custom, &p, out);
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
            // 64-bit integers are JSON strings: their range becomes the pattern of its digits.
            (_, "gt" | "gte" | "lt" | "lte", _) if !json_number => match integer_range(t) {
                Some(pattern) => put(schema, "pattern", json!(pattern)),
                None => false,
            },
            _ => false,
        };
        if !said {
            rest.push(rule_line("", &t.kind, name, value));
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

/// The bounds of an integer rule as an inclusive range, when it is one.
fn bounds(t: &TypedRules) -> Option<(i128, i128)> {
    let value = |name: &str| match t.get(name) {
        Some(RuleValue::Int(n)) => Some(i128::from(*n)),
        Some(RuleValue::Uint(n)) => Some(i128::from(*n)),
        _ => None,
    };
    let unsigned = t.kind.starts_with('u') || t.kind.starts_with("fixed");
    let low = value("gte").or(value("gt").map(|n| n + 1)).unwrap_or(if unsigned { 0 } else { i128::from(i64::MIN) });
    let high = value("lte").or(value("lt").map(|n| n - 1)).unwrap_or(if unsigned {
        i128::from(u64::MAX)
    } else {
        i128::from(i64::MAX)
    });
    (low <= high).then_some((low, high))
}

/// A pattern matching exactly the decimal integers of a 64-bit rule's
/// range (`gte: 0, lte: 999` is `^(?:[0-9]|[1-9][0-9]|[1-9][0-9]{2})$`);
/// `None` for the complement ranges `lt < gt` gives.
fn integer_range(t: &TypedRules) -> Option<String> {
    let (low, high) = bounds(t)?;
    let mut parts = Vec::new();
    if low < 0 {
        // Negative numbers: a minus sign and the range of their magnitudes.
        let (a, b) = (high.min(-1).unsigned_abs(), low.unsigned_abs());
        parts.extend(digits_range(a, b).into_iter().map(|p| format!("-{p}")));
    }
    if high >= 0 {
        parts.extend(digits_range(low.max(0).unsigned_abs(), high.unsigned_abs()));
    }
    Some(format!("^(?:{})$", parts.join("|")))
}

/// Patterns for the decimal numbers `low..=high` (no leading zeros).
fn digits_range(low: u128, high: u128) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = low;
    while start <= high {
        // Up to the end of the current digit count, or `high`.
        let len = start.to_string().len() as u32;
        let end = (10u128.pow(len) - 1).min(high);
        same_length(&start.to_string(), &end.to_string(), &mut String::new(), &mut out);
        start = end + 1;
    }
    out
}

/// Patterns for the numbers from `a` to `b`, both of one length, after `prefix`.
fn same_length(a: &str, b: &str, prefix: &mut String, out: &mut Vec<String>) {
    let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else {
        out.push(prefix.clone());
        return;
    };
    let rest = a.len() - 1;
    let any = |n: usize| match n {
        0 => String::new(),
        1 => "[0-9]".to_owned(),
        n => format!("[0-9]{{{n}}}"),
    };
    let class = |from: char, to: char| if from == to { from.to_string() } else { format!("[{from}-{to}]") };
    if x == y {
        prefix.push(x);
        same_length(&a[1..], &b[1..], prefix, out);
        prefix.pop();
        return;
    }
    let (low_tail, high_tail) = (&a[1..], &b[1..]);
    let low_full = low_tail.chars().all(|c| c == '0');
    let high_full = high_tail.chars().all(|c| c == '9');
    // The first digit's own range with every tail, where the tails allow it.
    let first = if low_full { x } else { char::from(x as u8 + 1) };
    let last = if high_full { y } else { char::from(y as u8 - 1) };
    if !low_full {
        prefix.push(x);
        same_length(low_tail, &"9".repeat(rest), prefix, out);
        prefix.pop();
    }
    if first <= last {
        out.push(format!("{prefix}{}{}", class(first, last), any(rest)));
    }
    if !high_full {
        prefix.push(y);
        same_length(&"0".repeat(rest), high_tail, prefix, out);
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(kind: &str, set: &[(&str, RuleValue)]) -> TypedRules {
        TypedRules {
            kind: kind.into(),
            rules: set.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect(),
            items: None,
            values: None,
        }
    }

    /// The pattern of a 64-bit range accepts exactly the numbers in it.
    #[test]
    fn integer_ranges_become_exact_patterns() {
        let cases = [
            (
                rules("int64", &[("gte", RuleValue::Int(0)), ("lte", RuleValue::Int(9_999_999_999_999))]),
                0i128,
                9_999_999_999_999i128,
            ),
            (rules("int64", &[("gt", RuleValue::Int(-12)), ("lt", RuleValue::Int(345))]), -11, 344),
            (rules("uint64", &[("lte", RuleValue::Uint(1050))]), 0, 1050),
            (rules("sint64", &[("gte", RuleValue::Int(-7))]), -7, i128::from(i64::MAX)),
        ];
        for (t, low, high) in cases {
            let pattern = integer_range(&t).expect("a range");
            let re = regex::Regex::new(&pattern).expect("valid");
            let probes =
                [low - 1, low, low + 1, high - 1, high, high + 1, 0, 9, 10, 99, 100, 101, 999, 1000, -1, -10, -100];
            for n in probes {
                assert_eq!(re.is_match(&n.to_string()), (low..=high).contains(&n), "{n} against {pattern}");
            }
        }
    }
}
