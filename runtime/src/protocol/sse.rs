//! Server-Sent Events for server-streaming methods (DESIGN.md, SSE), at
//! `GET|POST /sse/{package}.{Service}/{Method}` and on a method's
//! `google.api.http` path for clients that accept `text/event-stream`: one
//! message per `data:` line with an `id:`, `retry:` first, keep-alive
//! comments every 15 s, and one final `event: end` carrying `{}` or the
//! error. Resumable streams (fan-out topics) use their messages' cursors as
//! ids, and a client resumes with `Last-Event-ID` or `?lastEventId=`
//! (EventSource cannot set headers on its first request), which reaches the
//! method as `last-event-id` metadata; `?access_token=` stands for a bearer
//! token by the credentials rule of `core::auth`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::StatusCode;

use crate::core::body::Whole;
use crate::core::call::{Output, Payload, Requests};
use crate::core::message::DynMessage;
use crate::core::pipeline::{Method, Pipeline};
use crate::core::transcode::{Binding, Bindings, rpc_request};
use crate::core::wire::{SSE_END_ID, http_error};
use crate::{Context, Protocol, Status};

/// Serves server-streaming methods as event streams.
pub(crate) struct SseRouter {
    pipeline: Arc<Pipeline>,
    bindings: Arc<Bindings>,
}

impl SseRouter {
    pub(crate) fn new(pipeline: Arc<Pipeline>, bindings: Arc<Bindings>) -> SseRouter {
        SseRouter { pipeline, bindings }
    }

    /// `GET /sse/{package}.{Service}/{Method}?<request as query>`, or POST
    /// with the request as a JSON body.
    pub(crate) async fn rpc(&self, req: Whole, peer: Option<SocketAddr>) -> Response {
        let name = req.uri().path().trim_start_matches("/sse/").to_owned();
        let Some(method) = self.pipeline.method(&name, Protocol::Sse) else {
            let status = Status::not_found(format!("no server-streaming method at {}", req.uri().path()));
            return http_error(&status);
        };
        let (parts, body) = req.into_parts();
        let result = async {
            let ctx = match self.admit(&parts, peer).await? {
                Ok(ctx) => ctx,
                Err(no_content) => return Ok(no_content),
            };
            let input = self.bindings.message(method.info().input);
            let request = rpc_request(input.as_ref(), &parts, body, self.pipeline.max_message_size())?;
            self.start(method, ctx, request).await
        };
        result.await.unwrap_or_else(|status| http_error(&status))
    }

    /// A server-streaming method's binding, for a client that accepts `text/event-stream`.
    pub(crate) async fn binding(
        &self,
        binding: &Binding,
        vars: &[(&'static str, String)],
        req: Whole,
        peer: Option<SocketAddr>,
    ) -> Response {
        let (parts, body) = req.into_parts();
        let result = async {
            let ctx = match self.admit(&parts, peer).await? {
                Ok(ctx) => ctx,
                Err(no_content) => return Ok(no_content),
            };
            let request = binding.request(vars, &parts.headers, &parts.uri, body, self.pipeline.max_message_size())?;
            self.start(&binding.method, ctx.with_http_binding(binding.rule.template), request).await
        };
        result.await.unwrap_or_else(|status| http_error(&status))
    }

    /// Authenticates the request and builds its context, or answers 204 to
    /// a reconnect after the final event.
    async fn admit(
        &self,
        parts: &http::request::Parts,
        peer: Option<SocketAddr>,
    ) -> Result<Result<Context, Response>, Status> {
        let query = parts.uri.query();
        let mut metadata = parts.headers.clone();
        crate::core::auth::fill_in_access_token(&mut metadata, query);
        cursor_from_query(&mut metadata, query)?;
        let ctx = self.pipeline.admit(Protocol::Sse, metadata, peer, None).await?;
        if ctx.last_event_id() == Some(SSE_END_ID) {
            return Ok(Err(StatusCode::NO_CONTENT.into_response()));
        }
        Ok(Ok(ctx))
    }

    async fn start(&self, method: &Method, ctx: Context, request: Bytes) -> Result<Response, Status> {
        let input = Requests::Single(Payload::Json(request));
        match self.pipeline.call(method, &ctx, input).await? {
            Output::Stream(stream) => Ok(events(stream, self.pipeline.shutdown(), &ctx, method.info().cursor)),
            Output::Single(_) => Err(Status::internal("a server-streaming method returned one message")),
        }
    }
}

/// Browsers resume with `?lastEventId=`, which becomes the `last-event-id`
/// metadata a `Last-Event-ID` header would have given; an id no stream could
/// have sent is refused, as on the other protocols.
pub(crate) fn cursor_from_query(metadata: &mut http::HeaderMap, query: Option<&str>) -> Result<(), Status> {
    if metadata.contains_key("last-event-id") {
        return Ok(());
    }
    let id = crate::core::query::pairs(query.unwrap_or_default()).find(|(k, _)| k == "lastEventId");
    match id {
        Some((_, id)) => crate::core::stream::resume_after(metadata, &id),
        None => Ok(()),
    }
}

/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(3);

/// The final event: `{}`, or the error with its details.
fn end(error: Option<&Status>) -> Event {
    let data = match error {
        Some(status) => crate::core::wire::status_object(status),
        None => serde_json::json!({}),
    };
    Event::default().event("end").id(SSE_END_ID).data(data.to_string())
}

/// The stream as an SSE response. When the server shuts down the response
/// just ends, without an `end` event, so that clients reconnect (to another
/// instance) and a resumable stream continues after their `Last-Event-ID`.
pub(crate) fn events(
    stream: BoxStream<'static, Result<Box<dyn DynMessage>, Status>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    ctx: &Context,
    cursor: Option<&'static str>,
) -> Response {
    let mut sequence: u64 = 0;
    let first = futures_util::stream::once(async { Event::default().retry(RETRY) });
    let messages = stream.map(move |item| {
        item.and_then(|message| {
            let json = message.json_text()?;
            Ok((crate::core::stream::event_id(&*message, cursor, json.as_bytes()), json))
        })
    });
    let body = crate::core::call::with_outcome(messages).map(move |item| match item {
        Ok((cursor, json)) => {
            // A resumable stream's own cursor; else the event's position.
            sequence += 1;
            let id = cursor.unwrap_or_else(|| sequence.to_string());
            Event::default().id(id).data(&*json)
        }
        Err(error) => end(error.as_ref()),
    });
    // Shutdown cuts the events short, before any `end`.
    let body = crate::core::call::stop_at_shutdown(body, shutdown, Duration::ZERO, || None);
    let events = first.chain(body).map(Ok::<_, std::convert::Infallible>);
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    ctx.add_response_metadata(response.headers_mut());
    response
}
