//! GraphQL's routes: `/graphql` (POST, and GET for queries or GraphiQL),
//! `/graphql/ws` (graphql-transport-ws, and the older graphql-ws) and
//! `/graphql/schema.graphql`, when the services have a GraphQL schema.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use super::persisted::Persisted;
use super::ws::SocketLimits;
use super::{Caller, Limits, QueryCache, code_name, graphql_error};
use crate::Status;
use crate::core::pipeline::{Pipeline, peer};

/// GraphQL's error answer: `{"errors": [{"message", "extensions": {"code"}}]}`
/// under the status's HTTP status, the one REST would answer with.
fn error_response(status: &Status) -> Response {
    graphql_error(status.http_status(), status.message(), &code_name(status))
}

/// The paths [`routes`] may serve: the query endpoint, the WebSocket, the SDL.
pub(crate) const PATHS: [&str; 3] = ["/graphql", "/graphql/ws", "/graphql/schema.graphql"];

/// What `/graphql`'s POST and GET share.
struct Endpoint {
    schema: async_graphql::dynamic::Schema,
    pipeline: Arc<Pipeline>,
    limits: Limits,
    queries: QueryCache,
    persisted: Persisted,
}

impl Endpoint {
    /// Runs a request read from a POST body or (`via_get`) GET's parameters.
    async fn run(
        &self,
        parts: http::request::Parts,
        request: Result<async_graphql::Request, Status>,
        via_get: bool,
    ) -> Response {
        let mut request = match request {
            Ok(request) => request,
            Err(status) => return error_response(&status),
        };
        if request.query.len() > self.limits.max_query_bytes {
            let message = format!("the query is larger than {} bytes", self.limits.max_query_bytes);
            return error_response(&Status::resource_exhausted(message).with_http_status(413));
        }
        // Before the persisted queries: a client without credentials learns
        // nothing of them and stores nothing.
        let identity = match self.pipeline.authenticate(&parts.headers).await {
            Ok(identity) => identity,
            Err(status) => return error_response(&status),
        };
        let keep = match self.persisted.resolve(&mut request) {
            Ok(keep) => keep,
            Err(refusal) => return refusal.into_response(),
        };
        let parsed = self.queries.prepare(&mut request);
        // GET never changes anything: mutations must be POSTed, persisted ones too.
        let operation = request.operation_name.clone();
        if via_get && parsed && request.parsed_query().is_ok_and(|doc| is_mutation(doc, operation.as_deref())) {
            let mut response =
                error_response(&Status::invalid_argument("send mutations with POST").with_http_status(405));
            response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
            return response;
        }
        // Only a document that parses is persisted: its hash then always runs something.
        if parsed && let Some(hash) = keep {
            self.persisted.keep(&hash, &request.query);
        }
        let if_none_match = parts.headers.get(http::header::IF_NONE_MATCH).cloned();
        let caller = Caller { headers: parts.headers, peer: peer(&parts.extensions), identity };
        let (loaders, policy) = (super::relations::Loaders::default(), super::CachePolicy::default());
        let request = request.data(caller).data(loaders.clone()).data(policy.clone());
        let response = super::relations::Batched::new(loaders, self.schema.execute(request)).await;
        // Apollo Server's rule: cacheable only without errors, every field hinted.
        let hint = policy.hint().filter(|_| response.is_ok());
        if via_get {
            let body = match serde_json::to_vec(&response) {
                Ok(body) => body,
                Err(e) => return error_response(&Status::internal(e.to_string())),
            };
            let mut request = http::HeaderMap::new();
            request.extend(if_none_match.map(|v| (http::header::IF_NONE_MATCH, v)));
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            return crate::core::http_cache::respond(&request, hint, headers, body.into());
        }
        let mut response = axum::Json(response).into_response();
        if let Some(hint) = hint {
            response.headers_mut().insert(http::header::CACHE_CONTROL, crate::core::http_cache::cache_control(hint));
        }
        response
    }
}

/// The content types a browser sends cross-site without a CORS preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];
/// Headers only a preflighted request can carry, as Apollo Server names them.
const PREFLIGHT_HEADERS: [&str; 2] = ["x-apollo-operation-name", "apollo-require-preflight"];

/// Apollo Server's CSRF prevention: a request a browser could send from any
/// page without a CORS preflight (no content type, or one of the simple ones:
/// every GET, a form's POST) runs only with a non-empty
/// `x-apollo-operation-name` or `apollo-require-preflight` header, which
/// forces the preflight. Else a page elsewhere could run queries with the
/// browser's cookies or network position, even without reading the answer.
fn csrf_refusal(headers: &http::HeaderMap) -> Option<Response> {
    if let Some(value) = headers.get(http::header::CONTENT_TYPE) {
        match value.to_str().ok().and_then(mime_essence) {
            // What does not parse as a MIME type is not simple: browsers preflight it.
            None => return None,
            Some(essence) if !SIMPLE_CONTENT_TYPES.contains(&essence.as_str()) => return None,
            Some(_) => {}
        }
    }
    if PREFLIGHT_HEADERS.iter().any(|name| headers.get(*name).is_some_and(|v| !v.is_empty())) {
        return None;
    }
    let message = "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF): send a \
                   `content-type` other than application/x-www-form-urlencoded, multipart/form-data or text/plain \
                   (POST application/json), or a non-empty `apollo-require-preflight` or `x-apollo-operation-name` \
                   header (GET: `apollo-require-preflight: true`)";
    Some(error_response(&Status::invalid_argument(message)))
}

