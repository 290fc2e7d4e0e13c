//! REST: `google.api.http` bindings transcoded to method calls, and the
//! Connect-style unary JSON endpoint at every method's RPC path.
//!
//! A request becomes one proto3-JSON object, built from the body, then the
//! query string, then the path variables (path values win), and goes through
//! the same decoding (and `REQUIRED`/`OUTPUT_ONLY` rules) as every protocol.
//! Field types for query and path values come from the services' embedded
//! descriptors, read once at start-up.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Method, StatusCode, header};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::auth::Authenticator;
use crate::compression::{self, Encoding};
use crate::dispatch::{Call, Input, Output, Payload};
use crate::service::{MethodKind, ServiceDef};
use crate::{Code, Context, Identity, Protocol, Status};

/// One `google.api.http` binding, parsed by apigen at generation time.
#[derive(Debug, Clone, Copy)]
pub struct HttpRule {
    /// `GET`, `POST`, … or a custom verb such as `HEAD`.
    pub method: &'static str,
    /// The template as written, `/v1/{name=shelves/*}`.
    pub template: &'static str,
    pub segments: &'static [Segment],
    /// The custom verb after `:`, `move` in `/v1/{name=…}:move`.
    pub verb: Option<&'static str>,
    /// `""` (no body), `"*"` (the whole request) or a field path.
    pub body: &'static str,
    /// `""` (the whole response) or the field path sent as the body.
    pub response_body: &'static str,
    /// The HTTP status of a success.
    pub status: u16,
}

