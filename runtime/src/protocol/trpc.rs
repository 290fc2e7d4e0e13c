//! tRPC v11's HTTP wire format at `/trpc/{service}.{method}`, so that
//! `@trpc/client` with the generated `AppRouter` type calls the services:
//! queries (`NO_SIDE_EFFECTS` methods) by GET with `?input=`, mutations by
//! POST, batches (`?batch=1`, comma-joined paths), streamed batches
//! (`trpc-accept: application/jsonl`, httpBatchStreamLink) and
//! server-streaming methods as subscriptions over SSE (httpSubscriptionLink).
//! No transformer: inputs and outputs are the proto3 JSON mapping.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::core::body::Whole;
use crate::core::call::{BoxFuture, Output, Payload, Requests};
use crate::core::pipeline::{self, Pipeline};
use crate::{Context, Identity, MethodKind, Protocol, Status};

/// The most calls one batch (`?batch=1`) may carry, by default.
pub(crate) const DEFAULT_MAX_BATCH: usize = 100;

/// A procedure's type, which decides the HTTP method it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Query,
    Mutation,
    Subscription,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Mutation => "mutation",
            Kind::Subscription => "subscription",
        }
    }

    fn method(self) -> &'static str {
        if self == Kind::Mutation { "POST" } else { "GET" }
    }
}

struct Procedure {
    method: pipeline::Method,
    kind: Kind,
}

/// Routes `/trpc/…` requests to services.
pub(crate) struct TrpcRouter {
    pipeline: Arc<Pipeline>,
    procedures: HashMap<String, Procedure, foldhash::fast::RandomState>,
    /// The most calls one batch may carry; one request cannot start more.
    max_batch: usize,
}

/// tRPC's error code name and JSON-RPC number for an HTTP status
/// (its `HTTP_CODE_TO_JSONRPC2` table): the same status REST answers with.
fn trpc_code(http: u16) -> (&'static str, i32) {
    match http {
        400 => ("BAD_REQUEST", -32600),
        401 => ("UNAUTHORIZED", -32001),
        402 => ("PAYMENT_REQUIRED", -32002),
        403 => ("FORBIDDEN", -32003),
        404 => ("NOT_FOUND", -32004),
        405 => ("METHOD_NOT_SUPPORTED", -32005),
        408 => ("TIMEOUT", -32008),
        409 => ("CONFLICT", -32009),
        412 => ("PRECONDITION_FAILED", -32012),
        413 => ("PAYLOAD_TOO_LARGE", -32013),
        415 => ("UNSUPPORTED_MEDIA_TYPE", -32015),
        422 => ("UNPROCESSABLE_CONTENT", -32022),
        428 => ("PRECONDITION_REQUIRED", -32028),
        429 => ("TOO_MANY_REQUESTS", -32029),
        499 => ("CLIENT_CLOSED_REQUEST", -32099),
        501 => ("NOT_IMPLEMENTED", -32603),
        502 => ("BAD_GATEWAY", -32603),
        503 => ("SERVICE_UNAVAILABLE", -32603),
        504 => ("GATEWAY_TIMEOUT", -32603),
        _ => ("INTERNAL_SERVER_ERROR", -32603),
    }
}

/// tRPC's default error shape, plus the gRPC code name (`grpcCode`) so
/// clients can tell apart statuses that share an HTTP status.
fn error_shape(status: &Status, path: Option<&str>) -> Value {
    let http = status.http_status();
    let (code, number) = trpc_code(http);
    let mut data = json!({"code": code, "httpStatus": http, "grpcCode": status.code().as_str()});
    if let Some(path) = path {
        data["path"] = Value::String(path.to_owned());
    }
    if !status.details().is_empty() {
        data["details"] = Value::Array(crate::core::wire::details(status));
    }
    json!({"message": status.message(), "code": number, "data": data})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, body.to_string().into_bytes())
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    crate::core::http_cache::response(status, json_headers(), body.into())
}

