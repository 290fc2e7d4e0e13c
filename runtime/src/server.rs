//! One server for every protocol on one address: HTTP/1.1 and h2c, routed by
//! path and content type, behind one middleware stack.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use tower::ServiceExt;

use crate::auth::Authenticator;
use crate::dispatch::BoxFuture;
use crate::grpc::{self, CallOptions};
use crate::service::ServiceDef;
use crate::{Protocol, Status};

/// What an example or quick-start binary reads from its command line:
/// `--addr HOST:PORT` (default `127.0.0.1:8080`; port 0 picks a free one)
/// `--token SECRET` (require `authorization: Bearer SECRET`) and
/// `--redis URL` (fan-out topics on Redis, for servers that have them).
#[derive(Debug, Clone)]
pub struct Args {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The bearer token every call must carry, when set.
    pub token: Option<String>,
    /// The Redis of the fan-out topics (`redis://127.0.0.1:6379`), when set.
    pub redis: Option<String>,
    /// `--ws-init-timeout-ms` (hidden, for tests): how long a WebSocket client
    /// has to send `connection_init`.
    pub ws_init_timeout: Option<Duration>,
    /// `--idle-timeouts-ms` (hidden, for tests): the HTTP/1 idle, request body,
    /// keep-alive and WebSocket idle timeouts all at once (WebSocket pings
    /// every third of it).
    pub idle_timeouts: Option<Duration>,
}

