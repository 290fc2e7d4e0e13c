//! Routing by content type and path, for everything the axum router does
//! not match by path alone: `application/grpc-web*` to tonic-web and the gRPC
//! router, `application/grpc*` straight to it; any other request is read
//! whole first (an early error then leaves no unread bytes on a reused
//! connection), then `/trpc/…` to tRPC, a Connect method's path to Connect,
//! a `google.api.http` binding to REST (to SSE for a server-streaming
//! method and a client that accepts `text/event-stream`), `/sse/…` to SSE,
//! and anything else to a 404 in REST's error form.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use futures_util::FutureExt;
use tower::{Layer, ServiceExt};

use crate::core::transcode::{Bindings, Found};
use crate::core::wire::http_error;
use crate::protocol::{connect, grpc, rest, sse, trpc};
use crate::{MethodKind, Protocol, Status};

/// The protocol routers the fallback chooses between.
pub(super) struct Routers {
    pub(super) grpc: Arc<grpc::GrpcRouter>,
    pub(super) grpc_web: tonic_web::GrpcWebService<grpc::GrpcService>,
    pub(super) connect: connect::ConnectRouter,
    pub(super) rest: rest::RestRouter,
    pub(super) sse: sse::SseRouter,
    pub(super) trpc: trpc::TrpcRouter,
    pub(super) bindings: Arc<Bindings>,
    pub(super) max_body: usize,
    pub(super) body_timeout: Duration,
    /// Counts requests refused before they reach the call pipeline.
    pub(super) metrics: Arc<crate::core::metrics::Metrics>,
    pub(super) _shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

type Classifier = tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>;

/// The whole server as one service: tower-http's `TraceLayer` (what
/// `TraceLayer::new_for_http()` logs) around [`Edge`], at no cost beyond
/// what the log level lets through. Its request span and its events are at
/// `DEBUG`, except the `ERROR` event for a response with a 5xx status.
/// With `DEBUG` off everywhere (the default), that event is all it can
/// emit, so a request takes the edge directly, and the clock is read only
/// when the event would be logged: the layer itself reads it five times.
#[derive(Clone)]
pub(crate) struct Served {
    edge: Edge,
    traced: tower_http::trace::Trace<Edge, Classifier>,
    /// The client of the connection this serves, when the accept loop knows
    /// it: passed down to the protocols rather than put into each request's
    /// extensions, which would cost every request three allocations.
    peer: Option<SocketAddr>,
}

impl Served {
    pub(super) fn new(edge: Edge) -> Served {
        let traced = tower_http::trace::TraceLayer::new_for_http().layer(edge.clone());
        Served { edge, traced, peer: None }
    }

    /// This service for one connection from `peer`.
    pub(super) fn for_peer(&self, peer: SocketAddr) -> Served {
        Served { peer: Some(peer), ..self.clone() }
    }
}

impl tower::Service<axum::extract::Request> for Served {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ServedFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: axum::extract::Request) -> ServedFuture {
        if tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG {
            // The traced path calls the edge as a tower service, which reads the peer from the request.
            carry_peer(&mut req, self.peer);
            let traced = self.traced.call(req).map(|r| match r {
                Ok(response) => response.map(axum::body::Body::new),
                Err(never) => match never {},
            });
            return ServedFuture { inner: Box::pin(traced), finish: None, origin: None, failures_since: None };
        }
        let logged = tracing::enabled!(target: FAILURE_TARGET, tracing::Level::ERROR);
        // Embedded in another router (`Server::into_router`), the peer is the request's `ConnectInfo`.
        let peer = self.peer.or_else(|| crate::core::pipeline::peer(req.extensions()));
        let mut answer = self.edge.answer(req, peer);
        answer.failures_since = logged.then(std::time::Instant::now);
        answer
    }
}

/// Where tower-http's `DefaultOnFailure` logs.
const FAILURE_TARGET: &str = "tower_http::trace::on_failure";

