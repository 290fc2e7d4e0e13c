//! TypeScript: `ts/validate.ts`, protovalidate's rules for the browser. The
//! checks are a fixed port of the runtime's (`templates/ts/validate.ts`);
//! this module adds each message's rules as data and a zod schema per
//! message with rules at or below it (`BookSchema`), named after the types
//! of `ts/index.ts`. Custom (CEL) rules are compiled once as the module
//! loads (`$cel`, on `@bufbuild/cel`, imported only when some rule is
//! custom); each message a rule sees as `this` gets the list of its fields
//! (`$C_Book`: proto and JSON names, types, presence) to turn its JSON into
//! CEL's value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::{
    Api, Cardinality, CustomRules, Enum, Field, FieldRules, FieldType, Ignore, Message, RuleValue, TypedRules,
};

/// The messages with rules at or below them (map entries aside), by full name.
fn checked(messages: &BTreeMap<&str, &Message>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> =
        messages.values().filter(|m| super::validate::has_rules(m)).map(|m| m.full_name.clone()).collect();
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

/// How CEL sees a well-known type whose JSON is not an object of its fields
/// (Timestamp, Duration and Any are types of the walker's own).
fn wkt(full_name: &str) -> Option<&'static str> {
    Some(match full_name.strip_prefix("google.protobuf.")? {
        "Timestamp" | "Duration" | "Any" => "",
        "DoubleValue" => "wrapper:double",
        "FloatValue" => "wrapper:float",
        "Int64Value" => "wrapper:int64",
        "UInt64Value" => "wrapper:uint64",
        "Int32Value" => "wrapper:int32",
        "UInt32Value" => "wrapper:uint32",
        "BoolValue" => "wrapper:bool",
        "StringValue" => "wrapper:string",
        "BytesValue" => "wrapper:bytes",
        "Struct" => "struct",
        "Value" => "value",
        "ListValue" => "list_value",
        "Empty" => "empty",
        "FieldMask" => "field_mask",
        _ => return None,
    })
}

/// `$cel([...expressions], [[id, message, expression], ...])`, compiled as the module loads.
fn cel_literal(rules: &CustomRules) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    let expressions: Vec<String> = rules.expressions.iter().map(|e| text(e)).collect();
    let list: Vec<String> = rules
        .rules
        .iter()
        .map(|r| format!("[{}, {}, {}]", text(&r.id), text(&r.message), text(&r.expression)))
        .collect();
    format!("$cel([{}], [{}])", expressions.join(", "), list.join(", "))
}

/// An element's `ignore` (`repeated.items`, `map.keys`, `map.values`), when it skips anything.
fn element_ignore(rules: Option<&FieldRules>) -> Option<&'static str> {
    match rules?.ignore {
        Ignore::Always => Some("\"always\""),
        Ignore::IfZeroValue => Some("\"zero\""),
        Ignore::Unspecified => None,
    }
}

struct Writer<'a> {
    names: BTreeMap<String, String>,
    enums: BTreeMap<&'a str, &'a Enum>,
    checked: BTreeSet<String>,
    /// Enums whose value tables are referenced.
    used_enums: BTreeSet<String>,
    /// Messages custom rules see, whose fields `$C_…` lists.
    cel_values: BTreeSet<String>,
}

