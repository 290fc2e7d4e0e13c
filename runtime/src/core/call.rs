//! The generic adapters between a protocol's view of a call (encoded
//! payloads, erased messages) and a typed trait method. Generated code calls
//! one of these per method; everything else is shared.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};

use crate::core::context::Context;
use crate::core::message::{ApiMessage, DynMessage};
use crate::core::status::Status;
use crate::core::stream::{RequestStream, ResponseStream};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One call as a protocol adapter hands it over.
pub struct Call {
    pub ctx: Context,
    pub input: Requests,
    /// How JSON requests are read (the server's options).
    pub json: crate::core::json::Options,
}

/// The request side of a call.
pub enum Requests {
    /// Unary and server-streaming methods: one request.
    Single(Payload),
    /// Client-streaming and bidi methods: the request stream.
    Stream(BoxStream<'static, Result<Payload, Status>>),
}

/// One request as received.
pub enum Payload {
    /// Protobuf binary encoding.
    Proto(Bytes),
    /// proto3 JSON mapping.
    Json(Bytes),
    /// An already decoded message of the method's request type.
    Message(Box<dyn Any + Send>),
}

/// The response side of a call.
pub enum Output {
    Single(Box<dyn DynMessage>),
    Stream(BoxStream<'static, Result<Box<dyn DynMessage>, Status>>),
}

impl Payload {
    /// Decodes the request, or says why it is not a valid `T`, and applies
    /// its field-behaviour rules, then its protovalidate rules.
    pub fn decode<T: ApiMessage>(self, json: crate::core::json::Options) -> Result<T, Status> {
        let request = crate::core::input::prepare(self.decode_raw(json)?)?;
        let mut rules = crate::core::validate::Validator::new();
        crate::core::validate::Validate::validate_rules(&request, &mut rules);
        rules.finish()?;
        Ok(request)
    }

    fn decode_raw<T: ApiMessage>(self, json: crate::core::json::Options) -> Result<T, Status> {
        match self {
            Payload::Proto(bytes) => T::decode(bytes)
                .map_err(|e| Status::invalid_argument(format!("the request is not a valid protobuf message: {e}"))),
            Payload::Json(bytes) => crate::core::json::from_slice_with(&bytes, json),
            Payload::Message(any) => {
                any.downcast::<T>().map(|b| *b).map_err(|_| Status::internal("the request has the wrong message type"))
            }
        }
    }
}

fn single<T: ApiMessage>(input: Requests, json: crate::core::json::Options) -> Result<T, Status> {
    match input {
        Requests::Single(p) => p.decode(json),
        Requests::Stream(_) => Err(Status::internal("this method takes one request, not a stream")),
    }
}

fn many<T: ApiMessage + Send>(input: Requests, json: crate::core::json::Options) -> RequestStream<T> {
    match input {
        Requests::Stream(s) => RequestStream::new(s.map(move |item| item.and_then(|p| p.decode(json)))),
        Requests::Single(p) => RequestStream::new(futures_util::stream::once(async move { p.decode(json) })),
    }
}

pub(crate) fn erase<T: ApiMessage + Send + Sync>(stream: ResponseStream<T>) -> Output {
    Output::Stream(stream.into_dyn())
}

fn fail(status: Status) -> BoxFuture<Result<Output, Status>> {
    Box::pin(std::future::ready(Err(status)))
}

/// A stream's items, then one last `Err(outcome)`: `None` when the stream
/// completed, the error that ended it otherwise; nothing follows an error.
/// Each streaming protocol turns that last item into its own end signal.
pub(crate) fn with_outcome<T: Send + 'static>(
    stream: impl futures_core::Stream<Item = Result<T, Status>> + Send + 'static,
) -> BoxStream<'static, Result<T, Option<Status>>> {
    let mut done = false;
    stream
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .filter_map(move |item| {
            let item = match (done, item) {
                (true, _) => None,
                (false, Some(Ok(value))) => Some(Ok(value)),
                (false, Some(Err(status))) => {
                    done = true;
                    Some(Err(Some(status)))
                }
                (false, None) => Some(Err(None)),
            };
            std::future::ready(item)
        })
        .boxed()
}