/// Headers with `Content-Type: application/json`, room left for a few more.
fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// An error that ends the whole request, before any procedure runs.
pub(crate) fn request_error(status: &Status) -> Response {
    let http = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(http, &json!({"error": error_shape(status, None)}))
}

/// The JSON that starts a successful call's envelope; the message follows, then `}}`.
const RESULT_PREFIX: &[u8] = br#"{"result":{"data":"#;

/// One call's outcome (its whole envelope when it succeeded) as the
/// envelope and HTTP status: a failure's error shape names the path.
fn envelope(result: Result<Vec<u8>, Status>, path: &str) -> (u16, Vec<u8>) {
    match result {
        Ok(body) => (200, body),
        Err(status) => {
            (status.http_status(), json!({"error": error_shape(&status, Some(path))}).to_string().into_bytes())
        }
    }
}

impl TrpcRouter {
    pub(crate) fn new(pipeline: Arc<Pipeline>, max_batch: usize) -> TrpcRouter {
        let mut procedures = HashMap::default();
        for method in pipeline.served(Protocol::Trpc) {
            let (service, m) = (method.service_info(), method.info());
            let kind = match m.kind {
                MethodKind::Unary if m.reads => Kind::Query,
                MethodKind::Unary => Kind::Mutation,
                MethodKind::ServerStreaming => Kind::Subscription,
                MethodKind::ClientStreaming | MethodKind::BidiStreaming => continue,
            };
            let short = service.name.rsplit('.').next().unwrap_or(service.name);
            let path = format!("{}.{}", lower_camel(short), lower_camel(m.name));
            procedures.insert(path, Procedure { method, kind });
        }
        TrpcRouter { pipeline, procedures, max_batch }
    }

