//! The developer portal: `GET /` and `GET /docs`, one page for every
//! service and method over every protocol that serves it, with examples
//! and calls made from the page; GraphiQL at `/docs/graphiql` (where a
//! browser's `GET /graphql` goes too); and the schema's documents to
//! download. Everything is built into the binary: the page works with no
//! network beyond the server.
//!
//! What the page shows comes from the generation run's `portal.json`
//! (`ServiceInfo::portal`), merged over every service the server serves and
//! answered at `/docs/api.json`.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value, json};

use crate::core::pipeline::Pipeline;
use crate::{ServiceDef, Status};

/// Whether a server serves its developer portal (`Server::portal`, `--portal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Portal {
    /// Served to anyone who can reach the server (the default).
    #[default]
    On,
    /// Served only to callers the server's authenticator accepts: a bearer
    /// token, or from a browser the token as the password of the login
    /// prompt (HTTP Basic, any user name).
    Authenticated,
    /// Not served: `/` and `/docs/…` are the REST bindings' again (404
    /// without one), and a browser's `GET /graphql` gets 400.
    Off,
}

impl std::str::FromStr for Portal {
    type Err = String;

    fn from_str(s: &str) -> Result<Portal, String> {
        match s {
            "on" => Ok(Portal::On),
            "auth" => Ok(Portal::Authenticated),
            "off" => Ok(Portal::Off),
            other => Err(format!("`{other}` is not a portal setting: use on, auth or off")),
        }
    }
}

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("portal.js");
const STYLE: &str = include_str!("portal.css");
const GRAPHIQL: &str = include_str!("graphiql.html");
const GRAPHIQL_START: &str = include_str!("graphiql-start.js");

/// The vendored GraphiQL and React bundles, gzipped (`assets/build.sh`).
const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("assets/graphiql.js", "text/javascript; charset=utf-8", include_bytes!("assets/graphiql.js.gz")),
    ("assets/graphiql.css", "text/css; charset=utf-8", include_bytes!("assets/graphiql.css.gz")),
    ("assets/react.js", "text/javascript; charset=utf-8", include_bytes!("assets/react.js.gz")),
    ("assets/react-dom.js", "text/javascript; charset=utf-8", include_bytes!("assets/react-dom.js.gz")),
];

/// The paths the portal takes from the REST bindings (`/docs/`: all below
/// it); none when it is off.
pub(crate) fn paths(mode: Portal) -> &'static [&'static str] {
    match mode {
        Portal::Off => &[],
        Portal::On | Portal::Authenticated => &["/", "/docs", "/docs/"],
    }
}

/// The portal's routes.
pub(crate) fn routes(services: &[ServiceDef], mode: Portal, pipeline: Arc<Pipeline>) -> axum::Router {
    // Off: nothing to build, and `paths` gives the REST bindings every path back.
    if mode == Portal::Off {
        return axum::Router::new();
    }
    let hidden = services.iter().flat_map(|s| s.info().methods.iter().map(move |m| (s.info().name, m)));
    for (service, method) in hidden {
        for rule in method.http.iter().filter(|r| r.template == "/" || r.template.starts_with("/docs")) {
            tracing::warn!(
                "{service}/{}'s REST binding {} is served by the developer portal instead (start with --portal off, or bind it elsewhere)",
                method.name,
                rule.template
            );
        }
    }
    if mode == Portal::Authenticated && !pipeline.has_authenticator() {
        tracing::warn!(
            "the developer portal is for authenticated callers, but the server has no authenticator: it is open (add --token or --jwks)"
        );
    }
    let site = Arc::new(Site::new(services, mode, pipeline));
    let page = {
        let site = Arc::clone(&site);
        move |headers: HeaderMap| {
            let site = Arc::clone(&site);
            async move { site.answer("", &headers).await }
        }
    };
    let file = move |axum::extract::Path(file): axum::extract::Path<String>, headers: HeaderMap| {
        let site = Arc::clone(&site);
        async move { site.answer(&file, &headers).await }
    };
    axum::Router::new()
        .route("/", axum::routing::get(page.clone()))
        .route("/docs", axum::routing::get(page))
        .route("/docs/{*file}", axum::routing::get(file))
}

/// What the portal serves, made once at start-up.
struct Site {
    mode: Portal,
    pipeline: Arc<Pipeline>,
    /// `/docs/api.json`.
    api: Bytes,
    /// `/docs/descriptors.binpb`: every service's files and their imports.
    descriptors: Bytes,
    typescript: Vec<(&'static str, &'static str)>,
}

impl Site {
    fn new(services: &[ServiceDef], mode: Portal, pipeline: Arc<Pipeline>) -> Site {
        let typescript = typescript(services);
        let graphql = services.iter().any(|s| !s.info().graphql.is_empty());
        let mut api = merged(services);
        api.insert(
            "server".to_owned(),
            json!({
                "authenticated": pipeline.has_authenticator(),
                "graphql": graphql,
                "typescript": typescript.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            }),
        );
        Site {
            mode,
            pipeline,
            api: Bytes::from(Value::Object(api).to_string()),
            descriptors: descriptor_set(services),
            typescript,
        }
    }