impl Args {
    /// Parses the process's arguments; exits with status 2 and a usage line on bad input.
    pub fn from_env(program: &str) -> Args {
        match Args::parse(std::env::args().skip(1)) {
            Ok(args) => args,
            Err(message) => {
                eprintln!(
                    "error: {message}
usage: {program} [--addr HOST:PORT] [--token SECRET] [--redis URL]"
                );
                std::process::exit(2);
            }
        }
    }

    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut out = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            redis: None,
            ws_init_timeout: None,
            idle_timeouts: None,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match flag.as_str() {
                "--addr" => {
                    let v = value("--addr")?;
                    out.addr = v
                        .parse()
                        .map_err(|e| format!("--addr {v}: {e}; write it as HOST:PORT, for example 127.0.0.1:8080"))?;
                }
                "--token" => out.token = Some(value("--token")?).filter(|t| !t.is_empty()),
                "--redis" => out.redis = Some(value("--redis")?),
                "--ws-init-timeout-ms" => {
                    let v = value("--ws-init-timeout-ms")?;
                    let ms = v.parse().map_err(|e| format!("--ws-init-timeout-ms {v}: {e}"))?;
                    out.ws_init_timeout = Some(Duration::from_millis(ms));
                }
                "--idle-timeouts-ms" => {
                    let v = value("--idle-timeouts-ms")?;
                    let ms: u64 = v.parse().map_err(|e| format!("--idle-timeouts-ms {v}: {e}"))?;
                    out.idle_timeouts = Some(Duration::from_millis(ms.max(3)));
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(out)
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings and errors).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// right after `listening on …` is printed still shuts down gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (term, int) = (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok());
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A gRPC response body that, when the server shuts down, ends with
/// `grpc-status: 14` trailers instead of staying open.
fn until_shutdown_body(body: grpc::Body, shutdown: tokio::sync::watch::Receiver<bool>) -> grpc::Body {
    // Let the NOT_SERVING update, set just before, reach the watcher first.
    let grace = Duration::from_millis(250);
    let frames = crate::dispatch::stop_at_shutdown(http_body_util::BodyStream::new(body), shutdown, grace, || {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
        trailers.insert("grpc-message", http::HeaderValue::from_static("the server is shutting down"));
        Some(Ok(http_body::Frame::trailers(trailers)))
    });
    grpc::Body::new(http_body_util::StreamBody::new(frames))
}

/// The default largest message: 4 MiB, as gRPC's default.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

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
    authorizer: Option<Arc<dyn crate::auth::Authorizer>>,
    max_message_size: usize,
    default_timeout: Option<Duration>,
    graphql: crate::graphql::Limits,
    ws: crate::ws::Config,
    connections: crate::conn::Limits,
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
            default_timeout: None,
            graphql: crate::graphql::Limits::default(),
            ws: crate::ws::Config::default(),
            connections: crate::conn::Limits::default(),
        }
    }

    /// Adds a service (made by a generated `<service>_service` function).
    pub fn add_service(mut self, service: ServiceDef) -> Server {
        self.services.push(service);
        self
    }

    /// Runs `authorizer` before every call of every service, on every
    /// protocol, after authentication: the per-method permission check.
    pub fn authorizer(mut self, authorizer: impl crate::auth::Authorizer) -> Server {
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

    /// GraphQL's depth, complexity and size limits and introspection.
    pub fn graphql_limits(mut self, limits: crate::graphql::Limits) -> Server {
        self.graphql = limits;
        self
    }

    /// The deadline of calls whose client set none (or a later one).
    pub fn default_timeout(mut self, timeout: Duration) -> Server {
        self.default_timeout = Some(timeout);
        self
    }

    /// WebSocket (`/ws`) limits: `connection_init` timeout, calls per socket, buffers.
    pub fn websocket(mut self, config: crate::ws::Config) -> Server {
        self.ws = config;
        self
    }

    /// Connection limits: HTTP/2 streams per connection, idle and body
    /// timeouts, keep-alive pings.
    pub fn connections(mut self, limits: crate::conn::Limits) -> Server {
        self.connections = limits;
        self
    }

    /// Binds `args.addr`, prints `listening on http://HOST:PORT` once ready,
    /// and serves until Ctrl-C or SIGTERM. `args.token` turns on bearer-token
    /// authentication.
    pub async fn run(mut self, args: &Args) -> std::io::Result<()> {
        if let Some(token) = &args.token {
            self = self.authenticator(crate::auth::BearerToken::new(token.clone()));
        }
        if let Some(timeout) = args.ws_init_timeout {
            self.ws.init_timeout = timeout;
        }
        if let Some(quiet) = args.idle_timeouts {
            self.connections.idle_timeout = quiet;
            self.connections.body_timeout = quiet;
            self.connections.keep_alive = Some(quiet);
            self.ws.idle_timeout = Some(quiet);
            self.ws.keep_alive = Some(quiet / 3);
        }
        let listener = tokio::net::TcpListener::bind(args.addr).await?;
        let addr = listener.local_addr()?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        self.serve(listener, shutdown_signal()).await
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting,
    /// ends open streams with `UNAVAILABLE` and waits for calls in flight.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = Arc::new(tokio::sync::watch::channel(false).0);
        let limits = self.connections;
        let (health, router) = self.router(Arc::clone(&stop)).await?;
        let stopping = stop.subscribe();
        let stopped = Arc::clone(&stop);
        let graceful = async move {
            shutdown.await;
            health.set_not_serving_all().await;
            stop.send_replace(true);
        };
        let ((), served) = tokio::join!(graceful, crate::conn::serve(listener, router, limits, stopping));
        // WebSockets outlive their HTTP connection: give them a moment to end their calls and close (1001).
        let _ = tokio::time::timeout(Duration::from_secs(5), stopped.closed()).await;
        served
    }

    /// The whole server as an axum router, for hosting it yourself.
    pub async fn into_router(self) -> std::io::Result<axum::Router> {
        Ok(self.router(Arc::new(tokio::sync::watch::channel(false).0)).await?.1)
    }

    async fn router(
        mut self,
        shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    ) -> std::io::Result<(Health, axum::Router)> {
        if let Some(authorizer) = self.authorizer.take() {
            let services = std::mem::take(&mut self.services);
            self.services = services.into_iter().map(|s| s.with_authorizer(Arc::clone(&authorizer))).collect();
        }
        let (reporter, health_server) = tonic_health::server::health_reporter();
        let health = Health { reporter, names: self.services.iter().map(|s| s.info().name).collect() };
        health.set_serving_all().await;
        let mut sets: Vec<&'static [u8]> = self.services.iter().map(|s| s.info().file_descriptor_set).collect();
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
        let reflection_v1 = reflection_service(reflection().build_v1().map_err(invalid)?);
        let reflection_v1alpha = reflection_service(reflection().build_v1alpha().map_err(invalid)?);
        let mut methods = HashMap::new();
        for service in &self.services {
            for (i, m) in service.info().methods.iter().enumerate() {
                if m.serves(Protocol::Grpc) || m.serves(Protocol::GrpcWeb) {
                    methods.insert(format!("/{}/{}", service.info().name, m.name), (service.clone(), i));
                }
            }
        }
        let rest_shutdown = shutdown.subscribe();
        let ws = crate::ws::WsRouter::new(
            &self.services,
            self.authenticator.clone(),
            self.max_message_size,
            self.default_timeout,
            self.ws,
            shutdown.subscribe(),
        );
        let shutdown_for_trpc = shutdown.subscribe();
        let shutdown_for_graphql = shutdown.subscribe();
        let grpc = Arc::new(GrpcRouter {
            methods,
            health: tower::util::BoxCloneSyncService::new(health_server),
            reflection_v1,
            reflection_v1alpha,
            authenticator: self.authenticator.clone(),
            max_message_size: self.max_message_size,
            default_timeout: self.default_timeout,
            shutdown,
        });
        let grpc_web =
            tower::ServiceBuilder::new().layer(tonic_web::GrpcWebLayer::new()).service(GrpcService(Arc::clone(&grpc)));
        let rest = Arc::new(crate::rest::RestRouter::new(
            &self.services,
            self.authenticator.clone(),
            self.max_message_size,
            self.default_timeout,
            rest_shutdown,
        ));
        let trpc = Arc::new(crate::trpc::TrpcRouter::new(
            &self.services,
            self.authenticator.clone(),
            self.default_timeout,
            shutdown_for_trpc,
        ));
        let max_body = self.max_message_size;
        let body_timeout = self.connections.body_timeout;
        let openapi = openapi_document(&self.services);
        let graphql = self.graphql_routes(shutdown_for_graphql)?;
        let router = axum::Router::new()
            .merge(graphql)
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/openapi.json",
                axum::routing::get(move || {
                    let doc = openapi.clone();
                    async move { ([(http::header::CONTENT_TYPE, "application/json")], doc.to_string()) }
                }),
            )
            .route("/docs", axum::routing::get(|| async { axum::response::Html(DOCS_PAGE) }))
            .route("/ws", ws.route())
            .fallback_service(tower::service_fn(move |req: axum::extract::Request| {
                let (grpc, grpc_web, rest, trpc) =
                    (Arc::clone(&grpc), grpc_web.clone(), Arc::clone(&rest), Arc::clone(&trpc));
                async move {
                    let content_type =
                        req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
                    if content_type.starts_with("application/grpc-web") {
                        let mut req = req.map(tonic::body::Body::new);
                        req.extensions_mut().insert(Protocol::GrpcWeb);
                        let response = grpc_web.oneshot(req).await.unwrap_or_else(|e| match e {});
                        return Ok::<_, std::convert::Infallible>(response.map(axum::body::Body::new));
                    }
                    if content_type.starts_with("application/grpc") {
                        // Plain gRPC needs no translation: straight to the gRPC router.
                        let mut req = req.map(tonic::body::Body::new);
                        req.extensions_mut().insert(Protocol::Grpc);
                        return Ok(grpc.route(req).await.map(axum::body::Body::new));
                    }
                    // HTTP/1.1 requests are answered only after their whole body is
                    // read, so an early error never leaves unread bytes on a
                    // connection the client will reuse.
                    let (parts, body) = req.into_parts();
                    let bytes = match crate::conn::read_body(body, max_body, body_timeout).await {
                        Ok(bytes) => bytes,
                        Err(status) => {
                            let path = parts.uri.path();
                            let content_type = parts
                                .headers
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            let mut response =
                                crate::rest::early_error(path, content_type, rest.is_rpc_path(path), &status);
                            response
                                .headers_mut()
                                .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                            return Ok(response);
                        }
                    };
                    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                    if req.uri().path().starts_with("/trpc/") {
                        return Ok(trpc.handle(req).await);
                    }
                    // A Connect call is one lookup away; REST bindings need matching.
                    if rest.is_rpc_path(req.uri().path()) {
                        return Ok(rest.rpc(req).await);
                    }
                    let req = match rest.route(req).await {
                        Ok(response) => return Ok(response),
                        Err(req) => req,
                    };
                    if req.uri().path().starts_with("/sse/")
                        && (req.method() == http::Method::GET || req.method() == http::Method::POST)
                    {
                        return Ok(rest.sse(req).await);
                    }
                    Ok(not_found(req.uri().path()))
                }
            }))
            .layer(
                tower::ServiceBuilder::new()
                    .layer(tower_http::trace::TraceLayer::new_for_http())
                    .layer(cors())
                    .layer(axum::middleware::map_response(challenge)),
            );
        Ok((health, router))
    }
}

