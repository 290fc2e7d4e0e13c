//! Messages seen through one interface, so protocol adapters are written once
//! for all message types.

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::status::Status;

/// What a generated message is: prost for the binary form, its generated serde
/// implementations for the proto3 JSON mapping.
/// [`Input`](crate::core::input::Input) carries the message's field-behaviour rules,
/// [`Validate`](crate::core::validate::Validate) its protovalidate rules.
pub trait ApiMessage:
    prost::Message
    + Default
    + Serialize
    + DeserializeOwned
    + crate::core::input::Input
    + crate::core::validate::Validate
    + 'static
{
}

impl<T> ApiMessage for T where
    T: prost::Message
        + Default
        + Serialize
        + DeserializeOwned
        + crate::core::input::Input
        + crate::core::validate::Validate
        + 'static
{
}

/// A response message of any type: what protocol adapters encode.
pub trait DynMessage: Send + Sync + 'static {
    /// The protobuf binary encoding.
    fn encode_proto(&self) -> Vec<u8>;
    /// The length of the protobuf binary encoding, which message limits count.
    fn encoded_len(&self) -> usize;
    /// The proto3 JSON mapping as a value.
    fn to_json_value(&self) -> Result<serde_json::Value, Status>;
    /// The proto3 JSON mapping as bytes.
    fn to_json(&self) -> Result<Vec<u8>, Status>;
    /// The proto3 JSON mapping appended to `out`, for a protocol that wraps
    /// the message in an envelope of its own (tRPC's `{"result":{"data":…}}`).
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Status> {
        out.extend_from_slice(&self.to_json()?);
        Ok(())
    }
    /// The JSON as text (SSE and WebSocket frames are text), shared: a
    /// message many streams send (a fan-out topic's) writes it once and hands
    /// each stream the same buffer.
    fn json_text(&self) -> Result<std::sync::Arc<str>, Status> {
        String::from_utf8(self.to_json()?)
            .map(std::sync::Arc::from)
            .map_err(|_| Status::internal("the response's JSON is not UTF-8"))
    }
    /// The message itself, to downcast to its concrete type.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// The message's cursor in a resumable stream (its SSE event id).
    fn cursor(&self) -> Option<&str> {
        None
    }
}

/// A message of a resumable stream, with its cursor.
pub(crate) struct Cursored {
    pub cursor: String,
    pub message: Box<dyn DynMessage>,
}

impl DynMessage for Cursored {
    fn encode_proto(&self) -> Vec<u8> {
        self.message.encode_proto()
    }

    fn encoded_len(&self) -> usize {
        self.message.encoded_len()
    }

    fn to_json_value(&self) -> Result<serde_json::Value, Status> {
        self.message.to_json_value()
    }

    fn to_json(&self) -> Result<Vec<u8>, Status> {
        self.message.to_json()
    }

    fn json_text(&self) -> Result<std::sync::Arc<str>, Status> {
        self.message.json_text()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self.message.into_any()
    }

    fn cursor(&self) -> Option<&str> {
        Some(&self.cursor)
    }
}

impl<T: ApiMessage> DynMessage for T {
    fn encode_proto(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    fn encoded_len(&self) -> usize {
        prost::Message::encoded_len(self)
    }

    fn to_json_value(&self) -> Result<serde_json::Value, Status> {
        serde_json::to_value(self).map_err(|e| Status::internal(format!("cannot write the response as JSON: {e}")))
    }

    fn to_json(&self) -> Result<Vec<u8>, Status> {
        crate::core::json::to_vec(self)
    }

    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Status> {
        crate::core::json::write(out, self)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl std::fmt::Debug for dyn DynMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynMessage")
    }
}
