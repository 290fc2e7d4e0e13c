//! The proto3 JSON mapping of messages and enums: serde implementations
//! built from `apigen_runtime`'s codecs, one line per field (what a type
//! means in JSON lives in the runtime, once).
//!
//! The code is written already formatted: it is most of a package's code,
//! and parsing and printing it again would take longer than writing it.

use std::fmt::Write as _;

use super::input::oneof_variant;
use crate::model::{Api, Cardinality, Enum, Field, FieldType, Message, Package};

const J: &str = "__json";

/// The JSON code of one package: the codec alias, each message's
/// `Serialize`/`Deserialize`/`JsonMessage`, each enum's `JsonEnum`, and the
/// list of the package's messages for `google.protobuf.Any`.
pub fn generate(package: &Package) -> String {
    let mut out = String::new();
    if !has_json(package) {
        return out;
    }
    out.push_str("use ::apigen_runtime::__private::json as __json;\n");
    for m in &package.messages {
        message(&mut out, m);
    }
    for e in &package.enums {
        enumeration(&mut out, e);
    }
    out.push_str("#[doc = \" The messages of this package, which `google.protobuf.Any` can hold in JSON.\"]\n");
    out.push_str("pub const JSON_TYPES: &[::apigen_runtime::json::AnyType] = &[\n");
    for m in &package.messages {
        let _ = writeln!(out, "    ::apigen_runtime::json::AnyType::of::<{}>({:?}),", m.rust_path, m.full_name);
    }
    out.push_str("];\n");
    out
}

/// Whether `package` has JSON code (and so a `JSON_TYPES` list).
fn has_json(package: &Package) -> bool {
    !package.messages.is_empty() || !package.enums.is_empty()
}

/// `register_json_types()`, which services and clients of `package` call so
/// that an Any in their JSON can hold any message of the schema.
pub fn register_fn(package: &Package, api: &Api) -> String {
    let mut out = String::from(
        "#[doc = \" Makes every message of the schema known to `google.protobuf.Any` in JSON.\"]\nfn register_json_types() {\n",
    );
    for other in api.packages.iter().filter(|p| has_json(p)) {
        let module = crate::lower::names::module_path(&other.name, &package.name);
        let _ = writeln!(out, "    ::apigen_runtime::json::register({module}JSON_TYPES);");
    }
    out.push_str("}\n");
    out
}

/// The codec of a value of type `ty`.
fn codec(ty: &FieldType) -> String {
    let name = match ty {
        FieldType::Double => "F64",
        FieldType::Float => "F32",
        FieldType::Int32 | FieldType::Sint32 | FieldType::Sfixed32 => "I32",
        FieldType::Int64 | FieldType::Sint64 | FieldType::Sfixed64 => "I64",
        FieldType::Uint32 | FieldType::Fixed32 => "U32",
        FieldType::Uint64 | FieldType::Fixed64 => "U64",
        FieldType::Bool => "Bool",
        FieldType::String => "Str",
        FieldType::Bytes => "Bytes",
        FieldType::Enum(t) if t.full_name == "google.protobuf.NullValue" => "Null",
        FieldType::Enum(t) => return format!("{J}::Enum<{}>", t.rust_path),
        FieldType::Message(t) if t.full_name == "google.protobuf.Value" => "Value",
        FieldType::Message(t) => return format!("{J}::Msg<{}>", t.rust_path),
    };
    format!("{J}::{name}")
}

/// Whether values of `ty` are messages with their own serde impls, read and
/// written through inference so that boxed fields (`Box<M>`) need no care.
/// `google.protobuf.Value` is not: `null` is one of its values.
fn is_message(ty: &FieldType) -> bool {
    matches!(ty, FieldType::Message(t) if t.full_name != "google.protobuf.Value")
}

fn message(out: &mut String, m: &Message) {
    let allow = if m.fields.iter().any(|f| f.deprecated) { "    #[allow(deprecated)]\n" } else { "" };
    let ty = &m.rust_path;

    let _ = write!(
        out,
        "impl ::apigen_runtime::serde::Serialize for {ty} {{\n{allow}    fn serialize<S: ::apigen_runtime::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {{\n"
    );
    let writer = if m.fields.is_empty() { "w" } else { "mut w" };
    let _ = writeln!(out, "        let {writer} = {J}::Writer::new(serializer)?;");
    let mut oneofs_written = vec![false; m.oneofs.len()];
    for f in &m.fields {
        match f.oneof {
            None => write_field(out, f),
            Some(o) if !oneofs_written[o] => {
                oneofs_written[o] = true;
                write_oneof(out, m, o);
            }
            Some(_) => {}
        }
    }
    out.push_str("        w.end()\n    }\n}\n");

    let _ = write!(
        out,
        "impl<'de> ::apigen_runtime::serde::Deserialize<'de> for {ty} {{\n    fn deserialize<D: ::apigen_runtime::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {{\n        {J}::read_message(deserializer)\n    }}\n}}\n"
    );

    let _ = write!(
        out,
        "impl {J}::JsonMessage for {ty} {{\n    const NAME: &'static str = {:?};\n{allow}    fn read_field<'de, A: ::apigen_runtime::serde::de::MapAccess<'de>>(&mut self, f: {J}::Fields<'_, 'de, A>) -> ::core::result::Result<bool, A::Error> {{\n",
        m.full_name
    );
    if m.fields.is_empty() {
        out.push_str("        let _ = f;\n        ::core::result::Result::Ok(false)\n");
    } else {
        out.push_str("        match f.key() {\n");
        for (index, f) in m.fields.iter().enumerate() {
            read_field(out, m, f, index);
        }
        out.push_str("            _ => ::core::result::Result::Ok(false),\n        }\n");
    }
    out.push_str("    }\n}\n");
}

