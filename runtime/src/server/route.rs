//! Routing by content type and path, for everything the axum router does
//! not match by path alone: `application/grpc-web*` to tonic-web and the gRPC
//! router, `application/grpc*` straight to it; any other request is read
//! whole first (an early error then leaves no unread bytes on a reused
//! connection), then `/trpc/…` to tRPC, a Connect method's path to Connect,
//! a `google.api.http` binding to REST (to SSE for a server-streaming
//! method and a client that accepts `text/event-stream`), `/sse/…` to SSE,
//! and anything else to a 404 in REST's error form.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
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
}

impl Served {
    pub(super) fn new(edge: Edge) -> Served {
        let traced = tower_http::trace::TraceLayer::new_for_http().layer(edge.clone());
        Served { edge, traced }
    }
}

impl tower::Service<axum::extract::Request> for Served {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ServedFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> ServedFuture {
        use futures_util::FutureExt;
        if tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG {
            let traced = self.traced.call(req).map(|r| r.map(|response| response.map(axum::body::Body::new)));
            return ServedFuture { inner: Box::pin(traced), failures_since: None };
        }
        let logged = tracing::enabled!(target: FAILURE_TARGET, tracing::Level::ERROR);
        ServedFuture { inner: self.edge.call(req), failures_since: logged.then(std::time::Instant::now) }
    }
}

/// Where tower-http's `DefaultOnFailure` logs.
const FAILURE_TARGET: &str = "tower_http::trace::on_failure";

/// The response of [`Served`]; logs a 5xx response as `TraceLayer` does.
pub(crate) struct ServedFuture {
    inner: crate::core::call::BoxFuture<Result<Response, std::convert::Infallible>>,
    /// When the request arrived, if its failure would be logged.
    failures_since: Option<std::time::Instant>,
}

impl Future for ServedFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let response = std::task::ready!(self.inner.as_mut().poll(cx))?;
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
    cors: tower_http::cors::CorsLayer,
    /// What `cors` adds to every response but a preflight's: its policy
    /// (any origin) does not depend on the request.
    cors_headers: http::HeaderMap,
}

impl Edge {
    /// `fixed` serves `fixed_paths` (and may serve fewer); everything else is `routers`'.
    pub(super) fn new(routers: Routers, fixed: axum::Router, fixed_paths: Vec<&'static str>) -> Edge {
        let routers = Arc::new(routers);
        let fallback = Arc::clone(&routers);
        let fixed = fixed.fallback_service(tower::service_fn(move |req: axum::extract::Request| {
            let routers = Arc::clone(&fallback);
            async move { Ok::<_, std::convert::Infallible>(routers.route(req).await) }
        }));
        let cors = cors();
        let cors_headers = cors_headers(&cors);
        Edge(Arc::new(EdgeInner { routers, fixed, fixed_paths, cors, cors_headers }))
    }
}

impl tower::Service<axum::extract::Request> for Edge {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = crate::core::call::BoxFuture<Result<Response, std::convert::Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        let edge = Arc::clone(&self.0);
        Box::pin(async move {
            if req.method() == http::Method::OPTIONS {
                // A preflight: tower-http's CORS answers it (without calling the routes).
                let cors = edge.cors.clone();
                let routes = tower::service_fn(move |req: axum::extract::Request| {
                    let edge = Arc::clone(&edge);
                    async move { Ok::<_, std::convert::Infallible>(edge.route(req).await) }
                });
                return cors.layer(routes).oneshot(req).await;
            }
            let mut response = edge.route(req).await;
            challenge(&mut response);
            for (name, value) in &edge.cors_headers {
                // As tower-http does: `Vary` joins the response's own, the others replace theirs.
                if name == http::header::VARY {
                    response.headers_mut().append(name, value.clone());
                } else {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            Ok(response)
        })
    }
}

impl EdgeInner {
    /// A request to the routes, without CORS and the challenge.
    async fn route(&self, req: axum::extract::Request) -> Response {
        if self.fixed_paths.contains(&req.uri().path()) {
            return self.fixed.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        }
        self.routers.route(req).await
    }
}

impl Routers {
    /// A request the axum router does not serve: by content type, then path.
    async fn route(&self, req: axum::extract::Request) -> Response {
        let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.starts_with("application/grpc-web") {
            let req = req.map(tonic::body::Body::new);
            let response = self.grpc_web.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
            return response.map(axum::body::Body::new);
        }
        if content_type.starts_with("application/grpc") {
            // Plain gRPC needs no translation: straight to the gRPC router.
            let req = req.map(tonic::body::Body::new);
            return self.grpc.route(req, Protocol::Grpc).await.map(axum::body::Body::new);
        }
        self.http(req).await
    }

    /// A request of a protocol other than gRPC.
    async fn http(&self, req: axum::extract::Request) -> Response {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        let bytes = match crate::core::body::read_body(body, self.max_body, self.body_timeout).await {
            Ok(bytes) => bytes,
            Err(status) => {
                let content_type =
                    parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
                let mut response = if path.starts_with("/trpc/") {
                    trpc::request_error(&status)
                } else if self.connect.method(path).is_some() {
                    connect::early_error(content_type, &status)
                } else {
                    http_error(&status)
                };
                response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                return response;
            }
        };
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let path = req.uri().path();
        if path.starts_with("/trpc/") {
            return self.trpc.handle(req).await;
        }
        // A Connect call is one lookup away; REST bindings need matching.
        if let Some(method) = self.connect.method(path) {
            return self.connect.handle(method, req).await;
        }
        match self.bindings.find(req.method().as_str(), path) {
            Found::Binding(binding, vars) => {
                if binding.method.info().kind == MethodKind::ServerStreaming && accepts_events(req.headers()) {
                    self.sse.binding(binding, &vars, req).await
                } else {
                    self.rest.call(binding, &vars, req).await
                }
            }
            Found::NotAllowed(allow) => rest::not_allowed(path, req.method(), allow),
            Found::None
                if path.starts_with("/sse/") && matches!(*req.method(), http::Method::GET | http::Method::POST) =>
            {
                self.sse.rpc(req).await
            }
            Found::None => http_error(&Status::not_found(format!("nothing is served at {path}"))),
        }
    }
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

/// Browsers may call from any origin; credentials are headers, not cookies.
fn cors() -> tower_http::cors::CorsLayer {
    use http::header::HeaderName;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any)
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
        ])
        .max_age(Duration::from_secs(86400))
}

/// The headers `cors` adds to the response of a request that is not a
/// preflight, read off the layer itself: a constant, as its policy allows
/// any origin.
fn cors_headers(cors: &tower_http::cors::CorsLayer) -> http::HeaderMap {
    use futures_util::FutureExt;
    let bare = tower::service_fn(|_: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::empty()))
    });
    let mut probe = axum::extract::Request::new(axum::body::Body::empty());
    probe.headers_mut().insert(http::header::ORIGIN, http::HeaderValue::from_static("https://example.test"));
    match cors.layer(bare).oneshot(probe).now_or_never() {
        Some(Ok(response)) => response.into_parts().0.headers,
        None | Some(Err(_)) => unreachable!("the CORS layer answers at once"),
    }
}