impl Writer<'_> {
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
        if let FieldType::Message(r) = value_ty {
            if self.cel_values.contains(&r.full_name) {
                parts.push(format!("s: () => $C_{}", self.name(&r.full_name)));
            } else if let Some(w) = wkt(&r.full_name).filter(|w| !w.is_empty()) {
                parts.push(format!("w: \"{w}\""));
            }
        }
        parts
    }

    /// `$C_…`: a message's fields as a custom rule sees them.
    fn cel_fields(&mut self, out: &mut String, m: &Message) {
        let fields: Vec<String> =
            m.fields.iter().map(|f| format!("\n  {{ {} }},", self.shape(m, f).join(", "))).collect();
        let _ = writeln!(out, "const $C_{}: $CelField[] = [{}\n];\n", self.name(&m.full_name), fields.concat());
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
        if !rules.custom.is_empty() {
            parts.push(format!("x: {}", cel_literal(&rules.custom)));
        }
        if let Some(t) = &rules.typed {
            let (items, values) = (t.items.as_deref(), t.values.as_deref());
            if let Some(r) = items.filter(|r| !r.custom.is_empty()) {
                parts.push(format!("ix: {}", cel_literal(&r.custom)));
            }
            if let Some(r) = values.filter(|r| !r.custom.is_empty()) {
                parts.push(format!("vx: {}", cel_literal(&r.custom)));
            }
            if let Some(ignore) = element_ignore(items) {
                parts.push(format!("ig: {ignore}"));
            }
            if let Some(ignore) = element_ignore(values) {
                parts.push(format!("vg: {ignore}"));
            }
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
        if !m.custom_rules.is_empty() {
            parts.push(format!("c: {}", cel_literal(&m.custom_rules)));
            parts.push(format!("s: () => $C_{}", self.name(&m.full_name)));
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
    let mut cel_values = super::validate::cel_values(&messages, &checked);
    cel_values.retain(|t| wkt(t).is_none() && messages.contains_key(t.as_str()));
    let has_cel = ordered.iter().any(|m| {
        !m.custom_rules.is_empty() || m.fields.iter().any(|f| f.rules.as_ref().is_some_and(super::validate::has_custom))
    });
    let mut writer = Writer {
        names: super::ts::names(api),
        enums: api.enums_by_name(),
        checked,
        used_enums: BTreeSet::new(),
        cel_values,
    };
    let mut descriptions = String::new();
    let seen: Vec<&Message> =
        api.packages.iter().flat_map(|p| &p.messages).filter(|m| writer.cel_values.contains(&m.full_name)).collect();
    for m in seen {
        writer.cel_fields(&mut descriptions, m);
    }
    for m in &ordered {
        writer.message(&mut descriptions, m);
    }
    let mut out = format!(
        "// @generated by apigen {} from {}. Do not edit: change the .proto and regenerate.\n{}",
        env!("CARGO_PKG_VERSION"),
        sources.join(", "),
        template(has_cel)
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
        let _ = writeln!(
            out,
            "/**\n * `{}` with its protovalidate rules: for `safeParse`, a form resolver or `violations`.\n */\nexport const {name}Schema: z.ZodType<$T.{name}> = $schema<$T.{name}>($M_{name});\n",
            m.full_name
        );
    }
    Some(out)
}

/// The template, with its CEL part (between `// apigen:cel-begin` and
/// `// apigen:cel-end` lines) only when `cel`, and never the marker lines.
fn template(cel: bool) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in include_str!("../../../templates/ts/validate.ts").split_inclusive('\n') {
        match line.trim_end() {
            "// apigen:cel-begin" => inside = true,
            "// apigen:cel-end" => inside = false,
            _ if inside && !cel => {}
            _ => out.push_str(line),
        }
    }
    out
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

    /// Custom rules are compiled as data (`$cel`) at each place, each message a rule sees gets its
    /// fields (`$C_…`), and the CEL part of the template (its import included) is there only then.
    #[test]
    fn custom_rules_compile_and_messages_they_see_list_their_fields() {
        let proto = r#"syntax = "proto3";
package v.v1;
import "buf/validate/validate.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
enum Kind { KIND_UNSPECIFIED = 0; KIND_BOOK = 1; }
message Item {
  string sku = 1 [(buf.validate.field).cel_expression = "this != ''"];
  optional int64 count = 2;
  Kind kind = 3;
  google.protobuf.Timestamp at = 4;
  google.protobuf.Int64Value limit = 5;
}
message Order {
  option (buf.validate.message).cel = { id: "order.items", message: "no items", expression: "size(this.items) > 0" };
  repeated Item items = 1 [(buf.validate.field).repeated.items = { ignore: IGNORE_IF_ZERO_VALUE, cel_expression: "this.sku != 'x'" }];
  map<string, string> notes = 2 [(buf.validate.field).map.keys.cel = { id: "note.key", expression: "this != 'x'" }];
}
"#;
        let ts = validate_ts(proto).expect("a file");
        assert_eq!(validate_ts(proto).as_deref(), Some(ts.as_str()));
        let generated = &ts[ts.find("// The API's rules.").unwrap_or(0)..];
        for line in [
            "const $C_Item: $CelField[] = [",
            "  { n: \"count\", j: \"count\", t: \"int64\", p: true },",
            "  { n: \"kind\", j: \"kind\", t: \"enum\", e: $E_Kind },",
            "  { n: \"at\", j: \"at\", t: \"timestamp\", p: true },",
            "  { n: \"limit\", j: \"limit\", t: \"message\", p: true, w: \"wrapper:int64\" },",
            "const $C_Order: $CelField[] = [",
            "{ n: \"sku\", j: \"sku\", t: \"string\", x: $cel([\"this != ''\"], []) }",
            "ix: $cel([\"this.sku != 'x'\"], []), ig: \"zero\"",
            "ix: $cel([], [[\"note.key\", \"\", \"this != 'x'\"]])",
            "c: $cel([], [[\"order.items\", \"no items\", \"size(this.items) > 0\"]]),\n  s: () => $C_Order",
        ] {
            assert!(generated.contains(line), "{line} in\n{generated}");
        }
        assert!(ts.contains("import { strings } from \"@bufbuild/cel/ext\";"));
        assert!(ts.contains("function $cel("));
        assert!(!ts.contains("apigen:cel"), "the markers stay in the template");
        assert!(ts.contains("export const ItemSchema"), "a message whose only rule is custom gets a schema");

        let plain = "syntax = \"proto3\";\npackage v.v1;\nimport \"buf/validate/validate.proto\";\nmessage M { string a = 1 [(buf.validate.field).string.min_len = 1]; }\n";
        let ts = validate_ts(plain).expect("a file");
        assert!(!ts.contains("from \"@bufbuild/cel") && !ts.contains("$cel(") && !ts.contains("apigen:cel"), "{ts}");
        assert!(ts.contains("import { z } from \"zod\";"));
    }
}
