//! A unary upstream call made directly on the transport: one framed message
//! out, one message back with the response's headers and trailers. tonic's
//! client would build request and response streams, an encoder and a
//! decoder for every call; one message needs none of them.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;

use super::transport::Transport;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Calls `path` on the upstream at `origin` with `message`, sending
/// `headers` (the forwarded metadata) and the time left as `grpc-timeout`.
/// Returns the response's message and its headers followed by its trailers.
pub(super) async fn call(
    transport: Transport,
    origin: &http::Uri,
    path: &http::uri::PathAndQuery,
    mut headers: HeaderMap,
    timeout: Option<Duration>,
    message: Bytes,
) -> Result<(HeaderMap, Bytes), tonic::Status> {
    let length = u32::try_from(message.len())
        .map_err(|_| tonic::Status::resource_exhausted("the request is over gRPC's 4 GiB message limit"))?;
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(length);
    framed.extend_from_slice(&message);

    let mut uri = origin.clone().into_parts();
    uri.path_and_query = Some(path.clone());
    let uri = http::Uri::from_parts(uri).map_err(|e| tonic::Status::internal(format!("the upstream URI: {e}")))?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    if let Some(timeout) = timeout
        && let Ok(value) = HeaderValue::try_from(crate::core::wire::format_timeout(timeout))
    {
        headers.insert(GRPC_TIMEOUT, value);
    }
    let mut request = http::Request::new(tonic::body::Body::new(http_body_util::Full::new(framed.freeze())));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;

    let response = tower::ServiceExt::oneshot(transport, request).await.map_err(tonic::Status::from_error)?;
    let (parts, body) = response.into_parts();
    if parts.status != http::StatusCode::OK {
        return Err(from_http_status(parts.status));
    }
    if let Some(status) = status_in(&parts.headers) {
        // Trailers-only: a status and no message.
        return Err(if status.code() == tonic::Code::Ok {
            tonic::Status::internal("the upstream answered OK without a response message")
        } else {
            status
        });
    }
    let content_type = parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes).unwrap_or_default();
    if !content_type.starts_with(b"application/grpc") {
        return Err(tonic::Status::unknown(format!(
            "the upstream answered with content-type {}, not gRPC",
            String::from_utf8_lossy(content_type)
        )));
    }
    let body = body.collect().await.map_err(tonic::Status::from_error)?;
    let trailers = body.trailers().cloned().unwrap_or_default();
    let data = body.to_bytes();
    let status = status_in(&trailers)
        .ok_or_else(|| tonic::Status::internal("the upstream's response ended without a grpc-status"))?;
    if status.code() != tonic::Code::Ok {
        return Err(status);
    }
    let message = one_message(data)?;
    let mut metadata = parts.headers;
    for (name, value) in &trailers {
        metadata.append(name, value.clone());
    }
    Ok((metadata, message))
}

/// The one message of a unary response's body, unframed.
fn one_message(data: Bytes) -> Result<Bytes, tonic::Status> {
    let Some((&[flag, a, b, c, d], rest)) = data.split_first_chunk::<5>() else {
        return Err(tonic::Status::internal("the upstream answered OK without a response message"));
    };
    if flag != 0 {
        return Err(tonic::Status::internal("the upstream compressed its response, which the gateway did not ask for"));
    }
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if rest.len() != length {
        return Err(tonic::Status::internal(format!(
            "a unary response is one message of {length} bytes; the upstream sent {} bytes after its prefix",
            rest.len()
        )));
    }
    Ok(data.slice(5..))
}

/// The status in `headers` (trailers, or the headers of a trailers-only
/// response), if they carry one. Details that are not valid base64 are
/// left out rather than fail the call.
fn status_in(headers: &HeaderMap) -> Option<tonic::Status> {
    headers.get(GRPC_STATUS)?;
    let readable = |v: &HeaderValue| {
        use base64::Engine as _;
        let text = v.as_bytes();
        base64::engine::general_purpose::STANDARD.decode(text).is_ok()
            || base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).is_ok()
    };
    match headers.get(GRPC_STATUS_DETAILS) {
        Some(details) if !readable(details) => {
            let mut headers = headers.clone();
            headers.remove(GRPC_STATUS_DETAILS);
            tonic::Status::from_header_map(&headers)
        }
        _ => tonic::Status::from_header_map(headers),
    }
}

/// A response that is not HTTP 200, as gRPC's HTTP-to-status mapping reads it.
fn from_http_status(status: http::StatusCode) -> tonic::Status {
    let code = match status.as_u16() {
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    };
    tonic::Status::new(code, format!("the upstream answered HTTP {status} to a gRPC call"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unary_body_is_one_framed_message() {
        let framed = Bytes::from_static(b"\0\0\0\0\x03abc");
        assert_eq!(one_message(framed).ok(), Some(Bytes::from_static(b"abc")));
        assert_eq!(one_message(Bytes::from_static(b"\0\0\0\0\0")).ok(), Some(Bytes::new()), "an empty message");
        for wrong in [&b""[..], b"\0\0\0", b"\0\0\0\0\x04abc", b"\0\0\0\0\x01abc", b"\x01\0\0\0\x03abc"] {
            assert_eq!(one_message(Bytes::copy_from_slice(wrong)).err().map(|s| s.code()), Some(tonic::Code::Internal));
        }
    }

    #[test]
    fn statuses_come_from_trailers_and_unreadable_details_are_dropped() {
        let mut trailers = HeaderMap::new();
        assert!(status_in(&trailers).is_none());
        trailers.insert(GRPC_STATUS, HeaderValue::from_static("5"));
        trailers.insert("grpc-message", HeaderValue::from_static("no%20such%20book"));
        trailers.insert(GRPC_STATUS_DETAILS, HeaderValue::from_static("not base64!"));
        trailers.insert("x-kept", HeaderValue::from_static("1"));
        let status = status_in(&trailers).expect("a status");
        assert_eq!((status.code(), status.message()), (tonic::Code::NotFound, "no such book"));
        assert!(status.details().is_empty());
        assert_eq!(status.metadata().get("x-kept").map(|v| v.to_str().ok()), Some(Some("1")));
        assert_eq!(from_http_status(http::StatusCode::SERVICE_UNAVAILABLE).code(), tonic::Code::Unavailable);
        assert_eq!(from_http_status(http::StatusCode::IM_A_TEAPOT).code(), tonic::Code::Unknown);
    }
}
