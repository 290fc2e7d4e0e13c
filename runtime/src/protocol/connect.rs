//! The Connect protocol at every method's RPC path,
//! `/{package}.{Service}/{Method}`: unary calls as POST with
//! `application/json` or `application/proto` (or GET with
//! `?connect=v1&encoding=…&message=…` for `NO_SIDE_EFFECTS` methods), and
//! streams as enveloped messages with `application/connect+json` or
//! `+proto`, ended by an end-of-stream message that carries the error.
//! gzip both ways: `Content-Encoding` / `Accept-Encoding` for unary calls,
//! `Connect-Content-Encoding` / `Connect-Accept-Encoding` (per-envelope flag)
//! for streams. Errors are Connect's `{"code": "not_found", …}` objects.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderValue, Method as HttpMethod, StatusCode, header};

use crate::core::body::Whole;
use crate::core::call::{Output, Payload, Requests};
use crate::core::compression::{self, Encoding};
use crate::core::message::DynMessage;
use crate::core::pipeline::{Method, Pipeline};
use crate::core::wire::envelope;
use crate::{Context, MethodKind, Protocol, Status};

/// Connect's error response: the code's HTTP status and its error object.
fn error_response(status: &Status) -> Response {
    let http = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (http, axum::Json(crate::core::wire::connect_error(status))).into_response();
    crate::core::wire::advise_retry(response.headers_mut(), status);
    response
}

