//! `google.protobuf.Struct`, `Value`, `ListValue` and `NullValue`: any JSON
//! value as a message. JSON `null` is a `Value` (`NULL_VALUE`), not "unset".

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

use crate::core::json::codec::Codec;
use crate::core::json::scalar::whole_number;

/// `google.protobuf.Struct`: a JSON object.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Struct {
    /// The members, by name (kept in name order, so output is stable).
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, Value>,
}

/// `google.protobuf.Value`: one JSON value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    /// Which value, and the value; `None` cannot be written as JSON.
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<value::Kind>,
}

/// The kinds of [`Value`].
pub mod value {
    /// One JSON value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// `null` (always `NullValue::NullValue`, i.e. 0).
        #[prost(enumeration = "super::NullValue", tag = "1")]
        NullValue(i32),
        /// A number.
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// `true` or `false`.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        /// An object.
        #[prost(message, tag = "5")]
        StructValue(super::Struct),
        /// An array.
        #[prost(message, tag = "6")]
        ListValue(super::ListValue),
    }
}

/// `google.protobuf.ListValue`: a JSON array.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<Value>,
}

/// `google.protobuf.NullValue`: JSON `null`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NullValue {
    /// The one value.
    NullValue = 0,
}

impl Value {
    /// JSON `null`.
    pub fn null() -> Value {
        Value { kind: Some(value::Kind::NullValue(0)) }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value { kind: Some(value::Kind::NumberValue(v)) }
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value { kind: Some(value::Kind::StringValue(v)) }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::from(v.to_owned())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value { kind: Some(value::Kind::BoolValue(v)) }
    }
}

impl From<Struct> for Value {
    fn from(v: Struct) -> Value {
        Value { kind: Some(value::Kind::StructValue(v)) }
    }
}

impl From<ListValue> for Value {
    fn from(v: ListValue) -> Value {
        Value { kind: Some(value::Kind::ListValue(v)) }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        match &self.kind {
            Some(value::Kind::NullValue(_)) => serializer.serialize_unit(),
            Some(value::Kind::NumberValue(n)) if n.is_finite() => match whole_number(*n) {
                Some(whole) => serializer.serialize_i64(whole),
                None => serializer.serialize_f64(*n),
            },
            Some(value::Kind::NumberValue(n)) => {
                Err(S::Error::custom(format_args!("a google.protobuf.Value cannot hold {n}: JSON has no such number")))
            }
            Some(value::Kind::StringValue(s)) => serializer.serialize_str(s),
            Some(value::Kind::BoolValue(b)) => serializer.serialize_bool(*b),
            Some(value::Kind::StructValue(s)) => s.serialize(serializer),
            Some(value::Kind::ListValue(l)) => l.serialize(serializer),
            None => Err(S::Error::custom("a google.protobuf.Value with no kind set has no JSON form")),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::null())
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::null())
            }
            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
                Value::deserialize(deserializer)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::from(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::from(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
                ListVisitor.visit_seq(seq).map(Value::from)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
                StructVisitor.visit_map(map).map(Value::from)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct StructVisitor;

impl<'de> Visitor<'de> for StructVisitor {
    type Value = Struct;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Struct, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format_args!("the key `{key}` is given twice")));
            }
            fields.insert(key, value);
        }
        Ok(Struct { fields })
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = ListValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(value) = seq.next_element::<Value>()? {
            values.push(value);
        }
        Ok(ListValue { values })
    }
}

impl Serialize for Struct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Struct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StructVisitor)
    }
}

impl Serialize for ListValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.values.len()))?;
        for v in &self.values {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ListValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// A `google.protobuf.Value` field, for which `null` is a value.
pub struct ValueCodec;

impl Codec for ValueCodec {
    type Value = Value;
    const NULL_IS_VALUE: bool = true;
    fn is_default(_: &Value) -> bool {
        false
    }
    fn write<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_a_value_and_objects_keep_it() {
        let v: Value = serde_json::from_str(r#"{"a": null, "b": [1, "x", true, {}]}"#).unwrap();
        let Some(value::Kind::StructValue(s)) = &v.kind else { panic!("{v:?}") };
        assert_eq!(s.fields["a"], Value::null());
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":null,"b":[1,"x",true,{}]}"#);
        assert!(serde_json::to_string(&Value::from(f64::NAN)).is_err());
        assert!(serde_json::from_str::<Struct>(r#"{"a": 1, "a": 2}"#).is_err());
    }
}