    /// A request under `/trpc/`.
    pub(crate) async fn handle(&self, req: Whole, peer: Option<SocketAddr>) -> Response {
        if req.method() == Method::HEAD {
            return StatusCode::NO_CONTENT.into_response();
        }
        let mut response = match self.respond(req, peer).await {
            Ok(response) => response,
            Err(status) => request_error(&status),
        };
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("trpc-accept, accept"));
        response
    }

    async fn respond(&self, req: Whole, peer: Option<SocketAddr>) -> Result<Response, Status> {
        let (mut parts, body) = req.into_parts();
        let raw_path = parts.uri.path().strip_prefix("/trpc/").unwrap_or_default();
        let path = percent_encoding::percent_decode_str(raw_path)
            .decode_utf8()
            .map_err(|_| Status::invalid_argument(format!("the path {raw_path} is not valid UTF-8")))?;
        let params = Params::parse(parts.uri.query().unwrap_or_default());
        let batch = params.batch.as_deref() == Some("1");
        let calls = if batch { path.split(',').count() } else { 1 };
        if calls > self.max_batch {
            return Err(Status::resource_exhausted(format!(
                "a batch of {calls} calls is over this server's limit of {}; split it",
                self.max_batch
            ))
            .with_http_status(413));
        }
        let streamed = parts
            .headers
            .get(const { HeaderName::from_static("trpc-accept") })
            .is_some_and(|v| v == "application/jsonl")
            || parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| {
                // Shorter than the media type, as `*/*` is, it cannot name it.
                a.len() >= 17 && a.split(',').any(|t| t.trim() == "application/jsonl")
            });
        if streamed && !batch {
            return Err(Status::invalid_argument("streaming requests must be batched (a batch of one will do)"));
        }
        if parts.method != Method::GET && parts.method != Method::POST {
            let status =
                Status::unimplemented(format!("tRPC takes GET and POST, not {}", parts.method)).with_http_status(405);
            let mut response = request_error(&status);
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return Ok(response);
        }

        if parts.method == Method::POST {
            let mime = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let mime = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if mime != "application/json" {
                let what = if mime.is_empty() { "no content-type".to_owned() } else { format!("content-type {mime}") };
                return Err(Status::invalid_argument(format!("tRPC POST bodies are application/json, not {what}"))
                    .with_http_status(415));
            }
        }

        // The headers move into the calls' metadata; nothing below reads them.
        let headers = std::mem::take(&mut parts.headers);
        let headers = Arc::new(call_headers(headers, params.connection_params.as_deref())?);
        let single = (!batch).then(|| self.procedures.get(&*path));
        let subscription = single.flatten().is_some_and(|p| p.kind == Kind::Subscription);
        let identity = match self.pipeline.authenticate(&headers).await {
            Ok(identity) => identity,
            // httpSubscriptionLink reads errors only from the event stream.
            Err(status) if subscription => {
                let failed = futures_util::stream::once(async move { Err(status) }).boxed();
                return Ok(subscription_events(failed, path.into_owned(), None));
            }
            Err(status) => return Err(status),
        };
        let caller = Caller { headers: Arc::clone(&headers), peer, identity };

        let text = if parts.method == Method::GET {
            params.input.unwrap_or_default()
        } else {
            let text =
                std::str::from_utf8(&body).map_err(|_| Status::invalid_argument("the body is not UTF-8 JSON"))?;
            Cow::Borrowed(text)
        };
        let check = |path: &str, procedure: Option<&Procedure>| -> Result<(), Status> {
            let Some(procedure) = procedure else {
                return Err(Status::not_found(format!("no procedure at path \"{path}\"")));
            };
            if parts.method.as_str() != procedure.kind.method() {
                return Err(Status::unimplemented(format!(
                    "{} is a {}: call it with {}, not {}",
                    path,
                    procedure.kind.name(),
                    procedure.kind.method(),
                    parts.method
                ))
                .with_http_status(405));
            }
            if batch && procedure.kind == Kind::Subscription {
                return Err(Status::invalid_argument(format!(
                    "{path} is a subscription: subscriptions cannot be batched"
                )));
            }
            Ok(())
        };

        if let Some(procedure) = single {
            let input = single_input(&text);
            if let Err(status) = check(&path, procedure) {
                let allow = procedure.filter(|_| status.http_status() == 405).map(|p| p.kind.method());
                let (http, body) = envelope(Err(status), &path);
                let mut response =
                    json_bytes_response(StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST), body);
                if let Some(allow) = allow {
                    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                }
                return Ok(response);
            }
            let Some(procedure) = procedure else { return Err(Status::internal("checked above")) };
            if procedure.kind == Kind::Subscription {
                let resume = params.last_event_id.as_deref();
                return Ok(self.subscription(procedure, &path, input, caller, resume).await);
            }
            let (result, metadata) = self.unary(procedure, input, &caller).await;
            let (ok, retry_after) = match &result {
                Ok(_) => (true, None),
                Err(status) => (false, crate::core::wire::retry_after(status)),
            };
            let (http, body) = envelope(result, &path);
            if parts.method == Method::GET && ok {
                // A query by GET: cacheable, with a validator of the bytes sent.
                let mut out = json_headers();
                out.extend(metadata);
                let hint = procedure.method.info().cache;
                return Ok(crate::core::http_cache::respond(&headers, hint, out, body.into()));
            }
            let mut response = json_bytes_response(StatusCode::from_u16(http).unwrap_or(StatusCode::OK), body);
            response.headers_mut().extend(metadata);
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return Ok(response);
        }

        // A batch: every call runs concurrently.
        let paths: Vec<&str> = path.split(',').collect();
        let inputs = batch_inputs(&text, paths.len())?;
        let procedures: Vec<Option<&Procedure>> = paths.iter().map(|p| self.procedures.get(*p)).collect();
        let mut found = procedures.iter().flatten();
        let first = found.next().map(|p| p.kind);
        if found.any(|p| Some(p.kind) != first) {
            let kinds: std::collections::BTreeSet<&str> = procedures.iter().flatten().map(|p| p.kind.name()).collect();
            return Err(Status::invalid_argument(format!(
                "one batch cannot mix procedure types ({})",
                kinds.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let calls: Vec<BoxFuture<Result<Vec<u8>, Status>>> = paths
            .iter()
            .zip(procedures)
            .zip(inputs)
            .map(|((path, procedure), input)| match (check(path, procedure), procedure) {
                (Ok(()), Some(procedure)) => {
                    let call = self.unary(procedure, input, &caller);
                    Box::pin(async move { call.await.0 }) as BoxFuture<_>
                }
                (Err(status), _) => Box::pin(std::future::ready(Err(status))),
                (Ok(()), None) => Box::pin(std::future::ready(Err(Status::internal("checked above")))),
            })
            .collect();
        if streamed {
            return Ok(jsonl(paths.iter().map(|p| (*p).to_owned()).collect(), calls));
        }
        let results = futures_util::future::join_all(calls).await;
        let mut statuses = std::collections::BTreeSet::new();
        let mut body = b"[".to_vec();
        for (i, (result, path)) in results.into_iter().zip(&paths).enumerate() {
            let (http, envelope) = envelope(result, path);
            statuses.insert(http);
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&envelope);
        }
        body.push(b']');
        // One status when every call agrees; 207 Multi-Status when they differ.
        let http = match (statuses.len(), statuses.first()) {
            (1, Some(&one)) => StatusCode::from_u16(one).unwrap_or(StatusCode::OK),
            _ => StatusCode::MULTI_STATUS,
        };
        Ok(json_bytes_response(http, body))
    }

    /// Starts a query or mutation: its result's envelope and response metadata.
    fn unary(
        &self,
        procedure: &Procedure,
        input: Option<Bytes>,
        caller: &Caller,
    ) -> impl Future<Output = (Result<Vec<u8>, Status>, HeaderMap)> + Send + 'static {
        let ctx = caller.context(&self.pipeline, Arc::clone(&caller.headers));
        let (pipeline, method) = (Arc::clone(&self.pipeline), procedure.method.clone());
        async move {
            let result = match pipeline.call(&method, &ctx, payload(input)).await {
                Ok(Output::Single(message)) => {
                    let mut body = Vec::with_capacity(512);
                    body.extend_from_slice(RESULT_PREFIX);
                    message.write_json(&mut body).map(|()| {
                        body.extend_from_slice(b"}}");
                        body
                    })
                }
                Ok(Output::Stream(_)) => Err(Status::internal("a unary method returned a stream")),
                Err(status) => Err(status),
            };
            (result, ctx.response_metadata())
        }
    }

    /// A subscription as httpSubscriptionLink reads it: `connected`, one
    /// data event per message, then `return`, or `serialized-error` with
    /// the error shape. Errors before the first message travel the same way.
    /// A resumable stream's events carry ids (tRPC's `tracked` events); a
    /// client resumes after one with `Last-Event-ID`, `?lastEventId=` or
    /// the input's `lastEventId`, tRPC's three ways, in that order.
    async fn subscription(
        &self,
        procedure: &Procedure,
        path: &str,
        input: Option<Bytes>,
        caller: Caller,
        resume: Option<&str>,
    ) -> Response {
        let headers = &caller.headers;
        let cursor = procedure.method.info().cursor;
        let failed = |status: Status| {
            subscription_events(futures_util::stream::once(async move { Err(status) }).boxed(), path.to_owned(), None)
        };
        let (input, in_input) = match without_last_event_id(input) {
            Ok(split) => split,
            Err(status) => return failed(status),
        };
        let headers = match resume.or(in_input.as_deref()) {
            Some(last) if !headers.contains_key("last-event-id") => {
                let mut resumed = HeaderMap::clone(headers);
                if let Err(status) = crate::core::stream::resume_after(&mut resumed, last) {
                    return failed(status);
                }
                Arc::new(resumed)
            }
            _ => Arc::clone(headers),
        };
        let ctx = caller.context(&self.pipeline, headers);
        let stream: BoxStream<'static, Result<Box<dyn crate::DynMessage>, Status>> =
            match self.pipeline.call(&procedure.method, &ctx, payload(input)).await {
                Ok(Output::Stream(stream)) => crate::core::call::until_shutdown(stream, self.pipeline.shutdown()),
                Ok(Output::Single(_)) => futures_util::stream::once(async {
                    Err(Status::internal("a streaming method returned one message"))
                })
                .boxed(),
                Err(status) => futures_util::stream::once(async move { Err(status) }).boxed(),
            };
        let mut response = subscription_events(stream, path.to_owned(), cursor);
        ctx.add_response_metadata(response.headers_mut());
        response
    }
}

