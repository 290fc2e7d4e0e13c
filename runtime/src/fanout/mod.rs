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
//! Topics do not live forever: reading a topic creates nothing, and one
//! with no subscriber here and no publish for [`RETENTION`] is forgotten
//! (in process) or expires (the Redis keys), so a client naming ever new
//! topics cannot grow the server. A cursor into a forgotten topic is reset.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::core::call::BoxFuture;
use crate::core::message::ApiMessage;
use crate::{ResponseStream, Status};

/// How many messages the live broadcast of a topic buffers per process;
/// a subscriber further behind catches up from the backend.
const LIVE_BUFFER: usize = 256;

/// How long a topic with no subscriber is kept after its last publish.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

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
    /// The topic's live broadcast in this process.
    fn live(&self, topic: &str) -> BoxFuture<Result<broadcast::Receiver<(u64, T)>, Status>>;
}

/// Topics of messages of type `T`, on one backend.
pub struct Topics<T> {
    backend: Arc<dyn Backend<T>>,
    stamp: Stamp<T>,
}

impl<T> Clone for Topics<T> {
    fn clone(&self) -> Self {
        Topics { backend: Arc::clone(&self.backend), stamp: self.stamp }
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
        Topics { backend: Arc::new(Memory::new(history, RETENTION)), stamp }
    }

    /// Publishes `message` with the topic's next sequence number and returns it stamped.
    pub async fn publish(&self, topic: &str, mut message: T) -> Result<T, Status> {
        let sequence = self.backend.append(topic, &message).await?;
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
        let mut state = Subscriber {
            backend: Arc::clone(&self.backend),
            topic: topic.to_owned(),
            stamp: self.stamp,
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
        let stream = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        });
        Ok(ResponseStream::resumable(stream.map(|item| item.map(|(n, m)| (n.to_string(), m)))))
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
    stamp: Stamp<T>,
    live: broadcast::Receiver<(u64, T)>,
    /// The sequence number of the last message delivered.
    last: u64,
    pending: VecDeque<(u64, T)>,
    catch_up: bool,
    done: bool,
}

