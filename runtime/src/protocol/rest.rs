//! REST: `google.api.http` bindings transcoded to method calls. The server
//! finds the binding ([`Bindings`](crate::core::transcode::Bindings)); this
//! module calls it and answers in REST's form: the rule's success status,
//! the whole response or its `response_body` field as JSON, and errors as
//! `{"code": N, "message": …, "details": […]}` under the code's HTTP status.
//! Server-streaming bindings are SSE's (`protocol::sse`) when the client
//! accepts `text/event-stream`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::core::body::Whole;
use crate::core::call::{Output, Payload, Requests};
use crate::core::pipeline::Pipeline;
use crate::core::transcode::Binding;
use crate::core::wire::http_error;
use crate::{Code, MethodKind, Protocol, Status};

/// 405 for a path whose bindings take other HTTP methods, with `Allow`.
pub(crate) fn not_allowed(path: &str, method: &http::Method, allow: BTreeSet<&'static str>) -> Response {
    let status = Status::new(Code::Unimplemented, format!("{path} does not accept {method}"));
    let mut response =
        (StatusCode::METHOD_NOT_ALLOWED, axum::Json(crate::core::wire::http_error_body(&status))).into_response();
    if let Ok(v) = HeaderValue::from_str(&allow.into_iter().collect::<Vec<_>>().join(", ")) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

/// Calls methods through their bindings.
pub(crate) struct RestRouter {
    pipeline: Arc<Pipeline>,
}

impl RestRouter {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> RestRouter {
        RestRouter { pipeline }
    }

    /// A request that `binding` matched, with its path variables' values.
    pub(crate) async fn call(
        &self,
        binding: &Binding,
        vars: &[(&'static str, String)],
        req: Whole,
        peer: Option<SocketAddr>,
    ) -> Response {
        self.respond(binding, vars, req, peer).await.unwrap_or_else(|status| http_error(&status))
    }

    async fn respond(
        &self,
        binding: &Binding,
        vars: &[(&'static str, String)],
        req: Whole,
        peer: Option<SocketAddr>,
    ) -> Result<Response, Status> {
        let (mut parts, body) = req.into_parts();
        let pipeline = &self.pipeline;
        // The headers move into the context; the request reads them there.
        let headers = std::mem::take(&mut parts.headers);
        let ctx = pipeline.admit(Protocol::Rest, headers, peer, None).await?;
        let info = binding.method.info();
        match info.kind {
            MethodKind::Unary => {}
            // Server streaming over REST is SSE on the binding's path, for clients that accept it.
            MethodKind::ServerStreaming => {
                return Err(Status::invalid_argument(format!(
                    "{} streams its responses: send `Accept: text/event-stream`",
                    info.name
                ))
                .with_http_status(406));
            }
            _ => {
                return Err(Status::unimplemented(format!(
                    "{} streams its requests; call it over gRPC, Connect or WebSocket",
                    info.name
                )));
            }
        }
        let request = binding.request(vars, ctx.metadata(), &parts.uri, body, pipeline.max_message_size())?;
        let ctx = ctx.with_http_binding(binding.rule.template);
        let input = Requests::Single(Payload::Json(request));
        let Output::Single(message) = pipeline.call(&binding.method, &ctx, input).await? else {
            return Err(Status::internal("a unary method returned a stream"));
        };
        let rule = binding.rule;
        let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::OK);
        let body = if status == StatusCode::NO_CONTENT {
            let mut response = status.into_response();
            ctx.add_response_metadata(response.headers_mut());
            return Ok(response);
        } else if rule.response_body.is_empty() {
            // The message's own JSON, fields in declaration order, with no `Value` in between.
            message.to_json()?
        } else {
            let mut json = message.to_json_value()?;
            for part in rule.response_body.split('.').filter(|p| !p.is_empty()) {
                let key = output_key(&json, part);
                json = json.get(&key).cloned().unwrap_or(Value::Null);
            }
            serde_json::to_vec(&json).map_err(|e| Status::internal(e.to_string()))?
        };
        let mut headers = http::HeaderMap::with_capacity(4);
        headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        ctx.add_response_metadata(&mut headers);
        // A read by GET: cacheable, with a validator (`core/http_cache.rs`).
        if parts.method == http::Method::GET && status == StatusCode::OK {
            return Ok(crate::core::http_cache::respond(ctx.metadata(), info.cache, headers, body.into()));
        }
        Ok(crate::core::http_cache::response(status, headers, body.into()))
    }
}

/// The key of `part` in a JSON object: its JSON name if present, else as written.
fn output_key(json: &Value, part: &str) -> String {
    let camel = crate::wkt::lower_camel(part);
    if json.get(&camel).is_some() { camel } else { part.to_owned() }
}