impl Server {
    /// `/graphql` (POST, and GET for queries or GraphiQL), `/graphql/ws`
    /// (graphql-transport-ws) and `/graphql/schema.graphql`, when the
    /// services have a GraphQL schema.
    fn graphql_routes(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> std::io::Result<axum::Router> {
        use axum::extract::{Query, WebSocketUpgrade};
        use axum::response::{Html, IntoResponse};

        let mut sdls: Vec<&'static str> =
            self.services.iter().map(|s| s.info().graphql).filter(|s| !s.is_empty()).collect();
        sdls.sort();
        sdls.dedup();
        let Some(sdl) = sdls.first().copied() else { return Ok(axum::Router::new()) };
        if sdls.len() > 1 {
            tracing::warn!("services come from {} generation runs; GraphQL serves the first one's schema", sdls.len());
        }
        // The strictest limit any service asks for wins over the server's.
        let mut limits = self.graphql;
        for s in &self.services {
            let (depth, complexity) = s.info().graphql_limits;
            if depth > 0 {
                limits.max_depth = limits.max_depth.min(depth as usize);
            }
            if complexity > 0 {
                limits.max_complexity = limits.max_complexity.min(complexity as usize);
            }
        }
        let schema = crate::graphql::schema(sdl, &self.services, limits, shutdown.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let auth = self.authenticator.clone();
        let timeout = self.default_timeout;
        let queries = Arc::new(crate::graphql::QueryCache::new(256));
        let execute = {
            let (schema, auth) = (schema.clone(), auth.clone());
            move |headers: http::HeaderMap, request: Result<async_graphql::Request, String>| {
                let (schema, auth, queries) = (schema.clone(), auth.clone(), Arc::clone(&queries));
                async move {
                    let mut request = match request {
                        Ok(r) => r,
                        Err(message) => {
                            return graphql_error(http::StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &message);
                        }
                    };
                    if request.query.len() > limits.max_query_bytes {
                        let message = format!("the query is larger than {} bytes", limits.max_query_bytes);
                        return graphql_error(http::StatusCode::PAYLOAD_TOO_LARGE, "RESOURCE_EXHAUSTED", &message);
                    }
                    let identity = match &auth {
                        Some(a) => match a.authenticate(&headers).await {
                            Ok(i) => Some(i),
                            Err(s) => {
                                return graphql_error(http::StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", s.message());
                            }
                        },
                        None => None,
                    };
                    let caller = crate::graphql::Caller { headers, identity, timeout };
                    queries.prepare(&mut request);
                    let response = schema.execute(request.data(caller)).await;
                    axum::Json(response).into_response()
                }
            }
        };
        let (max_body, body_timeout) = (self.max_message_size, self.connections.body_timeout);
        let post = {
            let execute = execute.clone();
            move |headers: http::HeaderMap, body: axum::body::Body| {
                let execute = execute.clone();
                async move {
                    let body = match crate::conn::read_body(body, max_body, body_timeout).await {
                        Ok(body) => body,
                        Err(status) => {
                            let code = status.code().as_str().to_ascii_uppercase();
                            let http = http::StatusCode::from_u16(status.http_status())
                                .unwrap_or(http::StatusCode::BAD_REQUEST);
                            return graphql_error(http, &code, status.message());
                        }
                    };
                    let request = serde_json::from_slice::<async_graphql::Request>(&body)
                        .map_err(|e| format!("not a GraphQL request: {e}"));
                    execute(headers, request).await
                }
            }
        };
        let get = move |headers: http::HeaderMap, Query(params): Query<std::collections::HashMap<String, String>>| {
            let execute = execute.clone();
            async move {
                let Some(query) = params.get("query").cloned() else {
                    let page = async_graphql::http::GraphiQLSource::build()
                        .endpoint("/graphql")
                        .subscription_endpoint("/graphql/ws")
                        .finish();
                    return Html(page).into_response();
                };
                let mut request = async_graphql::Request::new(query);
                if let Some(name) = params.get("operationName") {
                    request = request.operation_name(name.clone());
                }
                if let Some(vars) = params.get("variables").and_then(|v| serde_json::from_str(v).ok()) {
                    request = request.variables(async_graphql::Variables::from_json(vars));
                }
                // GET never changes anything: mutations must be POSTed.
                // The operation to run, not the text's first word: comments and
                // several operations cannot sneak a mutation past GET.
                let is_mutation = async_graphql::parser::parse_query(&request.query).is_ok_and(|doc| {
                    use async_graphql::parser::types::{DocumentOperations, OperationType};
                    let chosen = match (&doc.operations, params.get("operationName")) {
                        (DocumentOperations::Single(op), _) => Some(op.node.ty),
                        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()).map(|op| op.node.ty),
                        (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
                    };
                    chosen == Some(OperationType::Mutation)
                });
                if is_mutation {
                    let mut response = graphql_error(
                        http::StatusCode::METHOD_NOT_ALLOWED,
                        "INVALID_ARGUMENT",
                        "send mutations with POST",
                    );
                    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                    return response;
                }
                execute(headers, Ok(request)).await
            }
        };
        let ws = {
            let (schema, auth, config) = (schema.clone(), auth.clone(), self.ws);
            move |headers: http::HeaderMap, upgrade: WebSocketUpgrade| {
                let (schema, auth, shutdown) = (schema.clone(), auth.clone(), shutdown.clone());
                async move {
                    let upgrade = upgrade
                        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
                        .read_buffer_size(crate::ws::READ_BUFFER);
                    upgrade.on_upgrade(move |socket| {
                        // The subprotocol the upgrade chose; graphql-transport-ws when none was offered.
                        let protocol = socket
                            .protocol()
                            .and_then(|p| p.to_str().ok())
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(async_graphql::http::WebSocketProtocols::GraphQLWS);
                        let refused = Arc::new(std::sync::atomic::AtomicBool::new(false));
                        let flag = Arc::clone(&refused);
                        let build = move |frames| {
                            async_graphql::http::WebSocket::new(schema, frames, protocol).on_connection_init(
                                move |payload: serde_json::Value| async move {
                                    // Credentials come in the upgrade's headers or in
                                    // connection_init's payload (browsers cannot set headers).
                                    let mut metadata = headers.clone();
                                    if let Some(token) = payload.get("authorization").and_then(|v| v.as_str())
                                        && let Ok(v) = http::HeaderValue::from_str(token)
                                    {
                                        metadata.insert(http::header::AUTHORIZATION, v);
                                    }
                                    let identity = match &auth {
                                        Some(a) => match a.authenticate(&metadata).await {
                                            Ok(identity) => Some(identity),
                                            Err(status) => {
                                                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                                                return Err(async_graphql::Error::new(status.message().to_owned()));
                                            }
                                        },
                                        None => None,
                                    };
                                    let mut data = async_graphql::Data::default();
                                    data.insert(crate::graphql::Caller { headers: metadata, identity, timeout });
                                    Ok(data)
                                },
                            )
                        };
                        crate::graphql_ws::serve(socket, protocol, build, refused, shutdown, config)
                    })
                }
            }
        };
        Ok(axum::Router::new()
            .route(
                "/graphql",
                // The body is read with the server's limits, not axum's 2 MB default.
                axum::routing::post(post).get(get),
            )
            .route("/graphql/ws", axum::routing::get(ws))
            .route(
                "/graphql/schema.graphql",
                axum::routing::get(move || async move {
                    ([(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], sdl)
                }),
            ))
    }
}

/// Every 401, whichever protocol answers it, names the scheme to use (RFC 9110 §11.6.1).
async fn challenge(mut response: axum::response::Response) -> axum::response::Response {
    if response.status() == http::StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(http::header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
    response
}

fn graphql_error(status: http::StatusCode, code: &str, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (status, axum::Json(body)).into_response()
}

/// The API reference page: renders `/openapi.json` with no network access.
const DOCS_PAGE: &str = include_str!("docs.html");

/// One OpenAPI document for every service: the generated document when the
/// services come from one generation run, else their paths, tags and
/// schemas merged.
fn openapi_document(services: &[ServiceDef]) -> Arc<str> {
    let mut docs: Vec<&'static str> = services.iter().map(|s| s.info().openapi).collect();
    docs.sort();
    docs.dedup();
    if let [one] = docs.as_slice() {
        return Arc::from(*one);
    }
    let mut merged = serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "API", "version": "v1"},
        "tags": [],
        "paths": {},
        "components": {"schemas": {}}
    });
    for doc in docs {
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(doc) else { continue };
        for (key, pointer) in [("paths", "/paths"), ("components", "/components/schemas")] {
            let from = match key {
                "paths" => doc.get("paths"),
                _ => doc.get("components").and_then(|c| c.get("schemas")),
            };
            if let (Some(serde_json::Value::Object(from)), Some(serde_json::Value::Object(to))) =
                (from, merged.pointer_mut(pointer))
            {
                to.extend(from.clone());
            }
        }
        if let (Some(serde_json::Value::Array(tags)), Some(serde_json::Value::Array(to))) =
            (doc.get("tags"), merged.get_mut("tags"))
        {
            to.extend(tags.iter().cloned());
        }
    }
    Arc::from(merged.to_string())
}

fn not_found(path: &str) -> axum::response::Response {
    crate::rest::error_response(&Status::not_found(format!("nothing is served at {path}")))
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

type GrpcBoxService =
    tower::util::BoxCloneSyncService<http::Request<grpc::Body>, http::Response<grpc::Body>, std::convert::Infallible>;

fn reflection_service<S>(service: S) -> GrpcBoxService
where
    S: tower::Service<
            http::Request<grpc::Body>,
            Response = http::Response<grpc::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    tower::util::BoxCloneSyncService::new(service)
}

/// The gRPC health service's state.
#[derive(Clone)]
struct Health {
    reporter: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
}

impl Health {
    async fn set_serving_all(&self) {
        use tonic_health::ServingStatus;
        self.reporter.set_service_status("", ServingStatus::Serving).await;
        for name in &self.names {
            self.reporter.set_service_status(*name, ServingStatus::Serving).await;
        }
    }

    async fn set_not_serving_all(&self) {
        use tonic_health::ServingStatus;
        self.reporter.set_service_status("", ServingStatus::NotServing).await;
        for name in &self.names {
            self.reporter.set_service_status(*name, ServingStatus::NotServing).await;
        }
    }
}

struct GrpcRouter {
    methods: HashMap<String, (ServiceDef, usize)>,
    health: GrpcBoxService,
    reflection_v1: GrpcBoxService,
    reflection_v1alpha: GrpcBoxService,
    authenticator: Option<Arc<dyn Authenticator>>,
    max_message_size: usize,
    default_timeout: Option<Duration>,
    /// Set to `true` when the server starts shutting down; owned here so
    /// that it lives as long as the routes.
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

#[derive(Clone)]
struct GrpcService(Arc<GrpcRouter>);

impl tower::Service<http::Request<grpc::Body>> for GrpcService {
    type Response = http::Response<grpc::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<grpc::Body>) -> Self::Future {
        let router = Arc::clone(&self.0);
        Box::pin(async move { Ok(router.route(req).await) })
    }
}

impl GrpcRouter {
    async fn route(&self, req: http::Request<grpc::Body>) -> http::Response<grpc::Body> {
        let path = req.uri().path().to_owned();
        // Health checks stay open so load balancers need no credentials.
        if path.starts_with("/grpc.health.v1.Health/") {
            let response = self.health.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
            // A Watch stays open until the server stops; then it ends UNAVAILABLE like every stream.
            return response.map(|body| until_shutdown_body(body, self.shutdown.subscribe()));
        }
        let identity = match &self.authenticator {
            Some(auth) => match auth.authenticate(req.headers()).await {
                Ok(identity) => Some(identity),
                Err(status) => return tonic::Status::from(status).into_http(),
            },
            None => None,
        };
        if path.starts_with("/grpc.reflection.v1.ServerReflection/") {
            return self.reflection_v1.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        }
        if path.starts_with("/grpc.reflection.v1alpha.ServerReflection/") {
            return self.reflection_v1alpha.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        }
        let Some((service, method)) = self.methods.get(&path) else {
            return tonic::Status::unimplemented(format!("no method at {path}")).into_http();
        };
        let protocol = req.extensions().get::<Protocol>().copied().unwrap_or(Protocol::Grpc);
        if !service.info().methods[*method].serves(protocol) {
            return tonic::Status::unimplemented(format!("{path} is not served over {protocol:?}")).into_http();
        }
        let options = CallOptions {
            max_message_size: self.max_message_size,
            default_timeout: self.default_timeout,
            identity,
            protocol,
            peer: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            shutdown: self.shutdown.subscribe(),
        };
        grpc::handler(service.clone(), *method, req, options).await
    }
}
