//! Fan-out topics: streams that many subscribers share (chat rooms). Every
//! message published to a topic gets the topic's next sequence number
//! (1, 2, 3, …), which is also its cursor: a subscriber that passes the last
//! sequence it saw resumes right after it, with nothing lost and nothing
//! repeated, as long as the backend still keeps those messages.
//!
//! Two backends with the same semantics:
//! - in-process (the default): a bounded replay buffer per topic;
//! - Redis Streams (feature `redis`): one stream per topic, trimmed with
//!   `XADD … MAXLEN`, replayed with `XRANGE`, tailed with `XREAD BLOCK` by one
//!   reader task per topic and process, so server instances that share a
//!   Redis deliver the same messages and resume the same cursors.
//!
//! A cursor older than what the backend keeps gets `OUT_OF_RANGE` (the
//! reset signal: subscribe again without a cursor); a subscriber that falls
//! behind the live broadcast catches up from the backend the same way.
//!
//! What a process keeps is bounded, so clients naming ever new topics (any
//! client may name a chat room) cannot grow the server:
//! - Reading and subscribing create nothing that outlasts the subscription.
//!   A topic never published to holds nothing here once its last subscriber
//!   here leaves (in process it is forgotten; on Redis its reader task and
//!   connection stop), and subscribing never counts as a publish.
//! - A topic that was published to is kept, with no subscriber, until
//!   [`RETENTION`] after its last publish: in process it is then forgotten,
//!   on Redis its keys expire.
//! - One [`Topics`] (with its clones) keeps at most [`MAX_TOPICS`] topics
//!   in the process, or what [`Topics::max_topics`] sets: in process the
//!   topics with subscribers plus the published ones still kept, on Redis
//!   the topics with a live reader (those with subscribers here). At the
//!   cap the least recently used topic without subscribers is forgotten
//!   first; when every one has subscribers, subscribing to one more topic
//!   (in process, publishing to one too) fails with `RESOURCE_EXHAUSTED`.
//!
//! A cursor into a forgotten topic is reset. In process a kept topic holds
//! up to its `history` messages, plus a live broadcast of 256 messages
//! only while it has subscribers.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::core::call::BoxFuture;
use crate::core::message::{ApiMessage, DynMessage};
use crate::{ResponseStream, Status};

mod encoded;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod traced;

use encoded::{Encoded, Event};
use memory::Memory;

/// What a topic's live broadcast carries: a message with its sequence
/// number, shared by every subscriber in the process.
type Delivery<T> = (u64, Arc<Encoded<T>>);

/// How many messages the live broadcast of a topic buffers per process;
/// a subscriber further behind catches up from the backend.
const LIVE_BUFFER: usize = 256;

/// How long a topic with no subscriber is kept after its last publish.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How many topics one [`Topics`] keeps in the process unless
/// [`Topics::max_topics`] says otherwise: in process, topics with
/// subscribers plus published ones within [`RETENTION`]; on Redis, topics
/// with subscribers here, each with a reader task and a Redis connection.
/// In process the memory this bounds is about `MAX_TOPICS × history`
/// messages; on Redis it keeps one process well under Redis's default
/// `maxclients` (10,000).
pub const MAX_TOPICS: usize = 1024;

/// A name unique across processes and time: a publish's (so that a retry
/// cannot post twice) or a lease holder's.
pub(crate) fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Sets the fields of a message that depend on its sequence number.
pub type Stamp<T> = fn(&mut T, u64);