/// A segment of a path template.
#[derive(Debug, Clone, Copy)]
pub enum Segment {
    Literal(&'static str),
    /// `*`: one segment.
    Any,
    /// `**`: the rest of the path.
    Rest,
    /// `{field.path=pattern}`; the pattern has no variables.
    Var {
        /// The field path, in JSON names.
        field: &'static str,
        pattern: &'static [Segment],
        /// The text of the field's default value (`0`, `false`, the zero
        /// enum value), which the JSON mapping leaves out; empty for strings.
        default: &'static str,
    },
}

/// The error body of REST (and its HTTP status from the code).
pub fn error_response(status: &Status) -> Response {
    let http = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (http, axum::Json(error_body(status))).into_response();
    if status.code() == Code::Unauthenticated {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `{"code": 5, "message": "…", "details": [{"@type": "…", "value": "…"}]}`.
pub fn error_body(status: &Status) -> Value {
    use pbjson::private::base64::engine::{Engine, general_purpose::STANDARD};
    let details: Vec<Value> = status
        .details()
        .iter()
        .map(|d| serde_json::json!({"@type": d.type_url, "value": STANDARD.encode(&d.value)}))
        .collect();
    serde_json::json!({"code": status.code().as_i32(), "message": status.message(), "details": details})
}

/// Connect's error body: `{"code": "not_found", "message": "…"}`.
fn connect_error(status: &Status) -> Response {
    let http = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::json!({"code": status.code().as_str(), "message": status.message()});
    if let Value::Array(details) = &error_body(status)["details"]
        && !details.is_empty()
    {
        // Connect's details: {"type": "google.rpc.X", "value": base64}.
        let details: Vec<Value> = details
            .iter()
            .map(|d| {
                let ty = d["@type"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
                serde_json::json!({"type": ty, "value": d["value"]})
            })
            .collect();
        body["details"] = Value::Array(details);
    }
    (http, axum::Json(body)).into_response()
}

/// The context of an HTTP call: its headers and caller, and as deadline the
/// earlier of what the client asked for and the server's default.
pub(crate) fn call_context(
    protocol: Protocol,
    headers: &http::HeaderMap,
    identity: Option<Identity>,
    asked: Option<std::time::Duration>,
    default: Option<std::time::Duration>,
) -> Context {
    let ctx = Context::new(protocol).with_metadata(headers.clone()).with_identity(identity);
    match [asked, default].into_iter().flatten().min() {
        Some(timeout) => ctx.with_timeout(timeout),
        None => ctx,
    }
}

struct Route {
    service: ServiceDef,
    method: usize,
    rule: &'static HttpRule,
    input: Option<MessageDescriptor>,
}

/// Routes REST requests and Connect unary JSON calls to services.
pub(crate) struct RestRouter {
    routes: Vec<Route>,
    rpc: std::collections::HashMap<String, (ServiceDef, usize)>,
    /// Request types of server-streaming methods, by RPC path, for `/sse/…` query typing.
    stream_inputs: std::collections::HashMap<String, MessageDescriptor>,
    authenticator: Option<Arc<dyn Authenticator>>,
    max_body: usize,
    /// The server's default deadline for a call.
    timeout: Option<std::time::Duration>,
    /// Ends Connect streams when the server shuts down.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Builds one descriptor pool from every service's embedded descriptors.
fn pool(services: &[ServiceDef]) -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    let mut seen: Vec<*const u8> = Vec::new();
    for s in services {
        let fds = s.info().file_descriptor_set;
        if seen.contains(&fds.as_ptr()) {
            continue;
        }
        seen.push(fds.as_ptr());
        if let Err(e) = pool.decode_file_descriptor_set(fds) {
            tracing::warn!("descriptors of {} are unusable for REST query typing: {e}", s.info().name);
        }
    }
    pool
}

/// How specific a template is: more literal segments win, `**` loses.
pub(crate) fn specificity(rule: &HttpRule) -> (usize, usize) {
    fn count(segments: &[Segment], literals: &mut usize, deep: &mut usize) {
        for s in segments {
            match s {
                Segment::Literal(_) => *literals += 1,
                Segment::Rest => *deep += 1,
                Segment::Any => {}
                Segment::Var { pattern, .. } => count(pattern, literals, deep),
            }
        }
    }
    let (mut literals, mut deep) = (0, 0);
    count(rule.segments, &mut literals, &mut deep);
    (literals + usize::from(rule.verb.is_some()), usize::MAX - deep)
}

impl RestRouter {
    pub(crate) fn new(
        services: &[ServiceDef],
        authenticator: Option<Arc<dyn Authenticator>>,
        max_body: usize,
        timeout: Option<std::time::Duration>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> RestRouter {
        let pool = pool(services);
        let mut routes = Vec::new();
        let mut rpc = std::collections::HashMap::new();
        let mut stream_inputs = std::collections::HashMap::new();
        for service in services {
            for (i, m) in service.info().methods.iter().enumerate() {
                if m.serves(Protocol::Connect) {
                    rpc.insert(format!("/{}/{}", service.info().name, m.name), (service.clone(), i));
                }
                if m.kind == MethodKind::ServerStreaming
                    && m.serves(Protocol::Sse)
                    && let Some(input) = pool.get_message_by_name(m.input)
                {
                    stream_inputs.insert(format!("/{}/{}", service.info().name, m.name), input);
                }
                if !m.serves(Protocol::Rest) {
                    continue;
                }
                for rule in m.http {
                    routes.push(Route {
                        service: service.clone(),
                        method: i,
                        rule,
                        input: pool.get_message_by_name(m.input),
                    });
                }
            }
        }
        routes.sort_by_key(|r| std::cmp::Reverse(specificity(r.rule)));
        RestRouter { routes, rpc, stream_inputs, authenticator, max_body, timeout, shutdown }
    }

    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<Identity>, Status> {
        match &self.authenticator {
            Some(auth) => auth.authenticate(headers).await.map(Some),
            None => Ok(None),
        }
    }

    /// Whether a request at this path is an RPC-path call (Connect unary JSON).
    pub(crate) fn is_rpc_path(&self, path: &str) -> bool {
        self.rpc.contains_key(path)
    }

    /// A REST request; the request back when no binding has its path.
    pub(crate) async fn route(&self, req: axum::extract::Request) -> Result<Response, axum::extract::Request> {
        let path = req.uri().path().to_owned();
        // Without a `:verb` in its last segment no verb rule matches the path, so the first (most
        // specific) rule of the request's method that fits is the answer: the common case, found
        // without matching every rule.
        if !path.rsplit('/').next().unwrap_or_default().contains(':') {
            let method = req.method().as_str();
            let first = self
                .routes
                .iter()
                .filter(|r| r.rule.method == method)
                .find_map(|r| match_path(r.rule, &path).map(|vars| (r, vars)));
            if let Some((route, vars)) = first {
                return Ok(self.call(route, &vars, req).await.unwrap_or_else(|status| error_response(&status)));
            }
        }
        let matching: Vec<(&Route, Vec<(&'static str, String)>)> =
            self.routes.iter().filter_map(|r| match_path(r.rule, &path).map(|vars| (r, vars))).collect();
        if matching.is_empty() {
            return Err(req);
        }
        // `…/books/7:move` is MoveBook's path, not GetBook's with a name ending in `:move`.
        let matching: Vec<_> = if matching.iter().any(|(r, _)| r.rule.verb.is_some()) {
            matching.into_iter().filter(|(r, _)| r.rule.verb.is_some()).collect()
        } else {
            matching
        };
        let method = req.method().as_str().to_owned();
        let Some((route, vars)) = matching.iter().find(|(r, _)| r.rule.method == method) else {
            let allow: BTreeSet<&str> = matching.iter().map(|(r, _)| r.rule.method).collect();
            let status = Status::new(Code::Unimplemented, format!("{path} does not accept {method}"));
            let mut response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(error_body(&status))).into_response();
            if let Ok(v) = HeaderValue::from_str(&allow.into_iter().collect::<Vec<_>>().join(", ")) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return Ok(response);
        };
        Ok(match self.call(route, vars, req).await {
            Ok(response) => response,
            Err(status) => error_response(&status),
        })
    }

    async fn call(
        &self,
        route: &Route,
        vars: &[(&'static str, String)],
        req: axum::extract::Request,
    ) -> Result<Response, Status> {
        let info = &route.service.info().methods[route.method];
        let streaming = info.kind == MethodKind::ServerStreaming;
        let identity = match self.sse_preamble(req.headers(), req.uri().query(), streaming).await? {
            Ok(identity) => identity,
            Err(no_content) => return Ok(no_content),
        };
        let wants_events = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"));
        match info.kind {
            MethodKind::Unary => {}
            // Server streaming over REST is Server-Sent Events on the binding's path.
            MethodKind::ServerStreaming if wants_events => {}
            MethodKind::ServerStreaming => {
                return Err(Status::invalid_argument(format!(
                    "{} streams its responses: send `Accept: text/event-stream`",
                    info.name
                ))
                .with_http_status(406));
            }
            _ => {
                return Err(Status::unimplemented(format!(
                    "{} streams its requests; call it over gRPC, Connect or WebSocket",
                    info.name
                )));
            }
        }
        let (parts, body) = req.into_parts();
        let mut object = Map::new();
        let rule = route.rule;
        if !rule.body.is_empty() {
            let value = read_json(&parts.headers, body, self.max_body).await?;
            if rule.body == "*" {
                match value {
                    Value::Object(map) => object = map,
                    Value::Null => {}
                    _ => return Err(Status::invalid_argument("the body must be a JSON object")),
                }
            } else {
                set_path(&mut object, route.input.as_ref(), rule.body, value)?;
            }
        }
        path_and_query(&mut object, rule, route.input.as_ref(), vars, parts.uri.query().unwrap_or_default())?;
        let mut headers = parts.headers;
        if streaming {
            cursor_from_query(&mut headers, parts.uri.query());
        }
        let ctx = self.context(Protocol::Rest, &headers, identity, None).with_http_binding(rule.template);
        let payload = Payload::Json(Bytes::from(serde_json::to_vec(&Value::Object(object)).unwrap_or_default()));
        let call = route.service.call(route.method, Call { ctx: ctx.clone(), input: Input::Single(payload) });
        let output = crate::grpc::within(ctx.deadline(), call).await?;
        let message = match output {
            Output::Single(message) => message,
            Output::Stream(stream) => return Ok(crate::sse::events(stream, self.shutdown.clone(), &ctx)),
        };
        let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::OK);
        let mut response = if status == StatusCode::NO_CONTENT {
            status.into_response()
        } else if rule.response_body.is_empty() {
            // The message's own JSON, fields in declaration order, with no `Value` in between.
            (status, [(header::CONTENT_TYPE, "application/json")], message.to_json()?).into_response()
        } else {
            let mut json = message.to_json_value()?;
            for part in rule.response_body.split('.').filter(|p| !p.is_empty()) {
                let key = route_output_key(&json, part);
                json = json.get(&key).cloned().unwrap_or(Value::Null);
            }
            (status, axum::Json(json)).into_response()
        };
        response.headers_mut().extend(ctx.response_metadata());
        Ok(response)
    }

    /// The context of an HTTP call: its headers and caller, and as deadline
    /// the earlier of what the client asked for and the server's default.
    fn context(
        &self,
        protocol: Protocol,
        headers: &http::HeaderMap,
        identity: Option<Identity>,
        asked: Option<std::time::Duration>,
    ) -> Context {
        call_context(protocol, headers, identity, asked, self.timeout)
    }

    /// Authentication (with `?access_token=` for EventSource, which cannot
    /// set headers) and the answer to a reconnect after the end event (204).
    async fn sse_preamble(
        &self,
        headers: &http::HeaderMap,
        query: Option<&str>,
        streaming: bool,
    ) -> Result<Result<Option<Identity>, Response>, Status> {
        let param = |name: &str| {
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let mut auth_headers = headers.clone();
        if streaming
            && !auth_headers.contains_key(header::AUTHORIZATION)
            && let Some(v) = param("access_token").and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
        {
            auth_headers.insert(header::AUTHORIZATION, v);
        }
        let identity = self.authenticate(&auth_headers).await?;
        if streaming && last_event(headers, query).as_deref() == Some(crate::sse::END_ID) {
            return Ok(Err(StatusCode::NO_CONTENT.into_response()));
        }
        Ok(Ok(identity))
    }

    /// `GET /sse/{package}.{Service}/{Method}?<request as query>`: a
    /// server-streaming method as Server-Sent Events.
    pub(crate) async fn sse(&self, req: axum::extract::Request) -> Response {
        let path = req.uri().path().trim_start_matches("/sse").to_owned();
        let (Some((service, method)), Some(input)) = (self.rpc.get(&path), self.stream_inputs.get(&path)) else {
            return error_response(&Status::not_found(format!("no server-streaming method at {path}")));
        };
        let query_string = req.uri().query().unwrap_or_default().to_owned();
        let mut headers = req.headers().clone();
        cursor_from_query(&mut headers, Some(&query_string));
        let result = async {
            let identity = match self.sse_preamble(&headers, Some(&query_string), true).await? {
                Ok(identity) => identity,
                Err(no_content) => return Ok(no_content),
            };
            // Browsers send the request as the query; other clients may POST it as JSON.
            let mut object = Map::new();
            if req.method() == Method::POST {
                match read_json(&headers, req.into_body(), self.max_body).await? {
                    Value::Object(map) => object = map,
                    Value::Null => {}
                    _ => return Err(Status::invalid_argument("the body must be a JSON object")),
                }
            } else {
                query(&mut object, Some(input), &query_string, "", &[])?;
            }
            let ctx = self.context(Protocol::Sse, &headers, identity, None);
            let payload = Payload::Json(Bytes::from(serde_json::to_vec(&Value::Object(object)).unwrap_or_default()));
            let call = service.call(*method, Call { ctx: ctx.clone(), input: Input::Single(payload) });
            match crate::grpc::within(ctx.deadline(), call).await? {
                Output::Stream(stream) => Ok(crate::sse::events(stream, self.shutdown.clone(), &ctx)),
                Output::Single(_) => Err(Status::internal("a server-streaming method returned one message")),
            }
        }
        .await;
        result.unwrap_or_else(|status| error_response(&status))
    }

    /// A Connect unary call at `/{package}.{Service}/{Method}`: POST with
    /// `application/json` or `application/proto`, or GET with
    /// `?connect=v1&encoding=…&message=…` for `NO_SIDE_EFFECTS` methods.
    ///
    /// Bodies may be gzip-compressed (`Content-Encoding`, or `compression=gzip`
    /// for GET). A successful response is gzip-compressed whenever the
    /// request's `Accept-Encoding` lists gzip, whatever its size: predictable
    /// for clients, at the price of ~20 bytes on tiny messages. Error bodies
    /// stay plain JSON.
    pub(crate) async fn rpc(&self, req: axum::extract::Request) -> Response {
        let path = req.uri().path().to_owned();
        let Some((service, method)) = self.rpc.get(&path) else {
            return connect_error(&Status::not_found(format!("no method at {path}")));
        };
        let info = &service.info().methods[*method];
        let get = req.method() == Method::GET;
        if !(req.method() == Method::POST || get && info.no_side_effects) {
            let allow = if info.no_side_effects { "GET, POST" } else { "POST" };
            let mut response = connect_error(&Status::unimplemented(format!("{path} accepts {allow}")));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        let streaming = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().to_ascii_lowercase().starts_with(b"application/connect+"));
        let result = async {
            let headers = req.headers().clone();
            if let Some(version) = headers.get("connect-protocol-version")
                && version.as_bytes() != b"1"
            {
                return Err(Status::invalid_argument("connect-protocol-version must be 1"));
            }
            // A stream's refusal, like its other errors, goes in its end-of-stream message.
            let identity = self.authenticate(&headers).await;
            let content_type =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
            if let Some(codec) = content_type.strip_prefix("application/connect+") {
                let body = axum::body::to_bytes(req.into_body(), self.max_body).await.map_err(|_| {
                    Status::resource_exhausted(format!("the body is larger than {} bytes", self.max_body))
                        .with_http_status(413)
                })?;
                return self.connect_stream(service, *method, codec, headers, identity, body).await;
            }
            let identity = identity?;
            if info.kind != MethodKind::Unary {
                return Err(Status::invalid_argument(format!(
                    "{} is a streaming method: send application/connect+json or application/connect+proto",
                    info.name
                ))
                .with_http_status(415));
            }
            let (proto, payload) = if get {
                connect_get(req.uri().query().unwrap_or_default(), self.max_body)?
            } else {
                let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
                let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
                let bytes = axum::body::to_bytes(req.into_body(), self.max_body).await.map_err(|_| {
                    Status::resource_exhausted(format!("the body is larger than {} bytes", self.max_body))
                        .with_http_status(413)
                })?;
                let bytes =
                    Encoding::from_header(headers.get(header::CONTENT_ENCODING))?.decode(bytes, self.max_body)?;
                match mime.as_str() {
                    "application/proto" => (true, Payload::Proto(bytes)),
                    "application/json" | "" => {
                        let bytes =
                            if bytes.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { bytes };
                        (false, Payload::Json(bytes))
                    }
                    other => {
                        return Err(Status::invalid_argument(format!(
                            "Connect unary calls use application/json or application/proto, not {other}"
                        ))
                        .with_http_status(415));
                    }
                }
            };
            let ctx = self.context(Protocol::Connect, &headers, identity, connect_timeout(&headers));
            let call = service.call(*method, Call { ctx: ctx.clone(), input: Input::Single(payload) });
            let Output::Single(m) = crate::grpc::within(ctx.deadline(), call).await? else {
                return Err(Status::internal("a unary method returned a stream"));
            };
            let (content_type, body) =
                if proto { ("application/proto", m.encode_proto()) } else { ("application/json", m.to_json()?) };
            let mut response = if compression::accepts_gzip(&headers, header::ACCEPT_ENCODING) {
                let headers = [(header::CONTENT_TYPE, content_type), (header::CONTENT_ENCODING, "gzip")];
                (headers, compression::gzip(&body)?).into_response()
            } else {
                ([(header::CONTENT_TYPE, content_type)], body).into_response()
            };
            // GET responses are cacheable, and their encoding depends on this header.
            response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            response.headers_mut().extend(ctx.response_metadata());
            Ok(response)
        }
        .await;
        let mut response = result.unwrap_or_else(|status| {
            let mut response = connect_error(&status);
            if status.http_status() == 415 {
                response
                    .headers_mut()
                    .insert("accept-post", HeaderValue::from_static("application/json, application/proto"));
            }
            response
        });
        // Every Connect response says what the server decompresses, as connect-go's do: how a
        // client refused for its compression (UNIMPLEMENTED) learns what to send instead.
        let accept = if streaming { "connect-accept-encoding" } else { "accept-encoding" };
        response.headers_mut().insert(accept, HeaderValue::from_static("gzip"));
        response
    }
}

impl RestRouter {
    /// A Connect streaming call: enveloped messages in (one for server
    /// streaming, any number for client streaming), enveloped messages out,
    /// then the end-of-stream message carrying the error, if any.
    ///
    /// Once the content type fits, every error (bad envelopes, compression)
    /// travels in the end-of-stream message under HTTP 200, as Connect
    /// streams require, so Connect clients see the real code. Envelopes are
    /// gzip-compressed both ways when `Connect-Content-Encoding` /
    /// `Connect-Accept-Encoding` say so.
    async fn connect_stream(
        &self,
        service: &ServiceDef,
        method: usize,
        codec: &str,
        headers: http::HeaderMap,
        identity: Result<Option<Identity>, Status>,
        body: Bytes,
    ) -> Result<Response, Status> {
        let info = &service.info().methods[method];
        let proto = match codec.split(';').next().unwrap_or_default().trim() {
            "proto" => true,
            "json" => false,
            other => {
                return Err(Status::invalid_argument(format!("Connect streams use +json or +proto, not +{other}"))
                    .with_http_status(415));
            }
        };
        if info.kind == MethodKind::Unary {
            return Err(Status::invalid_argument(format!(
                "{} is unary: send application/json or application/proto",
                info.name
            ))
            .with_http_status(415));
        }
        let compress = compression::accepts_gzip(&headers, "connect-accept-encoding");
        let seal = move |flags: u8, data: &[u8]| -> Bytes {
            match compress.then(|| compression::gzip(data)) {
                // The flag is per envelope, so one that failed to compress can go out plain.
                Some(Ok(packed)) => envelope(flags | 0x01, &packed),
                _ => envelope(flags, data),
            }
        };
        let end = move |error: Option<Status>| seal(0x02, &end_of_stream(error));
        let input = identity.and_then(|identity| Ok((identity, self.connect_input(info.kind, proto, &headers, body)?)));
        let (frames, metadata): (futures_util::stream::BoxStream<'static, Bytes>, http::HeaderMap) = match input {
            Err(status) => (futures_util::stream::once(async move { end(Some(status)) }).boxed(), Default::default()),
            Ok((identity, input)) => {
                let ctx = self.context(Protocol::Connect, &headers, identity, connect_timeout(&headers));
                let call = service.call(method, Call { ctx: ctx.clone(), input });
                let encode = move |m: Box<dyn crate::DynMessage>| -> Result<Bytes, Status> {
                    let data = if proto { m.encode_proto() } else { m.to_json()? };
                    Ok(seal(0, &data))
                };
                // Errors, even before the first message, travel in the end-of-stream message.
                let frames = match crate::grpc::within(ctx.deadline(), call).await {
                    Err(status) => futures_util::stream::once(async move { end(Some(status)) }).boxed(),
                    Ok(Output::Single(m)) => {
                        let frames = match encode(m) {
                            Ok(frame) => vec![frame, end(None)],
                            Err(status) => vec![end(Some(status))],
                        };
                        futures_util::stream::iter(frames).boxed()
                    }
                    Ok(Output::Stream(stream)) => {
                        let stream = crate::dispatch::until_shutdown(stream, self.shutdown.clone());
                        let stream = crate::dispatch::until_deadline(stream, ctx.deadline());
                        crate::dispatch::with_outcome(stream.map(move |item| item.and_then(&encode)))
                            .map(move |item| item.unwrap_or_else(&end))
                            .boxed()
                    }
                };
                (frames, ctx.response_metadata())
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
    fn connect_input(
        &self,
        kind: MethodKind,
        proto: bool,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Result<Input, Status> {
        let encoding = Encoding::from_header(headers.get("connect-content-encoding"))?;
        let payloads = connect_payloads(body, encoding, proto, self.max_body)?;
        Ok(match kind {
            MethodKind::ServerStreaming => Input::Single(
                payloads
                    .into_iter()
                    .next()
                    .ok_or_else(|| Status::invalid_argument("the request message is missing"))?,
            ),
            _ => Input::Stream(futures_util::stream::iter(payloads.into_iter().map(Ok)).boxed()),
        })
    }
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

/// EventSource cannot set `Last-Event-ID` on its first request: browsers
/// resume with `?lastEventId=`, which becomes the same metadata.
pub(crate) fn cursor_from_query(headers: &mut http::HeaderMap, query: Option<&str>) {
    if headers.contains_key("last-event-id") {
        return;
    }
    let id = form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(k, _)| k == "lastEventId");
    if let Some(value) = id.and_then(|(_, v)| HeaderValue::from_str(&v).ok()) {
        headers.insert("last-event-id", value);
    }
}

/// The cursor a reconnecting SSE client resumes after: `Last-Event-ID`, else `?lastEventId=`.
pub(crate) fn last_event(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "lastEventId")
            .map(|(_, v)| v.into_owned())
    })
}

/// `Connect-Timeout-Ms` (at most 10 digits, as the protocol allows).
fn connect_timeout(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get("connect-timeout-ms")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 10)
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// A refused request in the form its protocol expects, before any routing:
/// tRPC's error shape under `/trpc/`, Connect's for RPC paths (an
/// end-of-stream message for `application/connect+*` streams), else REST's.
pub(crate) fn early_error(path: &str, content_type: &str, is_rpc_path: bool, status: &Status) -> Response {
    if path.starts_with("/trpc/") {
        return crate::trpc::request_error(status);
    }
    if !is_rpc_path {
        return error_response(status);
    }
    let content_type = content_type.to_ascii_lowercase();
    if let Some(codec) = content_type.strip_prefix("application/connect+") {
        let content_type =
            if codec.starts_with("proto") { "application/connect+proto" } else { "application/connect+json" };
        let body = envelope(0x02, &end_of_stream(Some(status.clone())));
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    connect_error(status)
}

/// One Connect envelope: flags, big-endian length, data.
fn envelope(flags: u8, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + data.len());
    out.push(flags);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(data);
    out.into()
}

/// The end-of-stream message (sent with flag 0x02): `{}` or `{"error": {…}}`.
fn end_of_stream(error: Option<Status>) -> Vec<u8> {
    let body = match error {
        Some(s) => serde_json::json!({"error": {"code": s.code().as_str(), "message": s.message()}}),
        None => serde_json::json!({}),
    };
    body.to_string().into_bytes()
}

/// A Connect GET request's query: `connect=v1`, `encoding=json|proto`,
/// `message` (URL-encoded, or base64url with `base64=1`), and
/// `compression=gzip` for a gzip-compressed (so base64url) `message`,
/// inflated to at most `limit` bytes.
pub(crate) fn connect_get(query: &str, limit: usize) -> Result<(bool, Payload), Status> {
    use pbjson::private::base64::engine::{Engine, general_purpose::URL_SAFE_NO_PAD};
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_bytes()).into_owned().collect();
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

/// The key of `part` in a JSON object: its JSON name if present, else as written.
fn route_output_key(json: &Value, part: &str) -> String {
    let camel = crate::wkt::lower_camel(part);
    if json.get(&camel).is_some() { camel } else { part.to_owned() }
}

/// Reads a JSON body: 415 for another content type, 413 over the limit,
/// 400 naming the position of malformed JSON. An empty body is `null`.
async fn read_json(headers: &http::HeaderMap, body: axum::body::Body, limit: usize) -> Result<Value, Status> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Status::new(Code::InvalidArgument, format!("the body must be application/json, not {mime}"))
                .with_http_status(415));
        }
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Status::resource_exhausted(format!("the body is larger than {limit} bytes")).with_http_status(413)
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| Status::invalid_argument(format!("the body is not valid JSON: {e}")))
}

/// Adds the query parameters (unless the body is `*`) and then the path
/// values (which win) to the request object the body started.
pub(crate) fn path_and_query(
    object: &mut Map<String, Value>,
    rule: &HttpRule,
    input: Option<&MessageDescriptor>,
    vars: &[(&'static str, String)],
    query_string: &str,
) -> Result<(), Status> {
    if rule.body != "*" {
        let top_body = rule.body.split('.').next().unwrap_or_default();
        let bound: Vec<&str> = vars.iter().map(|(f, _)| *f).collect();
        query(object, input, query_string, top_body, &bound)?;
    }
    for (field, value) in vars {
        let typed = match input.and_then(|m| resolve(m, field)) {
            Some(f) => typed_value(&f, value, field)?,
            None => Value::String(value.clone()),
        };
        set_path(object, input, field, typed)?;
    }
    Ok(())
}

/// Matches `path` against a rule; the variables' raw values on success.
pub(crate) fn match_path(rule: &HttpRule, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = match rule.verb {
        Some(verb) => path.strip_suffix(verb)?.strip_suffix(':')?,
        None => path,
    };
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let mut vars = Vec::new();
    let mut i = 0;
    for (n, seg) in rule.segments.iter().enumerate() {
        let last = n + 1 == rule.segments.len();
        match seg {
            Segment::Var { field, pattern, .. } => {
                let start = i;
                if !match_segments(pattern, &segments, &mut i, last) {
                    return None;
                }
                let raw = segments[start..i].join("/");
                let multi = pattern.len() > 1 || matches!(pattern.first(), Some(Segment::Rest));
                vars.push((*field, decode(&raw, multi)?));
            }
            other => {
                if !match_segments(std::slice::from_ref(other), &segments, &mut i, last) {
                    return None;
                }
            }
        }
    }
    (i == segments.len()).then_some(vars)
}

fn match_segments(pattern: &[Segment], segments: &[&str], i: &mut usize, last: bool) -> bool {
    for (n, p) in pattern.iter().enumerate() {
        match p {
            Segment::Literal(l) => {
                if segments.get(*i) != Some(l) {
                    return false;
                }
                *i += 1;
            }
            Segment::Any => {
                if segments.get(*i).is_none_or(|s| s.is_empty()) {
                    return false;
                }
                *i += 1;
            }
            Segment::Rest => {
                // `**` takes the rest, and only at the end of the template.
                if !(last && n + 1 == pattern.len()) || *i >= segments.len() {
                    return false;
                }
                *i = segments.len();
            }
            Segment::Var { .. } => return false,
        }
    }
    true
}

/// Percent-decodes a path value. Multi-segment values keep `%2F` encoded, as
/// HttpRule specifies, so a `/` inside one segment stays distinguishable.
fn decode(raw: &str, multi: bool) -> Option<String> {
    let plain = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned());
    if !multi {
        return plain(raw);
    }
    let mut out = String::new();
    let (mut start, mut i) = (0, 0);
    while i < raw.len() {
        if raw.as_bytes()[i] == b'%' && raw.get(i + 1..i + 3).is_some_and(|h| h.eq_ignore_ascii_case("2f")) {
            out.push_str(&plain(&raw[start..i])?);
            out.push_str(&raw[i..i + 3]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&plain(&raw[start..])?);
    Some(out)
}

/// The field a dotted path names, accepting proto and JSON names.
fn resolve(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, name) in parts.iter().enumerate() {
        let field = current.get_field_by_name(name).or_else(|| current.get_field_by_json_name(name))?;
        if i + 1 == parts.len() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() => current = m,
            _ => return None,
        }
    }
    None
}

/// Sets `value` at a dotted field path, keyed by JSON names, replacing any
/// value given under either name (path values beat body values).
fn set_path(
    object: &mut Map<String, Value>,
    message: Option<&MessageDescriptor>,
    path: &str,
    value: Value,
) -> Result<(), Status> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut current = object;
    let mut descriptor = message.cloned();
    for (i, name) in parts.iter().enumerate() {
        let field =
            descriptor.as_ref().and_then(|m| m.get_field_by_name(name).or_else(|| m.get_field_by_json_name(name)));
        let key = field.as_ref().map_or_else(|| (*name).to_owned(), |f| f.json_name().to_owned());
        if let Some(f) = &field
            && f.name() != key
        {
            current.remove(f.name());
        }
        if i + 1 == parts.len() {
            current.insert(key, value);
            return Ok(());
        }
        descriptor = field.and_then(|f| match f.kind() {
            Kind::Message(m) => Some(m),
            _ => None,
        });
        let entry = current.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = match entry {
            Value::Object(map) => map,
            _ => return Err(Status::internal("a field path crosses a non-object")),
        };
    }
    Ok(())
}

/// A query or path string as the JSON value the field's type expects.
fn typed_value(field: &FieldDescriptor, raw: &str, name: &str) -> Result<Value, Status> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        }
    } else {
        field.kind()
    };
    scalar(&kind, raw, name)
}

fn scalar(kind: &Kind, raw: &str, name: &str) -> Result<Value, Status> {
    Ok(match kind {
        Kind::Bool => match raw {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(Status::invalid_argument(format!("`{name}` must be true or false, not `{raw}`"))),
        },
        Kind::Enum(e) => match raw.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) if e.get_value_by_name(raw).is_some() => Value::String(raw.to_owned()),
            Err(_) => {
                return Err(Status::invalid_argument(format!("`{name}`: `{raw}` is not a value of {}", e.full_name())));
            }
        },
        Kind::Message(m) => match m.full_name() {
            // Wrappers take their wrapped value; other well-known types their string form.
            wrapper
                if wrapper.starts_with("google.protobuf.")
                    && wrapper.ends_with("Value")
                    && wrapper != "google.protobuf.Value" =>
            {
                let inner = m.get_field_by_name("value").map(|f| f.kind()).unwrap_or(Kind::String);
                scalar(&inner, raw, name)?
            }
            "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
                Value::String(raw.to_owned())
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "`{name}` is a {other}; set its fields as `{name}.<field>=…`"
                )));
            }
        },
        _ => Value::String(raw.to_owned()),
    })
}