/// A subscription's input without the `lastEventId` httpSubscriptionLink
/// adds to it when it reconnects, and that id.
fn without_last_event_id(input: Option<Bytes>) -> Result<(Option<Bytes>, Option<String>), Status> {
    const KEY: &[u8] = b"\"lastEventId\"";
    let Some(bytes) = input else { return Ok((None, None)) };
    if !bytes.windows(KEY.len()).any(|w| w == KEY) {
        return Ok((Some(bytes), None));
    }
    // Input that is not an object goes on as it is, for the message's reader to refuse.
    let Ok(Value::Object(mut object)) = crate::core::json::value_from_slice(&bytes) else {
        return Ok((Some(bytes), None));
    };
    let last = match object.remove("lastEventId") {
        None | Some(Value::Null) => None,
        Some(Value::String(last)) => Some(last),
        Some(_) => return Err(Status::invalid_argument("lastEventId must be a string, an event id the stream sent")),
    };
    let rest = serde_json::to_vec(&object).map_err(|e| Status::internal(e.to_string()))?;
    Ok((Some(Bytes::from(rest)), last))
}

/// Who makes a request's calls: its metadata, address and identity.
struct Caller {
    headers: Arc<HeaderMap>,
    peer: Option<SocketAddr>,
    identity: Option<Identity>,
}