/// The response of [`Served`] and [`Edge`]: the route's answer, finished
/// with the edge's headers (here rather than in a second boxed future);
/// logs a 5xx response as `TraceLayer` does.
pub(crate) struct ServedFuture {
    inner: Answer,
    /// The edge whose CORS headers and challenge the answer gets (not a preflight's).
    finish: Option<Arc<EdgeInner>>,
    /// The request's `Origin`, which the CORS headers depend on.
    origin: Option<http::HeaderValue>,
    /// When the request arrived, if its failure would be logged.
    failures_since: Option<std::time::Instant>,
}

impl Future for ServedFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let mut response = std::task::ready!(self.inner.as_mut().poll(cx));
        if let Some(edge) = &self.finish {
            edge.finish(&mut response, self.origin.as_ref());
        }
        if let Some(since) = self.failures_since
            && response.status().is_server_error()
        {
            // `DefaultOnFailure`'s event, its fields and their text (latency in milliseconds).
            let classification = tower_http::classify::ServerErrorsFailureClass::StatusCode(response.status());
            let latency = format!("{} ms", since.elapsed().as_millis());
            tracing::event!(
                target: FAILURE_TARGET,
                tracing::Level::ERROR,
                classification = %classification,
                latency = %latency,
                "response failed"
            );
        }
        std::task::Poll::Ready(Ok(response))
    }
}

/// CORS and the `WWW-Authenticate` challenge around the routes, written
/// out rather than stacked as tower layers: a request that is not a CORS
/// preflight costs a path check and a few header inserts, not a boxed
/// future and a header map per layer. Paths the axum router may serve go
/// there (and what it does not serve reaches [`Routers`] as its fallback);
/// every other request goes straight to [`Routers`], by content type and path.
#[derive(Clone)]
pub(crate) struct Edge(Arc<EdgeInner>);

struct EdgeInner {
    routers: Arc<Routers>,
    /// The routes matched by path alone, falling back to `routers`.
    fixed: axum::Router,
    /// Every path `fixed` has a route for.
    fixed_paths: Vec<&'static str>,
    /// A path prefix `fixed` routes (an entry of `fixed_paths` ending in `/`).
    fixed_prefix: Option<&'static str>,
    cors: super::cors::Cors,
}

impl Edge {
    /// `fixed` serves `fixed_paths` (and may serve fewer; one ending in `/`
    /// is a prefix of the paths it serves); everything else is `routers`'.
    pub(super) fn new(
        routers: Routers,
        fixed: axum::Router,
        fixed_paths: Vec<&'static str>,
        cors: super::cors::Cors,
    ) -> Edge {
        let routers = Arc::new(routers);
        let fallback = Arc::clone(&routers);
        let fixed = fixed.fallback_service(tower::service_fn(move |req: axum::extract::Request| {
            let peer = crate::core::pipeline::peer(req.extensions());
            Routers::route(&fallback, req, peer).map(Ok::<_, std::convert::Infallible>)
        }));
        let fixed_prefix = fixed_paths.iter().copied().find(|p| p.len() > 1 && p.ends_with('/'));
        Edge(Arc::new(EdgeInner { routers, fixed, fixed_paths, fixed_prefix, cors }))
    }
}

type Answer = crate::core::call::BoxFuture<Response>;

impl tower::Service<axum::extract::Request> for Edge {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ServedFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        let peer = crate::core::pipeline::peer(req.extensions());
        self.answer(req, peer)
    }
}