/// What a backend does; the subscriber logic on top is shared.
trait Backend<T>: Send + Sync + 'static {
    /// Stores `message` (not yet stamped) and returns its sequence number.
    fn append(&self, topic: &str, message: &T) -> BoxFuture<Result<u64, Status>>;
    /// The sequence number of the newest message, 0 when there is none.
    fn last(&self, topic: &str) -> BoxFuture<Result<u64, Status>>;
    /// Every kept message after `after`, oldest first.
    fn range(&self, topic: &str, after: u64) -> BoxFuture<Result<Vec<(u64, T)>, Status>>;
    /// The newest `limit` messages, oldest first.
    fn newest(&self, topic: &str, limit: usize) -> BoxFuture<Result<Vec<(u64, T)>, Status>>;
    /// Joins the topic's live broadcast in this process; dropping the
    /// [`Live`] leaves it. Fails with `RESOURCE_EXHAUSTED` at the cap.
    fn live(&self, topic: &str) -> BoxFuture<Result<Live<T>, Status>>;
    /// Takes or renews the lease on `topic` for `holder` for `ttl`: true
    /// when `holder` has it now (no one else held it, or it was `holder`'s).
    fn claim(&self, topic: &str, holder: &str, ttl: std::time::Duration) -> BoxFuture<Result<bool, Status>>;
    /// Gives up `holder`'s lease on `topic`, if it still has it.
    fn release(&self, topic: &str, holder: &str) -> BoxFuture<Result<(), Status>>;
    /// Whether the backend answers now (Redis: a `PING`).
    fn ping(&self) -> BoxFuture<Result<(), Status>>;
    /// Sets the cap on the topics kept in this process (at least 1).
    fn set_max_topics(&self, max: usize);
    /// How many topics are kept in this process.
    #[cfg(test)]
    fn kept(&self) -> usize;
}

/// A subscriber's place in a topic's live broadcast in this process; the
/// backend learns that the subscriber left when this is dropped, so a
/// subscription keeps nothing after it ends.
struct Live<T> {
    messages: broadcast::Receiver<Delivery<T>>,
    /// Declared after `messages`, so dropped after it.
    _leave: Leave,
}

/// The bookkeeping a backend runs when a subscriber leaves.
struct Leave(Option<Box<dyn FnOnce() + Send>>);

impl Leave {
    fn new(leave: impl FnOnce() + Send + 'static) -> Leave {
        Leave(Some(Box::new(leave)))
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        if let Some(leave) = self.0.take() {
            leave();
        }
    }
}

/// The cap's refusal: the process keeps `max_topics` topics, all with subscribers.
fn too_many(topic: &str, max_topics: usize) -> Status {
    Status::resource_exhausted(format!(
        "cannot open fan-out topic {topic}: this process already keeps {max_topics} topics, all with \
         subscribers (the cap set by Topics::max_topics); try again once some subscribers have left"
    ))
}

/// Topics of messages of type `T`, on one backend.
pub struct Topics<T> {
    backend: Arc<dyn Backend<T>>,
    stamp: Stamp<T>,
    traces: Arc<traced::Traces>,
}

impl<T> Clone for Topics<T> {
    fn clone(&self) -> Self {
        Topics { backend: Arc::clone(&self.backend), stamp: self.stamp, traces: Arc::clone(&self.traces) }
    }
}

impl<T> std::fmt::Debug for Topics<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics").finish_non_exhaustive()
    }
}

impl<T: ApiMessage + Clone + Send + Sync> Topics<T> {
    /// In-process topics that keep the newest `history` messages of each
    /// topic for replay. `stamp` writes a message's sequence number into it.
    pub fn in_process(history: usize, stamp: Stamp<T>) -> Topics<T> {
        Topics { backend: Arc::new(Memory::new(history, RETENTION, MAX_TOPICS)), stamp, traces: Arc::default() }
    }

    /// Caps the topics this process keeps at `max` (at least 1) instead of
    /// [`MAX_TOPICS`], for these topics and every clone of them. In process
    /// the cap counts topics with subscribers and published topics still
    /// kept; on Redis, topics with subscribers here (each has a reader task
    /// and a connection). At the cap the least recently used topic without
    /// subscribers is forgotten first; when every topic has subscribers,
    /// subscribing to a new topic (in process, publishing to one too) fails
    /// with `RESOURCE_EXHAUSTED`. Set it right after creating the topics: a
    /// lower cap makes room only as new topics come.
    pub fn max_topics(self, max: usize) -> Topics<T> {
        self.backend.set_max_topics(max.max(1));
        self
    }