impl<T: Clone + Send + 'static> Subscriber<T> {
    async fn next(&mut self) -> Option<Result<(u64, T), Status>> {
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
            while let Some((n, mut message)) = self.pending.pop_front() {
                if n <= self.last {
                    continue;
                }
                self.last = n;
                (self.stamp)(&mut message, n);
                return Some(Ok((n, message)));
            }
            match self.live.recv().await {
                Ok((n, message)) if n <= self.last => drop(message),
                Ok((n, message)) if n == self.last + 1 => self.pending.push_back((n, message)),
                // A gap (this reader started late) or lag: read what is missing.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
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
        self.pending.extend(missing);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// In-process backend

struct Memory<T> {
    topics: Mutex<Rooms<T>>,
    history: usize,
    retention: std::time::Duration,
}

struct Rooms<T> {
    by_name: HashMap<String, MemoryTopic<T>>,
    /// A sweep runs when the map grows past this: amortized O(1) per topic.
    sweep_at: usize,
}

struct MemoryTopic<T> {
    last: u64,
    kept: VecDeque<(u64, T)>,
    live: broadcast::Sender<(u64, T)>,
    published: std::time::Instant,
}

/// Topics kept before the first sweep.
const FIRST_SWEEP: usize = 1024;

impl<T: Clone + Send + 'static> Memory<T> {
    fn new(history: usize, retention: std::time::Duration) -> Memory<T> {
        let rooms = Rooms { by_name: HashMap::new(), sweep_at: FIRST_SWEEP };
        Memory { topics: Mutex::new(rooms), history: history.max(1), retention }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, Rooms<T>> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on `topic`, created if it is new.
    fn with<R>(&self, topic: &str, f: impl FnOnce(&mut MemoryTopic<T>) -> R) -> R {
        let mut rooms = self.rooms();
        if !rooms.by_name.contains_key(topic) && rooms.by_name.len() >= rooms.sweep_at {
            let retention = self.retention;
            rooms.by_name.retain(|_, t| t.live.receiver_count() > 0 || t.published.elapsed() < retention);
            rooms.sweep_at = (rooms.by_name.len() * 2).max(FIRST_SWEEP);
        }
        let entry = rooms.by_name.entry(topic.to_owned()).or_insert_with(|| MemoryTopic {
            last: 0,
            kept: VecDeque::new(),
            live: broadcast::channel(LIVE_BUFFER).0,
            published: std::time::Instant::now(),
        });
        f(entry)
    }

    /// Reads `topic` without creating it: `None` when it does not exist.
    fn read<R>(&self, topic: &str, f: impl FnOnce(&MemoryTopic<T>) -> R) -> Option<R> {
        self.rooms().by_name.get(topic).map(f)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.rooms().by_name.len()
    }
}

fn ready<R: Send + 'static>(value: R) -> BoxFuture<R> {
    Box::pin(std::future::ready(value))
}

impl<T: Clone + Send + Sync + 'static> Backend<T> for Memory<T> {
    fn append(&self, topic: &str, message: &T) -> BoxFuture<Result<u64, Status>> {
        let n = self.with(topic, |t| {
            t.last += 1;
            t.published = std::time::Instant::now();
            if t.kept.len() == self.history {
                t.kept.pop_front();
            }
            t.kept.push_back((t.last, message.clone()));
            // No live subscribers is fine.
            let _ = t.live.send((t.last, message.clone()));
            t.last
        });
        ready(Ok(n))
    }

    fn last(&self, topic: &str) -> BoxFuture<Result<u64, Status>> {
        ready(Ok(self.read(topic, |t| t.last).unwrap_or(0)))
    }

    fn range(&self, topic: &str, after: u64) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
        ready(Ok(self
            .read(topic, |t| t.kept.iter().filter(|(n, _)| *n > after).cloned().collect())
            .unwrap_or_default()))
    }

    fn newest(&self, topic: &str, limit: usize) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
        let newest = |t: &MemoryTopic<T>| t.kept.iter().skip(t.kept.len().saturating_sub(limit)).cloned().collect();
        ready(Ok(self.read(topic, newest).unwrap_or_default()))
    }

    fn live(&self, topic: &str) -> BoxFuture<Result<broadcast::Receiver<(u64, T)>, Status>> {
        ready(Ok(self.with(topic, |t| t.live.subscribe())))
    }
}

// ---------------------------------------------------------------------------
// Redis Streams backend

#[cfg(feature = "redis")]
mod redis_backend {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use redis::AsyncCommands;
    use redis::aio::ConnectionManager;
    use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
    use tokio::sync::broadcast;

    use super::{Backend, LIVE_BUFFER, Stamp, Topics};
    use crate::Status;
    use crate::core::call::BoxFuture;
    use crate::core::message::ApiMessage;

