//! Connections: the accept loop, HTTP/1 and HTTP/2 settings, TCP keep-alive
//! and graceful shutdown. `axum::serve` takes none of these settings, so the
//! server runs hyper-util's auto (HTTP/1 + h2c) connection builder itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Limits of every connection, with safe defaults for a server on the open
/// internet. Streams end on their own terms (deadlines, the client's cancel);
/// these bound what a quiet, slow or vanished peer can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Streams one HTTP/2 connection may have open at once (default 200);
    /// the client is told in its SETTINGS and waits for a free one.
    pub max_concurrent_streams: u32,
    /// How long an HTTP/1 connection may take to send a request's headers,
    /// time spent idle between keep-alive requests included (default 30 s).
    pub idle_timeout: Duration,
    /// How long a request body may go without a byte before it is refused
    /// with 408 (default 30 s). gRPC streams are exempt: they have deadlines.
    pub body_timeout: Duration,
    /// How often an HTTP/2 connection is pinged and an idle TCP connection
    /// probed, so that peers which vanished free what they held (default
    /// 30 s; a peer is given up 20 s after an unanswered ping).
    pub keep_alive: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_streams: 200,
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(30)),
        }
    }
}

/// The longest any of these settings is taken to be: a year is "never" for
/// a connection, and longer values overflow the clock's arithmetic in the
/// HTTP and TCP layers.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

impl Limits {
    /// The limits with every duration at most [`LONGEST`].
    fn bounded(self) -> Limits {
        Limits {
            idle_timeout: self.idle_timeout.min(LONGEST),
            body_timeout: self.body_timeout.min(LONGEST),
            keep_alive: self.keep_alive.map(|every| every.min(LONGEST)),
            ..self
        }
    }
}

/// How long an unanswered HTTP/2 ping or unacknowledged TCP data is waited for.
const DEAD_PEER: Duration = Duration::from_secs(20);

/// Accepts connections on `listener` and serves `served` on each until
/// `stop` turns true; then stops accepting, lets each connection finish what
/// it is doing, and returns once every connection has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    served: super::route::Served,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limits = limits.bounded();
    let builder = Arc::new(builder(&limits));
    // Each connection holds a clone of `open`; `closed()` resolves when none is left.
    let (open, all_closed) = watch::channel(());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = stopping(&mut stop) => break,
        };
        tune(&tcp, &limits);
        let service = tower::ServiceBuilder::new()
            .service(served.for_peer(peer))
            .map_request(|req: http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new));
        let (builder, mut stop, held) = (Arc::clone(&builder), stop.clone(), all_closed.clone());
        tokio::spawn(async move {
            let _held = held;
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service));
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => return log_end(result, peer),
                () = stopping(&mut stop) => conn.as_mut().graceful_shutdown(),
            }
            log_end(conn.await, peer);
        });
    }
    // New connections are refused from here on.
    drop(listener);
    drop(all_closed);
    open.closed().await;
    Ok(())
}

/// Resolves once the server stops (holding no lock: the futures must be `Send`).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.idle_timeout);
    let mut http2 = builder.http2();
    http2
        .timer(TokioTimer::new())
        // WebSockets over HTTP/2 (RFC 8441) need the CONNECT protocol.
        .enable_connect_protocol()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .keep_alive_interval(limits.keep_alive)
        .keep_alive_timeout(DEAD_PEER);
    builder
}

/// Small frames (WebSocket, streams) go out at once rather than wait on
/// Nagle's algorithm; TCP keep-alive and a user timeout find peers that
/// vanished without a FIN, even on HTTP/1 where there is no ping.
fn tune(tcp: &TcpStream, limits: &Limits) {
    let _ = tcp.set_nodelay(true);
    let Some(every) = limits.keep_alive else { return };
    let socket = socket2::SockRef::from(tcp);
    let probes = socket2::TcpKeepalive::new().with_time(every).with_interval(Duration::from_secs(10));
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "freebsd"))]
    let probes = probes.with_retries(3);
    let _ = socket.set_tcp_keepalive(&probes);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket.set_tcp_user_timeout(Some(every.saturating_add(DEAD_PEER)));
}

/// Running out of file descriptors (or a similar resource) must not end the
/// server: wait a moment and accept again. A connection that failed before
/// it was accepted is nothing to wait for.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn log_end(result: Result<(), Box<dyn std::error::Error + Send + Sync>>, peer: SocketAddr) {
    if let Err(e) = result {
        tracing::debug!("connection from {peer} ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn huge_settings_mean_never_and_do_not_overflow() {
        // Found reviewing the runtime: a keep-alive of Duration::MAX overflowed an addition in
        // the accept loop and ended `serve()` with a panic at the first connection.
        let forever = Limits {
            max_concurrent_streams: 200,
            idle_timeout: Duration::MAX,
            body_timeout: Duration::MAX,
            keep_alive: Some(Duration::MAX),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let server = crate::Server::builder().connections(forever);
        let served = tokio::spawn(server.serve(listener, std::future::pending()));
        let url = format!("http://{addr}/healthz");
        let http1 = reqwest::Client::new().get(&url).send().await.expect("an HTTP/1.1 answer");
        assert_eq!(http1.status(), 200);
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("a client");
        let http2 = h2.get(&url).send().await.expect("an HTTP/2 answer");
        assert_eq!((http2.status(), http2.version()), (reqwest::StatusCode::OK, reqwest::Version::HTTP_2));
        assert!(!served.is_finished(), "the server is still serving");
        served.abort();
    }
}
