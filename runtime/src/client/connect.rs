//! The typed Connect client's transport: binary protobuf over HTTP, unary
//! calls as one POST, server streams as enveloped messages read as they
//! arrive. Responses may come gzip-compressed; requests go out plain.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header;
use serde_json::Value;

use crate::core::compression::Encoding;
use crate::core::message::ApiMessage;
use crate::{Code, ResponseStream, Status};

/// The largest response message (after decompression) a client accepts,
/// as for the gRPC client: a misbehaving server cannot exhaust memory.
const MAX_MESSAGE_SIZE: usize = crate::core::wire::DEFAULT_MAX_MESSAGE_SIZE;

/// A Connect connection for the generated typed Connect clients.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: crate::client::Endpoint,
    timeout: Option<Duration>,
}

impl Client {
    /// A client of the server at `base`, for example `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Client {
        Client { endpoint: crate::client::Endpoint::new(base), timeout: None }
    }

    /// Headers sent with every call, for example `authorization`.
    pub fn headers_mut(&mut self) -> &mut http::HeaderMap {
        self.endpoint.headers_mut()
    }

    /// Gives every call this deadline: the server learns it from
    /// `Connect-Timeout-Ms`, and the client stops waiting once it passes
    /// (for streams, the whole stream), both as `DEADLINE_EXCEEDED`.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = Some(timeout);
        self
    }

    /// A POST to `path` with the common headers and the deadline.
    fn post(&self, path: &str, content_type: &'static str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut builder = self
            .endpoint
            .request(reqwest::Method::POST, &self.endpoint.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .header("connect-protocol-version", "1")
            .body(body);
        if let Some(timeout) = self.timeout {
            // The protocol allows at most 10 digits.
            let ms = timeout.as_millis().clamp(1, 9_999_999_999);
            builder = builder.header("connect-timeout-ms", ms.to_string()).timeout(timeout);
        }
        builder
    }

    /// Calls a unary method at `path` (`/package.Service/Method`).
    pub async fn unary<Req: ApiMessage, Resp: ApiMessage>(&self, path: &str, request: &Req) -> Result<Resp, Status> {
        let builder =
            self.post(path, "application/proto", request.encode_to_vec()).header(header::ACCEPT_ENCODING, "gzip");
        let mut response = builder.send().await.map_err(|e| transport_error(path, &e))?;
        let encoding = Encoding::from_header(response.headers().get(header::CONTENT_ENCODING))
            .map_err(|s| Status::internal(format!("{path}: the response uses {}", s.message())))?;
        let status = response.status();
        let content_type = content_type(&response);
        let body = read_all(&mut response, path).await?;
        let body = encoding.decode(body, MAX_MESSAGE_SIZE);
        if !status.is_success() {
            // An error body that does not decompress still has its HTTP status.
            return Err(http_error(status.as_u16(), &body.unwrap_or_default()));
        }
        let body = body.map_err(|s| response_error(path, &s))?;
        if content_type != "application/proto" {
            return Err(Status::internal(format!("{path}: expected application/proto, got `{content_type}`")));
        }
        Resp::decode(body).map_err(|e| Status::internal(format!("{path}: the response does not decode: {e}")))
    }

    /// Calls a server-streaming method at `path`. Messages are yielded as
    /// their envelopes arrive; the end-of-stream message ends the stream
    /// (or yields its error). A body that ends without one yields
    /// `INTERNAL`, a broken connection `UNAVAILABLE`.
    pub async fn server_streaming<Req: ApiMessage, Resp: ApiMessage>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<ResponseStream<Resp>, Status> {
        let body = crate::core::wire::envelope(0, &request.encode_to_vec()).to_vec();
        let builder = self.post(path, "application/connect+proto", body).header("connect-accept-encoding", "gzip");
        let mut response = builder.send().await.map_err(|e| transport_error(path, &e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            // Errors before the stream starts come as a unary-style response.
            let encoding =
                Encoding::from_header(response.headers().get(header::CONTENT_ENCODING)).unwrap_or(Encoding::Identity);
            let body = read_all(&mut response, path).await?;
            let body = encoding.decode(body, MAX_MESSAGE_SIZE).unwrap_or_default();
            return Err(http_error(status.as_u16(), &body));
        }
        let content_type = content_type(&response);
        if content_type != "application/connect+proto" {
            return Err(Status::internal(format!("{path}: expected application/connect+proto, got `{content_type}`")));
        }
        let encoding = Encoding::from_header(response.headers().get("connect-content-encoding"))
            .map_err(|s| Status::internal(format!("{path}: the response uses {}", s.message())))?;
        let reader = Envelopes { response, buffer: BytesMut::new(), encoding, path: path.to_owned(), done: false };
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            let item = reader.next::<Resp>().await?;
            Some((item, reader))
        });
        Ok(ResponseStream::new(stream))
    }
}

