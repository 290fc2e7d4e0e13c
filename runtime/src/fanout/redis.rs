//! The Redis Streams backend (feature `redis`): a counter and a stream per
//! topic in Redis, and in each process one reader task per topic with
//! subscribers here, tailing the stream on a connection of its own. The
//! reader stops, dropping its connection, when the topic's last subscriber
//! here leaves; at most `max_topics` run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio::sync::broadcast;

use super::{Backend, Delivery, Encoded, LIVE_BUFFER, Leave, Live, MAX_TOPICS, Stamp, Topics, too_many};
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

/// Takes KEYS[1], the lease, for ARGV[1] for ARGV[2] ms, unless another
/// holder has it; 1 when ARGV[1] holds it now.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Deletes KEYS[1], the lease, if ARGV[1] still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
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

/// How long one XREAD blocks.
const BLOCK: Duration = Duration::from_secs(2);

/// The tailing connection waits for XREAD's whole BLOCK.
fn tail_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(3)))
}

/// The Redis backend for messages of type `T`, stored as protobuf.
struct Redis<T> {
    client: redis::Client,
    commands: ConnectionManager,
    max_len: usize,
    readers: Shared<T>,
    script: redis::Script,
    claim: redis::Script,
    release: redis::Script,
}

/// The reader tasks of one process: one per topic with subscribers here.
struct Readers<T> {
    by_topic: HashMap<String, Reader<T>>,
    max_topics: usize,
}

struct Reader<T> {
    live: broadcast::Sender<Delivery<T>>,
    subscribers: usize,
    /// Stops the task, which drops its connection.
    task: tokio::task::AbortHandle,
}

type Shared<T> = Arc<Mutex<Readers<T>>>;

fn new_readers<T>(max_topics: usize) -> Shared<T> {
    Arc::new(Mutex::new(Readers { by_topic: HashMap::new(), max_topics }))
}

fn lock<T>(readers: &Shared<T>) -> MutexGuard<'_, Readers<T>> {
    readers.lock().unwrap_or_else(|e| e.into_inner())
}

/// Joins the reader of `topic`, if it has one.
fn join<T: Send + Sync + 'static>(readers: &Shared<T>, topic: &str) -> Option<Live<T>> {
    let mut map = lock(readers);
    let reader = map.by_topic.get_mut(topic)?;
    reader.subscribers += 1;
    let messages = reader.live.subscribe();
    drop(map);
    Some(Live { messages, _leave: leave(readers, topic) })
}

/// Joins the reader of `topic`, first starting one with `start` (which
/// spawns the task feeding the sender it gets) when there is none; fails
/// with `RESOURCE_EXHAUSTED` when `max_topics` readers run already.
fn join_or_start<T: Clone + Send + Sync + 'static>(
    readers: &Shared<T>,
    topic: &str,
    start: impl FnOnce(broadcast::Sender<Delivery<T>>) -> tokio::task::AbortHandle,
) -> Result<Live<T>, Status> {
    let mut map = lock(readers);
    let messages = match map.by_topic.get_mut(topic) {
        Some(reader) => {
            reader.subscribers += 1;
            reader.live.subscribe()
        }
        None => {
            if map.by_topic.len() >= map.max_topics {
                return Err(too_many(topic, map.max_topics));
            }
            let (live, messages) = broadcast::channel(LIVE_BUFFER);
            let task = start(live.clone());
            map.by_topic.insert(topic.to_owned(), Reader { live, subscribers: 1, task });
            messages
        }
    };
    drop(map);
    Ok(Live { messages, _leave: leave(readers, topic) })
}

/// What a subscriber leaving `topic` does: the last one stops its reader.
fn leave<T: Send + Sync + 'static>(readers: &Shared<T>, topic: &str) -> Leave {
    let (readers, topic) = (Arc::clone(readers), topic.to_owned());
    Leave::new(move || {
        let mut map = lock(&readers);
        let Some(reader) = map.by_topic.get_mut(&topic) else { return };
        reader.subscribers = reader.subscribers.saturating_sub(1);
        if reader.subscribers == 0
            && let Some(reader) = map.by_topic.remove(&topic)
        {
            reader.task.abort();
        }
    })
}

