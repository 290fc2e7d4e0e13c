//! Shared upstream streams (`apigen gateway --fan-out METHOD`): a
//! server-streaming method whose events are the same for every subscriber
//! with the same request (a chat room, a price ticker) is called upstream
//! once per distinct request, not once per client, and its messages go
//! through a fan-out topic ([`Topics`]) to every subscriber, over every
//! protocol. With Redis the topic is shared by every gateway process: one
//! process feeds it (the holder of the topic's lease), the others only read,
//! and a client resumes through any of them with the event ids the topic
//! gives (SSE's `Last-Event-ID`).
//!
//! The feed:
//! - opens the upstream call with no client's metadata (it serves many
//!   clients; each was authenticated and authorized by the gateway);
//! - resumes after the last message it published (its cursor field goes
//!   upstream as `last-event-id`), after an upstream restart, a dropped
//!   connection or a feed that moved to another process; an upstream that
//!   no longer knows that cursor (`OUT_OF_RANGE`) is followed from now;
//! - retries a failing upstream with backoff while subscribers wait;
//!   an error that retrying cannot fix (`INVALID_ARGUMENT`, `NOT_FOUND`, …)
//!   ends every subscriber's stream with it;
//! - stops, cancelling the upstream call, when the topic's last subscriber
//!   in this process leaves; another process with subscribers takes the
//!   lease within [`LEASE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use prost_reflect::DynamicMessage;

use super::{Route, Upstream, Upstreamed, cursor_of, encode};
use crate::core::call::{Output, Payload};
use crate::core::context::Context;
use crate::core::raw::RawCodec;
use crate::core::status::Status;
use crate::fanout::Topics;

/// How long a feed's lease lasts unless renewed (every third of it): how
/// long a dead feeding process leaves its topic unfed.
pub const LEASE: Duration = Duration::from_secs(3);

/// Messages kept per topic for resumption.
const HISTORY: usize = 1000;

/// The longest wait between attempts to reach a failing upstream.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The server-streaming methods whose upstream calls are shared, and the
/// topics they fan out through. Clones share everything.
#[derive(Clone)]
pub struct FanOut {
    topics: Topics<Frame>,
    methods: Arc<Vec<String>>,
    feeds: Arc<Mutex<HashMap<String, Feed>>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut").field("methods", &self.methods).finish_non_exhaustive()
    }
}

/// One upstream message as a topic keeps it, or the error that ended the feed.
/// Its bytes are shared: every subscriber's copy of a frame is the same buffer.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
struct Frame {
    /// The upstream's message, as it sent it.
    #[prost(bytes = "bytes", tag = "1")]
    payload: Bytes,
    /// Its cursor field's value: where a new feed resumes upstream.
    #[prost(string, tag = "2")]
    cursor: String,
    /// Not OK: the feed failed with this code, `message` and `details`
    /// (an encoded `google.rpc.Status`, as gRPC carries it).
    #[prost(int32, tag = "3")]
    code: i32,
    #[prost(string, tag = "4")]
    message: String,
    #[prost(bytes = "bytes", tag = "5")]
    details: Bytes,
    /// The topic's sequence number, stamped on reading (never stored).
    #[prost(uint64, tag = "6")]
    sequence: u64,
}

impl crate::core::input::Input for Frame {}
impl crate::core::validate::Validate for Frame {}

fn stamp(frame: &mut Frame, sequence: u64) {
    frame.sequence = sequence;
}

/// A feed running in this process, and how many subscribers here need it.
struct Feed {
    subscribers: usize,
    task: tokio::task::AbortHandle,
    holder: String,
}

impl FanOut {
    /// Shares streams within this process.
    pub fn in_process() -> FanOut {
        FanOut::on(Topics::in_process(HISTORY, stamp))
    }