impl Caller {
    /// A call's context, with `headers` as its metadata.
    fn context(&self, pipeline: &Pipeline, headers: Arc<HeaderMap>) -> Context {
        pipeline.context(Protocol::Trpc, headers, self.peer, self.identity.clone(), None)
    }
}

/// The SSE body of a subscription: `connected`, one data event per message,
/// then `return`, or `serialized-error` with the error shape.
fn subscription_events(
    stream: BoxStream<'static, Result<Box<dyn crate::DynMessage>, Status>>,
    path: String,
    cursor: Option<&'static str>,
) -> Response {
    let error = move |status: &Status| {
        Event::default().event("serialized-error").data(error_shape(status, Some(&path)).to_string())
    };
    let connected = futures_util::stream::once(async { Event::default().event("connected").data("{}") });
    let events = crate::core::call::with_outcome(stream.map(move |item| {
        item.and_then(|m| {
            let json = m.to_json()?;
            Ok((crate::core::stream::event_id(&*m, cursor, &json), json))
        })
    }))
    .map(move |item| match item {
        Ok((Some(id), json)) => Event::default().id(id).data(String::from_utf8_lossy(&json)),
        Ok((None, json)) => Event::default().data(String::from_utf8_lossy(&json)),
        Err(Some(status)) => error(&status),
        Err(None) => Event::default().event("return").data(""),
    });
    let body = connected.chain(events).map(Ok::<_, std::convert::Infallible>);
    let mut response = Sse::new(body).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// httpBatchStreamLink's JSON Lines: a head line with a placeholder per
/// call (`[[0], [null, 0, i]]`: a promise, chunk `i`), then one line per call
/// as it finishes, in finishing order (`[i, 0, [[envelope]]]`: fulfilled).
fn jsonl(paths: Vec<String>, calls: Vec<BoxFuture<Result<Vec<u8>, Status>>>) -> Response {
    let pending: futures_util::stream::FuturesUnordered<_> =
        calls.into_iter().enumerate().map(|(i, call)| async move { (i, call.await) }).collect();
    let head: serde_json::Map<String, Value> =
        (0..paths.len()).map(|i| (i.to_string(), json!([[0], [null, 0, i]]))).collect();
    let head = Bytes::from(format!("{}\n", Value::Object(head)));
    let body = futures_util::stream::once(async move { head })
        .chain(pending.map(move |(i, result)| {
            let (_, envelope) = envelope(result, paths.get(i).map(String::as_str).unwrap_or_default());
            let mut line = format!("[{i},0,[[").into_bytes();
            line.extend_from_slice(&envelope);
            line.extend_from_slice(b"]]]\n");
            Bytes::from(line)
        }))
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = axum::body::Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The call's metadata: its headers, plus `?connectionParams=` (what
/// httpSubscriptionLink sends, as EventSource cannot set headers) by the
/// credentials rule of `core::auth`.
fn call_headers(mut headers: HeaderMap, connection_params: Option<&str>) -> Result<HeaderMap, Status> {
    let Some(text) = connection_params else { return Ok(headers) };
    let params: serde_json::Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| Status::invalid_argument(format!("connectionParams is not a JSON object: {e}")))?;
    crate::core::auth::fill_in(&mut headers, &params);
    Ok(headers)
}

/// The query parameters tRPC reads; of a repeated one, the last.
struct Params<'a> {
    batch: Option<Cow<'a, str>>,
    input: Option<Cow<'a, str>>,
    connection_params: Option<Cow<'a, str>>,
    /// A subscription's resume point (`lastEventId`, or `Last-Event-Id` as tRPC also reads).
    last_event_id: Option<Cow<'a, str>>,
}

