//! Encodings a protocol's server adapter and its typed client both speak,
//! kept here so that neither imports the other: Connect's envelopes and
//! error objects, the `apigen.v1` subprotocol's name and close codes, SSE's
//! final event id, GraphQL's map entries, the status objects of the
//! JSON protocols, and gRPC's `grpc-timeout` (the gRPC adapter reads it,
//! the gateway writes it).

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::status::{Code, Status};
use crate::core::wkt::Any;

/// The default largest message: 4 MiB, as gRPC's default.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The subprotocol name `/ws` clients must offer in `Sec-WebSocket-Protocol`.
pub const WS_SUBPROTOCOL: &str = "apigen.v1";

/// Close codes of `apigen.v1`.
pub mod ws_close {
    /// The server is shutting down, or the client went quiet.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The authenticator could not decide (it is unavailable): try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A malformed frame or a frame out of order.
    pub const MALFORMED: u16 = 4400;
    /// `connection_init` did not authenticate.
    pub const UNAUTHENTICATED: u16 = 4401;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A `subscribe` with the id of a call still running.
    pub const DUPLICATE_ID: u16 = 4409;
    /// More concurrent calls than the server allows.
    pub const TOO_MANY_CALLS: u16 = 4429;
}

/// A WebSocket close reason cut to fit a control frame: at most 123 bytes
/// (RFC 6455 §5.5), on a character boundary. Longer reasons (an error
/// message, say) would make the frame invalid and the close a protocol error.
pub(crate) fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// The close code of a WebSocket whose `connection_init` the authenticator
/// refused: `credentials` (4401 on `/ws`, 4403 on `/graphql/ws`) when the
/// credentials are the problem; 1013 (try again later) when it could not
/// decide, say its identity provider is down, so clients retry instead of
/// asking their user to sign in again.
pub(crate) fn ws_refusal(status: &Status, credentials: u16) -> u16 {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => credentials,
        _ => ws_close::TRY_AGAIN_LATER,
    }
}

/// The id of an SSE stream's final event: a client that reconnects with it
/// has seen the whole stream and is answered 204.
pub const SSE_END_ID: &str = "end";

