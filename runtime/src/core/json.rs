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

use crate::core::status::Status;

/// Reads a message from its proto3 JSON form. Malformed JSON (trailing
/// text included) is `INVALID_ARGUMENT` with its position; a value of the
/// wrong form is `INVALID_ARGUMENT` naming the field's path (`book.isbn`).
pub fn from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." || !inner.is_data() {
            // Malformed JSON: the position is in the client's own text.
            Status::invalid_argument(format!("the request is not valid JSON for this method: {inner}"))
        } else {
            // The field names the problem; a position would point into
            // JSON that REST and query parameters assembled, not the client's.
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            Status::invalid_argument(format!("invalid value for field `{path}`: {message}"))
        }
    })?;
    de.end().map_err(|e| Status::invalid_argument(format!("the request is not valid JSON for this method: {e}")))?;
    Ok(value)
}

/// Writes a message in its proto3 JSON form (fields in declaration order).
pub fn to_vec<T: serde::Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(message).map_err(|e| Status::internal(format!("cannot write the response as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wkt::Timestamp;

    #[test]
    fn text_after_the_value_is_refused() {
        let err = from_slice::<Timestamp>(br#""2026-12-06T12:00:00Z" trailing"#).expect_err("refused");
        assert_eq!(err.code(), crate::core::status::Code::InvalidArgument, "{err}");
        assert!(from_slice::<Timestamp>(b" \"2026-12-06T12:00:00Z\"\n ").is_ok(), "whitespace is fine");
    }
}