    /// Shares streams across every gateway on the Redis at `url`. Fails when
    /// Redis cannot be reached now.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str) -> Result<FanOut, Status> {
        Ok(FanOut::on(Topics::redis(url, HISTORY, stamp).await?))
    }

    fn on(topics: Topics<Frame>) -> FanOut {
        FanOut { topics, methods: Arc::new(Vec::new()), feeds: Arc::default() }
    }

    /// Shares the upstream calls of `method`, a server-streaming method named
    /// `package.Service/Method` (a leading `/`, or `.` before the method,
    /// also work).
    pub fn method(mut self, method: &str) -> FanOut {
        let path = method_path(method);
        let methods = Arc::make_mut(&mut self.methods);
        if !methods.contains(&path) {
            methods.push(path);
        }
        self
    }

    /// Whether the topics' backend answers (Redis: a `PING`), for the
    /// gateway's readiness check.
    pub async fn ready(&self) -> Result<(), Status> {
        self.topics.ready().await
    }

    /// The shared methods, as gRPC paths (`/package.Service/Method`).
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// Subscribes the caller to the topic of this request, starting its feed
    /// here when none runs.
    pub(super) async fn subscribe(
        &self,
        upstream: &Upstream,
        route: &Route,
        payload: Payload,
        json: crate::core::json::Options,
        ctx: &Context,
    ) -> Result<Output, Status> {
        let request = canonical(encode(payload, &route.input, json)?, route)?;
        let topic = topic_name(route.path.as_str(), &request);
        let after = match ctx.last_event_id() {
            None => None,
            Some(id) => Some(id.parse::<u64>().map_err(|_| {
                Status::out_of_range(format!(
                    "Last-Event-ID `{id}` is not an event id of this stream; subscribe again without it"
                ))
            })?),
        };
        // Subscribed before the feed starts, so nothing it publishes is missed.
        let stream = self.topics.subscribe(&topic, after).await?;
        let joined = self.join(&topic, || {
            let feeder = Feeder {
                topics: self.topics.clone(),
                topic: topic.clone(),
                holder: crate::fanout::unique_name(),
                upstream: upstream.clone(),
                route: route.clone(),
                request,
            };
            let holder = feeder.holder.clone();
            (tokio::spawn(feeder.run()).abort_handle(), holder)
        });
        let desc = route.output.clone();
        let events = stream.map(move |item| {
            let _subscribed = &joined;
            let frame = item?;
            if frame.code != 0 {
                let code = tonic::Code::from_i32(frame.code);
                return Err(tonic::Status::with_details(code, frame.message, frame.details).into());
            }
            let message: Box<dyn crate::core::message::DynMessage> = Box::new(Upstreamed {
                bytes: frame.payload,
                desc: desc.clone(),
                cursor: Some(frame.sequence.to_string()),
                decoded: None,
            });
            Ok(message)
        });
        Ok(Output::Stream(crate::core::stream::UntilError::new(events).boxed()))
    }

    /// Counts one more subscriber of `topic` here, starting its feed with
    /// `start` when it has none; the returned guard counts it out.
    fn join(&self, topic: &str, start: impl FnOnce() -> (tokio::task::AbortHandle, String)) -> Joined {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        match feeds.get_mut(topic) {
            Some(feed) => feed.subscribers += 1,
            None => {
                let (task, holder) = start();
                feeds.insert(topic.to_owned(), Feed { subscribers: 1, task, holder });
            }
        }
        Joined { fan_out: self.clone(), topic: topic.to_owned() }
    }
}

/// One subscriber of a topic in this process; the last one to go stops the
/// feed and gives up its lease.
struct Joined {
    fan_out: FanOut,
    topic: String,
}

impl Drop for Joined {
    fn drop(&mut self) {
        let mut feeds = self.fan_out.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let Some(feed) = feeds.get_mut(&self.topic) else { return };
        feed.subscribers -= 1;
        if feed.subscribers > 0 {
            return;
        }
        let Some(feed) = feeds.remove(&self.topic) else { return };
        drop(feeds);
        feed.task.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (topics, topic) = (self.fan_out.topics.clone(), std::mem::take(&mut self.topic));
            runtime.spawn(async move {
                // Failing to release only delays the next feed by up to LEASE.
                let _ = topics.release(&topic, &feed.holder).await;
            });
        }
    }
}

/// `package.Service/Method` in any of its spellings, as a gRPC path.
fn method_path(method: &str) -> String {
    let method = method.trim_start_matches('/');
    if method.contains('/') {
        return format!("/{method}");
    }
    match method.rsplit_once('.') {
        Some((service, name)) => format!("/{service}/{name}"),
        None => format!("/{method}"),
    }
}

/// The request as the upstream call carries it, and the part of the topic's
/// name that tells requests apart: decoded and encoded again, so that the
/// same request in any field order or encoding shares one stream.
fn canonical(request: Bytes, route: &Route) -> Result<Bytes, Status> {
    let message = DynamicMessage::decode(route.input.clone(), request).map_err(|e| {
        Status::invalid_argument(format!("the request is not a valid {}: {e}", route.input.full_name()))
    })?;
    Ok(Bytes::from(prost::Message::encode_to_vec(&message)))
}

fn topic_name(path: &str, request: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("gateway:{path}:{hex}")
}

/// Why a feed's upstream call stopped.
enum Stopped {
    /// The upstream ended the stream.
    Ended,
    /// Another process took the lease (this one stopped renewing in time).
    Lost,
    /// Publishing failed (Redis is unreachable); resume after the last published.
    Unpublished,
    /// The upstream failed; whether to retry depends on the code.
    Failed(tonic::Status),
}

/// Feeds one topic from the upstream whenever it holds the topic's lease.
struct Feeder {
    topics: Topics<Frame>,
    topic: String,
    holder: String,
    upstream: Upstream,
    route: Route,
    request: Bytes,
}