    /// How many topics the backend keeps in this process.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.backend.kept()
    }

    /// Publishes `message` with the topic's next sequence number and returns it stamped.
    /// In a traced call, the publish is a span of its own (see `traced.rs`).
    pub async fn publish(&self, topic: &str, mut message: T) -> Result<T, Status> {
        let span = traced::Traces::publishing(topic);
        let sequence = self.backend.append(topic, &message).await?;
        if let Some(span) = span {
            self.traces.published(span, topic, sequence);
        }
        (self.stamp)(&mut message, sequence);
        Ok(message)
    }

    /// The newest `limit` messages of `topic`, oldest first.
    pub async fn history(&self, topic: &str, limit: usize) -> Result<Vec<T>, Status> {
        let stamp = self.stamp;
        Ok(self
            .backend
            .newest(topic, limit)
            .await?
            .into_iter()
            .map(|(n, mut m)| {
                stamp(&mut m, n);
                m
            })
            .collect())
    }

    /// Whether the backend answers now: always in process; on Redis, a
    /// `PING` within 2 s. For a server's readiness check
    /// (`Server::readiness`), so that a load balancer stops sending clients
    /// to an instance whose fan-out cannot work.
    pub async fn ready(&self) -> Result<(), Status> {
        self.backend.ping().await
    }

    /// Takes or renews a lease on `topic` for `holder` (a name unique to
    /// one process and task) for `ttl`, and says whether `holder` has it.
    /// At most one holder has a topic's lease at a time, across every
    /// process sharing the backend: it elects the one process that feeds a
    /// topic from elsewhere (the gateway's shared upstream streams). A holder
    /// renews well within `ttl`; one that stops renewing loses the lease
    /// when `ttl` runs out, and another can take it.
    pub async fn claim(&self, topic: &str, holder: &str, ttl: std::time::Duration) -> Result<bool, Status> {
        self.backend.claim(topic, holder, ttl).await
    }

    /// Gives up `holder`'s lease on `topic` now, so another can take it
    /// without waiting for it to run out.
    pub async fn release(&self, topic: &str, holder: &str) -> Result<(), Status> {
        self.backend.release(topic, holder).await
    }

    /// The messages published to `topic` after the one numbered `after`
    /// (replayed from the backend), then live; without `after`, from now on.
    /// Each message carries its sequence number as its cursor, so SSE
    /// clients resume with `Last-Event-ID`.
    pub async fn subscribe(&self, topic: &str, after: Option<u64>) -> Result<ResponseStream<T>, Status> {
        let live = self.backend.live(topic).await?;
        let last = match after {
            Some(after) => {
                let newest = self.backend.last(topic).await?;
                if after > newest {
                    return Err(reset(topic, after, None));
                }
                after
            }
            None => self.backend.last(topic).await?,
        };
        crate::core::metrics::fan_out().subscribers.inc();
        let mut state = Subscriber {
            backend: Arc::clone(&self.backend),
            topic: topic.to_owned(),
            traces: Arc::clone(&self.traces),
            live,
            last,
            pending: VecDeque::new(),
            catch_up: false,
            done: false,
        };
        // Read what was published between attaching to the live broadcast
        // and reading `last` (and, with a cursor, the replay) now: a trimmed
        // cursor fails the call itself.
        state.fill().await?;
        let stamp = self.stamp;
        let stream = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        });
        // Each message is encoded once for all its subscribers (`encoded.rs`), and carries
        // its sequence number as its cursor, so SSE clients resume with `Last-Event-ID`.
        Ok(ResponseStream::erased(
            stream.map(move |item| item.map(|shared| Box::new(Event { shared, stamp }) as Box<dyn DynMessage>)),
        ))
    }
}