/// Splits a query key into parts: `a.b`, `a[b]` and `labels[key]` alike.
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            // A bracketed part is taken whole: map keys may contain dots.
            let end = inner.find(']').unwrap_or(inner.len());
            parts.push(inner[..end].to_owned());
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end > 0 {
                parts.push(rest[..end].to_owned());
            }
            rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        }
    }
    parts
}

/// Adds query parameters to `object`: dotted or bracketed paths (`a.b`,
/// `a[b]`), repeated fields by repetition, maps as `field[key]=value`.
/// Unknown parameters are ignored.
fn query(
    object: &mut Map<String, Value>,
    message: Option<&MessageDescriptor>,
    query: &str,
    body_field: &str,
    bound: &[&str],
) -> Result<(), Status> {
    let Some(message) = message else { return Ok(()) };
    // form_urlencoded replaces invalid UTF-8 silently; a request must not change meaning that way.
    for pair in query.split('&') {
        if percent_encoding::percent_decode_str(pair).decode_utf8().is_err() {
            return Err(Status::invalid_argument(format!(
                "the query parameter `{pair}` is not valid UTF-8 once percent-decoded"
            )));
        }
    }
    let mut seen = BTreeSet::new();
    for (key, raw) in form_urlencoded::parse(query.as_bytes()) {
        let parts = key_parts(&key);
        // Walk fields until the parts run out or a map takes the next part as its key.
        let mut fields = Vec::new();
        let mut current = Some(message.clone());
        let mut map_key = None;
        for (i, part) in parts.iter().enumerate() {
            let Some(field) =
                current.as_ref().and_then(|m| m.get_field_by_name(part).or_else(|| m.get_field_by_json_name(part)))
            else {
                fields.clear();
                break;
            };
            let is_map = field.is_map();
            current = match field.kind() {
                Kind::Message(m) if !field.is_list() && !is_map => Some(m),
                _ => None,
            };
            fields.push(field);
            if is_map {
                if i + 2 == parts.len() {
                    map_key = Some(parts[i + 1].clone());
                } else {
                    fields.clear();
                }
                break;
            }
        }
        let Some(field) = fields.last().cloned() else { continue };
        if fields.len() < parts.len() && map_key.is_none() {
            continue;
        }
        let path: Vec<String> = fields.iter().map(|f| f.name().to_owned()).collect();
        let dotted = path.join(".");
        if !body_field.is_empty() && path[0] == body_field {
            continue;
        }
        if bound.iter().any(|b| *b == dotted || resolve(message, b).is_some_and(|f| f == field)) {
            continue;
        }
        let value = typed_value(&field, &raw, &key)?;
        let json_path: Vec<String> = fields.iter().map(|f| f.json_name().to_owned()).collect();
        if field.is_map() {
            let Some(k) = map_key else {
                return Err(Status::invalid_argument(format!("`{key}` is a map; write `{key}[key]=value`")));
            };
            let mut entry = Map::new();
            entry.insert(k, value);
            merge_at(object, &json_path, Value::Object(entry));
        } else if field.is_list() {
            push_at(object, &json_path, value);
        } else {
            if !seen.insert(json_path.clone()) {
                return Err(Status::invalid_argument(format!(
                    "`{key}` was given more than once, but it holds one value"
                )));
            }
            set_path(object, Some(message), &dotted, value)?;
        }
    }
    Ok(())
}