impl Edge {
    /// The answer to `req`. The protocol is chosen before the first poll, so
    /// that the future allocated for a request holds that protocol's state
    /// and no other's.
    fn answer(&self, req: axum::extract::Request, peer: Option<SocketAddr>) -> ServedFuture {
        let edge = Arc::clone(&self.0);
        let origin = req.headers().get(http::header::ORIGIN).cloned();
        if edge.cors.refuses_upgrade(req.headers()) {
            // Browsers apply no CORS to WebSockets: the server checks the origin itself.
            let status = crate::Status::permission_denied("this server does not accept WebSockets from that origin")
                .with_http_status(403);
            let answer = crate::core::wire::http_error(&status);
            return ServedFuture {
                inner: Box::pin(std::future::ready(answer)),
                finish: Some(edge),
                origin,
                failures_since: None,
            };
        }
        if req.method() == http::Method::OPTIONS {
            // A preflight: tower-http's CORS answers it (without calling the routes).
            let inner = Box::pin(async move {
                let cors = edge.cors.layer();
                let routes = tower::service_fn(move |req: axum::extract::Request| {
                    let edge = Arc::clone(&edge);
                    async move { Ok::<_, std::convert::Infallible>(edge.route_now(req, peer).await) }
                });
                cors.layer(routes).oneshot(req).await.unwrap_or_else(|e| match e {})
            });
            ServedFuture { inner, finish: None, origin: None, failures_since: None }
        } else {
            ServedFuture { inner: edge.route_now(req, peer), finish: Some(edge), origin, failures_since: None }
        }
    }
}

impl EdgeInner {
    /// A request to the routes, without CORS and the challenge; the route
    /// is chosen now, before the answer is polled.
    fn route_now(&self, mut req: axum::extract::Request, peer: Option<SocketAddr>) -> Answer {
        let path = req.uri().path();
        if self.fixed_paths.contains(&path) || self.fixed_prefix.is_some_and(|p| path.starts_with(p)) {
            // The axum routes (GraphQL, /ws) read the peer from the request.
            carry_peer(&mut req, peer);
            let fixed = self.fixed.clone();
            return Box::pin(async move { fixed.oneshot(req).await.unwrap_or_else(|e| match e {}) });
        }
        Routers::route(&self.routers, req, peer)
    }

    /// The challenge and the CORS headers every answer but a preflight's carries.
    fn finish(&self, response: &mut Response, origin: Option<&http::HeaderValue>) {
        challenge(response);
        self.cors.finish(origin, response.headers_mut());
    }
}

impl Routers {
    /// A request the axum router does not serve: by content type, then path.
    fn route(routers: &Arc<Routers>, mut req: axum::extract::Request, peer: Option<SocketAddr>) -> Answer {
        let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.starts_with("application/grpc-web") {
            // tonic-web's layer stands between: the gRPC router reads the peer from the request.
            carry_peer(&mut req, peer);
            let grpc_web = routers.grpc_web.clone();
            return Box::pin(async move {
                let req = req.map(tonic::body::Body::new);
                let response = grpc_web.oneshot(req).await.unwrap_or_else(|e| match e {});
                response.map(axum::body::Body::new)
            });
        }
        if content_type.starts_with("application/grpc") {
            // Plain gRPC needs no translation: straight to the gRPC router.
            let grpc = Arc::clone(&routers.grpc);
            return Box::pin(async move {
                let req = req.map(tonic::body::Body::new);
                grpc.route(req, Protocol::Grpc, peer).await.map(axum::body::Body::new)
            });
        }
        Routers::http(routers, req, peer)
    }

    /// A request of a protocol other than gRPC: its body is read whole
    /// first, so that an early error leaves no unread bytes on a reused
    /// connection. A body that has arrived (most do) is read now, without
    /// a timer; the rest is waited for with one.
    fn http(routers: &Arc<Routers>, req: axum::extract::Request, peer: Option<SocketAddr>) -> Answer {
        let (parts, mut body) = req.into_parts();
        let mut read = crate::core::body::Read::default();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match crate::core::body::read_arrived(&mut body, &mut read, routers.max_body, &mut cx) {
            Ok(true) => Routers::dispatch(routers, parts, read.into_bytes(), peer),
            Ok(false) => {
                let routers = Arc::clone(routers);
                Box::pin(async move {
                    let (max, idle) = (routers.max_body, routers.body_timeout);
                    match crate::core::body::read_rest(body, read, max, idle).await {
                        Ok(bytes) => Routers::dispatch(&routers, parts, bytes, peer).await,
                        Err(status) => routers.early_error(&parts, &status),
                    }
                })
            }
            Err(status) => {
                let response = routers.early_error(&parts, &status);
                Box::pin(std::future::ready(response))
            }
        }
    }

