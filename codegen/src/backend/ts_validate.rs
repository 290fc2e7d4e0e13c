//! TypeScript: `ts/validate.ts`, protovalidate's rules for the browser. The
//! checks are a fixed port of the runtime's (`templates/ts/validate.ts`);
//! this module adds each message's rules as data and a zod schema per
//! message with rules at or below it (`BookSchema`), named after the types
//! of `ts/index.ts`. Custom (CEL) rules are not evaluated in the browser:
//! each schema lists those it leaves to the server.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::{
    Api, Cardinality, CustomRules, Enum, Field, FieldRules, FieldType, Ignore, Message, RuleValue, TypedRules,
};

/// The messages with rules at or below them (map entries aside), by full name.
fn checked(messages: &BTreeMap<&str, &Message>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = messages
        .values()
        .filter(|m| {
            !m.oneof_rules.is_empty()
                || !m.custom_rules.is_empty()
                || m.oneofs.iter().any(|o| o.required)
                || m.fields.iter().any(|f| f.rules.as_ref().is_some_and(|r| r.ignore != Ignore::Always))
        })
        .map(|m| m.full_name.clone())
        .collect();
    loop {
        let before = set.len();
        for m in messages.values() {
            if !set.contains(&m.full_name)
                && m.fields.iter().any(|f| super::input::message_type(f).is_some_and(|t| set.contains(t)))
            {
                set.insert(m.full_name.clone());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The walker's name for a field type.
fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Double => "double",
        FieldType::Float => "float",
        FieldType::Int32 => "int32",
        FieldType::Int64 => "int64",
        FieldType::Uint32 => "uint32",
        FieldType::Uint64 => "uint64",
        FieldType::Sint32 => "sint32",
        FieldType::Sint64 => "sint64",
        FieldType::Fixed32 => "fixed32",
        FieldType::Fixed64 => "fixed64",
        FieldType::Sfixed32 => "sfixed32",
        FieldType::Sfixed64 => "sfixed64",
        FieldType::Bool => "bool",
        FieldType::String => "string",
        FieldType::Bytes => "bytes",
        FieldType::Enum(_) => "enum",
        FieldType::Message(r) => match r.full_name.as_str() {
            "google.protobuf.Duration" => "duration",
            "google.protobuf.Timestamp" => "timestamp",
            "google.protobuf.Any" => "any",
            _ => "message",
        },
    }
}

/// A rule value as a TypeScript literal: integers as strings (64-bit ones
/// do not fit a number), bytes as arrays, times as `[seconds, nanos]`.
fn literal(v: &RuleValue) -> String {
    match v {
        RuleValue::Bool(b) => b.to_string(),
        RuleValue::Int(n) => format!("\"{n}\""),
        RuleValue::Uint(n) => format!("\"{n}\""),
        RuleValue::Float(x) if x.is_nan() => "NaN".to_owned(),
        RuleValue::Float(x) if x.is_infinite() => if *x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned(),
        RuleValue::Float(x) => format!("{x:?}"),
        RuleValue::Text(s) => serde_json::Value::from(s.as_str()).to_string(),
        RuleValue::Bytes(b) => format!("[{}]", b.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")),
        RuleValue::Time(s, n) => format!("[{s}, {n}]"),
        RuleValue::List(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
    }
}

/// The ids of custom rules (a `cel_expression` is its own id), as `` `id` ``.
fn custom_ids(rules: &CustomRules) -> impl Iterator<Item = String> + '_ {
    rules.all().map(|(id, _, _)| format!("`{id}`"))
}

/// The custom rules at and below `m` that the browser leaves to the server, as
/// `field.path: `id``; `[]` marks a list's items or a map's values.
fn unchecked(
    m: &Message,
    messages: &BTreeMap<&str, &Message>,
    prefix: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if !seen.insert(m.full_name.clone()) {
        return;
    }
    let at = |path: &str, id: String| if path.is_empty() { id } else { format!("{path}: {id}") };
    out.extend(custom_ids(&m.custom_rules).map(|id| at(prefix.trim_end_matches('.'), id)));
    for f in &m.fields {
        let path = format!("{prefix}{}", f.name);
        let element = if matches!(f.cardinality, Cardinality::Repeated | Cardinality::Map(..)) {
            format!("{path}[]")
        } else {
            path.clone()
        };
        if let Some(rules) = &f.rules {
            out.extend(custom_ids(&rules.custom).map(|id| at(&path, id)));
            if let Some(t) = &rules.typed {
                let key = if matches!(f.cardinality, Cardinality::Map(..)) { " (key)" } else { "" };
                for id in t.items.iter().flat_map(|r| custom_ids(&r.custom)) {
                    out.push(at(&format!("{element}{key}"), id));
                }
                for id in t.values.iter().flat_map(|r| custom_ids(&r.custom)) {
                    out.push(at(&element, id));
                }
            }
        }
        if let Some(inner) = super::input::message_type(f).and_then(|t| messages.get(t)) {
            unchecked(inner, messages, &format!("{element}."), seen, out);
        }
    }
    seen.remove(&m.full_name);
}

struct Writer<'a> {
    names: BTreeMap<String, String>,
    enums: BTreeMap<&'a str, &'a Enum>,
    checked: BTreeSet<String>,
    messages: BTreeMap<&'a str, &'a Message>,
    /// Enums whose value tables are referenced.
    used_enums: BTreeSet<String>,
}

impl Writer<'_> {
    fn unchecked(&self, m: &Message) -> Vec<String> {
        let mut out = Vec::new();
        unchecked(m, &self.messages, "", &mut BTreeSet::new(), &mut out);
        out
    }

    fn name(&self, full_name: &str) -> String {
        self.names.get(full_name).cloned().unwrap_or_else(|| full_name.replace('.', "_"))
    }

    /// `{ kind: "string", min_len: "1" }`; enums also list their numbers for `defined_only`.
    fn typed(&self, t: &TypedRules, ty: &FieldType) -> String {
        let mut parts = vec![format!("kind: \"{}\"", t.kind)];
        for (name, value) in &t.rules {
            parts.push(format!("{name}: {}", literal(value)));
        }
        if let (FieldType::Enum(r), Some(RuleValue::Bool(true))) = (ty, t.get("defined_only")) {
            let numbers = self
                .enums
                .get(r.full_name.as_str())
                .map(|e| e.values.iter().map(|v| v.number.to_string()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            parts.push(format!("defined: [{numbers}]"));
        }
        format!("{{ {} }}", parts.join(", "))
    }

    /// The parts of a field every use needs: names, type, presence, collection, enum table.
    fn shape(&mut self, m: &Message, f: &Field) -> Vec<String> {
        let value_ty = match &f.cardinality {
            Cardinality::Map(_, v) => v.as_ref(),
            _ => &f.ty,
        };
        let mut parts = vec![
            format!("n: {}", serde_json::Value::from(f.name.as_str())),
            format!("j: {}", serde_json::Value::from(f.json_name.as_str())),
            format!("t: \"{}\"", type_name(value_ty)),
        ];
        let presence = f.oneof.is_some_and(|i| i < m.oneofs.len())
            || matches!(f.cardinality, Cardinality::Optional)
            || (matches!(f.ty, FieldType::Message(_))
                && !matches!(f.cardinality, Cardinality::Repeated | Cardinality::Map(..)));
        if presence {
            parts.push("p: true".to_owned());
        }
        match &f.cardinality {
            Cardinality::Repeated => parts.push("c: \"list\"".to_owned()),
            Cardinality::Map(k, _) => {
                parts.push("c: \"map\"".to_owned());
                parts.push(format!("k: \"{}\"", type_name(k)));
            }
            _ => {}
        }
        if let FieldType::Enum(r) = value_ty
            && self.enums.contains_key(r.full_name.as_str())
        {
            parts.push(format!("e: $E_{}", self.name(&r.full_name)));
            self.used_enums.insert(r.full_name.clone());
        }
        parts
    }

    /// A checked field, or `None` when nothing about it is checked.
    fn field(&mut self, m: &Message, f: &Field) -> Option<String> {
        let nested = super::input::message_type(f).filter(|t| self.checked.contains(*t)).map(str::to_owned);
        let rules: FieldRules = f.rules.clone().unwrap_or_default();
        if rules.ignore == Ignore::Always || (f.rules.is_none() && nested.is_none()) {
            return None;
        }
        let mut parts = self.shape(m, f);
        if rules.required {
            parts.push("req: true".to_owned());
        }
        if rules.ignore == Ignore::IfZeroValue {
            parts.push("zero: true".to_owned());
        }
        if let Some(t) = &rules.typed {
            let (key_ty, value_ty) = match &f.cardinality {
                Cardinality::Map(k, v) => (k.as_ref(), v.as_ref()),
                _ => (&f.ty, &f.ty),
            };
            parts.push(format!("r: {}", self.typed(t, &f.ty)));
            if let Some(items) = t.items.as_ref().and_then(|r| r.typed.as_ref()) {
                parts.push(format!("i: {}", self.typed(items, key_ty)));
            }
            if let Some(values) = t.values.as_ref().and_then(|r| r.typed.as_ref()) {
                parts.push(format!("v: {}", self.typed(values, value_ty)));
            }
        }
        if let Some(t) = nested {
            parts.push(format!("m: () => $M_{}", self.name(&t)));
        }
        Some(format!("{{ {} }}", parts.join(", ")))
    }

    fn message(&mut self, out: &mut String, m: &Message) {
        let fields: Vec<String> = m.fields.iter().filter_map(|f| self.field(m, f)).collect();
        let mut parts =
            vec![format!("f: [{}]", fields.iter().map(|f| format!("\n    {f},")).collect::<String>() + "\n  ")];
        let oneofs: Vec<String> = m
            .oneofs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.required)
            .map(|(i, o)| {
                let members: Vec<String> = m
                    .fields
                    .iter()
                    .filter(|f| f.oneof == Some(i))
                    .map(|f| {
                        format!(
                            "[{}, {}]",
                            serde_json::Value::from(f.json_name.as_str()),
                            serde_json::Value::from(f.name.as_str())
                        )
                    })
                    .collect();
                format!("{{ name: {}, members: [{}] }}", serde_json::Value::from(o.name.as_str()), members.join(", "))
            })
            .collect();
        if !oneofs.is_empty() {
            parts.push(format!("o: [{}]", oneofs.join(", ")));
        }
        let groups: Vec<String> = m
            .oneof_rules
            .iter()
            .map(|rule| {
                let fields: Vec<String> = rule
                    .fields
                    .iter()
                    .filter_map(|name| m.fields.iter().find(|f| &f.name == name))
                    .map(|f| format!("{{ {} }}", self.shape(m, f).join(", ")))
                    .collect();
                format!("{{ fields: [{}], required: {} }}", fields.join(", "), rule.required)
            })
            .collect();
        if !groups.is_empty() {
            parts.push(format!("mo: [{}]", groups.join(", ")));
        }
        let skipped = self.unchecked(m);
        if !skipped.is_empty() {
            let quoted: Vec<String> = skipped.iter().map(|s| serde_json::Value::from(s.as_str()).to_string()).collect();
            parts.push(format!("x: [{}]", quoted.join(", ")));
        }
        let _ = writeln!(out, "const $M_{}: $Msg = {{\n  {},\n}};\n", self.name(&m.full_name), parts.join(",\n  "));
    }
}

/// `ts/validate.ts` for the API, or `None` when no message has rules.
pub fn generate(api: &Api, sources: &[String]) -> Option<String> {
    let messages = api.messages_by_name();
    let checked = checked(&messages);
    let ordered: Vec<&Message> = api
        .packages
        .iter()
        .flat_map(|p| &p.messages)
        .filter(|m| !m.is_map_entry && checked.contains(&m.full_name))
        .collect();
    if ordered.is_empty() {
        return None;
    }
    let mut writer = Writer {
        names: super::ts::names(api),
        enums: api.enums_by_name(),
        checked,
        messages: api.messages_by_name(),
        used_enums: BTreeSet::new(),
    };
    let mut descriptions = String::new();
    for m in &ordered {
        writer.message(&mut descriptions, m);
    }
    let mut out = format!(
        "// @generated by apigen {} from {}. Do not edit: change the .proto and regenerate.\n{}",
        env!("CARGO_PKG_VERSION"),
        sources.join(", "),
        include_str!("../../../templates/ts/validate.ts")
    );
    out.push_str("\n// The API's rules.\n\nimport type * as $T from \"./index.js\";\n\n");
    for full in &writer.used_enums {
        let Some(e) = writer.enums.get(full.as_str()) else { continue };
        let values: Vec<String> =
            e.values.iter().map(|v| format!("{}: {}", serde_json::Value::from(v.name.as_str()), v.number)).collect();
        let _ =
            writeln!(out, "const $E_{}: Record<string, number> = {{ {} }};\n", writer.name(full), values.join(", "));
    }
    out.push_str(&descriptions);
    for m in &ordered {
        let name = writer.name(&m.full_name);
        let skipped = writer.unchecked(m);
        let note = if skipped.is_empty() {
            String::new()
        } else {
            format!(
                "\n * Not checked in the browser (the server checks them; see `uncheckedRules`): custom rules {}.",
                skipped.join(", ").replace("*/", "*\\/")
            )
        };
        let _ = writeln!(
            out,
            "/**\n * `{}` with its protovalidate rules: for `safeParse`, a form resolver or `violations`.{note}\n */\nexport const {name}Schema: z.ZodType<$T.{name}> = $schema<$T.{name}>($M_{name});\n",
            m.full_name
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_ts(proto: &str) -> Option<String> {
        let compiled = crate::frontend::compile_memory(&[("v.proto", proto)]).expect("compiles");
        let api = crate::lower::lower(&compiled).expect("lowers");
        generate(&api, &api.roots)
    }

    #[test]
    fn no_rules_no_file() {
        assert_eq!(validate_ts("syntax = \"proto3\";\npackage v.v1;\nmessage M { string a = 1; }\n"), None);
    }

    /// Rules become data: integers as strings, enums with their numbers, nested messages by
    /// reference, required oneofs and message oneofs; a message holding one with rules gets a
    /// schema too, and the output does not change between runs.
    #[test]
    fn rules_as_data_and_a_schema_per_message_with_rules_below() {
        let proto = r#"syntax = "proto3";
package v.v1;
import "buf/validate/validate.proto";
enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; }
message Inner {
  uint64 big = 1 [(buf.validate.field).uint64.lte = 18446744073709551615];
  Color color = 2 [(buf.validate.field).enum.defined_only = true];
  double ratio = 3 [(buf.validate.field).double = {gt: 0, finite: true}];
  bytes tag = 4 [(buf.validate.field).bytes.prefix = "\x01"];
}
message Outer {
  option (buf.validate.message).oneof = { fields: ["x", "y"] };
  Inner inner = 1;
  map<string, Inner> by_name = 2 [(buf.validate.field).map.keys.string.min_len = 1];
  oneof kind {
    option (buf.validate.oneof).required = true;
    string a = 3;
    int32 b = 4;
  }
  string x = 5;
  string y = 6;
}
message Plain { string s = 1; }
"#;
        let ts = validate_ts(proto).expect("a file");
        assert_eq!(validate_ts(proto).as_deref(), Some(ts.as_str()));
        for line in [
            "import { z } from \"zod\";",
            "const $E_Color: Record<string, number> = { \"COLOR_UNSPECIFIED\": 0, \"COLOR_RED\": 1 };",
            "{ n: \"big\", j: \"big\", t: \"uint64\", r: { kind: \"uint64\", lte: \"18446744073709551615\" } },",
            "{ n: \"color\", j: \"color\", t: \"enum\", e: $E_Color, r: { kind: \"enum\", defined_only: true, defined: [0, 1] } },",
            "r: { kind: \"double\", gt: 0.0, finite: true }",
            "r: { kind: \"bytes\", prefix: [1] }",
            "{ n: \"inner\", j: \"inner\", t: \"message\", p: true, m: () => $M_Inner },",
            "{ n: \"by_name\", j: \"byName\", t: \"message\", c: \"map\", k: \"string\", r: { kind: \"map\" }, i: { kind: \"string\", min_len: \"1\" }, m: () => $M_Inner }",
            "o: [{ name: \"kind\", members: [[\"a\", \"a\"], [\"b\", \"b\"]] }]",
            "mo: [{ fields: [{ n: \"x\", j: \"x\", t: \"string\" }, { n: \"y\", j: \"y\", t: \"string\" }], required: false }]",
            "export const InnerSchema: z.ZodType<$T.Inner> = $schema<$T.Inner>($M_Inner);",
            "export const OuterSchema: z.ZodType<$T.Outer> = $schema<$T.Outer>($M_Outer);",
        ] {
            assert!(
                ts.contains(line),
                "{line} in the generated part:\n{}",
                &ts[ts.find("// The API's rules.").unwrap_or(0)..]
            );
        }
        assert!(!ts.contains("PlainSchema"));
    }

    /// Custom rules are not evaluated in the browser: a schema names those at and below it.
    #[test]
    fn custom_rules_are_listed_not_checked() {
        let proto = r#"syntax = "proto3";
package v.v1;
import "buf/validate/validate.proto";
message Item { string sku = 1 [(buf.validate.field).cel_expression = "this != ''"]; }
message Order {
  option (buf.validate.message).cel = { id: "order.items", expression: "size(this.items) > 0" };
  repeated Item items = 1;
  map<string, string> notes = 2 [(buf.validate.field).map.keys.cel = { id: "note.key", expression: "this != 'x'" }];
}
"#;
        let ts = validate_ts(proto).expect("a file");
        let listed = r#"x: ["`order.items`", "items[].sku: `this != ''`", "notes[] (key): `note.key`"]"#;
        assert!(ts.contains(listed), "{listed} in\n{}", &ts[ts.find("// The API's rules.").unwrap_or(0)..]);
        assert!(ts.contains("custom rules `order.items`, items[].sku: `this != ''`, notes[] (key): `note.key`."));
        assert!(ts.contains("export const ItemSchema"), "a message whose only rule is custom gets a schema");
    }
}
