//! CORS: which web origins a browser may call the server from, on every
//! protocol. Without a list, pages served from this machine may (loopback
//! hosts on any port: a front end in development); with one
//! (`Server::cors_origins`, `--cors-origin`), only the origins it names or
//! matches, and every origin only when it holds `*`. A WebSocket upgrade
//! (`/ws`, `/graphql/ws`) from another origin is refused with 403, since
//! browsers do not apply CORS to WebSockets. Preflights name the methods and headers the protocols use
//! rather than `*`, which the Fetch standard does not extend to
//! `authorization`.

use std::time::Duration;

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method};

/// The request headers the protocols read, which a preflight allows.
const REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "content-encoding",
    "if-none-match",
    "last-event-id",
    // Connect
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-accept-encoding",
    "connect-content-encoding",
    // gRPC-Web
    "grpc-timeout",
    "grpc-accept-encoding",
    "x-grpc-web",
    "x-user-agent",
    // GraphQL (Apollo's CSRF rule and client names), tRPC
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
    "trpc-accept",
    "x-trpc-source",
    // Tracing and request ids
    "traceparent",
    "tracestate",
    "baggage",
    "x-request-id",
];

/// The response headers a page's script may read.
const EXPOSED: &[&str] =
    &["grpc-status", "grpc-message", "grpc-status-details-bin", "etag", "retry-after", "www-authenticate"];

/// The methods the protocols use.
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// One entry of the list: an origin, or `scheme://*.domain[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `scheme://` and `.domain[:port]`: an origin with that scheme whose
    /// host ends with `.domain` (one label or more before it) and that port.
    Subdomains {
        scheme: String,
        suffix: String,
        port: String,
    },
    /// `http(s)://localhost`, `127.0.0.1` or `[::1]`, any port: the default.
    Loopback,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not a CORS origin: {why}; write an origin such as `https://app.example.com` or \
                 `http://127.0.0.1:3000`, a pattern such as `https://*.example.com`, or `*` for any origin"
            )
        };
        let lower = text.trim().to_ascii_lowercase();
        let (scheme, rest) = lower.split_once("://").ok_or_else(|| bad("it has no scheme"))?;
        if !matches!(scheme, "http" | "https") {
            return Err(bad("its scheme is not http or https"));
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(bad("an origin is a scheme, a host and a port, with no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (host, port),
            Some(_) => return Err(bad("its port is not a number")),
            None => (rest, ""),
        };
        match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() && !domain.contains('*') => Ok(Pattern::Subdomains {
                scheme: scheme.to_owned(),
                suffix: format!(".{domain}"),
                port: port.to_owned(),
            }),
            Some(_) => Err(bad("a pattern is `*.` and a domain")),
            None if host.contains('*') => {
                Err(bad("`*` stands only for the first labels, as in `https://*.example.com`"))
            }
            None => Ok(Pattern::Exact(lower)),
        }
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            Pattern::Exact(exact) => origin.eq_ignore_ascii_case(exact),
            Pattern::Subdomains { scheme, suffix, port } => {
                let origin = origin.to_ascii_lowercase();
                let Some(rest) = origin.strip_prefix(scheme.as_str()).and_then(|r| r.strip_prefix("://")) else {
                    return false;
                };
                let (host, their_port) = rest.rsplit_once(':').unwrap_or((rest, ""));
                their_port == port && host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            Pattern::Loopback => {
                let origin = origin.to_ascii_lowercase();
                let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
                    return false;
                };
                let host = match rest.rsplit_once(':') {
                    Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
                    _ => rest,
                };
                matches!(host, "localhost" | "127.0.0.1" | "[::1]")
            }
        }
    }
}

/// The server's CORS policy.
pub(crate) struct Cors {
    /// `None`: every origin (`*` asked for).
    allowed: Option<Vec<Pattern>>,
    layer: tower_http::cors::CorsLayer,
    /// What a response to an allowed origin carries besides its
    /// `access-control-allow-origin`.
    exposed: HeaderValue,
}

impl Cors {
    /// The policy for `origins` (`None`: loopback pages; a list holding
    /// `*`: every origin).
    pub(crate) fn new(origins: Option<&[String]>) -> Result<Cors, String> {
        let allowed = match origins {
            None => Some(vec![Pattern::Loopback]),
            Some(list) if list.iter().any(|o| o.trim() == "*") => None,
            Some(list) => Some(list.iter().map(|o| Pattern::parse(o)).collect::<Result<Vec<_>, _>>()?),
        };
        let origin = match &allowed {
            None => tower_http::cors::AllowOrigin::any(),
            Some(patterns) => {
                let patterns = patterns.clone();
                tower_http::cors::AllowOrigin::predicate(move |origin, _| {
                    origin.to_str().is_ok_and(|o| patterns.iter().any(|p| p.matches(o)))
                })
            }
        };
        let layer = tower_http::cors::CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(METHODS.to_vec())
            .allow_headers(REQUEST_HEADERS.iter().map(|h| HeaderName::from_static(h)).collect::<Vec<_>>())
            .expose_headers(EXPOSED.iter().map(|h| HeaderName::from_static(h)).collect::<Vec<_>>())
            .max_age(Duration::from_secs(86400));
        let exposed = HeaderValue::from_str(&EXPOSED.join(",")).map_err(|e| e.to_string())?;
        Ok(Cors { allowed, layer, exposed })
    }