/// A response stream that stops when the server starts shutting down and
/// then ends with UNAVAILABLE, so clients know to reconnect rather than
/// think the stream finished.
pub fn until_shutdown<T: Send + 'static>(
    stream: BoxStream<'static, Result<T, Status>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> BoxStream<'static, Result<T, Status>> {
    stop_at_shutdown(stream, shutdown, std::time::Duration::ZERO, || {
        Some(Err(Status::unavailable("the server is shutting down; reconnect to continue")))
    })
    .boxed()
}

/// Ends `stream` once the server has been shutting down for `grace`, and
/// then, only if shutdown was what ended it, yields what `farewell` makes.
pub(crate) fn stop_at_shutdown<S>(
    stream: S,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    grace: std::time::Duration,
    farewell: impl FnOnce() -> Option<S::Item> + Send + 'static,
) -> impl futures_core::Stream<Item = S::Item> + Send + 'static
where
    S: futures_core::Stream + Send + 'static,
    S::Item: Send + 'static,
{
    // A shutdown sender that is gone (the server is) ends the stream too, without farewell.
    let stop = async move {
        let shutting_down = shutdown.wait_for(|stop| *stop).await.is_ok();
        if shutting_down {
            tokio::time::sleep(grace).await;
        }
        shutting_down
    };
    stop_when(stream, stop, farewell)
}

/// Ends `stream` when `stop` resolves, and then, if it resolved `true`,
/// yields what `farewell` makes (nothing when the stream ended by itself first).
pub(crate) fn stop_when<S>(
    stream: S,
    stop: impl Future<Output = bool> + Send + 'static,
    farewell: impl FnOnce() -> Option<S::Item> + Send + 'static,
) -> impl futures_core::Stream<Item = S::Item> + Send + 'static
where
    S: futures_core::Stream + Send + 'static,
    S::Item: Send + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped);
    let stop = async move {
        if stop.await {
            flag.store(true, Ordering::SeqCst);
        }
    };
    let last =
        futures_util::stream::once(async move { if stopped.load(Ordering::SeqCst) { farewell() } else { None } })
            .filter_map(std::future::ready);
    stream.take_until(stop).chain(last)
}

/// Calls a unary method.
pub fn unary<Req, Resp, F, Fut>(call: Call, method: F) -> BoxFuture<Result<Output, Status>>
where
    Req: ApiMessage,
    Resp: ApiMessage + Send + Sync,
    F: FnOnce(Context, Req) -> Fut,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    match single::<Req>(call.input, call.json) {
        Ok(request) => {
            let fut = method(call.ctx, request);
            Box::pin(async move { Ok(Output::Single(Box::new(fut.await?))) })
        }
        Err(status) => fail(status),
    }
}

/// Calls a server-streaming method.
pub fn server_streaming<Req, Resp, F, Fut>(call: Call, method: F) -> BoxFuture<Result<Output, Status>>
where
    Req: ApiMessage,
    Resp: ApiMessage + Send + Sync,
    F: FnOnce(Context, Req) -> Fut,
    Fut: Future<Output = Result<ResponseStream<Resp>, Status>> + Send + 'static,
{
    match single::<Req>(call.input, call.json) {
        Ok(request) => {
            let fut = method(call.ctx, request);
            Box::pin(async move { Ok(erase(fut.await?)) })
        }
        Err(status) => fail(status),
    }
}

/// Calls a client-streaming method.
pub fn client_streaming<Req, Resp, F, Fut>(call: Call, method: F) -> BoxFuture<Result<Output, Status>>
where
    Req: ApiMessage + Send,
    Resp: ApiMessage + Send + Sync,
    F: FnOnce(Context, RequestStream<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    let fut = method(call.ctx, many(call.input, call.json));
    Box::pin(async move { Ok(Output::Single(Box::new(fut.await?))) })
}

/// Calls a bidirectional-streaming method.
pub fn bidi_streaming<Req, Resp, F, Fut>(call: Call, method: F) -> BoxFuture<Result<Output, Status>>
where
    Req: ApiMessage + Send,
    Resp: ApiMessage + Send + Sync,
    F: FnOnce(Context, RequestStream<Req>) -> Fut,
    Fut: Future<Output = Result<ResponseStream<Resp>, Status>> + Send + 'static,
{
    let fut = method(call.ctx, many(call.input, call.json));
    Box::pin(async move { Ok(erase(fut.await?)) })
}

/// The answer for a method index the service does not have.
pub fn unknown(method: usize) -> BoxFuture<Result<Output, Status>> {
    fail(Status::unimplemented(format!("no method with index {method}")))
}
