//! GraphQL's routes: `/graphql` (POST, and GET for queries or GraphiQL),
//! `/graphql/ws` (graphql-transport-ws, and the older graphql-ws) and
//! `/graphql/schema.graphql`, when the services have a GraphQL schema.

use std::sync::Arc;

use axum::extract::{Query, WebSocketUpgrade};
use axum::response::{Html, IntoResponse, Response};

use super::ws::SocketLimits;
use super::{Caller, Limits, QueryCache, code_name};
use crate::Status;
use crate::core::pipeline::{Pipeline, peer};

/// GraphQL's error answer: `{"errors": [{"message", "extensions": {"code"}}]}`
/// under the status's HTTP status, the one REST would answer with.
fn error_response(status: &Status) -> Response {
    let http = http::StatusCode::from_u16(status.http_status()).unwrap_or(http::StatusCode::BAD_REQUEST);
    let body =
        serde_json::json!({"errors": [{"message": status.message(), "extensions": {"code": code_name(status)}}]});
    (http, axum::Json(body)).into_response()
}

/// The paths [`routes`] may serve: the query endpoint, the WebSocket, the SDL.
pub(crate) const PATHS: [&str; 3] = ["/graphql", "/graphql/ws", "/graphql/schema.graphql"];

/// The routes, or none when no service has a GraphQL schema. `limits` are
/// the server's; a service's `graphql_limits` may only tighten them.
pub(crate) fn routes(
    pipeline: &Arc<Pipeline>,
    mut limits: Limits,
    socket: SocketLimits,
    body_timeout: std::time::Duration,
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
    let queries = Arc::new(QueryCache::new(256));
    let execute = {
        let (schema, pipeline) = (schema.clone(), Arc::clone(pipeline));
        move |parts: http::request::Parts, request: Result<async_graphql::Request, Status>| {
            let (schema, pipeline, queries) = (schema.clone(), Arc::clone(&pipeline), Arc::clone(&queries));
            async move {
                let result = async {
                    let mut request = request?;
                    if request.query.len() > limits.max_query_bytes {
                        let message = format!("the query is larger than {} bytes", limits.max_query_bytes);
                        return Err(Status::resource_exhausted(message).with_http_status(413));
                    }
                    let identity = pipeline.authenticate(&parts.headers).await?;
                    let get = parts.method == http::Method::GET;
                    let if_none_match = parts.headers.get(http::header::IF_NONE_MATCH).cloned();
                    let caller = Caller { headers: parts.headers, peer: peer(&parts.extensions), identity };
                    queries.prepare(&mut request);
                    let (loaders, policy) = (super::relations::Loaders::default(), super::CachePolicy::default());
                    let request = request.data(caller).data(loaders.clone()).data(policy.clone());
                    let response = super::relations::Batched::new(loaders, schema.execute(request)).await;
                    // Apollo Server's rule: cacheable only without errors, every field hinted.
                    let hint = policy.hint().filter(|_| response.is_ok());
                    if get {
                        let body = serde_json::to_vec(&response).map_err(|e| Status::internal(e.to_string()))?;
                        let mut request = http::HeaderMap::new();
                        request.extend(if_none_match.map(|v| (http::header::IF_NONE_MATCH, v)));
                        let mut headers = http::HeaderMap::new();
                        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                        return Ok(crate::core::http_cache::respond(&request, hint, headers, body.into()));
                    }
                    let mut response = axum::Json(response).into_response();
                    if let Some(hint) = hint {
                        let value = crate::core::http_cache::cache_control(hint);
                        response.headers_mut().insert(http::header::CACHE_CONTROL, value);
                    }
                    Ok(response)
                };
                result.await.unwrap_or_else(|status| error_response(&status))
            }
        }
    };
    let max_body = pipeline.max_message_size();
    let post = {
        let execute = execute.clone();
        move |req: axum::extract::Request| {
            let execute = execute.clone();
            async move {
                let (parts, body) = req.into_parts();
                let request = match crate::core::body::read_body(body, max_body, body_timeout).await {
                    Ok(body) => serde_json::from_slice::<async_graphql::Request>(&body)
                        .map_err(|e| Status::invalid_argument(format!("not a GraphQL request: {e}"))),
                    Err(status) => Err(status),
                };
                execute(parts, request).await
            }
        }
    };
    let get = move |Query(params): Query<std::collections::HashMap<String, String>>, req: axum::extract::Request| {
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
            if is_mutation(&request.query, params.get("operationName")) {
                let mut response =
                    error_response(&Status::invalid_argument("send mutations with POST").with_http_status(405));
                response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                return response;
            }
            execute(req.into_parts().0, Ok(request)).await
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
fn is_mutation(query: &str, operation: Option<&String>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    async_graphql::parser::parse_query(query).is_ok_and(|doc| {
        let chosen = match (&doc.operations, operation) {
            (DocumentOperations::Single(op), _) => Some(op.node.ty),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()).map(|op| op.node.ty),
            (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
        };
        chosen == Some(OperationType::Mutation)
    })
}