    /// INCR and XADD in one step, so stream order is sequence order even
    /// when several instances publish to the same topic at once. Both keys
    /// expire [`RETENTION`](super::RETENTION) after the topic's last publish.
    /// KEYS[3] names this publish, so that a retry after a dropped
    /// connection returns the first attempt's number instead of posting twice.
    const APPEND: &str = r"
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local n = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], n .. '-0', 'm', ARGV[2])
redis.call('SET', KEYS[3], n, 'EX', 600)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n
";

    /// Attempts of a command when the connection drops under it; the
    /// connection manager reconnects in between.
    const ATTEMPTS: u32 = 3;

    /// Runs a command, again after a dropped connection.
    async fn retrying<R, F, Fut>(mut command: F) -> Result<R, Status>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<R>>,
    {
        let mut attempt = 1;
        loop {
            match command().await {
                Ok(value) => return Ok(value),
                Err(e) if attempt < ATTEMPTS && (e.is_io_error() || e.is_connection_dropped()) => {
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// A name for one publish, unique across processes and time.
    fn publish_id() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
    }

    /// How long one XREAD blocks before its reader checks for subscribers.
    const BLOCK: Duration = Duration::from_secs(2);

    /// The tailing connection waits for XREAD's whole BLOCK.
    fn tail_config() -> redis::AsyncConnectionConfig {
        redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(BLOCK + Duration::from_secs(3)))
    }

    type Readers<T> = Arc<Mutex<HashMap<String, broadcast::Sender<(u64, T)>>>>;

    /// The Redis backend for messages of type `T`, stored as protobuf.
    struct Redis<T> {
        client: redis::Client,
        commands: ConnectionManager,
        max_len: usize,
        readers: Readers<T>,
        script: redis::Script,
    }

    fn unavailable(e: redis::RedisError) -> Status {
        Status::unavailable(format!("the fan-out store (Redis) is unavailable: {e}"))
    }

    /// A topic's sequence key and stream key; the braces keep both in one
    /// Redis Cluster slot.
    fn keys(topic: &str) -> (String, String) {
        (format!("apigen:topic:{{{topic}}}:seq"), format!("apigen:topic:{{{topic}}}"))
    }

    fn entry<T: ApiMessage>(entry: &StreamId) -> Result<(u64, T), Status> {
        let n = entry.id.split('-').next().and_then(|n| n.parse().ok()).ok_or_else(|| {
            Status::internal(format!("the fan-out stream has an entry with a foreign id {}", entry.id))
        })?;
        let bytes: Vec<u8> = entry.get("m").unwrap_or_default();
        let message = T::decode(bytes.as_slice())
            .map_err(|e| Status::internal(format!("message {n} in the fan-out stream is unreadable: {e}")))?;
        Ok((n, message))
    }

    impl<T: ApiMessage + Clone + Send + Sync> Topics<T> {
        /// Topics on Redis Streams at `url` (`redis://127.0.0.1:6379`), each
        /// stream trimmed to its newest `max_len` messages. Fails when Redis
        /// cannot be reached now; later outages are retried, and publishing
        /// while Redis is down fails with UNAVAILABLE.
        pub async fn redis(url: &str, max_len: usize, stamp: Stamp<T>) -> Result<Topics<T>, Status> {
            let client = redis::Client::open(url)
                .map_err(|e| Status::invalid_argument(format!("{url} is not a Redis URL: {e}")))?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_number_of_retries(2);
            let commands = ConnectionManager::new_with_config(client.clone(), config).await.map_err(unavailable)?;
            let backend = Redis {
                client,
                commands,
                max_len: max_len.max(1),
                readers: Arc::new(Mutex::new(HashMap::new())),
                script: redis::Script::new(APPEND),
            };
            Ok(Topics { backend: Arc::new(backend), stamp })
        }
    }

    impl<T: ApiMessage + Clone + Send + Sync> Backend<T> for Redis<T> {
        fn append(&self, topic: &str, message: &T) -> BoxFuture<Result<u64, Status>> {
            let (seq, stream) = keys(topic);
            let once = format!("apigen:topic:{{{topic}}}:published:{}", publish_id());
            let (script, max_len, bytes) = (self.script.clone(), self.max_len, message.encode_to_vec());
            let conn = self.commands.clone();
            Box::pin(async move {
                retrying(|| {
                    let mut invocation = script.key(&seq);
                    invocation.key(&stream).key(&once).arg(max_len).arg(&bytes).arg(super::RETENTION.as_secs());
                    let mut conn = conn.clone();
                    async move { invocation.invoke_async(&mut conn).await }
                })
                .await
            })
        }

        fn last(&self, topic: &str) -> BoxFuture<Result<u64, Status>> {
            let (seq, _) = keys(topic);
            let conn = self.commands.clone();
            Box::pin(async move {
                let n: Option<u64> = retrying(|| {
                    let mut conn = conn.clone();
                    let seq = seq.clone();
                    async move { conn.get(seq).await }
                })
                .await?;
                Ok(n.unwrap_or(0))
            })
        }

        fn range(&self, topic: &str, after: u64) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
            let (_, stream) = keys(topic);
            let conn = self.commands.clone();
            Box::pin(async move {
                let reply: StreamRangeReply = retrying(|| {
                    let mut conn = conn.clone();
                    let stream = stream.clone();
                    async move { conn.xrange(stream, format!("({after}-0"), "+").await }
                })
                .await?;
                reply.ids.iter().map(entry).collect()
            })
        }

        fn newest(&self, topic: &str, limit: usize) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
            let (_, stream) = keys(topic);
            let conn = self.commands.clone();
            Box::pin(async move {
                let reply: StreamRangeReply = retrying(|| {
                    let mut conn = conn.clone();
                    let stream = stream.clone();
                    async move { conn.xrevrange_count(stream, "+", "-", limit).await }
                })
                .await?;
                reply.ids.iter().rev().map(entry).collect()
            })
        }

        fn live(&self, topic: &str) -> BoxFuture<Result<broadcast::Receiver<(u64, T)>, Status>> {
            let (seq, stream) = keys(topic);
            let readers = Arc::clone(&self.readers);
            let (conn, client) = (self.commands.clone(), self.client.clone());
            let topic = topic.to_owned();
            Box::pin(async move {
                if let Some(tx) = readers.lock().unwrap_or_else(|e| e.into_inner()).get(&topic) {
                    return Ok(tx.subscribe());
                }
                // Where a new reader starts: the subscriber reads its own
                // start after this, so nothing falls between the two.
                let start: u64 = retrying(|| {
                    let mut conn = conn.clone();
                    let seq = seq.clone();
                    async move { conn.get::<_, Option<u64>>(seq).await }
                })
                .await?
                .unwrap_or(0);
                let mut map = readers.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(tx) = map.get(&topic) {
                    return Ok(tx.subscribe());
                }
                let (tx, rx) = broadcast::channel(LIVE_BUFFER);
                map.insert(topic.clone(), tx.clone());
                drop(map);
                tokio::spawn(tail(client, stream, start, tx, readers, topic));
                Ok(rx)
            })
        }
    }

    /// Tails one stream on a connection of its own (XREAD BLOCK holds it),
    /// reconnecting with backoff, until the topic has no subscribers here.
    async fn tail<T: ApiMessage + Clone + Send + Sync>(
        client: redis::Client,
        stream: String,
        mut last: u64,
        tx: broadcast::Sender<(u64, T)>,
        readers: Readers<T>,
        topic: String,
    ) {
        let mut backoff = Duration::from_millis(100);
        let mut conn = None;
        loop {
            if tx.receiver_count() == 0 {
                // Checked again under the lock: a subscriber may be joining.
                let mut map = readers.lock().unwrap_or_else(|e| e.into_inner());
                if tx.receiver_count() == 0 {
                    map.remove(&topic);
                    return;
                }
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match client.get_multiplexed_async_connection_with_config(&tail_config()).await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        tracing::warn!("fan-out reader of {topic} cannot reach Redis: {e}; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                },
            };
            let options = StreamReadOptions::default().block(BLOCK.as_millis() as usize).count(256);
            let reply: Result<Option<StreamReadReply>, _> =
                c.xread_options(&[&stream], &[format!("{last}-0")], &options).await;
            match reply {
                Ok(reply) => {
                    backoff = Duration::from_millis(100);
                    for key in reply.map(|r| r.keys).unwrap_or_default() {
                        for id in &key.ids {
                            match entry::<T>(id) {
                                Ok((n, message)) => {
                                    last = last.max(n);
                                    let _ = tx.send((n, message));
                                }
                                Err(status) => tracing::warn!("{}", status.message()),
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("fan-out reader of {topic} lost Redis: {e}; reconnecting");
                    conn = None;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
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

    #[tokio::test]
    async fn unused_topics_are_forgotten() {
        let topics = Memory::<Timestamp>::new(4, std::time::Duration::ZERO);
        for i in 0..3 * FIRST_SWEEP {
            assert_eq!(topics.last(&format!("read {i}")).await.expect("reads"), 0);
        }
        assert_eq!(topics.len(), 0, "reading a topic creates nothing");
        let _listening = topics.live("kept").await.expect("subscribes");
        for i in 0..3 * FIRST_SWEEP {
            topics.append(&format!("posted {i}"), &msg(1)).await.expect("publishes");
        }
        assert!(topics.len() <= FIRST_SWEEP + 1, "{} topics kept", topics.len());
        assert_eq!(topics.append("kept", &msg(1)).await.expect("publishes"), 1);
        topics.append("kept", &msg(2)).await.expect("publishes");
        for i in 0..3 * FIRST_SWEEP {
            topics.append(&format!("again {i}"), &msg(1)).await.expect("publishes");
        }
        assert_eq!(topics.last("kept").await.expect("reads"), 2, "a topic with a subscriber stays");
    }
}
