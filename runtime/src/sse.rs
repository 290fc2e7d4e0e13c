//! Server-Sent Events for server-streaming methods (DESIGN.md, SSE): one
//! message per `data:` line with an `id:`, `retry:` first, keep-alive
//! comments every 15 s, and one final `event: end` carrying `{}` or the error.
//! Resumable streams (fan-out topics) use their messages' cursors as ids.

use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::message::DynMessage;
use crate::{Context, Status};

/// The id of the final event: a client that reconnects with it has seen the
/// whole stream and is answered 204.
pub const END_ID: &str = "end";

/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(3);

fn end(error: Option<&Status>) -> Event {
    let data = match error {
        Some(s) => serde_json::json!({"code": s.code().as_str(), "message": s.message()}),
        None => serde_json::json!({}),
    };
    Event::default().event("end").id(END_ID).data(data.to_string())
}

/// The stream as an SSE response. When the server shuts down the response
/// just ends, without an `end` event, so that clients reconnect (to another
/// instance) and a resumable stream continues after their `Last-Event-ID`.
pub(crate) fn events(
    stream: BoxStream<'static, Result<Box<dyn DynMessage>, Status>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    ctx: &Context,
) -> Response {
    let mut sequence: u64 = 0;
    let first = futures_util::stream::once(async { Event::default().retry(RETRY) });
    let messages =
        stream.map(|item| item.and_then(|message| Ok((message.cursor().map(str::to_owned), message.to_json()?))));
    let body = crate::dispatch::with_outcome(messages).map(move |item| match item {
        Ok((cursor, json)) => {
            // A resumable stream's own cursor; else the event's position.
            sequence += 1;
            let id = cursor.unwrap_or_else(|| sequence.to_string());
            Event::default().id(id).data(String::from_utf8_lossy(&json))
        }
        Err(error) => end(error.as_ref()),
    });
    // Shutdown cuts the events short, before any `end`.
    let body = crate::dispatch::stop_at_shutdown(body, shutdown, Duration::ZERO, || None);
    let events = first.chain(body).map(Ok::<_, std::convert::Infallible>);
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    response.headers_mut().extend(ctx.response_metadata());
    response
}