impl<'a> Params<'a> {
    fn parse(query: &'a str) -> Params<'a> {
        let mut params = Params { batch: None, input: None, connection_params: None, last_event_id: None };
        for (key, value) in crate::core::query::pairs(query) {
            match &*key {
                "batch" => params.batch = Some(value),
                "input" => params.input = Some(value),
                "connectionParams" => params.connection_params = Some(value),
                "lastEventId" | "Last-Event-Id" => params.last_event_id = Some(value),
                _ => {}
            }
        }
        params
    }
}

/// The call's request: the input as JSON, `{}` when there is none.
fn payload(input: Option<Bytes>) -> Requests {
    Requests::Single(Payload::Json(input.unwrap_or_else(|| Bytes::from_static(b"{}"))))
}

/// One call's input as JSON, `None` for none (or `null`): passed on as the
/// client wrote it, for the message's own reader to check (one parse,
/// duplicate keys and number forms as everywhere).
fn single_input(text: &str) -> Option<Bytes> {
    let trimmed = text.trim();
    (!trimmed.is_empty() && trimmed != "null").then(|| Bytes::copy_from_slice(trimmed.as_bytes()))
}

/// Each call's input of a batch, whose input is `{"0": …, "1": …}` keyed by
/// call index: `None` for none (or `null`).
fn batch_inputs(text: &str, count: usize) -> Result<Vec<Option<Bytes>>, Status> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(vec![None; count]);
    }
    let value = crate::core::json::value_from_slice(text.as_bytes())
        .map_err(|e| Status::invalid_argument(format!("the input is not valid JSON: {e}")))?;
    let Value::Object(mut by_index) = value else {
        return Err(Status::invalid_argument("a batch's input must be an object keyed by call index"));
    };
    Ok((0..count)
        .map(|i| match by_index.remove(&i.to_string()) {
            None | Some(Value::Null) => None,
            Some(input) => Some(Bytes::from(serde_json::to_vec(&input).unwrap_or_default())),
        })
        .collect())
}

/// `GetBook` → `getBook`, `Bookstore` → `bookstore`: heck's rule, as the
/// generator names the procedures in `AppRouter`.
fn lower_camel(name: &str) -> String {
    heck::ToLowerCamelCase::to_lower_camel_case(name)
}