fn unavailable(e: redis::RedisError) -> Status {
    Status::unavailable(format!("the fan-out store (Redis) is unavailable: {e}"))
}

/// A topic's sequence key and stream key; the braces keep both in one
/// Redis Cluster slot.
fn keys(topic: &str) -> (String, String) {
    (format!("apigen:topic:{{{topic}}}:seq"), format!("apigen:topic:{{{topic}}}"))
}

fn lease_key(topic: &str) -> String {
    format!("apigen:topic:{{{topic}}}:lease")
}

fn entry<T: ApiMessage>(entry: &StreamId) -> Result<(u64, T), Status> {
    let n =
        entry.id.split('-').next().and_then(|n| n.parse().ok()).ok_or_else(|| {
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
        let client =
            redis::Client::open(url).map_err(|e| Status::invalid_argument(format!("{url} is not a Redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let commands = ConnectionManager::new_with_config(client.clone(), config).await.map_err(unavailable)?;
        let backend = Redis {
            client,
            commands,
            max_len: max_len.max(1),
            readers: new_readers(MAX_TOPICS),
            script: redis::Script::new(APPEND),
            claim: redis::Script::new(CLAIM),
            release: redis::Script::new(RELEASE),
        };
        Ok(Topics { backend: Arc::new(backend), stamp, traces: Arc::default() })
    }
}

impl<T: ApiMessage + Clone + Send + Sync> Backend<T> for Redis<T> {
    fn append(&self, topic: &str, message: &T) -> BoxFuture<Result<u64, Status>> {
        let (seq, stream) = keys(topic);
        let once = format!("apigen:topic:{{{topic}}}:published:{}", super::unique_name());
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

    fn live(&self, topic: &str) -> BoxFuture<Result<Live<T>, Status>> {
        let (seq, stream) = keys(topic);
        let readers = Arc::clone(&self.readers);
        let (conn, client) = (self.commands.clone(), self.client.clone());
        let topic = topic.to_owned();
        Box::pin(async move {
            if let Some(live) = join(&readers, &topic) {
                return Ok(live);
            }
            {
                // Refused before asking Redis anything (and checked again below).
                let map = lock(&readers);
                if map.by_topic.len() >= map.max_topics {
                    return Err(too_many(&topic, map.max_topics));
                }
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
            join_or_start(&readers, &topic, |live| {
                tokio::spawn(tail(client, stream, start, live, topic.clone())).abort_handle()
            })
        })
    }

    fn ping(&self) -> BoxFuture<Result<(), Status>> {
        let mut conn = self.commands.clone();
        Box::pin(async move {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(Duration::from_secs(2), ping.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(unavailable(e)),
                Err(_) => Err(Status::unavailable("Redis did not answer PING within 2 s")),
            }
        })
    }

    fn claim(&self, topic: &str, holder: &str, ttl: Duration) -> BoxFuture<Result<bool, Status>> {
        let (key, holder, script) = (lease_key(topic), holder.to_owned(), self.claim.clone());
        let conn = self.commands.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Box::pin(async move {
            let held: i64 = retrying(|| {
                let mut invocation = script.key(&key);
                invocation.arg(&holder).arg(ms);
                let mut conn = conn.clone();
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
            Ok(held == 1)
        })
    }

    fn release(&self, topic: &str, holder: &str) -> BoxFuture<Result<(), Status>> {
        let (key, holder, script) = (lease_key(topic), holder.to_owned(), self.release.clone());
        let conn = self.commands.clone();
        Box::pin(async move {
            retrying(|| {
                let mut invocation = script.key(&key);
                invocation.arg(&holder);
                let mut conn = conn.clone();
                async move { invocation.invoke_async::<i64>(&mut conn).await }
            })
            .await
            .map(drop)
        })
    }

    fn set_max_topics(&self, max: usize) {
        lock(&self.readers).max_topics = max;
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        lock(&self.readers).by_topic.len()
    }
}

/// Tails one stream on a connection of its own (XREAD BLOCK holds it),
/// reconnecting with backoff, until the topic's last subscriber here
/// leaves and aborts the task (which drops the connection).
async fn tail<T: ApiMessage + Clone + Send + Sync>(
    client: redis::Client,
    stream: String,
    mut last: u64,
    tx: broadcast::Sender<Delivery<T>>,
    topic: String,
) {
    let mut backoff = Duration::from_millis(100);
    let mut conn = None;
    loop {
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
                                let _ = tx.send((n, Encoded::new(n, message)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wkt::Timestamp;

    /// Starts a stand-in reader task that runs until aborted, keeping its
    /// handle in `tasks`.
    fn stand_in(
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> impl FnOnce(broadcast::Sender<Delivery<Timestamp>>) -> tokio::task::AbortHandle {
        let task = tokio::spawn(std::future::pending::<()>());
        let abort = task.abort_handle();
        tasks.push(task);
        move |_| abort
    }

    async fn stopped(task: tokio::task::JoinHandle<()>) -> bool {
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await.expect("the reader stops");
        ended.is_err_and(|e| e.is_cancelled())
    }

    /// A reader runs exactly while its topic has subscribers here.
    #[tokio::test]
    async fn the_last_subscriber_leaving_stops_the_reader() {
        let readers = new_readers::<Timestamp>(MAX_TOPICS);
        let mut tasks = Vec::new();
        let first = join_or_start(&readers, "rooms/lobby", stand_in(&mut tasks)).expect("starts");
        let second = join(&readers, "rooms/lobby").expect("joins the running reader");
        let third = join_or_start(&readers, "rooms/lobby", |_| unreachable!("one reader per topic")).expect("joins");
        assert_eq!(lock(&readers).by_topic.len(), 1);
        drop((first, second));
        assert!(!tasks[0].is_finished(), "a subscriber is left");
        drop(third);
        assert!(lock(&readers).by_topic.is_empty());
        assert!(stopped(tasks.remove(0)).await, "the reader (and its connection) stopped");
        assert!(join(&readers, "rooms/lobby").is_none(), "a later subscriber starts a new reader");

        // 10,000 made-up topics leave no reader behind.
        for i in 0..10_000 {
            let live = join_or_start(&readers, &format!("rooms/made-up-{i}"), stand_in(&mut tasks)).expect("starts");
            drop(live);
        }
        assert!(lock(&readers).by_topic.is_empty());
        for task in tasks {
            assert!(stopped(task).await);
        }
    }

    /// The cap on readers: a new topic beyond it is refused until one
    /// topic's subscribers have left.
    #[tokio::test]
    async fn readers_are_capped() {
        let readers = new_readers::<Timestamp>(2);
        let mut tasks = Vec::new();
        let a = join_or_start(&readers, "a", stand_in(&mut tasks)).expect("starts");
        let _b = join_or_start(&readers, "b", stand_in(&mut tasks)).expect("starts");
        let refused = join_or_start(&readers, "c", |_| unreachable!("over the cap")).map(drop).expect_err("capped");
        assert_eq!(refused.code(), crate::Code::ResourceExhausted);
        assert!(refused.message().contains("2 topics"), "{}", refused.message());
        let _a_again = join_or_start(&readers, "a", |_| unreachable!("running")).expect("a topic with a reader");
        drop(a);
        assert_eq!(lock(&readers).by_topic.len(), 2, "a still has a subscriber");
        drop(_a_again);
        let _c = join_or_start(&readers, "c", stand_in(&mut tasks)).expect("room was made");
        assert!(stopped(tasks.remove(0)).await, "a's reader stopped");
    }
}