/// Reads a server stream's envelopes from a body arriving in chunks of any
/// size (an envelope may span several).
struct Envelopes {
    response: reqwest::Response,
    buffer: BytesMut,
    encoding: Encoding,
    path: String,
    done: bool,
}

impl Envelopes {
    /// The next message, its error, or `None` after the end.
    async fn next<Resp: ApiMessage>(&mut self) -> Option<Result<Resp, Status>> {
        if self.done {
            return None;
        }
        let item = self.read().await;
        // An error ends the stream, as does the end-of-stream message.
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }

    async fn read<Resp: ApiMessage>(&mut self) -> Option<Result<Resp, Status>> {
        let path = self.path.clone();
        loop {
            match next_envelope(&mut self.buffer, &path) {
                Some(Ok((flags, data))) => return envelope_message(flags, data, self.encoding, &path),
                Some(Err(status)) => return Some(Err(status)),
                None => {}
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => {
                    return Some(Err(Status::internal(format!(
                        "{path}: the stream ended without an end-of-stream message"
                    ))));
                }
                Err(e) => return Some(Err(transport_error(&path, &e))),
            }
        }
    }
}

/// Takes the first whole envelope (flags, data) off `buffer`; `None` until
/// one has arrived whole, an error for one over the message size limit.
pub(crate) fn next_envelope(buffer: &mut BytesMut, path: &str) -> Option<Result<(u8, Bytes), Status>> {
    if buffer.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if len > MAX_MESSAGE_SIZE {
        return Some(Err(Status::resource_exhausted(format!(
            "{path}: a message of {len} bytes is over the limit of {MAX_MESSAGE_SIZE}"
        ))));
    }
    if buffer.len() - 5 < len {
        return None;
    }
    let flags = buffer[0];
    buffer.advance(5);
    Some(Ok((flags, buffer.split_to(len).freeze())))
}

/// One envelope's meaning: a message, or (flag 0x02) the end of the stream
/// (`None`, or its error).
pub(crate) fn envelope_message<Resp: ApiMessage>(
    flags: u8,
    data: Bytes,
    encoding: Encoding,
    path: &str,
) -> Option<Result<Resp, Status>> {
    let data = if flags & 0x01 != 0 {
        if encoding == Encoding::Identity {
            return Some(Err(Status::internal(format!(
                "{path}: a compressed envelope without Connect-Content-Encoding"
            ))));
        }
        match encoding.decode(data, MAX_MESSAGE_SIZE) {
            Ok(data) => data,
            Err(s) => return Some(Err(response_error(path, &s))),
        }
    } else {
        data
    };
    if flags & 0x02 == 0 {
        return Some(
            Resp::decode(data).map_err(|e| Status::internal(format!("{path}: a message does not decode: {e}"))),
        );
    }
    // The end of the stream: `{}`, or `{"error": {…}}`.
    match serde_json::from_slice::<Value>(&data) {
        Ok(Value::Object(end)) => match end.get("error") {
            None | Some(Value::Null) => None,
            Some(error) => Some(Err(crate::core::wire::connect_status(error)
                .unwrap_or_else(|| Status::unknown(format!("{path}: the stream ended with an error without a code"))))),
        },
        _ => Some(Err(Status::internal(format!("{path}: the end-of-stream message is not a JSON object")))),
    }
}

