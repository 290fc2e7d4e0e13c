//! One server for every protocol on one address: HTTP/1.1 and h2c, routed by
//! path and content type (`route.rs`) to the protocol adapters, behind one
//! middleware stack. The builder holds the settings; `router` assembles the
//! call pipeline and one router per protocol from them.

mod args;
pub(crate) mod conn;
mod cors;
mod docs;
mod metrics;
mod portal;
mod route;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ServiceDef;
use crate::core::auth::{Authenticator, Authorizer};
use crate::core::pipeline::Pipeline;
use crate::protocol::graphql::SocketLimits;
use crate::protocol::{connect, graphql, grpc, rest, sse, trpc, ws};

pub use crate::core::wire::DEFAULT_MAX_MESSAGE_SIZE;
pub use crate::protocol::graphql::Limits as GraphqlLimits;
pub use crate::protocol::ws::Config as WebSocketConfig;
pub use args::{Args, init_logging, shutdown_signal};
pub use conn::Limits as ConnectionLimits;
pub use portal::Portal;

/// Serves generated services on every protocol.
///
/// ```text
/// apigen_runtime::Server::builder()
///     .add_service(bookstore_service(MyStore::default()))
///     .serve(listener, shutdown_signal())
///     .await?;
/// ```
#[derive(Clone)]
pub struct Server {
    services: Vec<ServiceDef>,
    authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    max_message_size: usize,
    json: crate::core::json::Options,
    default_timeout: Option<Duration>,
    graphql: GraphqlLimits,
    ws: WebSocketConfig,
    connections: ConnectionLimits,
    trpc_max_batch: usize,
    metrics_addr: Option<std::net::SocketAddr>,
    /// The metrics listener `run` binds before it says it is listening.
    metrics_listener: Option<Arc<std::net::TcpListener>>,
    readiness: Vec<Readiness>,
    cors_origins: Option<Vec<String>>,
    rate_limits: RateLimits,
    /// The OTLP/HTTP collector spans go to.
    otlp: Option<String>,
    /// Record a span per call with the process's tracer provider.
    traces: bool,
    /// How long the server keeps serving, not ready, after the shutdown signal.
    drain_delay: Duration,
    /// Set while it does.
    draining: Arc<std::sync::atomic::AtomicBool>,
    portal: Portal,
}

/// The rate limits set in code or on the command line.
#[derive(Clone, Default)]
struct RateLimits {
    /// Every method without a limit of its own.
    default: Option<crate::RateLimit>,
    /// By `package.Service/Method`; these win over the schema's.
    methods: Vec<(String, crate::RateLimit)>,
    /// The Redis that shares the buckets between instances.
    redis: Option<String>,
}

/// A named readiness check (`Server::readiness`).
#[derive(Clone)]
struct Readiness {
    name: &'static str,
    check: Arc<dyn Fn() -> crate::BoxFuture<Result<(), crate::Status>> + Send + Sync>,
}

/// How long one readiness check may take before it counts as failed.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs every check; the first failure says why the server is not ready.
async fn not_ready(
    checks: &[Readiness],
    pipeline: Option<&Pipeline>,
    draining: &std::sync::atomic::AtomicBool,
) -> Option<String> {
    if draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Some("the server is draining before it shuts down".to_owned());
    }
    if pipeline.is_some_and(Pipeline::stopping) {
        return Some("the server is shutting down".to_owned());
    }
    for readiness in checks {
        match tokio::time::timeout(READINESS_TIMEOUT, (readiness.check)()).await {
            Ok(Ok(())) => {}
            Ok(Err(status)) => return Some(format!("{}: {}", readiness.name, status.message())),
            Err(_) => return Some(format!("{}: no answer within {} s", readiness.name, READINESS_TIMEOUT.as_secs())),
        }
    }
    None
}

