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
use tower::ServiceExt;

use crate::core::transcode::{Bindings, Found};
use crate::core::wire::http_error;
use crate::protocol::{connect, grpc, rest, sse, trpc};
use crate::{MethodKind, Protocol, Status};

/// The protocol routers the fallback chooses between.
pub(super) struct Routers {
    pub(super) grpc: Arc<grpc::GrpcRouter>,
    pub(super) connect: connect::ConnectRouter,
    pub(super) rest: rest::RestRouter,
    pub(super) sse: sse::SseRouter,
    pub(super) trpc: trpc::TrpcRouter,
    pub(super) bindings: Arc<Bindings>,
    pub(super) max_body: usize,
    pub(super) body_timeout: Duration,
    pub(super) _shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

/// The fallback service.
pub(super) fn service(
    routers: Arc<Routers>,
) -> impl tower::Service<
    axum::extract::Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let grpc_web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .service(grpc::GrpcService(Arc::clone(&routers.grpc)));
    tower::service_fn(move |req: axum::extract::Request| {
        let (routers, grpc_web) = (Arc::clone(&routers), grpc_web.clone());
        async move {
            let content_type =
                req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_type.starts_with("application/grpc-web") {
                let req = req.map(tonic::body::Body::new);
                let response = grpc_web.oneshot(req).await.unwrap_or_else(|e| match e {});
                return Ok::<_, std::convert::Infallible>(response.map(axum::body::Body::new));
            }
            if content_type.starts_with("application/grpc") {
                // Plain gRPC needs no translation: straight to the gRPC router.
                let req = req.map(tonic::body::Body::new);
                return Ok(routers.grpc.route(req, Protocol::Grpc).await.map(axum::body::Body::new));
            }
            Ok(routers.http(req).await)
        }
    })
}

impl Routers {
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

/// The middleware every protocol goes through: tracing, CORS, and the
/// `WWW-Authenticate` challenge on every 401.
pub(super) fn with_layers(router: axum::Router) -> axum::Router {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(cors())
            .layer(axum::middleware::map_response(challenge)),
    )
}

/// Every 401, whichever protocol answers it, names the scheme to use (RFC 9110 §11.6.1).
async fn challenge(mut response: Response) -> Response {
    if response.status() == http::StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(http::header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
    response
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