impl Feeder {
    async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.topics.claim(&self.topic, &self.holder, LEASE).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(LEASE / 3).await;
                    continue;
                }
                Err(status) => {
                    tracing::warn!("cannot claim the feed of {}: {status}; retrying", self.topic);
                    tokio::time::sleep(LEASE / 3).await;
                    continue;
                }
            }
            let (stopped, delivered) = self.lead().await;
            if delivered {
                backoff = Duration::from_millis(100);
            }
            let wait = match stopped {
                Stopped::Lost => Duration::ZERO,
                Stopped::Ended => Duration::from_secs(1),
                Stopped::Unpublished => backoff,
                Stopped::Failed(status) if retryable(status.code()) => {
                    tracing::warn!("the shared upstream stream {} failed: {status}; retrying", self.route.path);
                    backoff
                }
                Stopped::Failed(status) => {
                    // Every subscriber ends with it; new ones try again later.
                    let details = Bytes::copy_from_slice(status.details());
                    let frame = Frame {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                        details,
                        ..Frame::default()
                    };
                    let _ = self.topics.publish(&self.topic, frame).await;
                    MAX_BACKOFF
                }
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Runs one upstream call while the lease holds; says why it stopped
    /// and whether it published anything.
    async fn lead(&self) -> (Stopped, bool) {
        let last = self.topics.history(&self.topic, 1).await;
        let resume = last.ok().and_then(|frames| frames.into_iter().next()).map(|f| f.cursor).filter(|c| !c.is_empty());
        let mut stream = match self.open(resume.as_deref()).await {
            Err(status) if resume.is_some() && status.code() == tonic::Code::OutOfRange => {
                tracing::warn!(
                    "the upstream cannot resume {} after {}: {}; following it from now",
                    self.route.path,
                    resume.as_deref().unwrap_or_default(),
                    status.message()
                );
                match self.open(None).await {
                    Ok(stream) => stream,
                    Err(status) => return (Stopped::Failed(status), false),
                }
            }
            Ok(stream) => stream,
            Err(status) => return (Stopped::Failed(status), false),
        };
        let mut renew = tokio::time::interval(LEASE / 3);
        renew.tick().await;
        let mut delivered = false;
        loop {
            tokio::select! {
                item = stream.message() => match item {
                    Ok(Some(payload)) => {
                        let cursor = self.route.cursor.as_ref().and_then(|field| {
                            let message = DynamicMessage::decode(self.route.output.clone(), payload.clone()).ok()?;
                            cursor_of(&message, field)
                        });
                        let frame = Frame { payload: payload.clone(), cursor: cursor.unwrap_or_default(), ..Frame::default() };
                        if let Err(status) = self.topics.publish(&self.topic, frame).await {
                            tracing::warn!("cannot publish to {}: {status}; resuming upstream", self.topic);
                            return (Stopped::Unpublished, delivered);
                        }
                        delivered = true;
                    }
                    Ok(None) => return (Stopped::Ended, delivered),
                    Err(status) => return (Stopped::Failed(status), delivered),
                },
                _ = renew.tick() => {
                    if !matches!(self.topics.claim(&self.topic, &self.holder, LEASE).await, Ok(true)) {
                        return (Stopped::Lost, delivered);
                    }
                }
            }
        }
    }

    /// The upstream call, after the message whose cursor is `resume`.
    async fn open(&self, resume: Option<&str>) -> Result<tonic::codec::Streaming<Bytes>, tonic::Status> {
        let mut grpc = self.upstream.grpc.clone();
        grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(self.request.clone());
        if let Some(value) = resume.and_then(|c| tonic::metadata::MetadataValue::try_from(c).ok()) {
            request.metadata_mut().insert("last-event-id", value);
        }
        let response = grpc.server_streaming(request, self.route.path.clone(), RawCodec).await?;
        Ok(response.into_inner())
    }
}

/// Whether a failed upstream stream is worth opening again.
fn retryable(code: tonic::Code) -> bool {
    use tonic::Code as C;
    !matches!(
        code,
        C::InvalidArgument
            | C::NotFound
            | C::AlreadyExists
            | C::PermissionDenied
            | C::Unauthenticated
            | C::FailedPrecondition
            | C::OutOfRange
            | C::Unimplemented
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_in_any_spelling() {
        for spelling in ["chat.v1.Chat/Subscribe", "/chat.v1.Chat/Subscribe", "chat.v1.Chat.Subscribe"] {
            assert_eq!(method_path(spelling), "/chat.v1.Chat/Subscribe", "{spelling}");
        }
        let fan_out = FanOut::in_process().method("chat.v1.Chat.Subscribe").method("/chat.v1.Chat/Subscribe");
        assert_eq!(fan_out.methods(), ["/chat.v1.Chat/Subscribe"]);
    }
}
