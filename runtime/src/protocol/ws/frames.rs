//! `apigen.v1` frames: what a client may send, checked for shape, and the
//! frames the server answers with.

use serde_json::{Map, Value};

use crate::Status;
use crate::core::call::Payload;

/// A client frame, checked for shape.
pub(crate) enum ClientFrame {
    Init(Map<String, Value>),
    /// `lastEventId`: resume a stream after the event with that id.
    Subscribe {
        id: String,
        method: String,
        payload: Option<Value>,
        last_event_id: Option<String>,
    },
    Next {
        id: String,
        payload: Value,
    },
    Complete {
        id: String,
    },
    Cancel {
        id: String,
    },
    Ping,
    Pong,
}

pub(crate) fn parse(text: &str) -> Result<ClientFrame, String> {
    let value =
        crate::core::json::value_from_slice(text.as_bytes()).map_err(|e| format!("a frame is not JSON: {e}"))?;
    let Value::Object(mut frame) = value else { return Err("a frame must be a JSON object".into()) };
    let kind = match frame.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err("a frame needs a string `type`".into()),
    };
    let mut id = || match frame.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(format!("a {kind} frame needs a non-empty string `id`")),
    };
    let payload = |frame: &mut Map<String, Value>| frame.remove("payload").filter(|p| !p.is_null());
    Ok(match kind.as_str() {
        "connection_init" => match payload(&mut frame) {
            None => ClientFrame::Init(Map::new()),
            Some(Value::Object(map)) => ClientFrame::Init(map),
            Some(_) => return Err("connection_init's payload must be an object".into()),
        },
        "subscribe" => {
            let id = id()?;
            let method = match frame.remove("method") {
                Some(Value::String(method)) => method,
                _ => return Err("a subscribe frame needs a string `method` (`package.Service/Method`)".into()),
            };
            let last_event_id = match frame.remove("lastEventId") {
                None | Some(Value::Null) => None,
                Some(Value::String(last)) => Some(last),
                Some(_) => return Err("a subscribe frame's `lastEventId` must be a string".into()),
            };
            ClientFrame::Subscribe { id, method, payload: payload(&mut frame), last_event_id }
        }
        "next" => {
            let id = id()?;
            let payload = payload(&mut frame).ok_or("a next frame needs a `payload`")?;
            ClientFrame::Next { id, payload }
        }
        "complete" => ClientFrame::Complete { id: id()? },
        "cancel" => ClientFrame::Cancel { id: id()? },
        "ping" => ClientFrame::Ping,
        "pong" => ClientFrame::Pong,
        other => return Err(format!("unknown frame type `{other}`")),
    })
}

pub(super) fn frame(kind: &str, id: &str) -> String {
    serde_json::json!({"type": kind, "id": id}).to_string()
}

pub(crate) fn error_frame(id: &str, status: &Status) -> String {
    // The status with its details, as SSE's `end` event carries it.
    serde_json::json!({"type": "error", "id": id, "payload": crate::core::wire::status_object(status)}).to_string()
}

pub(crate) fn json_payload(value: Value) -> Payload {
    Payload::Json(bytes::Bytes::from(value.to_string()))
}

/// `value` as a JSON string: as it is when nothing in it needs escaping (a
/// cursor's digits), else through serde_json.
pub(super) fn push_json_string(out: &mut String, value: &str) {
    if value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else if let Ok(quoted) = serde_json::to_string(value) {
        out.push_str(&quoted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_or_say_what_is_wrong() {
        assert!(matches!(parse(r#"{"type":"connection_init"}"#), Ok(ClientFrame::Init(m)) if m.is_empty()));
        assert!(matches!(
            parse(r#"{"type":"subscribe","id":"1","method":"a.B/C","payload":{"x":1}}"#),
            Ok(ClientFrame::Subscribe { id, method, payload: Some(_), last_event_id: None }) if id == "1" && method == "a.B/C"
        ));
        assert!(matches!(
            parse(r#"{"type":"subscribe","id":"1","method":"a.B/C","lastEventId":"7"}"#),
            Ok(ClientFrame::Subscribe { last_event_id: Some(last), .. }) if last == "7"
        ));
        assert!(matches!(parse(r#"{"type":"next","id":"1","payload":{}}"#), Ok(ClientFrame::Next { .. })));
        assert!(matches!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping)));
        for (bad, says) in [
            ("nope", "not JSON"),
            ("[]", "JSON object"),
            (r#"{"id":"1"}"#, "`type`"),
            (r#"{"type":"subscribe","method":"a.B/C"}"#, "`id`"),
            (r#"{"type":"subscribe","id":"","method":"a.B/C"}"#, "`id`"),
            (r#"{"type":"subscribe","id":"1"}"#, "`method`"),
            (r#"{"type":"subscribe","id":"1","method":"a.B/C","lastEventId":7}"#, "`lastEventId`"),
            (r#"{"type":"next","id":"1"}"#, "`payload`"),
            (r#"{"type":"connection_init","payload":3}"#, "object"),
            (r#"{"type":"start","id":"1"}"#, "unknown frame type `start`"),
        ] {
            match parse(bad) {
                Err(message) => assert!(message.contains(says), "{bad}: {message}"),
                Ok(_) => panic!("{bad} parsed"),
            }
        }
    }
}