/// The error answer of plain HTTP (REST, SSE before its stream starts, a
/// refused WebSocket upgrade, a path nothing serves): the code's HTTP
/// status and `{"code": 5, "message": "…", "details": […]}`. (The server's
/// middleware adds `WWW-Authenticate` to every 401, whichever protocol.)
pub(crate) fn http_error(status: &Status) -> axum::response::Response {
    use axum::response::IntoResponse;
    let http = http::StatusCode::from_u16(status.http_status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (http, axum::Json(http_error_body(status))).into_response();
    advise_retry(response.headers_mut(), status);
    response
}

/// Adds `Retry-After` for a status with a `google.rpc.RetryInfo` detail.
pub(crate) fn advise_retry(headers: &mut http::HeaderMap, status: &Status) {
    if let Some(seconds) = retry_after(status) {
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
}

pub(crate) use crate::core::wkt::RetryInfo;

/// The whole seconds (rounded up) a status's `google.rpc.RetryInfo` detail
/// asks a client to wait: HTTP's `Retry-After`.
pub(crate) fn retry_after(status: &Status) -> Option<u64> {
    let detail = status.details().iter().find(|d| d.type_name() == RetryInfo::NAME)?;
    let delay = <RetryInfo as prost::Message>::decode(detail.value.as_slice()).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    Some(if delay.nanos > 0 { seconds + 1 } else { seconds })
}

/// `{"code": 5, "message": "…", "details": [{"@type": "…", "value": "…"}]}`.
pub(crate) fn http_error_body(status: &Status) -> Value {
    json!({"code": status.code().as_i32(), "message": status.message(), "details": details(status)})
}

/// One Connect envelope: flags, big-endian length, data.
pub(crate) fn envelope(flags: u8, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + data.len());
    out.push(flags);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(data);
    out.into()
}

/// A status's details as the JSON protocols carry them: each an Any in the
/// proto3 JSON mapping's form (`{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
/// "reason": …}`) when its type is known here, else `{"@type": …, "value": base64}`
/// so that an error response never fails for want of a type.
pub(crate) fn details(status: &Status) -> Vec<Value> {
    status.details().iter().map(detail_json).collect()
}

fn detail_json(detail: &Any) -> Value {
    use base64::engine::{Engine, general_purpose::STANDARD};
    serde_json::to_value(detail)
        .unwrap_or_else(|_| json!({"@type": detail.type_url, "value": STANDARD.encode(&detail.value)}))
}

/// The error object of the streaming JSON protocols (WebSocket `error`
/// frames, SSE `end` events): `{"code": "not_found", "message": "…"}`, with
/// `details` when the status has any.
pub(crate) fn status_object(status: &Status) -> Value {
    let mut object = json!({"code": status.code().as_str(), "message": status.message()});
    if !status.details().is_empty() {
        object["details"] = Value::Array(details(status));
    }
    object
}

/// Connect's error object: `{"code": "not_found", "message": "…",
/// "details": [{"type": "google.rpc.X", "value": base64, "debug": {…}}]}`,
/// `debug` being the detail's JSON when its type is known here.
pub(crate) fn connect_error(status: &Status) -> Value {
    use base64::engine::{Engine, general_purpose::STANDARD};
    let mut body = json!({"code": status.code().as_str(), "message": status.message()});
    let details: Vec<Value> = status
        .details()
        .iter()
        .map(|d| {
            let mut detail = json!({"type": d.type_name(), "value": STANDARD.encode(&d.value)});
            if let Ok(debug) = serde_json::to_value(d) {
                detail["debug"] = debug;
            }
            detail
        })
        .collect();
    if !details.is_empty() {
        body["details"] = Value::Array(details);
    }
    body
}

/// Connect's error object read back; `None` without a code string (not a
/// Connect error).
pub(crate) fn connect_status(error: &Value) -> Option<Status> {
    use base64::engine::{Engine, general_purpose::STANDARD_NO_PAD};
    // An unknown code name is `unknown`, as Connect says; so is `ok`, which
    // names no error (an `Err` with code OK would read as a success).
    let code = Code::from_name(error.get("code")?.as_str()?).filter(|c| *c != Code::Ok).unwrap_or(Code::Unknown);
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    let mut status = Status::new(code, message);
    for detail in error.get("details").and_then(Value::as_array).into_iter().flatten() {
        let (Some(ty), Some(value)) =
            (detail.get("type").and_then(Value::as_str), detail.get("value").and_then(Value::as_str))
        else {
            continue;
        };
        // Connect allows base64 with or without padding.
        if let Ok(value) = STANDARD_NO_PAD.decode(value.trim_end_matches('=')) {
            let type_url = format!("type.googleapis.com/{ty}");
            status = status.with_detail(Any { type_url, value });
        }
    }
    Some(status)
}

/// The status in a streaming JSON protocol's error object (see
/// [`status_object`]), details included.
pub(crate) fn status_from_object(object: &Value) -> Status {
    let code = object.get("code").and_then(Value::as_str).and_then(Code::from_name).unwrap_or(Code::Unknown);
    let message = object.get("message").and_then(Value::as_str).unwrap_or_default();
    read_details(object).into_iter().fold(Status::new(code, message), Status::with_detail)
}

/// The `details` of an error object, in either form [`details`] writes.
pub(crate) fn read_details(object: &Value) -> Vec<Any> {
    use base64::engine::{Engine, general_purpose::STANDARD};
    let details = object.get("details").and_then(Value::as_array).into_iter().flatten();
    details
        .filter_map(|detail| {
            if let Ok(any) = Any::deserialize(detail) {
                return Some(any);
            }
            let type_url = detail.get("@type").and_then(Value::as_str)?;
            let value = STANDARD.decode(detail.get("value").and_then(Value::as_str)?).ok()?;
            Some(Any { type_url: type_url.to_owned(), value })
        })
        .collect()
}

/// A GraphQL `[{key, value}]` entry list as the JSON object of a map.
pub(crate) fn entries_to_map(items: Vec<Value>) -> Value {
    Value::Object(
        items
            .into_iter()
            .filter_map(|e| {
                let key = match e.get("key")? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((key, e.get("value").cloned().unwrap_or(Value::Null)))
            })
            .collect(),
    )
}

/// Parses gRPC's `grpc-timeout` (`100m`, `5S`, …: at most 8 digits and a unit) into a duration.
pub(crate) fn parse_timeout(value: &str) -> Option<Duration> {
    if !value.is_ascii() || value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Writes a duration as `grpc-timeout`: the finest unit whose count fits in
/// 8 digits, rounded up so that the callee never gets less time than asked.
pub(crate) fn format_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    for (unit, per) in [("n", 1), ("u", 1_000), ("m", 1_000_000), ("S", 1_000_000_000), ("M", 60_000_000_000)] {
        let count = nanos.div_ceil(per);
        if count <= MAX {
            return format!("{count}{unit}");
        }
    }
    format!("{}H", nanos.div_ceil(3_600_000_000_000).min(MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("m"), None);
        assert_eq!(parse_timeout("123456789S"), None, "at most 8 digits");
        assert_eq!(parse_timeout("10x"), None);
        // Found reviewing the runtime: a multi-byte last character split the string inside it.
        assert_eq!(parse_timeout("1é"), None);
        assert_eq!(parse_timeout("9999999€"), None);
    }

    #[test]
    fn grpc_timeouts_are_written_in_the_finest_unit_that_fits_and_read_back() {
        assert_eq!(format_timeout(Duration::from_millis(250)), "250000u");
        assert_eq!(format_timeout(Duration::from_nanos(1_500)), "1500n");
        assert_eq!(format_timeout(Duration::from_secs(5)), "5000000u");
        assert_eq!(format_timeout(Duration::from_secs(86_400 * 365)), "31536000S");
        assert_eq!(format_timeout(Duration::from_secs(86_400 * 365 * 10)), "5256000M");
        assert_eq!(format_timeout(Duration::MAX), "99999999H");
        for timeout in [Duration::from_nanos(1), Duration::from_micros(123_456_789), Duration::from_secs(200_000)] {
            let written = format_timeout(timeout);
            let read = parse_timeout(&written).expect("parses");
            assert!(read >= timeout, "{written} gives at least {timeout:?}");
        }
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate(&long);
        assert!(cut.len() <= 123 && long.starts_with(&cut));
    }

    #[test]
    fn status_objects_carry_details_both_ways() {
        let detail = Any { type_url: "type.googleapis.com/google.rpc.BadRequest".into(), value: vec![1, 2, 3] };
        let status = Status::invalid_argument("bad").with_detail(detail.clone());
        let object = status_object(&status);
        assert_eq!(object["code"], "invalid_argument");
        assert_eq!(status_from_object(&object).details(), std::slice::from_ref(&detail));
        let connect = connect_error(&status);
        assert_eq!(connect["details"][0]["type"], "google.rpc.BadRequest");
        assert_eq!(connect_status(&connect).map(|s| s.details().to_vec()), Some(vec![detail]));
        assert!(status_object(&Status::not_found("x")).get("details").is_none(), "no empty list");
    }

    #[test]
    fn known_details_are_written_in_the_json_mapping() {
        let retry = crate::core::wkt::Duration { seconds: 2, nanos: 0 };
        let detail = Any::pack("google.protobuf.Duration", &retry);
        let status = Status::unavailable("later").with_detail(detail.clone());
        let object = status_object(&status);
        assert_eq!(
            object["details"],
            json!([{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "2s"}])
        );
        assert_eq!(status_from_object(&object).details(), std::slice::from_ref(&detail));
        let connect = connect_error(&status);
        assert_eq!(connect["details"][0]["type"], "google.protobuf.Duration");
        assert_eq!(connect["details"][0]["value"], "CAI=", "the bytes, as Connect clients read them");
        assert_eq!(connect["details"][0]["debug"]["value"], "2s");
        assert_eq!(connect_status(&connect).map(|s| s.details().to_vec()), Some(vec![detail]));
    }
}
