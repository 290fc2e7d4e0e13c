//! The proto3 JSON mapping as every JSON protocol (REST, Connect, tRPC,
//! GraphQL arguments, WebSocket, SSE) reads and writes it: generated
//! messages' serde implementations, with errors that name the field. Users
//! and tests call these to get exactly what the server does.
//!
//! ```
//! use apigen_runtime::wkt::Timestamp;
//!
//! let at: Timestamp = apigen_runtime::json::from_slice(br#""2026-12-06T12:00:00Z""#).unwrap();
//! assert_eq!(apigen_runtime::json::to_vec(&at).unwrap(), br#""2026-12-06T12:00:00Z""#);
//! assert!(apigen_runtime::json::from_slice::<Timestamp>(br#""noon""#).is_err());
//! ```
//!
//! `google.protobuf.Any` is written in its standard form, `{"@type":
//! "type.googleapis.com/bookstore.v1.Book", "title": …}`, which needs the
//! embedded message's type: every generated service and client registers
//! its schema's messages ([`register`]), and the well-known types are always
//! known.
//!
//! ```
//! use apigen_runtime::wkt::{Any, Duration};
//!
//! let retry = Any::pack("google.protobuf.Duration", &Duration { seconds: 1, nanos: 500_000_000 });
//! let json = apigen_runtime::json::to_vec(&retry).unwrap();
//! assert_eq!(json, br#"{"@type":"type.googleapis.com/google.protobuf.Duration","value":"1.500s"}"#);
//! assert_eq!(apigen_runtime::json::from_slice::<Any>(&json).unwrap(), retry);
//! ```
//!
//! Unknown fields are refused unless [`Options::ignore_unknown_fields`] is
//! set, as `Server::ignore_unknown_json_fields` sets it for every request.

pub(crate) mod any;
pub(crate) mod codec;
mod dynamic;
pub(crate) mod scalar;

use codec::with_options;

pub use any::{AnyType, register, register_descriptors};
pub use dynamic::DynamicJson;

use crate::core::status::Status;

/// Reads a message from its proto3 JSON form. Malformed JSON (trailing
/// text included) is `INVALID_ARGUMENT` with its position; a value of the
/// wrong form is `INVALID_ARGUMENT` naming the field's path (`book.isbn`).
pub fn from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    from_slice_with(bytes, Options::default())
}

/// How JSON is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Skip object keys that are no field of the message, and enum names
    /// the schema does not have, instead of refusing the input. Off by
    /// default, as the proto3 JSON mapping says: a misspelt field is an
    /// error rather than silently lost.
    pub ignore_unknown_fields: bool,
}

impl Options {
    /// Options that skip unknown fields and enum names.
    pub const fn ignoring_unknown_fields() -> Options {
        Options { ignore_unknown_fields: true }
    }
}

/// [`from_slice`] with [`Options`].
pub fn from_slice_with<T: serde::de::DeserializeOwned>(bytes: &[u8], options: Options) -> Result<T, Status> {
    with_options(options.ignore_unknown_fields, || read(bytes))
}

fn read<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    // Tracking the field path costs about half again the read, so it is
    // done only when the input turns out bad, reading it a second time.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match T::deserialize(&mut de).and_then(|value| de.end().map(|()| value)) {
        Ok(value) => Ok(value),
        Err(_) => Err(explain::<T>(bytes)),
    }
}

/// Why `bytes` is not a `T`: the field path and the reason.
fn explain<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Status {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let e = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => match de.end() {
            Ok(()) => return Status::invalid_argument("the request is not valid JSON for this method"),
            Err(e) => return Status::invalid_argument(format!("the request is not valid JSON: {e}")),
        },
        Err(e) => e,
    };
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !inner.is_data() {
        // Malformed JSON: the position is in the client's own text.
        return Status::invalid_argument(format!("the request is not valid JSON: {inner}"));
    }
    // The field names the problem; a position would point into JSON
    // that REST and query parameters assembled, not the client's.
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    if path.is_empty() || path == "." {
        Status::invalid_argument(format!("the request does not fit this method: {message}"))
    } else {
        Status::invalid_argument(format!("invalid value for field `{path}`: {message}"))
    }
}

/// Parses JSON that will become a request message later (a REST body, a tRPC
/// input, a WebSocket frame) as a `serde_json::Value`, refusing an object
/// that gives a key twice at any depth: a `Value` keeps only the last, which
/// would hide from the message's own check a field the client gave twice.
pub(crate) fn value_from_slice(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = <StrictValue as serde::Deserialize>::deserialize(&mut de)?.0;
    de.end()?;
    Ok(value)
}

/// A `serde_json::Value` read with duplicate keys refused.
struct StrictValue(serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        use serde_json::Value;
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: Error>(self) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Bool(v)))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<StrictValue, E> {
                Ok(StrictValue(v.into()))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<StrictValue, E> {
                Ok(StrictValue(v.into()))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<StrictValue, E> {
                Ok(StrictValue(v.into()))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::String(v.to_owned())))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::String(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
                let mut items = Vec::new();
                while let Some(StrictValue(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(StrictValue(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let StrictValue(value) = map.next_value()?;
                    if object.contains_key(&key) {
                        return Err(A::Error::custom(format_args!("the key `{key}` is given twice")));
                    }
                    object.insert(key, value);
                }
                Ok(StrictValue(Value::Object(object)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Writes a message in its proto3 JSON form (fields in declaration order).
pub fn to_vec<T: serde::Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, Status> {
    // Room for a typical response at once, rather than growing from 128 bytes.
    let mut out = Vec::with_capacity(512);
    write(&mut out, message)?;
    Ok(out)
}

/// Appends a message's proto3 JSON form to `out`.
pub fn write<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, message: &T) -> Result<(), Status> {
    serde_json::to_writer(out, message).map_err(|e| Status::internal(format!("cannot write the response as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wkt::Timestamp;

    #[test]
    fn values_refuse_keys_given_twice_at_any_depth() {
        assert!(value_from_slice(br#"{"a": 1, "a": 2}"#).is_err());
        assert!(value_from_slice(br#"{"a": [{"b": 1, "b": 1}]}"#).is_err());
        let value = value_from_slice(br#"{"a": [1, 2.5, "x", null, true], "b": {"c": {}}}"#).expect("valid");
        assert_eq!(value, serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": {}}}));
    }

    #[test]
    fn text_after_the_value_is_refused() {
        let err = from_slice::<Timestamp>(br#""2026-12-06T12:00:00Z" trailing"#).expect_err("refused");
        assert_eq!(err.code(), crate::core::status::Code::InvalidArgument, "{err}");
        assert!(from_slice::<Timestamp>(b" \"2026-12-06T12:00:00Z\"\n ").is_ok(), "whitespace is fine");
    }
}
