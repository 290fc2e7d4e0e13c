//! What a quick-start binary needs around a [`Server`](crate::Server): its
//! command line, logging, and the signals that stop it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// What an example or quick-start binary reads from its command line:
/// `--addr HOST:PORT` (default `127.0.0.1:8080`; port 0 picks a free one)
/// `--token SECRET` (require `authorization: Bearer SECRET`),
/// `--redis URL` (fan-out topics and rate limits shared on Redis), and the
/// production flags (`--jwks`, `--rate-limit`, `--metrics-addr`, …).
#[derive(Debug, Clone)]
pub struct Args {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The bearer token every call must carry, when set.
    pub token: Option<String>,
    /// The Redis of the fan-out topics and the rate limits
    /// (`redis://127.0.0.1:6379`), when set.
    pub redis: Option<String>,
    /// `--jwks URL|FILE`: accept JWT bearer tokens signed with a key of this
    /// JSON Web Key Set (feature `jwt`) instead of one static token.
    pub jwks: Option<String>,
    /// `--issuer ISS` (repeatable): the `iss` JWTs must have.
    pub issuers: Vec<String>,
    /// `--audience AUD` (repeatable): an `aud` JWTs must have.
    pub audiences: Vec<String>,
    /// `--cors-origin ORIGIN` (repeatable): the origins browsers may call
    /// from (`Server::cors_origins`); pages on loopback hosts when none is given.
    pub cors_origins: Vec<String>,
    /// `--metrics-addr HOST:PORT`: serve `GET /metrics` there, open, instead
    /// of on `addr` behind the authenticator.
    pub metrics_addr: Option<SocketAddr>,
    /// `--rate-limit [METHOD=]CALLS/UNIT[,burst=N]` (repeatable): how often
    /// one caller may call every method (or the one named
    /// `package.Service/Method`), as [`RateLimit`](crate::RateLimit) parses it.
    pub rate_limits: Vec<(Option<String>, crate::RateLimit)>,
    /// `--otlp URL`: export OpenTelemetry traces to this OTLP/HTTP collector
    /// (`http://127.0.0.1:4318`; feature `otlp`).
    pub otlp: Option<String>,
    /// `--portal on|auth|off`: serve the developer portal to everyone, to
    /// authenticated callers only, or not at all (`Server::portal`).
    pub portal: Option<crate::server::Portal>,
    /// `--drain-seconds N`: after SIGTERM, keep serving N seconds while
    /// readiness fails (`Server::drain_delay`).
    pub drain_delay: Option<Duration>,
    /// `--jwks-cool-down-ms` (hidden, for tests): the least time between two
    /// fetches of the key set for an unknown `kid`.
    pub jwks_cool_down: Option<Duration>,
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
usage: {program} [--addr HOST:PORT] [--token SECRET | --jwks URL|FILE [--issuer ISS]... [--audience AUD]...] [--redis URL] [--rate-limit [METHOD=]CALLS/UNIT[,burst=N]]... [--metrics-addr HOST:PORT] [--otlp URL] [--drain-seconds N] [--cors-origin ORIGIN]... [--portal on|auth|off]"
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
            jwks: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            jwks_cool_down: None,
            metrics_addr: None,
            cors_origins: Vec::new(),
            portal: None,
            rate_limits: Vec::new(),
            otlp: None,
            drain_delay: None,
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
                "--jwks" => out.jwks = Some(value("--jwks")?),
                "--cors-origin" => out.cors_origins.push(value("--cors-origin")?),
                "--portal" => out.portal = Some(value("--portal")?.parse().map_err(|e| format!("--portal: {e}"))?),
                "--metrics-addr" => {
                    let v = value("--metrics-addr")?;
                    out.metrics_addr = Some(v.parse().map_err(|e| {
                        format!("--metrics-addr {v}: {e}; write it as HOST:PORT, for example 127.0.0.1:9090")
                    })?);
                }
                "--rate-limit" => {
                    let v = value("--rate-limit")?;
                    let (method, rate) = match v.split_once('=') {
                        Some((method, rate)) if method.contains('/') => (Some(method.to_owned()), rate),
                        _ => (None, v.as_str()),
                    };
                    let limit = rate.parse().map_err(|e| format!("--rate-limit: {e}"))?;
                    out.rate_limits.push((method, limit));
                }
                "--otlp" => out.otlp = Some(value("--otlp")?),
                "--drain-seconds" => {
                    let v = value("--drain-seconds")?;
                    let seconds: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                        .ok_or_else(|| {
                            format!(
                                "--drain-seconds {v}: write the seconds to keep serving after SIGTERM, for example 5"
                            )
                        })?;
                    out.drain_delay = Some(Duration::from_secs_f64(seconds));
                }
                "--issuer" => out.issuers.push(value("--issuer")?),
                "--audience" => out.audiences.push(value("--audience")?),
                "--jwks-cool-down-ms" => {
                    let v = value("--jwks-cool-down-ms")?;
                    let ms = v.parse().map_err(|e| format!("--jwks-cool-down-ms {v}: {e}"))?;
                    out.jwks_cool_down = Some(Duration::from_millis(ms));
                }
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
        crate::server::cors::Cors::new(Some(&out.cors_origins)).map_err(|e| format!("--cors-origin: {e}"))?;
        if out.token.is_some() && out.jwks.is_some() {
            return Err("--token and --jwks both set: a server checks one kind of bearer token; choose one".to_owned());
        }
        if out.jwks.is_none() && !(out.issuers.is_empty() && out.audiences.is_empty()) {
            return Err(
                "--issuer and --audience check JWTs: add --jwks URL|FILE with the keys that sign them".to_owned()
            );
        }
        if out.otlp.is_some() && !cfg!(feature = "otlp") {
            return Err("--otlp needs trace export: build apigen-runtime with its `otlp` feature".to_owned());
        }
        if out.jwks.is_some() && !cfg!(feature = "jwt") {
            return Err("--jwks needs JWT support: build apigen-runtime with its `jwt` feature".to_owned());
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