impl RateLimits {
    /// Each method's limit: its own, else the schema's, else the default.
    async fn limiter(&self, services: &[ServiceDef]) -> std::io::Result<Option<crate::core::ratelimit::Limiter>> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        // The methods named in code or on the command line; a later one wins.
        let mut own = std::collections::HashMap::new();
        for (name, limit) in &self.methods {
            let path = name.trim_start_matches('/').split_once('/');
            let key = services
                .iter()
                .flat_map(|s| s.info().methods.iter().map(move |m| (s.info().name, m.name)))
                .find(|key| path == Some(*key))
                .ok_or_else(|| {
                    invalid(format!(
                        "rate limit for `{name}`: the server has no such method; name it `package.Service/Method`"
                    ))
                })?;
            own.insert(key, *limit);
        }
        let mut limits = std::collections::HashMap::new();
        for service in services {
            for method in service.info().methods {
                let key = (service.info().name, method.name);
                if let Some(limit) = own.get(&key).copied().or(method.rate_limit).or(self.default) {
                    limits.insert(key, limit);
                }
            }
        }
        let Some(limiter) = crate::core::ratelimit::Limiter::new(limits) else { return Ok(None) };
        match &self.redis {
            None => Ok(Some(limiter)),
            #[cfg(feature = "redis")]
            Some(url) => limiter.shared(url).await.map(Some).map_err(|s| invalid(s.message().to_owned())),
            #[cfg(not(feature = "redis"))]
            Some(_) => {
                Err(invalid("rate limits shared through Redis need apigen-runtime's `redis` feature".to_owned()))
            }
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server::builder()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("services", &self.services).finish_non_exhaustive()
    }
}

impl Server {
    /// A server with no services, no authentication and the default limits.
    pub fn builder() -> Server {
        Server {
            services: Vec::new(),
            authenticator: None,
            authorizer: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            json: crate::core::json::Options::default(),
            default_timeout: None,
            graphql: GraphqlLimits::default(),
            ws: WebSocketConfig::default(),
            connections: ConnectionLimits::default(),
            trpc_max_batch: crate::protocol::trpc::DEFAULT_MAX_BATCH,
            metrics_addr: None,
            metrics_listener: None,
            readiness: Vec::new(),
            cors_origins: None,
            rate_limits: RateLimits::default(),
            otlp: None,
            traces: false,
            drain_delay: Duration::ZERO,
            draining: Arc::default(),
            portal: Portal::default(),
        }
    }

    /// After the shutdown signal, keeps serving every protocol for `delay`
    /// while `/readyz` and the gRPC health service say NOT_SERVING, so that
    /// load balancers stop sending clients before connections close; then
    /// shuts down as usual. Default: no delay.
    pub fn drain_delay(mut self, delay: Duration) -> Server {
        self.drain_delay = delay;
        self
    }

    /// Exports OpenTelemetry traces over OTLP/HTTP to the collector at
    /// `endpoint` (`http://127.0.0.1:4318`; feature `otlp`): a span per call
    /// on every protocol, a child of the client's `traceparent`, and child
    /// spans for fan-out and upstream calls. It installs the process's
    /// tracer provider, named by `OTEL_SERVICE_NAME` or the first service.
    /// Without it, traces are off and only the client's context is passed on.
    pub fn otlp(mut self, endpoint: impl Into<String>) -> Server {
        self.otlp = Some(endpoint.into());
        self.traces = true;
        self
    }

    /// Records a span per call with the tracer provider the application
    /// installed itself (`opentelemetry::global::set_tracer_provider`),
    /// instead of [`Server::otlp`]'s.
    pub fn traces(mut self, on: bool) -> Server {
        self.traces = on;
        self
    }

    /// Limits how often one caller (its authenticated subject, or its IP
    /// address when anonymous) may call each method that has no limit of its
    /// own, in code or in the schema (`(apigen.method).rate_limit`). Calls over
    /// it fail with `RESOURCE_EXHAUSTED` (HTTP 429) and a retry delay
    /// (`Retry-After`).
    pub fn rate_limit(mut self, limit: crate::RateLimit) -> Server {
        self.rate_limits.default = Some(limit);
        self
    }

    /// Limits how often one caller may call `method` (`package.Service/Method`),
    /// over the schema's limit for it. A name the server does not serve makes
    /// it fail to start.
    pub fn method_rate_limit(mut self, method: impl Into<String>, limit: crate::RateLimit) -> Server {
        self.rate_limits.methods.push((method.into(), limit));
        self
    }