/// A Connect request refused before it was routed (a body over the limit,
/// one that stopped arriving): an end-of-stream message for
/// `application/connect+*` streams, else the error response.
pub(crate) fn early_error(content_type: &str, status: &Status) -> Response {
    let content_type = content_type.to_ascii_lowercase();
    if let Some(codec) = content_type.strip_prefix("application/connect+") {
        let content_type =
            if codec.starts_with("proto") { "application/connect+proto" } else { "application/connect+json" };
        let body = envelope(0x02, &end_of_stream(Some(status)));
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    error_response(status)
}

/// Serves Connect calls.
pub(crate) struct ConnectRouter {
    pipeline: Arc<Pipeline>,
}

impl ConnectRouter {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> ConnectRouter {
        ConnectRouter { pipeline }
    }

    /// The method Connect serves at `path` (`/{package}.{Service}/{Method}`):
    /// a request there is a Connect call.
    pub(crate) fn method(&self, path: &str) -> Option<&Method> {
        self.pipeline.method(path.strip_prefix('/')?, Protocol::Connect)
    }

    /// A Connect call of `method` (found by [`method`](Self::method)). A
    /// successful unary response is gzip-compressed whenever the request's
    /// `Accept-Encoding` lists gzip, whatever its size: predictable for
    /// clients, at the price of ~20 bytes on tiny messages. Error bodies stay
    /// plain JSON.
    pub(crate) async fn handle(&self, method: &Method, req: Whole, peer: Option<SocketAddr>) -> Response {
        let info = method.info();
        let get = req.method() == HttpMethod::GET;
        if !(req.method() == HttpMethod::POST || get && info.no_side_effects) {
            let allow = if info.no_side_effects { "GET, POST" } else { "POST" };
            let path = req.uri().path();
            let mut response = error_response(&Status::unimplemented(format!("{path} accepts {allow}")));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        const STREAM: &str = "application/connect+";
        let content_type = req.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes).unwrap_or_default();
        let codec = content_type
            .get(..STREAM.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(STREAM.as_bytes()))
            .map(|_| String::from_utf8_lossy(&content_type[STREAM.len()..]).to_ascii_lowercase());
        let streaming = codec.is_some();
        let mut response = match codec {
            Some(codec) => self.stream(method, &codec, req, peer).await,
            None => self.unary(method, get, req, peer).await,
        }
        .unwrap_or_else(|status| {
            let mut response = error_response(&status);
            if status.http_status() == 415 {
                response
                    .headers_mut()
                    .insert("accept-post", HeaderValue::from_static("application/json, application/proto"));
            }
            response
        });
        // Every Connect response says what the server decompresses, as connect-go's do: how a
        // client refused for its compression (UNIMPLEMENTED) learns what to send instead.
        let accept = if streaming { CONNECT_ACCEPT_ENCODING } else { header::ACCEPT_ENCODING };
        response.headers_mut().insert(accept, HeaderValue::from_static("gzip"));
        response
    }

    async fn unary(
        &self,
        method: &Method,
        get: bool,
        req: Whole,
        peer: Option<SocketAddr>,
    ) -> Result<Response, Status> {
        let (mut parts, body) = req.into_parts();
        check_version(&parts.headers)?;
        // The headers move into the context; the call reads them there.
        let asked = connect_timeout(&parts.headers);
        let metadata = std::mem::take(&mut parts.headers);
        let ctx = self.pipeline.admit(Protocol::Connect, metadata, peer, asked).await?;
        let headers = ctx.metadata();
        let info = method.info();
        if info.kind != MethodKind::Unary {
            return Err(Status::invalid_argument(format!(
                "{} is a streaming method: send application/connect+json or application/connect+proto",
                info.name
            ))
            .with_http_status(415));
        }
        let limit = self.pipeline.max_message_size();
        let (proto, payload) = if get {
            connect_get(parts.uri.query().unwrap_or_default(), limit)?
        } else {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let mime = content_type.split(';').next().unwrap_or_default().trim();
            let bytes = crate::core::body::at_most(body, limit)?;
            let bytes = Encoding::from_header(headers.get(header::CONTENT_ENCODING))?.decode(bytes, limit)?;
            if mime.eq_ignore_ascii_case("application/proto") {
                (true, Payload::Proto(bytes))
            } else if mime.is_empty() || mime.eq_ignore_ascii_case("application/json") {
                let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { bytes };
                (false, Payload::Json(bytes))
            } else {
                return Err(Status::invalid_argument(format!(
                    "Connect unary calls use application/json or application/proto, not {}",
                    mime.to_ascii_lowercase()
                ))
                .with_http_status(415));
            }
        };
        let Output::Single(m) = self.pipeline.call(method, &ctx, Requests::Single(payload)).await? else {
            return Err(Status::internal("a unary method returned a stream"));
        };
        let (content_type, body) =
            if proto { ("application/proto", m.encode_proto()) } else { ("application/json", m.to_json()?) };
        let gzip = compression::accepts_gzip(headers, header::ACCEPT_ENCODING);
        let body = if gzip { compression::gzip(&body)? } else { body };
        let mut out = http::HeaderMap::with_capacity(6);
        out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if gzip {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // GET responses are cacheable, and their encoding depends on this header.
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        ctx.add_response_metadata(&mut out);
        if get {
            // A read by GET: with a validator of the bytes sent (`core/http_cache.rs`).
            return Ok(crate::core::http_cache::respond(headers, info.cache, out, body.into()));
        }
        Ok(crate::core::http_cache::response(StatusCode::OK, out, body.into()))
    }

    /// Authenticates the call and builds its context, with `Connect-Timeout-Ms`.
    async fn context(&self, parts: &http::request::Parts, peer: Option<SocketAddr>) -> Result<Context, Status> {
        let asked = connect_timeout(&parts.headers);
        self.pipeline.admit(Protocol::Connect, parts.headers.clone(), peer, asked).await
    }

    /// A Connect streaming call: enveloped messages in (one for server
    /// streaming, any number for client streaming), enveloped messages out,
    /// then the end-of-stream message carrying the error, if any.
    ///
    /// Once the content type fits, every error (authentication, bad
    /// envelopes, compression) travels in the end-of-stream message under
    /// HTTP 200, as Connect streams require, so Connect clients see the real
    /// code. Envelopes are gzip-compressed both ways when
    /// `Connect-Content-Encoding` / `Connect-Accept-Encoding` say so.
    async fn stream(
        &self,
        method: &Method,
        codec: &str,
        req: Whole,
        peer: Option<SocketAddr>,
    ) -> Result<Response, Status> {
        let info = method.info();
        let proto = match codec.split(';').next().unwrap_or_default().trim() {
            "proto" => true,
            "json" => false,
            other => {
                return Err(Status::invalid_argument(format!("Connect streams use +json or +proto, not +{other}"))
                    .with_http_status(415));
            }
        };
        let (parts, body) = req.into_parts();
        check_version(&parts.headers)?;
        let body = crate::core::body::at_most(body, self.pipeline.max_message_size())?;
        if info.kind == MethodKind::Unary {
            return Err(Status::invalid_argument(format!(
                "{} is unary: send application/json or application/proto",
                info.name
            ))
            .with_http_status(415));
        }
        let compress = compression::accepts_gzip(&parts.headers, "connect-accept-encoding");
        let seal = move |flags: u8, data: &[u8]| -> Bytes {
            match compress.then(|| compression::gzip(data)) {
                // The flag is per envelope, so one that failed to compress can go out plain.
                Some(Ok(packed)) => envelope(flags | 0x01, &packed),
                _ => envelope(flags, data),
            }
        };
        let end = move |error: Option<Status>| seal(0x02, &end_of_stream(error.as_ref()));
        let started = async {
            let ctx = self.context(&parts, peer).await?;
            let input = self.input(info.kind, proto, &parts.headers, body)?;
            let output = self.pipeline.call(method, &ctx, input).await;
            Ok::<_, Status>((output, ctx.response_metadata()))
        };
        let (frames, metadata): (BoxStream<'static, Bytes>, http::HeaderMap) = match started.await {
            Err(status) | Ok((Err(status), _)) => {
                (futures_util::stream::once(async move { end(Some(status)) }).boxed(), Default::default())
            }
            Ok((Ok(output), metadata)) => {
                let encode = move |m: Box<dyn DynMessage>| -> Result<Bytes, Status> {
                    let data = if proto { m.encode_proto() } else { m.to_json()? };
                    Ok(seal(0, &data))
                };
                let stream = match output {
                    Output::Single(m) => futures_util::stream::once(async move { Ok(m) }).boxed(),
                    Output::Stream(stream) => crate::core::call::until_shutdown(stream, self.pipeline.shutdown()),
                };
                let frames = crate::core::call::with_outcome(stream.map(move |item| item.and_then(&encode)))
                    .map(move |item| item.unwrap_or_else(&end))
                    .boxed();
                (frames, metadata)
            }
        };
        let content_type = if proto { "application/connect+proto" } else { "application/connect+json" };
        let body = axum::body::Body::from_stream(frames.map(Ok::<_, std::convert::Infallible>));
        let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
        if compress {
            response.headers_mut().insert("connect-content-encoding", HeaderValue::from_static("gzip"));
        }
        response.headers_mut().extend(metadata);
        Ok(response)
    }

    /// The request messages of a Connect stream, decompressed per
    /// `Connect-Content-Encoding`. All of them together may not decompress to
    /// more than the body limit, so many small compressed envelopes cannot
    /// add up to a zip bomb either.
    fn input(&self, kind: MethodKind, proto: bool, headers: &http::HeaderMap, body: Bytes) -> Result<Requests, Status> {
        let encoding = Encoding::from_header(headers.get("connect-content-encoding"))?;
        let payloads = connect_payloads(body, encoding, proto, self.pipeline.max_message_size())?;
        Ok(match kind {
            MethodKind::ServerStreaming => Requests::Single(
                payloads
                    .into_iter()
                    .next()
                    .ok_or_else(|| Status::invalid_argument("the request message is missing"))?,
            ),
            _ => Requests::Stream(futures_util::stream::iter(payloads.into_iter().map(Ok)).boxed()),
        })
    }
}

fn check_version(headers: &http::HeaderMap) -> Result<(), Status> {
    match headers.get(CONNECT_PROTOCOL_VERSION) {
        Some(version) if version.as_bytes() != b"1" => {
            Err(Status::invalid_argument("connect-protocol-version must be 1"))
        }
        _ => Ok(()),
    }
}

/// The end-of-stream message (sent with flag 0x02): `{}` or `{"error": {…}}`,
/// details included.
fn end_of_stream(error: Option<&Status>) -> Vec<u8> {
    let body = match error {
        Some(status) => serde_json::json!({"error": crate::core::wire::connect_error(status)}),
        None => serde_json::json!({}),
    };
    body.to_string().into_bytes()
}

/// The headers only Connect clients send (a REST call to the same path has neither), as
/// `HeaderName` constants: looking up a `&str` parses it as a header name every time.
pub(crate) const CONNECT_PROTOCOL_VERSION: http::HeaderName = http::HeaderName::from_static("connect-protocol-version");
pub(crate) const CONNECT_TIMEOUT_MS: http::HeaderName = http::HeaderName::from_static("connect-timeout-ms");
const CONNECT_ACCEPT_ENCODING: http::HeaderName = http::HeaderName::from_static("connect-accept-encoding");

/// `Connect-Timeout-Ms` (at most 10 digits, as the protocol allows).
fn connect_timeout(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(CONNECT_TIMEOUT_MS)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 10)
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// Splits a Connect stream's request body into its messages, decompressing
/// flagged envelopes with `encoding`; together they may not decompress to
/// more than `limit` bytes.
pub(crate) fn connect_payloads(
    body: Bytes,
    encoding: Encoding,
    proto: bool,
    limit: usize,
) -> Result<Vec<Payload>, Status> {
    let mut budget = limit;
    let mut payloads = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(Status::invalid_argument("a Connect envelope is cut short"));
        }
        let flags = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if rest.len() - 5 < len {
            return Err(Status::invalid_argument("a Connect envelope is cut short"));
        }
        let mut data = rest.slice(5..5 + len);
        if flags & 0x01 != 0 {
            if encoding == Encoding::Identity {
                return Err(Status::invalid_argument(
                    "a compressed Connect envelope needs a Connect-Content-Encoding header",
                ));
            }
            data = encoding.decode(data, budget)?;
        }
        budget = budget.checked_sub(data.len()).ok_or_else(|| {
            Status::resource_exhausted(format!("the messages are larger than {limit} bytes")).with_http_status(413)
        })?;
        payloads.push(if proto { Payload::Proto(data) } else { Payload::Json(data) });
        rest = rest.slice(5 + len..);
    }
    Ok(payloads)
}