fn slot<'a>(object: &'a mut Map<String, Value>, path: &[String]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for p in parents {
        let entry = current.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
        current = entry.as_object_mut()?;
    }
    Some(current.entry(last.clone()).or_insert(Value::Null))
}

fn push_at(object: &mut Map<String, Value>, path: &[String], value: Value) {
    if let Some(slot) = slot(object, path) {
        match slot {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
    }
}

fn merge_at(object: &mut Map<String, Value>, path: &[String], value: Value) {
    if let (Some(slot), Value::Object(entries)) = (slot(object, path), value) {
        match slot {
            Value::Object(map) => map.extend(entries),
            other => *other = Value::Object(entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SHELF_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/{name=shelves/*}:watch",
        segments: &[
            Segment::Literal("v1"),
            Segment::Var { field: "name", pattern: &[Segment::Literal("shelves"), Segment::Any], default: "" },
        ],
        verb: Some("watch"),
        body: "",
        response_body: "",
        status: 200,
    };

    static DEEP_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/{name=operations/**}",
        segments: &[
            Segment::Literal("v1"),
            Segment::Var { field: "name", pattern: &[Segment::Literal("operations"), Segment::Rest], default: "" },
        ],
        verb: None,
        body: "",
        response_body: "",
        status: 200,
    };

    static ONE_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/things/{id}",
        segments: &[
            Segment::Literal("v1"),
            Segment::Literal("things"),
            Segment::Var { field: "id", pattern: &[Segment::Any], default: "" },
        ],
        verb: None,
        body: "",
        response_body: "",
        status: 200,
    };

    #[test]
    fn templates_match_paths_and_capture_variables() {
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7:watch"), Some(vec![("name", "shelves/7".to_owned())]));
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7"), None, "the verb is required");
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7/books/1:watch"), None);
        assert_eq!(match_path(&DEEP_RULE, "/v1/operations/a/b/c"), Some(vec![("name", "operations/a/b/c".to_owned())]));
        assert_eq!(match_path(&DEEP_RULE, "/v1/operations"), None, "** needs at least one segment");
    }

    #[test]
    fn single_segment_values_are_fully_decoded_multi_segment_keep_slashes_encoded() {
        assert_eq!(match_path(&ONE_RULE, "/v1/things/a%2Fb%20c"), Some(vec![("id", "a/b c".to_owned())]));
        assert_eq!(
            match_path(&DEEP_RULE, "/v1/operations/x%2Fy/z%20w"),
            Some(vec![("name", "operations/x%2Fy/z w".to_owned())])
        );
    }

    #[test]
    fn query_keys_split_on_dots_and_brackets() {
        assert_eq!(key_parts("publisher.name"), ["publisher", "name"]);
        assert_eq!(key_parts("publisher[name]"), ["publisher", "name"]);
        assert_eq!(key_parts("labels[a.b]"), ["labels", "a.b"]);
        assert_eq!(key_parts("a[b][c].d"), ["a", "b", "c", "d"]);
        assert_eq!(key_parts("pageSize"), ["pageSize"]);
    }

    #[test]
    fn more_literal_templates_are_more_specific() {
        assert!(specificity(&ONE_RULE) > specificity(&DEEP_RULE));
        assert!(specificity(&SHELF_RULE) > specificity(&DEEP_RULE));
    }
}