/// The reset signal: the cursor is older (or newer) than what is kept.
fn reset(topic: &str, after: u64, oldest: Option<u64>) -> Status {
    let kept = match oldest {
        Some(oldest) => format!("the oldest message kept is {oldest}"),
        None => "that message was never published here".to_owned(),
    };
    Status::out_of_range(format!(
        "cannot resume {topic} after message {after}: {kept}; subscribe again without a cursor"
    ))
}

struct Subscriber<T> {
    backend: Arc<dyn Backend<T>>,
    topic: String,
    traces: Arc<traced::Traces>,
    live: Live<T>,
    /// The sequence number of the last message delivered.
    last: u64,
    pending: VecDeque<Delivery<T>>,
    catch_up: bool,
    done: bool,
}

impl<T> Drop for Subscriber<T> {
    fn drop(&mut self) {
        crate::core::metrics::fan_out().subscribers.dec();
    }
}

impl<T: Clone + Send + Sync + 'static> Subscriber<T> {
    async fn next(&mut self) -> Option<Result<Arc<Encoded<T>>, Status>> {
        if self.done {
            return None;
        }
        loop {
            if self.catch_up {
                self.catch_up = false;
                if let Err(status) = self.fill().await {
                    self.done = true;
                    return Some(Err(status));
                }
            }
            while let Some((n, message)) = self.pending.pop_front() {
                if n <= self.last {
                    continue;
                }
                self.last = n;
                self.traces.delivered(&self.topic, n);
                let stats = crate::core::metrics::fan_out();
                stats.delivered.inc();
                stats.lag.observe((self.pending.len() + self.live.messages.len()) as f64);
                return Some(Ok(message));
            }
            match self.live.messages.recv().await {
                Ok((n, message)) if n <= self.last => drop(message),
                Ok((n, message)) if n == self.last + 1 => self.pending.push_back((n, message)),
                // A gap (this reader started late) or lag: read what is missing.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    crate::core::metrics::fan_out().catch_ups.inc();
                    self.catch_up = true;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(Status::unavailable(format!(
                        "the fan-out of {} stopped; subscribe again",
                        self.topic
                    ))));
                }
            }
        }
    }

    /// Reads every kept message after `last` into `pending`; a gap before
    /// the first is the reset signal.
    async fn fill(&mut self) -> Result<(), Status> {
        let missing = self.backend.range(&self.topic, self.last).await?;
        // Backends keep at least the newest message, so a trimmed cursor
        // shows as a gap before the first kept one. (Nothing at all means a
        // publish is in flight: it arrives live.)
        if let Some(&(first, _)) = missing.first()
            && first > self.last + 1
        {
            return Err(reset(&self.topic, self.last, Some(first)));
        }
        self.pending.extend(missing.into_iter().map(|(n, message)| (n, Encoded::new(n, message))));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wkt::Timestamp;

    // Timestamp's `nanos` stands in for a sequence-stamped field.
    fn stamp(m: &mut Timestamp, n: u64) {
        m.nanos = n as i32;
    }

    fn msg(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    async fn take(stream: &mut ResponseStream<Timestamp>, n: usize) -> Vec<(i64, i32)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let m = stream.next().await.expect("a message").expect("no error");
            out.push((m.seconds, m.nanos));
        }
        out
    }

    #[tokio::test]
    async fn topics_number_messages_and_fan_out() {
        let topics = Topics::in_process(2, stamp);
        let mut a = topics.subscribe("r", None).await.expect("subscribes");
        let mut b = topics.subscribe("r", None).await.expect("subscribes");
        assert_eq!(topics.publish("r", msg(10)).await.expect("publishes").nanos, 1);
        assert_eq!(topics.publish("r", msg(20)).await.expect("publishes").nanos, 2);
        assert_eq!(topics.publish("other", msg(0)).await.expect("publishes").nanos, 1, "each topic counts on its own");
        assert_eq!(topics.publish("r", msg(30)).await.expect("publishes").nanos, 3);
        let history: Vec<i32> = topics.history("r", 10).await.expect("history").iter().map(|m| m.nanos).collect();
        assert_eq!(history, [2, 3], "history is bounded");
        for s in [&mut a, &mut b] {
            assert_eq!(take(s, 3).await, [(10, 1), (20, 2), (30, 3)]);
        }
    }

    #[tokio::test]
    async fn a_cursor_resumes_after_it_and_a_trimmed_cursor_is_reset() {
        let topics = Topics::in_process(3, stamp);
        for i in 1..=5 {
            topics.publish("r", msg(i)).await.expect("publishes");
        }
        let mut resumed = topics.subscribe("r", Some(3)).await.expect("subscribes");
        topics.publish("r", msg(6)).await.expect("publishes");
        assert_eq!(take(&mut resumed, 3).await, [(4, 4), (5, 5), (6, 6)], "nothing lost, nothing repeated");

        let status = topics.subscribe("r", Some(1)).await.expect_err("a reset");
        assert_eq!(status.code(), crate::Code::OutOfRange);
        assert!(status.message().contains("oldest message kept is 4"), "{}", status.message());

        let future = topics.subscribe("r", Some(99)).await.expect_err("a cursor from elsewhere");
        assert_eq!(future.code(), crate::Code::OutOfRange);
    }

    /// In-process topics with a `retention` other than [`RETENTION`].
    fn in_memory(history: usize, retention: std::time::Duration) -> Topics<Timestamp> {
        Topics { backend: Arc::new(Memory::new(history, retention, MAX_TOPICS)), stamp, traces: Arc::default() }
    }

    fn histories(numbers: &[Timestamp]) -> Vec<i32> {
        numbers.iter().map(|m| m.nanos).collect()
    }

    #[tokio::test]
    async fn unused_topics_are_forgotten() {
        let topics = in_memory(4, std::time::Duration::ZERO);
        for i in 0..3 * memory::FIRST_SWEEP {
            assert!(topics.history(&format!("read {i}"), 10).await.expect("reads").is_empty());
        }
        assert_eq!(topics.kept(), 0, "reading a topic creates nothing");
        let mut listening = topics.subscribe("kept", None).await.expect("subscribes");
        for i in 0..3 * memory::FIRST_SWEEP {
            topics.publish(&format!("posted {i}"), msg(1)).await.expect("publishes");
        }
        assert!(topics.kept() <= memory::FIRST_SWEEP + 1, "{} topics kept", topics.kept());
        assert_eq!(topics.publish("kept", msg(1)).await.expect("publishes").nanos, 1);
        topics.publish("kept", msg(2)).await.expect("publishes");
        for i in 0..3 * memory::FIRST_SWEEP {
            topics.publish(&format!("again {i}"), msg(1)).await.expect("publishes");
        }
        assert_eq!(take(&mut listening, 2).await, [(1, 1), (2, 2)], "a topic with a subscriber stays");
    }

    /// (a) Subscribers create nothing that lasts: made-up topics are gone
    /// once their subscriptions end, and subscribing is no publish.
    #[tokio::test]
    async fn subscribing_to_made_up_topics_keeps_nothing_once_the_subscribers_leave() {
        let topics = Topics::in_process(4, stamp).max_topics(10_000);
        let mut subscriptions = Vec::new();
        for i in 0..10_000 {
            let after = (i % 2 == 0).then_some(0);
            subscriptions.push(topics.subscribe(&format!("rooms/made-up-{i}"), after).await.expect("subscribes"));
        }
        assert_eq!(topics.kept(), 10_000, "a topic with subscribers is kept");
        drop(subscriptions);
        assert_eq!(topics.kept(), 0, "nothing is left once the subscribers are gone");

        // One at a time, under the default cap, including refused cursors
        // and subscriptions that waited for a message.
        let topics = Topics::in_process(4, stamp);
        for i in 0..10_000 {
            let topic = format!("rooms/made-up-{i}");
            let mut subscription = topics.subscribe(&topic, None).await.expect("subscribes");
            if i % 1000 == 0 {
                let waited = tokio::time::timeout(std::time::Duration::from_millis(1), subscription.next()).await;
                assert!(waited.is_err(), "nothing was published");
            }
            drop(subscription);
            let refused = topics.subscribe(&topic, Some(1)).await.expect_err("never published");
            assert_eq!(refused.code(), crate::Code::OutOfRange);
        }
        assert_eq!(topics.kept(), 0, "nothing is left once the subscribers are gone");

        // Subscribing did not count as a publish: after the subscriber
        // left, the topic is not there to resume.
        let topics = in_memory(4, RETENTION);
        drop(topics.subscribe("rooms/lobby", None).await.expect("subscribes"));
        assert!(topics.history("rooms/lobby", 10).await.expect("reads").is_empty());
        let reset = topics.subscribe("rooms/lobby", Some(0)).await.expect("subscribes");
        drop(reset);
        assert_eq!(topics.kept(), 0);
    }

    /// (b) The cap: the least recently used topic without subscribers goes
    /// first, and when every topic has subscribers a new one is refused.
    #[tokio::test]
    async fn the_cap_forgets_the_least_recently_used_idle_topic_and_refuses_when_all_have_subscribers() {
        let topics = Topics::in_process(4, stamp).max_topics(3);
        for topic in ["a", "b", "c"] {
            topics.publish(topic, msg(1)).await.expect("publishes");
        }
        topics.publish("a", msg(2)).await.expect("publishes");
        topics.publish("d", msg(1)).await.expect("publishes");
        assert_eq!(topics.kept(), 3);
        assert!(topics.history("b", 10).await.expect("reads").is_empty(), "b was the least recently used");
        assert_eq!(histories(&topics.history("a", 10).await.expect("reads")), [1, 2]);
        let reset = topics.subscribe("b", Some(1)).await.expect_err("b is forgotten");
        assert_eq!(reset.code(), crate::Code::OutOfRange);

        // A subscription makes room the same way: c goes, a and d stay.
        let mut e = topics.subscribe("e", None).await.expect("subscribes");
        assert_eq!(topics.kept(), 3);
        assert!(topics.history("c", 10).await.expect("reads").is_empty(), "c was the least recently used");
        let mut a = topics.subscribe("a", Some(1)).await.expect("a is kept");
        let d = topics.subscribe("d", None).await.expect("d is kept");

        // Every kept topic has subscribers: a new one is refused, both ways.
        for refused in [
            topics.subscribe("f", None).await.map(drop).expect_err("over the cap"),
            topics.publish("f", msg(1)).await.map(drop).expect_err("over the cap"),
        ] {
            assert_eq!(refused.code(), crate::Code::ResourceExhausted);
            let message = refused.message();
            assert!(message.contains("fan-out topic f") && message.contains("3 topics"), "{message}");
            assert!(message.contains("Topics::max_topics"), "{message}");
        }
        assert_eq!(topics.kept(), 3);
        // Topics already kept still work.
        topics.publish("a", msg(3)).await.expect("publishes");
        topics.publish("e", msg(1)).await.expect("publishes");
        assert_eq!(take(&mut a, 2).await, [(2, 2), (3, 3)]);
        assert_eq!(take(&mut e, 1).await, [(1, 1)]);

        // A topic whose subscribers left is the first to go again.
        drop((a, e));
        let mut f = topics.subscribe("f", None).await.expect("room was made");
        assert_eq!(topics.kept(), 3);
        assert_eq!(histories(&topics.history("e", 10).await.expect("reads")), [1], "e was used after a");
        assert!(topics.history("a", 10).await.expect("reads").is_empty(), "a was the least recently used");
        topics.publish("f", msg(9)).await.expect("publishes");
        assert_eq!(take(&mut f, 1).await, [(9, 1)]);
        drop((d, f));
        assert_eq!(topics.kept(), 3, "d, e and f were published to");
    }

    /// (c) A topic that was published to outlives its subscribers, and
    /// resumes, until RETENTION after its last publish.
    #[tokio::test]
    async fn a_published_topic_is_kept_and_resumable_after_its_subscribers_leave_until_retention() {
        let topics = Topics::in_process(10, stamp);
        topics.publish("r", msg(1)).await.expect("publishes");
        let mut first = topics.subscribe("r", None).await.expect("subscribes");
        topics.publish("r", msg(2)).await.expect("publishes");
        assert_eq!(take(&mut first, 1).await, [(2, 2)]);
        drop(first);
        assert_eq!(topics.kept(), 1, "kept without subscribers");
        topics.publish("r", msg(3)).await.expect("publishes");
        let mut resumed = topics.subscribe("r", Some(2)).await.expect("resumes");
        topics.publish("r", msg(4)).await.expect("publishes");
        assert_eq!(take(&mut resumed, 2).await, [(3, 3), (4, 4)], "nothing lost, nothing repeated");
        drop(resumed);
        assert_eq!(histories(&topics.history("r", 10).await.expect("reads")), [1, 2, 3, 4]);

        // Retention runs from the last publish; subscribing does not extend it.
        let retention = std::time::Duration::from_millis(300);
        let topics = in_memory(10, retention);
        topics.publish("r", msg(1)).await.expect("publishes");
        tokio::time::sleep(retention / 2).await;
        drop(topics.subscribe("r", None).await.expect("subscribes"));
        tokio::time::sleep(retention).await;
        let reset = topics.subscribe("r", Some(1)).await.expect_err("expired");
        assert_eq!(reset.code(), crate::Code::OutOfRange);
        assert_eq!(topics.kept(), 0);

        let topics = in_memory(10, std::time::Duration::ZERO);
        topics.publish("r", msg(1)).await.expect("publishes");
        let subscribed = topics.subscribe("r", Some(0)).await.expect("subscribes");
        assert_eq!(topics.kept(), 1, "a subscriber keeps an expired topic");
        drop(subscribed);
        assert_eq!(topics.kept(), 0, "then it is forgotten");
    }

    #[tokio::test]
    async fn one_holder_has_a_topics_lease_until_it_releases_it_or_stops_renewing() {
        let topics = Topics::in_process(4, stamp);
        let ttl = std::time::Duration::from_millis(200);
        assert!(topics.claim("r", "a", ttl).await.expect("claims"));
        assert!(!topics.claim("r", "b", ttl).await.expect("claims"), "a holds it");
        assert!(topics.claim("other", "b", ttl).await.expect("claims"), "each topic has its own");
        assert!(topics.claim("r", "a", ttl).await.expect("renews"));
        topics.release("r", "b").await.expect("releases");
        assert!(!topics.claim("r", "b", ttl).await.expect("claims"), "only the holder releases");
        topics.release("r", "a").await.expect("releases");
        assert!(topics.claim("r", "b", ttl).await.expect("claims"), "released");
        tokio::time::sleep(ttl + std::time::Duration::from_millis(50)).await;
        assert!(topics.claim("r", "a", ttl).await.expect("claims"), "b stopped renewing");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_subscribers_and_publishers_leave_exact_bookkeeping() {
        let topics = Topics::in_process(4, stamp).max_topics(64);
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let topics = topics.clone();
                tokio::spawn(async move {
                    for i in 0..500 {
                        let topic = format!("t{}", (task * 7 + i) % 40);
                        let subscription = topics.subscribe(&topic, None).await.expect("subscribes");
                        if i % 5 == 0 {
                            topics.publish(&format!("posted {}", i % 10), msg(1)).await.expect("publishes");
                        }
                        tokio::task::yield_now().await;
                        drop(subscription);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        assert_eq!(topics.kept(), 2, "only the topics published to");
    }
}