    async fn answer(&self, file: &str, headers: &HeaderMap) -> Response {
        if self.mode == Portal::Authenticated
            && let Err(status) = self.admit(headers).await
        {
            let mut response = crate::core::wire::http_error(&status);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"apigen portal\", charset=\"UTF-8\""),
            );
            return response;
        }
        let text = |kind: &'static str, body: &'static str| {
            ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        };
        match file {
            "" => text("text/html; charset=utf-8", INDEX),
            "portal.js" => text("text/javascript; charset=utf-8", SCRIPT),
            "portal.css" => text("text/css; charset=utf-8", STYLE),
            "graphiql" => text("text/html; charset=utf-8", GRAPHIQL),
            "graphiql-start.js" => text("text/javascript; charset=utf-8", GRAPHIQL_START),
            "api.json" => {
                ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], self.api.clone())
                    .into_response()
            }
            "descriptors.binpb" => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"descriptors.binpb\""),
                ],
                self.descriptors.clone(),
            )
                .into_response(),
            _ => {
                if let Some(name) = file.strip_prefix("ts/")
                    && let Some((_, text)) = self.typescript.iter().find(|(n, _)| *n == name)
                {
                    return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], *text).into_response();
                }
                match ASSETS.iter().position(|(path, _, _)| *path == file) {
                    Some(i) => asset(i, headers),
                    None => crate::core::wire::http_error(&Status::not_found(format!(
                        "the developer portal has no /docs/{file}"
                    ))),
                }
            }
        }
    }

    /// The caller's credentials, as the server's authenticator judges them:
    /// a bearer token, or Basic's password taken as one.
    async fn admit(&self, headers: &HeaderMap) -> Result<(), Status> {
        let mut metadata = HeaderMap::new();
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let bearer = value.to_str().ok().and_then(basic_password).map(|p| format!("Bearer {p}"));
            match bearer.and_then(|b| HeaderValue::from_str(&b).ok()) {
                Some(b) => metadata.insert(header::AUTHORIZATION, b),
                None => metadata.insert(header::AUTHORIZATION, value.clone()),
            };
        }
        // Without an authenticator this admits everyone (and start-up said so).
        self.pipeline.authenticate(&metadata).await.map(|_| ())
    }
}

/// The password of `Basic base64(user:password)`.
fn basic_password(value: &str) -> Option<String> {
    use base64::Engine as _;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

/// Vendored asset `i`: as stored (gzip) to clients that take it, else
/// inflated (once per process).
fn asset(i: usize, headers: &HeaderMap) -> Response {
    static INFLATED: [std::sync::OnceLock<Result<Bytes, String>>; 4] = [const { std::sync::OnceLock::new() }; 4];
    let (_, kind, gzipped) = ASSETS[i];
    let cache = (header::CACHE_CONTROL, "public, max-age=86400");
    let vary = (header::VARY, "accept-encoding");
    if takes_gzip(headers) {
        return ([(header::CONTENT_TYPE, kind), (header::CONTENT_ENCODING, "gzip"), cache, vary], gzipped)
            .into_response();
    }
    let inflated = INFLATED[i].get_or_init(|| {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gzipped), &mut body)
            .map(|_| Bytes::from(body))
            .map_err(|e| e.to_string())
    });
    match inflated {
        Ok(body) => ([(header::CONTENT_TYPE, kind), cache, vary], body.clone()).into_response(),
        Err(e) => crate::core::wire::http_error(&Status::internal(format!("a built-in asset is damaged: {e}"))),
    }
}

/// `Accept-Encoding` names gzip (or `*`) without `q=0`.
fn takes_gzip(headers: &HeaderMap) -> bool {
    let accepted = |coding: &str| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused =
            parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)));
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    };
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(accepted))
}

/// Every generation run's `portal.json`, narrowed to the served services.
fn merged(services: &[ServiceDef]) -> Map<String, Value> {
    let served: Vec<&str> = services.iter().map(|s| s.info().name).collect();
    let mut docs: Vec<&'static str> = services.iter().map(|s| s.info().portal).filter(|p| !p.is_empty()).collect();
    docs.sort();
    docs.dedup();
    let (mut list, mut messages, mut enums) = (Vec::new(), Map::new(), Map::new());
    for doc in docs {
        let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(doc) else { continue };
        if let Some(Value::Array(services)) = doc.remove("services") {
            let name = |s: &Value| s.get("fullName").and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
            list.extend(services.into_iter().filter(|s| served.contains(&name(s).as_str())));
        }
        for (key, into) in [("messages", &mut messages), ("enums", &mut enums)] {
            if let Some(Value::Object(types)) = doc.remove(key) {
                into.extend(types);
            }
        }
    }
    let mut out = Map::new();
    out.insert("services".to_owned(), Value::Array(list));
    out.insert("messages".to_owned(), Value::Object(messages));
    out.insert("enums".to_owned(), Value::Object(enums));
    out
}

/// The TypeScript files of the services' generation runs (the first run's, by name).
fn typescript(services: &[ServiceDef]) -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<(&'static str, &'static str)> = Vec::new();
    for &(name, text) in services.iter().flat_map(|s| s.info().typescript) {
        if !files.iter().any(|(n, _)| *n == name) {
            files.push((name, text));
        }
    }
    files
}

/// One `FileDescriptorSet` of every service's files, each file once.
fn descriptor_set(services: &[ServiceDef]) -> Bytes {
    use prost::Message as _;
    let mut set = prost_types::FileDescriptorSet::default();
    for service in services {
        let Ok(files) = prost_types::FileDescriptorSet::decode(service.info().file_descriptor_set) else { continue };
        for file in files.file {
            if !set.file.iter().any(|f| f.name == file.name) {
                set.file.push(file);
            }
        }
    }
    Bytes::from(set.encode_to_vec())
}
