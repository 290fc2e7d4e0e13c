//! The error detail protovalidate defines, `buf.validate.Violations`, as
//! prost messages with their proto3 JSON form, so that every protocol's
//! error body shows it the way other protovalidate servers do.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::core::json::codec::{Fields, JsonEnum, JsonMessage, Writer, read_message};
use crate::core::json::scalar::{Bool, Enum, I32, I64, Str, U64};

/// `buf.validate.Violations`: every violation found in one message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Violations {
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<Violation>,
}

/// `buf.validate.Violation`: one rule a field broke.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Violation {
    /// Where the value is, from the message validated.
    #[prost(message, optional, tag = "5")]
    pub field: Option<FieldPath>,
    /// Where the rule is, inside `buf.validate.FieldRules`.
    #[prost(message, optional, tag = "6")]
    pub rule: Option<FieldPath>,
    #[prost(string, optional, tag = "2")]
    pub rule_id: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub message: Option<String>,
    /// Whether the violation is about a map key rather than its value.
    #[prost(bool, optional, tag = "4")]
    pub for_key: Option<bool>,
}

/// `buf.validate.FieldPath`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldPath {
    #[prost(message, repeated, tag = "1")]
    pub elements: Vec<FieldPathElement>,
}

/// `buf.validate.FieldPathElement`: one field, and which element of it.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct FieldPathElement {
    #[prost(int32, optional, tag = "1")]
    pub field_number: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub field_name: Option<String>,
    /// A `google.protobuf.FieldDescriptorProto.Type` number.
    #[prost(int32, optional, tag = "3")]
    pub field_type: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    pub key_type: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub value_type: Option<i32>,
    #[prost(oneof = "Subscript", tags = "6, 7, 8, 9, 10")]
    pub subscript: Option<Subscript>,
}

/// `FieldPathElement.subscript`: the index of a list element or a map key.
#[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
pub enum Subscript {
    #[prost(uint64, tag = "6")]
    Index(u64),
    #[prost(bool, tag = "7")]
    BoolKey(bool),
    #[prost(int64, tag = "8")]
    IntKey(i64),
    #[prost(uint64, tag = "9")]
    UintKey(u64),
    #[prost(string, tag = "10")]
    StringKey(String),
}

/// `google.protobuf.FieldDescriptorProto.Type`, for its JSON names (`TYPE_STRING`).
struct FieldTypeName;

impl JsonEnum for FieldTypeName {
    const NAME: &'static str = "google.protobuf.FieldDescriptorProto.Type";
    fn from_name(name: &str) -> Option<i32> {
        prost_types::field_descriptor_proto::Type::from_str_name(name).map(|t| t as i32)
    }
    fn name(value: i32) -> Option<&'static str> {
        prost_types::field_descriptor_proto::Type::try_from(value).ok().map(|t| t.as_str_name())
    }
}

type Type = Enum<FieldTypeName>;

impl Serialize for Violations {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::new(serializer)?;
        w.messages("violations", &self.violations)?;
        w.end()
    }
}

impl JsonMessage for Violations {
    const NAME: &'static str = "buf.validate.Violations";
    fn read_field<'de, A: serde::de::MapAccess<'de>>(&mut self, f: Fields<'_, 'de, A>) -> Result<bool, A::Error> {
        match f.key() {
            "violations" => f.messages(0, &mut self.violations),
            _ => Ok(false),
        }
    }
}

impl Serialize for Violation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::new(serializer)?;
        w.message("field", &self.field)?;
        w.message("rule", &self.rule)?;
        w.optional::<Str>("ruleId", &self.rule_id)?;
        w.optional::<Str>("message", &self.message)?;
        w.optional::<Bool>("forKey", &self.for_key)?;
        w.end()
    }
}

