//! `google.protobuf.Any` and its JSON form: the embedded message's JSON
//! with `"@type"` first, or `{"@type": …, "value": …}` for the well-known
//! types whose JSON is no object.

use serde::de::{self, Deserializer};
use serde::ser::{self, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};

use crate::core::json::any::Converter;

/// The type called `name`: a well-known type, or one registered.
fn lookup(name: &str) -> Option<Converter> {
    Converter::find(name, super::JSON_TYPES.iter().find(|t| t.name() == name).copied())
}

/// `google.protobuf.Any`: a message of any type, as its type's URL and its
/// protobuf bytes.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Any {
    /// `type.googleapis.com/` followed by the message's full name.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The message's protobuf encoding.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

impl Any {
    /// Packs `message`, whose full protobuf name is `name`.
    pub fn pack<M: prost::Message>(name: &str, message: &M) -> Any {
        Any { type_url: format!("type.googleapis.com/{name}"), value: message.encode_to_vec() }
    }

    /// The full name of the type, the part of the URL after its last `/`.
    pub fn type_name(&self) -> &str {
        self.type_url.rsplit('/').next().unwrap_or_default()
    }
}

/// Whether a well-known type's JSON is no object, so that an Any holds it
/// under `"value"`.
pub(crate) fn wrapped(name: &str) -> bool {
    matches!(
        name.strip_prefix("google.protobuf."),
        Some(
            "Any"
                | "Duration"
                | "Timestamp"
                | "FieldMask"
                | "Struct"
                | "Value"
                | "ListValue"
                | "DoubleValue"
                | "FloatValue"
                | "Int64Value"
                | "UInt64Value"
                | "Int32Value"
                | "UInt32Value"
                | "BoolValue"
                | "StringValue"
                | "BytesValue"
        )
    )
}

impl Serialize for Any {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.type_url.is_empty() && self.value.is_empty() {
            return serializer.serialize_map(Some(0))?.end();
        }
        let name = self.type_name();
        let ty = lookup(name).ok_or_else(|| {
            ser::Error::custom(format_args!(
                "cannot write a google.protobuf.Any holding `{}` as JSON: the type is not known here \
                 (apigen_runtime::json::register makes it known)",
                self.type_url
            ))
        })?;
        let json = ty.json_of(&self.value).map_err(|e| {
            ser::Error::custom(format_args!("cannot write a google.protobuf.Any holding `{}`: {e}", self.type_url))
        })?;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("@type", &self.type_url)?;
        match json {
            serde_json::Value::Object(fields) if !wrapped(name) => {
                for (k, v) in &fields {
                    map.serialize_entry(k, v)?;
                }
            }
            json => map.serialize_entry("value", &json)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `@type` may come anywhere in the object, so it is read whole first.
        let mut object = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Object(object) => object,
            other => {
                return Err(de::Error::custom(format_args!(
                    "a google.protobuf.Any is an object with \"@type\", not {other}"
                )));
            }
        };
        if object.is_empty() {
            return Ok(Any::default());
        }
        let type_url = match object.remove("@type") {
            Some(serde_json::Value::String(url)) => url,
            _ => return Err(de::Error::custom("a google.protobuf.Any needs \"@type\" (a type URL string)")),
        };
        let name = type_url.rsplit('/').next().unwrap_or_default();
        if !type_url.contains('/') || name.is_empty() {
            return Err(de::Error::custom(format_args!(
                "`{type_url}` is no type URL (such as type.googleapis.com/bookstore.v1.Book)"
            )));
        }
        let ty = lookup(name).ok_or_else(|| {
            de::Error::custom(format_args!("a google.protobuf.Any holds `{type_url}`, a type not known here"))
        })?;
        let json = if wrapped(name) {
            let value = object.remove("value");
            match (value, object.keys().next()) {
                (Some(value), None) => value,
                (_, Some(extra)) => {
                    return Err(de::Error::custom(format_args!(
                        "a google.protobuf.Any holding {name} has only \"@type\" and \"value\", not `{extra}`"
                    )));
                }
                (None, None) => {
                    return Err(de::Error::custom(format_args!(
                        "a google.protobuf.Any holding {name} needs \"value\""
                    )));
                }
            }
        } else {
            serde_json::Value::Object(object)
        };
        let value = ty
            .bytes_of(json)
            .map_err(|e| de::Error::custom(format_args!("in the google.protobuf.Any holding {name}: {e}")))?;
        Ok(Any { type_url, value })
    }
}
