//! gRPC and gRPC-Web on tonic: the standard health service (open to
//! everyone, so load balancers need no credentials), server reflection (v1
//! and v1alpha, from the services' embedded descriptors) and every method a
//! served service has. gRPC-Web is translated by tonic-web in front of the
//! same router.

mod call;

use std::sync::Arc;
use std::time::Duration;

use tower::ServiceExt;

use crate::Protocol;
use crate::core::call::BoxFuture;
use crate::core::pipeline::Pipeline;

pub(crate) use call::Body;

type GrpcBoxService =
    tower::util::BoxCloneSyncService<http::Request<Body>, http::Response<Body>, std::convert::Infallible>;

/// The gRPC health service's state.
#[derive(Clone)]
pub(crate) struct Health {
    reporter: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
}

impl Health {
    /// Every service (and the server, `""`) serving or not.
    pub(crate) async fn set_all(&self, serving: bool) {
        use tonic_health::ServingStatus;
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status("", status).await;
        for name in &self.names {
            self.reporter.set_service_status(*name, status).await;
        }
    }
}

/// Serves gRPC requests (`application/grpc*`) and, behind tonic-web, gRPC-Web ones.
pub(crate) struct GrpcRouter {
    pipeline: Arc<Pipeline>,
    health: GrpcBoxService,
    reflection_v1: GrpcBoxService,
    reflection_v1alpha: GrpcBoxService,
}

impl GrpcRouter {
    /// The router and the health state the server reports into. Fails when
    /// the services' descriptors do not make a reflection service.
    pub(crate) async fn new(pipeline: Arc<Pipeline>) -> std::io::Result<(GrpcRouter, Health)> {
        let (reporter, health_server) = tonic_health::server::health_reporter();
        let health = Health { reporter, names: pipeline.services().iter().map(|s| s.info().name).collect() };
        health.set_all(true).await;
        let mut sets: Vec<&'static [u8]> = pipeline.services().iter().map(|s| s.info().file_descriptor_set).collect();
        sets.sort();
        sets.dedup();
        let reflection = || {
            sets.iter().fold(tonic_reflection::server::Builder::configure(), |b, fds| {
                b.register_encoded_file_descriptor_set(fds)
            })
        };
        let invalid = |e: tonic_reflection::server::Error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the services' descriptors are not valid: {e}"),
            )
        };
        let router = GrpcRouter {
            health: GrpcBoxService::new(health_server),
            reflection_v1: GrpcBoxService::new(reflection().build_v1().map_err(invalid)?),
            reflection_v1alpha: GrpcBoxService::new(reflection().build_v1alpha().map_err(invalid)?),
            pipeline,
        };
        Ok((router, health))
    }

    /// One gRPC (or translated gRPC-Web) request; `protocol` says which.
    /// `peer` is the client's address when the caller knows it, else the
    /// request's `ConnectInfo` extension's.
    pub(crate) async fn route(
        &self,
        req: http::Request<Body>,
        protocol: Protocol,
        peer: Option<std::net::SocketAddr>,
    ) -> http::Response<Body> {
        let path = req.uri().path().to_owned();
        // Health checks stay open so load balancers need no credentials.
        if path.starts_with("/grpc.health.v1.Health/") {
            let response = self.health.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
            // A Watch stays open until the server stops; then it ends UNAVAILABLE like every stream.
            return response.map(|body| until_shutdown_body(body, self.pipeline.shutdown()));
        }
        let identity = match self.pipeline.authenticate(req.headers()).await {
            Ok(identity) => identity,
            Err(status) => return tonic::Status::from(status).into_http(),
        };
        if path.starts_with("/grpc.reflection.v1.ServerReflection/") {
            return self.reflection_v1.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        }
        if path.starts_with("/grpc.reflection.v1alpha.ServerReflection/") {
            return self.reflection_v1alpha.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        }
        let Some(method) = self.pipeline.method(path.trim_start_matches('/'), protocol) else {
            return tonic::Status::unimplemented(format!("no method at {path} over {protocol:?}")).into_http();
        };
        let asked =
            req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(crate::core::wire::parse_timeout);
        let peer = peer.or_else(|| crate::core::pipeline::peer(req.extensions()));
        let ctx = self.pipeline.context(protocol, req.headers().clone(), peer, identity, asked);
        call::handler(Arc::clone(&self.pipeline), method.clone(), req, ctx).await
    }
}

/// The router as a tower service, for tonic-web's layer in front of it.
#[derive(Clone)]
pub(crate) struct GrpcService(pub(crate) Arc<GrpcRouter>);

impl tower::Service<http::Request<Body>> for GrpcService {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let router = Arc::clone(&self.0);
        Box::pin(async move { Ok(router.route(req, Protocol::GrpcWeb, None).await) })
    }
}

/// A gRPC response body that, when the server shuts down, ends with
/// `grpc-status: 14` trailers instead of staying open.
fn until_shutdown_body(body: Body, shutdown: tokio::sync::watch::Receiver<bool>) -> Body {
    // Let the NOT_SERVING update, set just before, reach the watcher first.
    let grace = Duration::from_millis(250);
    let frames = crate::core::call::stop_at_shutdown(http_body_util::BodyStream::new(body), shutdown, grace, || {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
        trailers.insert("grpc-message", http::HeaderValue::from_static("the server is shutting down"));
        Some(Ok(http_body::Frame::trailers(trailers)))
    });
    Body::new(http_body_util::StreamBody::new(frames))
}