impl JsonMessage for Violation {
    const NAME: &'static str = "buf.validate.Violation";
    fn read_field<'de, A: serde::de::MapAccess<'de>>(&mut self, f: Fields<'_, 'de, A>) -> Result<bool, A::Error> {
        match f.key() {
            "field" => f.message(0, &mut self.field),
            "rule" => f.message(1, &mut self.rule),
            "ruleId" | "rule_id" => f.optional::<Str>(2, &mut self.rule_id),
            "message" => f.optional::<Str>(3, &mut self.message),
            "forKey" | "for_key" => f.optional::<Bool>(4, &mut self.for_key),
            _ => Ok(false),
        }
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::new(serializer)?;
        w.messages("elements", &self.elements)?;
        w.end()
    }
}

impl JsonMessage for FieldPath {
    const NAME: &'static str = "buf.validate.FieldPath";
    fn read_field<'de, A: serde::de::MapAccess<'de>>(&mut self, f: Fields<'_, 'de, A>) -> Result<bool, A::Error> {
        match f.key() {
            "elements" => f.messages(0, &mut self.elements),
            _ => Ok(false),
        }
    }
}

impl Serialize for FieldPathElement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut w = Writer::new(serializer)?;
        w.optional::<I32>("fieldNumber", &self.field_number)?;
        w.optional::<Str>("fieldName", &self.field_name)?;
        w.optional::<Type>("fieldType", &self.field_type)?;
        w.optional::<Type>("keyType", &self.key_type)?;
        w.optional::<Type>("valueType", &self.value_type)?;
        match &self.subscript {
            Some(Subscript::Index(v)) => w.value::<U64>("index", v)?,
            Some(Subscript::BoolKey(v)) => w.value::<Bool>("boolKey", v)?,
            Some(Subscript::IntKey(v)) => w.value::<I64>("intKey", v)?,
            Some(Subscript::UintKey(v)) => w.value::<U64>("uintKey", v)?,
            Some(Subscript::StringKey(v)) => w.value::<Str>("stringKey", v)?,
            None => {}
        }
        w.end()
    }
}

impl JsonMessage for FieldPathElement {
    const NAME: &'static str = "buf.validate.FieldPathElement";
    fn read_field<'de, A: serde::de::MapAccess<'de>>(&mut self, f: Fields<'_, 'de, A>) -> Result<bool, A::Error> {
        let s = &mut self.subscript;
        match f.key() {
            "fieldNumber" | "field_number" => f.optional::<I32>(0, &mut self.field_number),
            "fieldName" | "field_name" => f.optional::<Str>(1, &mut self.field_name),
            "fieldType" | "field_type" => f.optional::<Type>(2, &mut self.field_type),
            "keyType" | "key_type" => f.optional::<Type>(3, &mut self.key_type),
            "valueType" | "value_type" => f.optional::<Type>(4, &mut self.value_type),
            "index" => f.oneof::<U64, _>(5, s, Subscript::Index),
            "boolKey" | "bool_key" => f.oneof::<Bool, _>(6, s, Subscript::BoolKey),
            "intKey" | "int_key" => f.oneof::<I64, _>(7, s, Subscript::IntKey),
            "uintKey" | "uint_key" => f.oneof::<U64, _>(8, s, Subscript::UintKey),
            "stringKey" | "string_key" => f.oneof::<Str, _>(9, s, Subscript::StringKey),
            _ => Ok(false),
        }
    }
}

macro_rules! deserialize_message {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read_message(deserializer)
            }
        }
    )*};
}

deserialize_message!(Violations, Violation, FieldPath, FieldPathElement);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_have_protovalidates_json_form() {
        let v = Violations {
            violations: vec![Violation {
                field: Some(FieldPath {
                    elements: vec![FieldPathElement {
                        field_number: Some(2),
                        field_name: Some("tags".into()),
                        field_type: Some(9),
                        subscript: Some(Subscript::Index(0)),
                        ..Default::default()
                    }],
                }),
                rule: None,
                rule_id: Some("string.min_len".into()),
                message: Some("must be at least 2 characters".into()),
                for_key: None,
            }],
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"violations": [{
                "field": {"elements": [{"fieldNumber": 2, "fieldName": "tags", "fieldType": "TYPE_STRING", "index": "0"}]},
                "ruleId": "string.min_len",
                "message": "must be at least 2 characters"
            }]})
        );
        assert_eq!(serde_json::from_value::<Violations>(json).unwrap(), v);
    }
}