/// The response's media type, lowercase and without parameters.
fn content_type(response: &reqwest::Response) -> String {
    let value = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The whole body, refusing to hold more than the message limit (plus room
/// for compression overhead).
async fn read_all(response: &mut reqwest::Response, path: &str) -> Result<Bytes, Status> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(path, &e))? {
        if body.len() + chunk.len() > MAX_MESSAGE_SIZE + 1024 {
            return Err(Status::resource_exhausted(format!("{path}: the response is over {MAX_MESSAGE_SIZE} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A failed send or read: the deadline passing, or the server unreachable.
fn transport_error(path: &str, e: &reqwest::Error) -> Status {
    if e.is_timeout() {
        Status::deadline_exceeded(format!("{path}: the deadline passed"))
    } else {
        Status::unavailable(format!("{path}: {e}"))
    }
}

/// A response body that does not decompress: the server's fault, not ours.
fn response_error(path: &str, status: &Status) -> Status {
    match status.code() {
        Code::ResourceExhausted => Status::resource_exhausted(format!("{path}: {}", status.message())),
        _ => Status::internal(format!("{path}: {}", status.message())),
    }
}

/// The `Status` of an HTTP error: Connect's JSON error body when there is
/// one, else the code Connect assigns to the HTTP status.
pub(crate) fn http_error(http: u16, body: &[u8]) -> Status {
    serde_json::from_slice::<Value>(body).ok().as_ref().and_then(crate::core::wire::connect_status).unwrap_or_else(
        || Status::new(code_for_http(http), format!("HTTP {http}: {}", String::from_utf8_lossy(body).trim())),
    )
}

/// Connect's code for an HTTP status without a Connect error body.
fn code_for_http(http: u16) -> Code {
    match http {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_bodies_become_statuses() {
        let body =
            br#"{"code":"not_found","message":"no shelf","details":[{"type":"google.rpc.BadRequest","value":"AQID"}]}"#;
        let s = http_error(404, body);
        assert_eq!((s.code(), s.message()), (Code::NotFound, "no shelf"));
        assert_eq!(s.details()[0].type_url, "type.googleapis.com/google.rpc.BadRequest");
        assert_eq!(s.details()[0].value.as_ref(), [1, 2, 3]);
        assert_eq!(http_error(400, br#"{"code":"invalid_argument"}"#).code(), Code::InvalidArgument);
        assert_eq!(http_error(400, br#"{"code":"from_the_future","message":"m"}"#).message(), "m");
    }

    #[test]
    fn an_error_that_says_ok_is_unknown() {
        // Found with the connect_envelope fuzz target (fuzz/README.md): `{"code":"ok"}` made an `Err` with code OK.
        assert_eq!(http_error(400, br#"{"code":"ok","message":"m"}"#).code(), Code::Unknown);
        let end = envelope_message::<crate::wkt::Struct>(
            0x02,
            Bytes::from_static(br#"{"error":{"code":"ok"}}"#),
            Encoding::Identity,
            "/p",
        );
        assert_eq!(end.and_then(Result::err).map(|s| s.code()), Some(Code::Unknown));
    }

    #[test]
    fn other_error_bodies_map_from_the_http_status() {
        assert_eq!(http_error(404, b"not found").code(), Code::Unimplemented);
        assert_eq!(http_error(404, br#"{"code":5,"message":"REST form"}"#).code(), Code::Unimplemented);
        assert_eq!(http_error(503, b"").code(), Code::Unavailable);
        assert_eq!(http_error(400, b"").code(), Code::Internal);
        assert_eq!(http_error(418, b"teapot").code(), Code::Unknown);
    }
}