/// A MIME type's essence (`type/subtype`, lower case, parameters dropped), or
/// None when it does not parse, as WHATWG's MIME sniffing (and Apollo) read it.
fn mime_essence(value: &str) -> Option<String> {
    let token =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value = value.trim_matches([' ', '\t', '\n', '\r']);
    let (kind, rest) = value.split_once('/')?;
    let subtype = rest.split(';').next().unwrap_or_default().trim_end_matches([' ', '\t', '\n', '\r']);
    (token(kind) && token(subtype)).then(|| format!("{kind}/{subtype}").to_ascii_lowercase())
}

/// GET's parameters as a request: `query`, `operationName`, and `variables`
/// and `extensions` as JSON text.
fn from_params(params: &HashMap<String, String>) -> Result<async_graphql::Request, Status> {
    let json = |name: &str| -> Result<Option<serde_json::Value>, Status> {
        params
            .get(name)
            .map(|text| serde_json::from_str(text))
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("`{name}` is not JSON: {e}")))
    };
    let mut request = async_graphql::Request::new(params.get("query").cloned().unwrap_or_default());
    if let Some(name) = params.get("operationName") {
        request = request.operation_name(name.clone());
    }
    if let Some(variables) = json("variables")? {
        request = request.variables(async_graphql::Variables::from_json(variables));
    }
    if let Some(extensions) = json("extensions")? {
        request.extensions = serde_json::from_value(extensions)
            .map_err(|e| Status::invalid_argument(format!("`extensions` is not a JSON object: {e}")))?;
    }
    Ok(request)
}

/// The routes, or none when no service has a GraphQL schema. `limits` are
/// the server's; a service's `graphql_limits` may only tighten them.
pub(crate) fn routes(
    pipeline: &Arc<Pipeline>,
    mut limits: Limits,
    socket: SocketLimits,
    body_timeout: std::time::Duration,
    graphiql: bool,
) -> std::io::Result<axum::Router> {
    let services = pipeline.services();
    let mut sdls: Vec<&'static str> = services.iter().map(|s| s.info().graphql).filter(|s| !s.is_empty()).collect();
    sdls.sort();
    sdls.dedup();
    let Some(sdl) = sdls.first().copied() else { return Ok(axum::Router::new()) };
    if sdls.len() > 1 {
        tracing::warn!("services come from {} generation runs; GraphQL serves the first one's schema", sdls.len());
    }
    for s in services {
        let (depth, complexity) = s.info().graphql_limits;
        if depth > 0 {
            limits.max_depth = limits.max_depth.min(depth as usize);
        }
        if complexity > 0 {
            limits.max_complexity = limits.max_complexity.min(complexity as usize);
        }
    }
    let schema =
        super::schema(sdl, pipeline, limits).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let endpoint = Arc::new(Endpoint {
        schema: schema.clone(),
        pipeline: Arc::clone(pipeline),
        limits,
        queries: QueryCache::new(256),
        persisted: Persisted::new(limits.max_persisted_queries),
    });
    let max_body = pipeline.max_message_size();
    let post = {
        let endpoint = Arc::clone(&endpoint);
        move |req: axum::extract::Request| {
            let endpoint = Arc::clone(&endpoint);
            async move {
                let (parts, body) = req.into_parts();
                if let Some(refusal) = csrf_refusal(&parts.headers) {
                    return refusal;
                }
                let request = match crate::core::body::read_body(body, max_body, body_timeout).await {
                    Ok(body) => serde_json::from_slice::<async_graphql::Request>(&body)
                        .map_err(|e| Status::invalid_argument(format!("not a GraphQL request: {e}"))),
                    Err(status) => Err(status),
                };
                endpoint.run(parts, request, false).await
            }
        }
    };
    let get = move |Query(params): Query<HashMap<String, String>>, req: axum::extract::Request| {
        let endpoint = Arc::clone(&endpoint);
        async move {
            // Neither a query nor a persisted one's hash: a browser asking for GraphiQL, which
            // the developer portal serves from its built-in assets.
            if !params.contains_key("query") && !params.contains_key("extensions") {
                if !graphiql {
                    return crate::core::wire::http_error(&Status::invalid_argument(
                        "GET /graphql takes ?query=…; GraphiQL is part of the developer portal, which is off",
                    ));
                }
                return axum::response::Redirect::to("/docs/graphiql").into_response();
            }
            let parts = req.into_parts().0;
            if let Some(refusal) = csrf_refusal(&parts.headers) {
                return refusal;
            }
            endpoint.run(parts, from_params(&params), true).await
        }
    };
    let ws = {
        let (schema, pipeline) = (schema.clone(), Arc::clone(pipeline));
        move |upgrade: WebSocketUpgrade, req: axum::extract::Request| {
            let (schema, pipeline) = (schema.clone(), Arc::clone(&pipeline));
            async move {
                let (parts, _) = req.into_parts();
                let upgrade = upgrade
                    .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
                    .read_buffer_size(socket.read_buffer);
                upgrade.on_upgrade(move |ws| super::ws::serve(ws, schema, pipeline, parts, socket))
            }
        }
    };
    Ok(axum::Router::new()
        // The body is read with the server's limits, not axum's 2 MB default.
        .route(PATHS[0], axum::routing::post(post).get(get))
        // `any`: WebSockets over HTTP/2 (RFC 8441) arrive as CONNECT.
        .route(PATHS[1], axum::routing::any(ws))
        .route(
            PATHS[2],
            axum::routing::get(
                move || async move { ([(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], sdl) },
            ),
        ))
}

/// Whether the operation a request runs is a mutation: the operation it
/// names, not the text's first word, so that comments and several operations
/// cannot sneak a mutation past GET.
fn is_mutation(doc: &async_graphql::parser::types::ExecutableDocument, operation: Option<&str>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let chosen = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
    };
    chosen == Some(OperationType::Mutation)
}
