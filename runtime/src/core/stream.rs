//! The streams of streaming methods.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use futures_util::StreamExt;

use crate::core::message::DynMessage;
use crate::core::status::Status;

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The messages a client streams to a method. Ends when the client ends its
/// stream; an `Err` item means the call broke and no more will come.
pub struct RequestStream<T>(Boxed<T>);

impl<T> RequestStream<T> {
    /// Wraps any stream of requests (used by protocol adapters and tests).
    /// It ends after its first `Err`, whatever `stream` would yield next.
    pub fn new(stream: impl Stream<Item = Result<T, Status>> + Send + 'static) -> Self {
        RequestStream(Box::pin(UntilError::new(stream)))
    }

    /// The next request, `None` once the client has finished.
    pub async fn next(&mut self) -> Option<Result<T, Status>> {
        self.0.next().await
    }
}

impl<T> Stream for RequestStream<T> {
    type Item = Result<T, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// A stream of the given messages: `vec![a, b].into_iter().collect()`.
impl<T: Send + 'static> FromIterator<T> for RequestStream<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let items: Vec<T> = items.into_iter().collect();
        RequestStream::new(futures_util::stream::iter(items.into_iter().map(Ok)))
    }
}

impl<T> std::fmt::Debug for RequestStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestStream")
    }
}

/// A stream up to and including its first `Err`, then its end, without
/// polling the source again. Sources such as tonic's `Streaming` may repeat
/// an error forever (a request cut off mid-message), which would spin a
/// method that logs errors and reads on, or a response body polled past its
/// trailers.
pub(crate) struct UntilError<S> {
    stream: Pin<Box<S>>,
    done: bool,
}

impl<S> UntilError<S> {
    pub(crate) fn new(stream: S) -> Self {
        UntilError { stream: Box::pin(stream), done: false }
    }
}

impl<T, S: Stream<Item = Result<T, Status>>> Stream for UntilError<S> {
    type Item = Result<T, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(self.stream.as_mut().poll_next(cx));
        self.done = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}

/// The messages a method streams back. Ending the stream completes the call;
/// an `Err` item ends it with that status. A resumable stream carries a
/// cursor per message (the SSE event id a client resumes after).
pub struct ResponseStream<T>(Boxed<Item<T>>);

/// One response as the stream holds it.
pub(crate) enum Item<T> {
    /// A message of this stream alone, with its cursor when resumable.
    Own(Option<String>, T),
    /// A message already erased for the protocol adapters, for example one a
    /// fan-out topic shares among its subscribers, encoded once; with the way
    /// back to a `T` for a caller that reads the stream itself.
    Erased(Box<dyn DynMessage>, fn(Box<dyn DynMessage>) -> Result<T, Status>),
}

impl<T> ResponseStream<T> {
    /// Wraps any stream of responses.
    pub fn new(stream: impl Stream<Item = Result<T, Status>> + Send + 'static) -> Self {
        ResponseStream(Box::pin(stream.map(|item| item.map(|m| Item::Own(None, m)))))
    }

    /// A resumable stream: each message with its cursor, which SSE sends as
    /// the event id and gives back as `Context::last_event_id` on reconnect.
    pub fn resumable(stream: impl Stream<Item = Result<(String, T), Status>> + Send + 'static) -> Self {
        ResponseStream(Box::pin(stream.map(|item| item.map(|(cursor, m)| Item::Own(Some(cursor), m)))))
    }

    /// A stream of erased messages, each of which turns into a `T` (its
    /// `into_any`) for a caller that reads the stream itself.
    pub(crate) fn erased(stream: impl Stream<Item = Result<Box<dyn DynMessage>, Status>> + Send + 'static) -> Self
    where
        T: 'static,
    {
        ResponseStream(Box::pin(stream.map(|item| item.map(|m| Item::Erased(m, unerase::<T>)))))
    }

    /// A stream fed through a channel: send `Ok(message)` or a final `Err`,
    /// and drop the sender to complete. `buffer` bounds how far the method
    /// may run ahead of a slow client.
    pub fn channel(buffer: usize) -> (tokio::sync::mpsc::Sender<Result<T, Status>>, Self)
    where
        T: Send + 'static,
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel(buffer.max(1));
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        (tx, ResponseStream::new(stream))
    }