    /// The layer that answers preflights.
    pub(crate) fn layer(&self) -> tower_http::cors::CorsLayer {
        self.layer.clone()
    }

    /// Whether a browser on `origin` may call.
    fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.allowed {
            None => true,
            Some(patterns) => origin.to_str().is_ok_and(|o| patterns.iter().any(|p| p.matches(o))),
        }
    }

    /// Whether `headers` are a WebSocket upgrade from a browser on an origin
    /// the list refuses (a request without `Origin` is no browser's).
    pub(crate) fn refuses_upgrade(&self, headers: &HeaderMap) -> bool {
        let upgrade = headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
            || headers.contains_key(header::SEC_WEBSOCKET_VERSION);
        upgrade && headers.get(header::ORIGIN).is_some_and(|origin| !self.allows(origin))
    }

    /// The CORS headers of the answer to a request (not a preflight) from `origin`.
    pub(crate) fn finish(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        match &self.allowed {
            None => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            Some(_) => {
                // The answer depends on the origin: caches keep one per origin.
                headers.append(header::VARY, HeaderValue::from_static("origin"));
                let Some(origin) = origin.filter(|o| self.allows(o)) else { return };
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.exposed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> Cors {
        Cors::new(Some(&origins.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())).expect("a valid list")
    }

    #[test]
    fn origins_match_exactly_or_by_subdomain_pattern() {
        let cors = policy(&["https://app.example.com", "https://*.example.org", "http://127.0.0.1:3000"]);
        let allows = |o: &'static str| cors.allows(&HeaderValue::from_static(o));
        assert!(allows("https://app.example.com") && allows("https://APP.example.com"));
        assert!(allows("https://a.example.org") && allows("https://a.b.example.org"));
        assert!(allows("http://127.0.0.1:3000"));
        for refused in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://example.org",
            "https://evil-example.org",
            "https://a.example.org.evil.com",
            "http://127.0.0.1:3001",
            "null",
        ] {
            assert!(!allows(refused), "{refused}");
        }
        assert!(policy(&["*"]).allows(&HeaderValue::from_static("https://anything.test")));
    }

    #[test]
    fn without_a_list_only_pages_on_this_machine_may_call() {
        let cors = Cors::new(None).expect("the default");
        let allows = |o: &'static str| cors.allows(&HeaderValue::from_static(o));
        for ok in ["http://localhost:5173", "http://127.0.0.1:3000", "https://localhost", "http://[::1]:8080"] {
            assert!(allows(ok), "{ok}");
        }
        for refused in ["https://app.example.com", "http://localhost.evil.com", "http://127.0.0.1.evil.com:80", "null"]
        {
            assert!(!allows(refused), "{refused}");
        }
    }

    #[test]
    fn bad_entries_are_refused_with_the_way_to_write_them() {
        for bad in
            ["example.com", "ftp://example.com", "https://example.com/path", "https://a*.example.com", "https://x:y"]
        {
            let error = Cors::new(Some(&[bad.to_owned()])).err().expect(bad);
            assert!(error.contains(bad) && error.contains("https://*.example.com"), "{error}");
        }
    }

    #[test]
    fn answers_carry_the_origin_only_when_allowed_and_upgrades_from_others_are_refused() {
        let cors = policy(&["https://app.example.com"]);
        let mut allowed = HeaderMap::new();
        cors.finish(Some(&HeaderValue::from_static("https://app.example.com")), &mut allowed);
        assert_eq!(allowed[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(allowed[header::VARY], "origin");
        let mut refused = HeaderMap::new();
        cors.finish(Some(&HeaderValue::from_static("https://evil.test")), &mut refused);
        assert!(!refused.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

        let mut upgrade = HeaderMap::new();
        upgrade.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!cors.refuses_upgrade(&upgrade), "not a browser: no Origin");
        upgrade.insert(header::ORIGIN, HeaderValue::from_static("https://evil.test"));
        assert!(cors.refuses_upgrade(&upgrade));
        upgrade.insert(header::ORIGIN, HeaderValue::from_static("https://app.example.com"));
        assert!(!cors.refuses_upgrade(&upgrade));
    }
}