    /// The answer to a request whose body could not be read, in the form
    /// of the protocol its path names; the connection closes after it.
    fn early_error(&self, parts: &http::request::Parts, status: &Status) -> Response {
        self.metrics.refused(status.code());
        let path = parts.uri.path();
        let content_type = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut response = if path.starts_with("/trpc/") {
            trpc::request_error(status)
        } else if self.connect.method(path).is_some_and(|m| !rest_at_rpc_path(m, &parts.method, &parts.headers, path)) {
            connect::early_error(content_type, status)
        } else {
            http_error(status)
        };
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        response
    }

    /// A request with its whole body, to tRPC, Connect, REST or SSE by path.
    fn dispatch(
        routers: &Arc<Routers>,
        parts: http::request::Parts,
        body: bytes::Bytes,
        peer: Option<SocketAddr>,
    ) -> Answer {
        let req = http::Request::from_parts(parts, body);
        let routers = Arc::clone(routers);
        let path = req.uri().path();
        if path.starts_with("/trpc/") {
            return Box::pin(async move { routers.trpc.handle(req, peer).await });
        }
        // A Connect call is one lookup away; REST bindings need matching.
        if let Some(method) = routers.connect.method(path)
            && !rest_at_rpc_path(method, req.method(), req.headers(), path)
        {
            let method = method.clone();
            return Box::pin(async move { routers.connect.handle(&method, req, peer).await });
        }
        Box::pin(async move { routers.rest_or_sse(req, peer).await })
    }

    /// A request to a `google.api.http` binding or an `/sse/…` path.
    async fn rest_or_sse(&self, req: crate::core::body::Whole, peer: Option<SocketAddr>) -> Response {
        let path = req.uri().path();
        match self.bindings.find(req.method().as_str(), path) {
            Found::Binding(binding, vars) => {
                if binding.method.info().kind == MethodKind::ServerStreaming && accepts_events(req.headers()) {
                    self.sse.binding(binding, &vars, req, peer).await
                } else {
                    self.rest.call(binding, &vars, req, peer).await
                }
            }
            Found::NotAllowed(allow) => rest::not_allowed(path, req.method(), allow),
            Found::None
                if path.starts_with("/sse/") && matches!(*req.method(), http::Method::GET | http::Method::POST) =>
            {
                self.sse.rpc(req, peer).await
            }
            Found::None => http_error(&Status::not_found(format!("nothing is served at {path}"))),
        }
    }
}

/// Puts the peer into the request, for the routes that read it from there
/// (axum's, and the gRPC router behind tonic-web) rather than take it as an argument.
fn carry_peer(req: &mut axum::extract::Request, peer: Option<SocketAddr>) {
    if let Some(peer) = peer {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    }
}

/// Whether a request to a method's RPC path is a REST call: a unary method
/// the schema binds to nothing has its default REST binding there (`POST`,
/// the request as the JSON body), and Connect clients say who they are with
/// `Connect-Protocol-Version` (or a `Connect-Timeout-Ms`), which a REST call lacks.
fn rest_at_rpc_path(
    method: &crate::core::pipeline::Method,
    verb: &http::Method,
    headers: &http::HeaderMap,
    path: &str,
) -> bool {
    verb == http::Method::POST
        && method.info().http.iter().any(|rule| rule.method == "POST" && rule.template == path)
        && !headers.contains_key(connect::CONNECT_PROTOCOL_VERSION)
        && !headers.contains_key(connect::CONNECT_TIMEOUT_MS)
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")))
}

fn accepts_events(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"))
}

/// Every 401, whichever protocol answers it, names the scheme to use (RFC 9110 §11.6.1).
fn challenge(response: &mut Response) {
    if response.status() == http::StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(http::header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
}