    /// Keeps the rate limits' buckets in the Redis at `url` (feature `redis`),
    /// so that every instance on it shares one limit per caller.
    pub fn shared_rate_limits(mut self, url: impl Into<String>) -> Server {
        self.rate_limits.redis = Some(url.into());
        self
    }

    /// Lets browsers call only from these origins (every protocol, and
    /// WebSocket upgrades), instead of from pages on loopback hosts (the
    /// default, for a front end in development): exact origins
    /// (`https://app.example.com`, `http://127.0.0.1:3000`), subdomain patterns
    /// (`https://*.example.com`), or `*` for any. An entry that is neither
    /// makes the server fail to start, saying how to write it.
    pub fn cors_origins<I, S>(mut self, origins: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cors_origins.get_or_insert_with(Vec::new).extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds a readiness check named `name`: while it fails (or takes over
    /// 2 s), `GET /readyz` answers 503 and the gRPC health service reports
    /// `NOT_SERVING` (checked every second), so load balancers send clients
    /// elsewhere; `GET /healthz` (liveness) stays 200. For example the fan-out
    /// backend: `.readiness("redis", move || { let t = topics.clone(); async move { t.ready().await } })`.
    /// The server is also not ready while it shuts down.
    pub fn readiness<F, Fut>(mut self, name: &'static str, check: F) -> Server
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), crate::Status>> + Send + 'static,
    {
        let check = Arc::new(move || -> crate::BoxFuture<Result<(), crate::Status>> { Box::pin(check()) });
        self.readiness.push(Readiness { name, check });
        self
    }

    /// Serves `GET /metrics` (Prometheus text) on a listener of its own at
    /// `addr`, open to whoever can reach it, instead of on the server's port
    /// behind the authenticator (see `core/metrics.rs` for the series).
    pub fn metrics_addr(mut self, addr: std::net::SocketAddr) -> Server {
        self.metrics_addr = Some(addr);
        self
    }

    /// Serves the developer portal (`/`, `/docs`, GraphiQL) to everyone (the
    /// default), only to authenticated callers, or not at all.
    pub fn portal(mut self, portal: Portal) -> Server {
        self.portal = portal;
        self
    }

    /// Adds a service (made by a generated `<service>_service` function).
    pub fn add_service(mut self, service: ServiceDef) -> Server {
        self.services.push(service);
        self
    }

    /// Runs `authorizer` before every call of every service, on every
    /// protocol, after authentication: the per-method permission check.
    pub fn authorizer(mut self, authorizer: impl Authorizer) -> Server {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// Requires every call (except health checks) to pass `authenticator`.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Server {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// The largest message accepted or sent, in bytes (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Server {
        self.max_message_size = bytes;
        self
    }

    /// GraphQL's depth, complexity and size limits, introspection, and how
    /// many persisted queries (APQ) the server keeps.
    pub fn graphql_limits(mut self, limits: GraphqlLimits) -> Server {
        self.graphql = limits;
        self
    }

    /// The deadline of calls whose client set none (or a later one).
    pub fn default_timeout(mut self, timeout: Duration) -> Server {
        self.default_timeout = Some(timeout);
        self
    }

    /// WebSocket limits: `connection_init` timeout, calls (or GraphQL
    /// subscriptions) per socket, buffers, pings; for `/ws` and `/graphql/ws`.
    pub fn websocket(mut self, config: WebSocketConfig) -> Server {
        self.ws = config;
        self
    }

    /// Skips JSON object keys that are no field of the request message (and
    /// enum names the schema does not have) instead of refusing the request
    /// with INVALID_ARGUMENT. Off by default, as the proto3 JSON mapping
    /// says: a misspelt field is then an error, not silently lost. Turn it on
    /// to let clients built from a newer schema send fields this server
    /// does not know yet. Applies to every JSON protocol.
    pub fn ignore_unknown_json_fields(mut self, ignore: bool) -> Server {
        self.json.ignore_unknown_fields = ignore;
        self
    }

    /// The most calls one tRPC batch (`?batch=1`) may carry (default 100);
    /// a larger batch is refused whole with 413 `PAYLOAD_TOO_LARGE`, so one
    /// request cannot start thousands of calls behind one authentication.
    pub fn trpc_max_batch(mut self, calls: usize) -> Server {
        self.trpc_max_batch = calls.max(1);
        self
    }

    /// Connection limits: HTTP/2 streams per connection, idle and body
    /// timeouts, keep-alive pings.
    pub fn connections(mut self, limits: ConnectionLimits) -> Server {
        self.connections = limits;
        self
    }

    /// Binds `args.addr`, prints `listening on http://HOST:PORT` once ready,
    /// and serves until Ctrl-C or SIGTERM. `args.token` turns on bearer-token
    /// authentication.
    pub async fn run(mut self, args: &Args) -> std::io::Result<()> {
        if let Some(token) = &args.token {
            self = self.authenticator(crate::BearerToken::new(token.clone()));
        }
        #[cfg(feature = "jwt")]
        if let Some(jwks) = &args.jwks {
            let mut jwt = if jwks.starts_with("http://") || jwks.starts_with("https://") {
                crate::Jwt::jwks_url(jwks)
                    .map_err(|s| std::io::Error::new(std::io::ErrorKind::InvalidInput, s.message().to_owned()))?
            } else {
                crate::Jwt::jwks_file(jwks)
            };
            for issuer in &args.issuers {
                jwt = jwt.issuer(issuer.clone());
            }
            for audience in &args.audiences {
                jwt = jwt.audience(audience.clone());
            }
            if let Some(cool_down) = args.jwks_cool_down {
                jwt = jwt.refresh_cool_down(cool_down);
            }
            self = self.authenticator(jwt);
        }
        if let Some(timeout) = args.ws_init_timeout {
            self.ws.init_timeout = timeout;
        }
        if let Some(addr) = args.metrics_addr {
            self.metrics_addr = Some(addr);
        }
        if let Some(portal) = args.portal {
            self.portal = portal;
        }
        if !args.cors_origins.is_empty() {
            self = self.cors_origins(args.cors_origins.iter().cloned());
        }
        for (method, limit) in &args.rate_limits {
            self = match method {
                Some(method) => self.method_rate_limit(method.clone(), *limit),
                None => self.rate_limit(*limit),
            };
        }
        if let Some(url) = &args.redis {
            self = self.shared_rate_limits(url.clone());
        }
        if let Some(url) = &args.otlp {
            self = self.otlp(url.clone());
        }
        if let Some(delay) = args.drain_delay {
            self = self.drain_delay(delay);
        }
        if let Some(quiet) = args.idle_timeouts {
            self.connections.idle_timeout = quiet;
            self.connections.body_timeout = quiet;
            self.connections.keep_alive = Some(quiet);
            self.ws.idle_timeout = Some(quiet);
            self.ws.keep_alive = Some(quiet / 3);
        }
        // Everything a client may reach once it reads `listening on …` is ready before it is
        // printed: the signal handlers, the port, and the metrics port.
        let shutdown = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(args.addr).await?;
        let addr = listener.local_addr()?;
        if let Some(metrics) = self.metrics_addr {
            let metrics = std::net::TcpListener::bind(metrics)?;
            metrics.set_nonblocking(true)?;
            self.metrics_listener = Some(Arc::new(metrics));
        }
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        self.serve(listener, shutdown).await
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting,
    /// ends open streams with `UNAVAILABLE` and waits for calls in flight.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = Arc::new(tokio::sync::watch::channel(false).0);
        let limits = self.connections;
        let checks = self.readiness.clone();
        let exporter = self.start_exporter()?;
        let (drain_delay, draining) = (self.drain_delay, Arc::clone(&self.draining));
        let (health, router) = self.router(Arc::clone(&stop)).await?;
        if !checks.is_empty() {
            // The gRPC health service follows the readiness checks until shutdown.
            let (health, mut stopping, loop_draining) = (health.clone(), stop.subscribe(), Arc::clone(&draining));
            tokio::spawn(async move {
                let mut serving = true;
                loop {
                    let ready = not_ready(&checks, None, &loop_draining).await.is_none();
                    if *stopping.borrow() {
                        return;
                    }
                    if ready != serving {
                        serving = ready;
                        health.set_all(ready).await;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopping.changed() => return,
                    }
                }
            });
        }
        let stopping = stop.subscribe();
        let stopped = Arc::clone(&stop);
        let graceful = async move {
            shutdown.await;
            health.set_all(false).await;
            if !drain_delay.is_zero() {
                draining.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::info!("draining: not ready for {} ms, then shutting down", drain_delay.as_millis());
                tokio::time::sleep(drain_delay).await;
            }
            stop.send_replace(true);
        };
        let ((), served) = tokio::join!(graceful, conn::serve(listener, router, limits, stopping));
        // WebSockets outlive their HTTP connection: give them a moment to end their calls and close (1001).
        let _ = tokio::time::timeout(Duration::from_secs(5), stopped.closed()).await;
        if let Some(flush) = exporter {
            // Sends the spans still batched; blocking, so off the async threads.
            let _ = tokio::task::spawn_blocking(flush).await;
        }
        served
    }

    /// The whole server as an axum router, for hosting it yourself.
    pub async fn into_router(mut self) -> std::io::Result<axum::Router> {
        // The exporter flushes on its own schedule; nothing here knows when the host stops.
        let _ = self.start_exporter()?;
        let served = self.router(Arc::new(tokio::sync::watch::channel(false).0)).await?.1;
        Ok(axum::Router::new().fallback_service(served))
    }

    /// Installs the OTLP exporter, if one is configured; returns what
    /// flushes it at shutdown.
    fn start_exporter(&mut self) -> std::io::Result<Option<Box<dyn FnOnce() + Send>>> {
        let Some(endpoint) = self.otlp.take() else { return Ok(None) };
        #[cfg(feature = "otlp")]
        {
            let name = self.services.first().map_or("apigen", |s| s.info().name);
            let provider = crate::core::trace::install_otlp(&endpoint, name)
                .map_err(|s| std::io::Error::new(std::io::ErrorKind::InvalidInput, s.message().to_owned()))?;
            Ok(Some(Box::new(move || {
                let _ = provider.shutdown();
            })))
        }
        #[cfg(not(feature = "otlp"))]
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("exporting traces to {endpoint} needs apigen-runtime's `otlp` feature"),
        ))
    }