    /// The next response, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T, Status>> {
        self.0.next().await.map(|item| item.and_then(Item::into_message))
    }

    /// The messages as protocol adapters take them: erased, with their cursors.
    pub(crate) fn into_dyn(self) -> Boxed<Box<dyn DynMessage>>
    where
        T: crate::core::message::ApiMessage + Send + Sync,
    {
        Box::pin(self.0.map(|item| {
            item.map(|item| match item {
                Item::Own(Some(cursor), m) => {
                    Box::new(crate::core::message::Cursored { cursor, message: Box::new(m) }) as Box<dyn DynMessage>
                }
                Item::Own(None, m) => Box::new(m),
                Item::Erased(m, _) => m,
            })
        }))
    }
}

impl<T> Item<T> {
    fn into_message(self) -> Result<T, Status> {
        match self {
            Item::Own(_, m) => Ok(m),
            Item::Erased(m, unerase) => unerase(m),
        }
    }
}

/// An erased message back as the `T` it is (its `into_any`).
fn unerase<T: 'static>(message: Box<dyn DynMessage>) -> Result<T, Status> {
    message
        .into_any()
        .downcast::<T>()
        .map(|m| *m)
        .map_err(|_| Status::internal("a stream's message is not of the stream's type"))
}

impl<T> Stream for ResponseStream<T> {
    type Item = Result<T, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx).map(|item| item.map(|item| item.and_then(Item::into_message)))
    }
}

/// A stream of the given messages: `vec![a, b].into_iter().collect()`.
impl<T: Send + 'static> FromIterator<T> for ResponseStream<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let items: Vec<T> = items.into_iter().collect();
        ResponseStream::new(futures_util::stream::iter(items.into_iter().map(Ok)))
    }
}

impl<T> std::fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseStream")
    }
}

/// The id a resumable stream's event carries on every protocol: the
/// message's cursor, or, for a method whose messages have a cursor field
/// (`MethodInfo::cursor`) but which did not say one, that field's value in
/// the event's JSON. `None` when the event has neither, or when it could
/// not be an SSE id (a line break or NUL in it).
pub(crate) fn event_id(message: &dyn crate::DynMessage, field: Option<&str>, json: &[u8]) -> Option<String> {
    id_or_field(message, field, |field| match serde_json::from_slice(json) {
        Ok(serde_json::Value::Object(mut object)) => object.remove(field),
        _ => None,
    })
}

/// [`event_id`] of an event already written as a JSON value.
pub(crate) fn event_id_in(
    message: &dyn crate::DynMessage,
    field: Option<&str>,
    json: &serde_json::Value,
) -> Option<String> {
    id_or_field(message, field, |field| json.get(field).cloned())
}

fn id_or_field(
    message: &dyn crate::DynMessage,
    field: Option<&str>,
    value_of: impl FnOnce(&str) -> Option<serde_json::Value>,
) -> Option<String> {
    let id = match (message.cursor(), field) {
        (Some(cursor), _) => cursor.to_owned(),
        (None, Some(field)) => match value_of(field)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        },
        (None, None) => return None,
    };
    (!id.is_empty() && !id.contains(['\n', '\r', '\0'])).then_some(id)
}

/// Makes `id` the call's `last-event-id` metadata, which SSE's
/// `Last-Event-ID` gives and [`crate::Context::last_event_id`] reads: the
/// cursor a resumed stream continues after.
pub(crate) fn resume_after(metadata: &mut http::HeaderMap, id: &str) -> Result<(), Status> {
    let value = http::HeaderValue::from_str(id)
        .map_err(|_| Status::invalid_argument("lastEventId must be visible ASCII text, as a stream's event ids are"))?;
    metadata.insert("last-event-id", value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_stream_ends_after_its_first_error() {
        // Found with the http_router fuzz target (fuzz/README.md): tonic's `Streaming` repeats
        // "Unexpected EOF" forever for a request cut off mid-message.
        let forever = futures_util::stream::repeat_with(|| Err::<(), _>(Status::internal("Unexpected EOF")));
        let mut requests = RequestStream::new(futures_util::stream::once(async { Ok(()) }).chain(forever));
        assert!(matches!(requests.next().await, Some(Ok(()))));
        assert!(matches!(requests.next().await, Some(Err(_))));
        assert!(requests.next().await.is_none());
        assert!(requests.next().await.is_none());
    }
}