/// A Connect GET request's query: `connect=v1`, `encoding=json|proto`,
/// `message` (URL-encoded, or base64url with `base64=1`), and
/// `compression=gzip` for a gzip-compressed (so base64url) `message`,
/// inflated to at most `limit` bytes.
pub(crate) fn connect_get(query: &str, limit: usize) -> Result<(bool, Payload), Status> {
    use base64::engine::{Engine, general_purpose::URL_SAFE_NO_PAD};
    let params: std::collections::HashMap<String, String> =
        crate::core::query::pairs(query).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if params.get("connect").is_some_and(|v| v != "v1") {
        return Err(Status::invalid_argument("`connect` must be v1"));
    }
    let proto = match params.get("encoding").map(String::as_str) {
        Some("proto") => true,
        Some("json") => false,
        other => {
            return Err(Status::invalid_argument(format!("`encoding` must be json or proto, not {other:?}"))
                .with_http_status(415));
        }
    };
    let encoding = Encoding::from_name(params.get("compression").map(String::as_str).unwrap_or_default())?;
    let base64 = params.get("base64").is_some_and(|v| v == "1");
    if encoding != Encoding::Identity && !base64 {
        return Err(Status::invalid_argument("a compressed `message` must be base64url-encoded, with `base64=1`"));
    }
    let message = params.get("message").cloned().unwrap_or_default();
    let bytes: Bytes = if base64 {
        URL_SAFE_NO_PAD
            .decode(message.trim_end_matches('='))
            .map_err(|e| Status::invalid_argument(format!("`message` is not base64url: {e}")))?
            .into()
    } else {
        message.into_bytes().into()
    };
    let bytes = encoding.decode(bytes, limit)?;
    Ok(if proto {
        (true, Payload::Proto(bytes))
    } else {
        let bytes = if bytes.is_empty() { Bytes::from_static(b"{}") } else { bytes };
        (false, Payload::Json(bytes))
    })
}