    /// The pipeline every protocol calls through, the protocols' routers,
    /// and the gRPC health state to report shutdown in.
    async fn router(
        mut self,
        shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    ) -> std::io::Result<(grpc::Health, route::Served)> {
        if let Some(authorizer) = self.authorizer.take() {
            let services = std::mem::take(&mut self.services);
            self.services = services.into_iter().map(|s| s.with_authorizer(Arc::clone(&authorizer))).collect();
        }
        let scoped = self.services.iter().flat_map(|s| s.info.methods).filter(|m| !m.scopes.is_empty()).count();
        if scoped > 0 && self.authenticator.is_none() {
            tracing::warn!(
                "{scoped} methods require scopes, but the server has no authenticator: every caller may call them \
                 (configure one, for example --jwks URL)"
            );
        }
        self.services = std::mem::take(&mut self.services).into_iter().map(ServiceDef::with_scopes).collect();
        let openapi = docs::openapi_document(&self.services, self.authenticator.is_some());
        let limiter = self.rate_limits.limiter(&self.services).await?;
        let pipeline = Arc::new(
            Pipeline::new(
                self.services,
                self.authenticator,
                self.max_message_size,
                self.default_timeout,
                shutdown.subscribe(),
            )
            .with_json(self.json)
            .with_limiter(limiter)
            .with_tracer(self.traces.then(crate::core::trace::tracer)),
        );
        let (grpc, health) = grpc::GrpcRouter::new(Arc::clone(&pipeline)).await?;
        let bindings = Arc::new(crate::core::transcode::Bindings::new(&pipeline));
        let socket = SocketLimits {
            init_timeout: self.ws.init_timeout,
            max_subscriptions: self.ws.max_calls,
            stall_timeout: self.ws.stall_timeout,
            keep_alive: self.ws.keep_alive,
            idle_timeout: self.ws.idle_timeout,
            read_buffer: ws::READ_BUFFER,
        };
        let graphiql = self.portal != Portal::Off;
        let graphql = graphql::routes(&pipeline, self.graphql, socket, self.connections.body_timeout, graphiql)?;
        let grpc = Arc::new(grpc);
        let routers = route::Routers {
            grpc_web: tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), grpc::GrpcService(Arc::clone(&grpc))),
            grpc,
            connect: connect::ConnectRouter::new(Arc::clone(&pipeline)),
            rest: rest::RestRouter::new(Arc::clone(&pipeline)),
            sse: sse::SseRouter::new(Arc::clone(&pipeline), Arc::clone(&bindings)),
            trpc: trpc::TrpcRouter::new(Arc::clone(&pipeline), self.trpc_max_batch),
            bindings,
            max_body: self.max_message_size,
            body_timeout: self.connections.body_timeout,
            metrics: Arc::clone(pipeline.metrics()),
            // Owned here so that the shutdown signal lives as long as the routes.
            _shutdown: shutdown,
        };
        let metrics = Arc::clone(&pipeline);
        let (ready_pipeline, checks) = (Arc::clone(&pipeline), self.readiness.clone());
        let draining = Arc::clone(&self.draining);
        let metrics_here = self.metrics_addr.is_none();
        if let Some(bound) = &self.metrics_listener {
            let listener = tokio::net::TcpListener::from_std(bound.try_clone()?)?;
            metrics::serve_metrics(listener, Arc::clone(&pipeline))?;
        } else if let Some(addr) = self.metrics_addr {
            metrics::serve_metrics(tokio::net::TcpListener::bind(addr).await?, Arc::clone(&pipeline))?;
        }
        let portal = portal::routes(pipeline.services(), self.portal, Arc::clone(&pipeline));
        let ws = ws::WsRouter::new(pipeline, self.ws);
        // Routes matched by path alone; every other request goes straight to `routers`.
        let fixed_paths = [
            &graphql::PATHS[..],
            portal::paths(self.portal),
            &["/healthz", "/readyz", "/openapi.json", "/ws", "/metrics"],
        ]
        .concat();
        let fixed = axum::Router::new()
            .merge(graphql)
            .merge(portal)
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/readyz",
                axum::routing::get(move || {
                    let (pipeline, checks, draining) =
                        (Arc::clone(&ready_pipeline), checks.clone(), Arc::clone(&draining));
                    async move {
                        use axum::response::IntoResponse;
                        match not_ready(&checks, Some(&pipeline), &draining).await {
                            None => "ready".into_response(),
                            Some(why) => {
                                crate::core::wire::http_error(&crate::Status::unavailable(format!("not ready: {why}")))
                            }
                        }
                    }
                }),
            )
            .route(
                "/openapi.json",
                axum::routing::get(move || {
                    let doc = openapi.clone();
                    async move { ([(http::header::CONTENT_TYPE, "application/json")], doc.to_string()) }
                }),
            )
            .route("/ws", ws.route())
            .route(
                "/metrics",
                axum::routing::get(move |headers: http::HeaderMap| async move {
                    if !metrics_here {
                        return crate::core::wire::http_error(&crate::Status::not_found(
                            "metrics are served on the server's metrics address",
                        ));
                    }
                    metrics::metrics_response(&metrics, Some(&headers)).await
                }),
            );
        let cors = cors::Cors::new(self.cors_origins.as_deref())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let router = route::Served::new(route::Edge::new(routers, fixed, fixed_paths, cors));
        Ok((health, router))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_tungstenite::tungstenite::Message;

    use crate::core::call::{BoxFuture, Call, Output};
    use crate::{MethodInfo, MethodKind, ServiceDef, ServiceInfo, Status};

    static ECHO: ServiceInfo = ServiceInfo::new(
        "test.Echo",
        &[MethodInfo::new("Echo", MethodKind::Unary, "google.protobuf.Timestamp", "google.protobuf.Timestamp")],
        &[],
    );

    fn echo(_: std::sync::Arc<()>, _: usize, call: Call) -> BoxFuture<Result<Output, Status>> {
        crate::core::call::unary(call, |_, request: crate::wkt::Timestamp| async move { Ok(request) })
    }

    #[tokio::test]
    async fn websockets_work_over_http2() {
        // The server advertises RFC 8441's extended CONNECT in its SETTINGS; /ws took only GET.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let server = super::Server::builder().add_service(ServiceDef::new(&ECHO, (), echo));
        let served = tokio::spawn(server.serve(listener, std::future::pending()));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connected");
        let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tcp))
            .await
            .expect("an HTTP/2 connection");
        tokio::spawn(conn);
        let request = http::Request::builder()
            .method(http::Method::CONNECT)
            .extension(hyper::ext::Protocol::from_static("websocket"))
            .uri(format!("http://{addr}/ws"))
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "apigen.v1")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("a request");
        let mut response = tokio::time::timeout(Duration::from_secs(5), send.send_request(request))
            .await
            .expect("an answer in time")
            .expect("an answer");
        assert_eq!(response.status(), 200, "{response:?}");
        assert_eq!(response.headers()["sec-websocket-protocol"], "apigen.v1");
        let upgraded = hyper::upgrade::on(&mut response).await.expect("upgraded");
        let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None,
        )
        .await;
        let frames = [
            r#"{"type":"connection_init"}"#,
            r#"{"type":"subscribe","id":"1","method":"test.Echo/Echo","payload":"1970-01-01T00:00:07Z"}"#,
        ];
        socket.send(Message::text(frames[0])).await.expect("sent");
        let ack = read(&mut socket).await;
        assert_eq!(ack["type"], "connection_ack");
        socket.send(Message::text(frames[1])).await.expect("sent");
        let reply = read(&mut socket).await;
        assert_eq!((reply["type"].as_str(), reply["payload"].as_str()), (Some("next"), Some("1970-01-01T00:00:07Z")));
        served.abort();
    }

    static FAILING: ServiceInfo = ServiceInfo::new(
        "test.Failing",
        &[MethodInfo::new("Fail", MethodKind::Unary, "google.protobuf.Timestamp", "google.protobuf.Timestamp")],
        &[],
    );

    fn fail(_: std::sync::Arc<()>, _: usize, call: Call) -> BoxFuture<Result<Output, Status>> {
        crate::core::call::unary(call, |_, _: crate::wkt::Timestamp| async move {
            Err::<crate::wkt::Timestamp, _>(Status::internal("broken"))
        })
    }

    /// What a 5xx answer logs at `level`, as the server's fmt subscriber would print it.
    async fn failure_log(level: tracing::Level) -> String {
        use tower::ServiceExt;
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("unpoisoned").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .without_time()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let router = super::Server::builder().add_service(ServiceDef::new(&FAILING, (), fail)).into_router().await;
        let request = http::Request::post("/test.Failing/Fail")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("\"1970-01-01T00:00:07Z\""))
            .expect("a request");
        let response = router.expect("a router").oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), 500);
        drop(response);
        let log = String::from_utf8(buffer.0.lock().expect("unpoisoned").clone()).expect("text");
        // The latency depends on the machine's load, not on the code under test.
        let latency = regex::Regex::new(r"latency=\d+ ms").expect("a pattern");
        log.lines()
            .filter(|line| line.contains("on_failure"))
            .map(|line| format!("{}\n", latency.replace(line, "latency=N ms")))
            .collect()
    }

    #[tokio::test]
    async fn server_errors_are_logged_whether_or_not_debug_is_on() {
        // With DEBUG off the server logs a failure itself instead of through tower-http's
        // TraceLayer: the same line (outside the request span, which is off then).
        let warn = failure_log(tracing::Level::WARN).await;
        let debug = failure_log(tracing::Level::DEBUG).await;
        let expected = "ERROR tower_http::trace::on_failure: response failed \
                        classification=Status code: 500 Internal Server Error latency=N ms\n";
        assert_eq!(warn, expected);
        assert!(debug.starts_with("ERROR request{method=POST uri=/test.Failing/Fail version=HTTP/1.1}: "), "{debug}");
        assert!(debug.ends_with(&expected["ERROR ".len()..]), "{debug}");
        assert_eq!(failure_log(tracing::Level::TRACE).await, debug);
    }

    async fn read<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> serde_json::Value
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame in time");
            if let Message::Text(text) = frame.expect("a frame").expect("readable") {
                return serde_json::from_str(&text).expect("JSON");
            }
        }
    }
}
