//! The proto3 JSON form of a dynamic message (prost-reflect's
//! `DynamicMessage`), as the gateway writes its upstream's responses.
//!
//! prost-reflect serializes dynamic messages itself, but writes a map's
//! entries in hash order (the same bytes then give different JSON, and
//! `ETag`s, from call to call) and formats timestamps and durations by
//! converting the message to prost's types and through `Display`, which
//! cost the gateway more than the rest of the message. Here maps come out
//! in key order, and `Timestamp`, `Duration` and `Any` are written as the
//! generated code writes them; the other well-known types, which hold no
//! maps, are left to prost-reflect.

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::core::wkt::any::wrapped;

/// prost-reflect's defaults are the mapping's: `lowerCamel` names, enum
/// names, 64-bit integers as strings, fields at their defaults left out.
const OPTIONS: prost_reflect::SerializeOptions = prost_reflect::SerializeOptions::new();

/// Serializes a dynamic message in its proto3 JSON form:
/// `apigen_runtime::json::write(&mut out, &DynamicJson(&message))`.
pub struct DynamicJson<'a>(pub &'a DynamicMessage);

impl Serialize for DynamicJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        message(self.0, serializer)
    }
}

fn message<S: Serializer>(message: &DynamicMessage, serializer: S) -> Result<S::Ok, S::Error> {
    let desc = message.descriptor();
    match desc.full_name() {
        "google.protobuf.Timestamp" => {
            let (seconds, nanos) = seconds_and_nanos(message);
            crate::core::wkt::Timestamp { seconds, nanos }.serialize(serializer)
        }
        "google.protobuf.Duration" => {
            let (seconds, nanos) = seconds_and_nanos(message);
            crate::core::wkt::Duration { seconds, nanos }.serialize(serializer)
        }
        "google.protobuf.Any" => any(message, serializer),
        // The rest hold no maps: prost-reflect writes them as the mapping says.
        name if wrapped(name) => message.serialize_with_options(serializer, &OPTIONS),
        // Extensions (proto2) are prost-reflect's to name.
        _ if message.extensions().next().is_some() => message.serialize_with_options(serializer, &OPTIONS),
        _ => {
            let mut map = serializer.serialize_map(None)?;
            fields(&mut map, message)?;
            map.end()
        }
    }
}

/// The set fields of `message`, in field-number order, as entries of `map`.
fn fields<M: SerializeMap>(map: &mut M, message: &DynamicMessage) -> Result<(), M::Error> {
    for (field, value) in message.fields() {
        map.serialize_entry(field.json_name(), &FieldValue { value, kind: &field.kind() })?;
    }
    Ok(())
}

fn seconds_and_nanos(message: &DynamicMessage) -> (i64, i32) {
    let seconds = message.get_field_by_number(1).and_then(|v| v.as_i64()).unwrap_or_default();
    let nanos = message.get_field_by_number(2).and_then(|v| v.as_i32()).unwrap_or_default();
    (seconds, nanos)
}

/// `{"@type": …, fields…}`, or `{"@type": …, "value": …}` around a
/// well-known type, with the embedded message found in the pool the `Any`'s
/// own descriptor comes from.
fn any<S: Serializer>(message: &DynamicMessage, serializer: S) -> Result<S::Ok, S::Error> {
    let type_url = match message.get_field_by_number(1).as_deref() {
        Some(Value::String(url)) => url.clone(),
        _ => String::new(),
    };
    let bytes = match message.get_field_by_number(2).as_deref() {
        Some(Value::Bytes(bytes)) => bytes.clone(),
        _ => bytes::Bytes::new(),
    };
    if type_url.is_empty() && bytes.is_empty() {
        // An Any that holds nothing.
        return serializer.serialize_map(Some(0))?.end();
    }
    let name = type_url.rsplit_once('/').map_or("", |(_, name)| name);
    let desc = message
        .descriptor()
        .parent_pool()
        .get_message_by_name(name)
        .ok_or_else(|| S::Error::custom(format!("the Any's type {type_url:?} is not in the schema")))?;
    let embedded = DynamicMessage::decode(desc, bytes)
        .map_err(|e| S::Error::custom(format!("the Any's value is not a valid {name}: {e}")))?;
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry("@type", &type_url)?;
    if wrapped(name) {
        map.serialize_entry("value", &DynamicJson(&embedded))?;
    } else {
        fields(&mut map, &embedded)?;
    }
    map.end()
}

/// A field's value: one, a list, or a map (of the map entry's value kind).
struct FieldValue<'a> {
    value: &'a Value,
    kind: &'a Kind,
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Single { value: item, kind: self.kind })?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let Kind::Message(entry) = self.kind else {
                    return Err(S::Error::custom("a map field whose type is not a map entry"));
                };
                let value_kind = entry.map_entry_value_field().kind();
                // Key order, so that the same message always gives the same bytes.
                let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (key, value) in sorted {
                    map.serialize_entry(&Key(key), &Single { value, kind: &value_kind })?;
                }
                map.end()
            }
            value => Single { value, kind: self.kind }.serialize(serializer),
        }
    }
}

/// A map key, always a JSON string.
struct Key<'a>(&'a MapKey);

impl Serialize for Key<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MapKey::String(key) => serializer.serialize_str(key),
            MapKey::Bool(key) => serializer.serialize_str(if *key { "true" } else { "false" }),
            MapKey::I32(key) => serializer.collect_str(key),
            MapKey::I64(key) => serializer.collect_str(key),
            MapKey::U32(key) => serializer.collect_str(key),
            MapKey::U64(key) => serializer.collect_str(key),
        }
    }
}

/// One value of a field's kind.
struct Single<'a> {
    value: &'a Value,
    kind: &'a Kind,
}

impl Serialize for Single<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::I32(v) => serializer.serialize_i32(*v),
            Value::U32(v) => serializer.serialize_u32(*v),
            // 64-bit integers are strings: JavaScript's numbers cannot hold them all.
            Value::I64(v) => serializer.collect_str(v),
            Value::U64(v) => serializer.collect_str(v),
            Value::F32(v) => match special(f64::from(*v)) {
                Some(text) => serializer.serialize_str(text),
                None => serializer.serialize_f32(*v),
            },
            Value::F64(v) => match special(*v) {
                Some(text) => serializer.serialize_str(text),
                None => serializer.serialize_f64(*v),
            },
            Value::String(v) => serializer.serialize_str(v),
            Value::Bytes(v) => serializer.collect_str(&Base64Display::new(v, &STANDARD)),
            Value::EnumNumber(number) => match self.kind {
                Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => serializer.serialize_unit(),
                Kind::Enum(e) => match e.get_value(*number) {
                    Some(value) => serializer.serialize_str(value.name()),
                    // A number the schema does not name (a newer upstream's) stays a number.
                    None => serializer.serialize_i32(*number),
                },
                _ => serializer.serialize_i32(*number),
            },
            Value::Message(m) => message(m, serializer),
            Value::List(_) | Value::Map(_) => Err(S::Error::custom("a list or map inside a list or map")),
        }
    }
}

/// The mapping's text for a float that is not finite.
fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("Infinity")
    } else if v == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}