fn write_field(out: &mut String, f: &Field) {
    let (key, name) = (&f.json_name, &f.rust_name);
    let call = match &f.cardinality {
        Cardinality::Map(k, v) => format!("map::<{}, {}>", codec(k), codec(v)),
        Cardinality::Repeated if is_message(&f.ty) => "messages".to_owned(),
        Cardinality::Repeated => format!("repeated::<{}>", codec(&f.ty)),
        Cardinality::Required if matches!(f.ty, FieldType::Message(_)) => "message_value".to_owned(),
        Cardinality::Required => format!("value::<{}>", codec(&f.ty)),
        Cardinality::Singular if matches!(f.ty, FieldType::Message(_)) => "message".to_owned(),
        Cardinality::Singular => format!("scalar::<{}>", codec(&f.ty)),
        Cardinality::Optional => format!("optional::<{}>", codec(&f.ty)),
    };
    let _ = writeln!(out, "        w.{call}({key:?}, &self.{name})?;");
}

fn write_oneof(out: &mut String, m: &Message, oneof: usize) {
    let slot = crate::lower::names::to_snake(&m.oneofs[oneof].name);
    let _ = writeln!(out, "        if let ::core::option::Option::Some(v) = &self.{slot} {{\n            match v {{");
    for f in m.fields.iter().filter(|f| f.oneof == Some(oneof)) {
        let call = if is_message(&f.ty) { "message_value".to_owned() } else { format!("value::<{}>", codec(&f.ty)) };
        let (_, variant) = oneof_variant(m, f).unwrap_or_default();
        let _ = writeln!(out, "                {variant}(v) => w.{call}({:?}, v)?,", f.json_name);
    }
    out.push_str("            }\n        }\n");
}

fn read_field(out: &mut String, m: &Message, f: &Field, index: usize) {
    let name = &f.rust_name;
    let call = if let Some((slot, variant)) = oneof_variant(m, f) {
        if is_message(&f.ty) {
            format!("oneof_message({index}, &mut self.{slot}, {variant})")
        } else {
            format!("oneof::<{}, _>({index}, &mut self.{slot}, {variant})", codec(&f.ty))
        }
    } else {
        let call = match &f.cardinality {
            Cardinality::Map(k, v) => format!("map::<{}, {}>", codec(k), codec(v)),
            Cardinality::Repeated if is_message(&f.ty) => "messages".to_owned(),
            Cardinality::Repeated => format!("repeated::<{}>", codec(&f.ty)),
            Cardinality::Required if is_message(&f.ty) => "required_message".to_owned(),
            Cardinality::Singular if is_message(&f.ty) => "message".to_owned(),
            Cardinality::Singular if matches!(f.ty, FieldType::Message(_)) => format!("optional::<{}>", codec(&f.ty)),
            Cardinality::Required | Cardinality::Singular => format!("scalar::<{}>", codec(&f.ty)),
            Cardinality::Optional => format!("optional::<{}>", codec(&f.ty)),
        };
        format!("{call}({index}, &mut self.{name})")
    };
    let keys =
        if f.json_name == f.name { format!("{:?}", f.name) } else { format!("{:?} | {:?}", f.json_name, f.name) };
    let _ = writeln!(out, "            {keys} => f.{call},");
}

fn enumeration(out: &mut String, e: &Enum) {
    let _ = write!(
        out,
        "impl {J}::JsonEnum for {} {{\n    const NAME: &'static str = {:?};\n    fn from_name(name: &str) -> ::core::option::Option<i32> {{\n        ::core::option::Option::Some(match name {{\n",
        e.rust_path, e.full_name
    );
    for v in &e.values {
        let _ = writeln!(out, "            {:?} => {},", v.name, v.number);
    }
    out.push_str("            _ => return ::core::option::Option::None,\n        })\n    }\n");
    out.push_str("    fn name(value: i32) -> ::core::option::Option<&'static str> {\n        ::core::option::Option::Some(match value {\n");
    let mut seen = std::collections::BTreeSet::new();
    for v in &e.values {
        // An alias (`allow_alias`) reads as its value; the first name is written.
        if seen.insert(v.number) {
            let _ = writeln!(out, "            {} => {:?},", v.number, v.name);
        }
    }
    out.push_str("            _ => return ::core::option::Option::None,\n        })\n    }\n}\n");
}
