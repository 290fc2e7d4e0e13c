//! Rate limits: how often one caller may call one method, on every protocol.
//!
//! Each (method, caller) pair has a token bucket, kept as GCRA's one number,
//! the "theoretical arrival time": a call is admitted when the bucket is not
//! empty, and each admitted call takes one token; tokens come back at the
//! limit's rate, up to its burst. The caller is the authenticated subject,
//! or the client's IP address when the call is anonymous (in-process calls
//! have neither and are never limited). A refused call fails with
//! `RESOURCE_EXHAUSTED` and a `google.rpc.RetryInfo` detail saying when the
//! next token comes, which HTTP answers carry as `Retry-After`.
//!
//! A method's limit is the one set in code or on the command line for it,
//! else its schema's `(apigen.method).rate_limit`, else the server's default.
//! Buckets live in the process, or in Redis when one is given, so that every
//! instance sharing it shares the limit. When Redis cannot be reached, calls
//! are admitted (and a warning logged): a rate limit protects a service, it
//! must not take it down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::context::Context;
use crate::core::status::Status;
use crate::core::wire::RetryInfo;

/// At most `calls` calls per `period`, with bursts of up to `burst` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    calls: u32,
    period_seconds: u32,
    burst: u32,
}

impl RateLimit {
    /// `calls` per `period_seconds` seconds; bursts of `calls`. Zero calls or
    /// a zero period count as one.
    pub const fn new(calls: u32, period_seconds: u32) -> RateLimit {
        let calls = if calls == 0 { 1 } else { calls };
        let period_seconds = if period_seconds == 0 { 1 } else { period_seconds };
        RateLimit { calls, period_seconds, burst: calls }
    }

    /// `calls` per second.
    pub const fn per_second(calls: u32) -> RateLimit {
        RateLimit::new(calls, 1)
    }

    /// `calls` per minute.
    pub const fn per_minute(calls: u32) -> RateLimit {
        RateLimit::new(calls, 60)
    }

    /// `calls` per hour.
    pub const fn per_hour(calls: u32) -> RateLimit {
        RateLimit::new(calls, 3600)
    }

    /// The same rate, admitting up to `burst` calls at once (the bucket's
    /// size) after a quiet spell; at least one.
    pub const fn burst(mut self, burst: u32) -> RateLimit {
        self.burst = if burst == 0 { 1 } else { burst };
        self
    }

    /// The time one token takes to come back.
    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.period_seconds)) / self.calls
    }

    /// How far ahead of now the bucket's arrival time may run: a full bucket's worth.
    fn capacity(&self) -> Duration {
        self.interval() * self.burst
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = match self.period_seconds {
            1 => "second".to_owned(),
            60 => "minute".to_owned(),
            3600 => "hour".to_owned(),
            s => format!("{s} seconds"),
        };
        write!(f, "{} calls per {per}", self.calls)?;
        if self.burst != self.calls {
            write!(f, ", bursts of {}", self.burst)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `100/s`, `5/min`, `1000/h`, optionally with `,burst=N`.
    fn from_str(text: &str) -> Result<RateLimit, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not a rate limit: {why}; write it as CALLS/UNIT[,burst=N], for example `100/s`, `5/min,burst=10` or `1000/h`"
            )
        };
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst.trim())),
            None => (text, None),
        };
        let (calls, unit) = rate.trim().split_once('/').ok_or_else(|| bad("it has no `/UNIT`"))?;
        let calls: u32 = calls.trim().parse().map_err(|_| bad("CALLS is not a whole number"))?;
        if calls == 0 {
            return Err(bad("CALLS is zero; exclude the method instead"));
        }
        let period = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad("UNIT is not s, min or h")),
        };
        let limit = RateLimit::new(calls, period);
        match burst {
            None => Ok(limit),
            Some(burst) => {
                let n = burst.strip_prefix("burst=").ok_or_else(|| bad("what follows the comma is not `burst=N`"))?;
                match n.trim().parse::<u32>() {
                    Ok(n) if n > 0 => Ok(limit.burst(n)),
                    _ => Err(bad("the burst is not a whole number above zero")),
                }
            }
        }
    }
}

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    Subject(Box<str>),
    Address(IpAddr),
}

impl Caller {
    /// The caller of `ctx`: its subject, else its address; `None` in process.
    fn of(ctx: &Context) -> Option<Caller> {
        match ctx.identity() {
            Some(identity) if !identity.subject.is_empty() => Some(Caller::Subject(identity.subject.as_str().into())),
            _ => ctx.peer().map(|peer| Caller::Address(peer.ip())),
        }
    }

    fn describe(&self) -> String {
        match self {
            Caller::Subject(s) => format!("the caller `{s}`"),
            Caller::Address(ip) => format!("the address {ip}"),
        }
    }
}

/// `(service, method)` as the method tables name them.
type MethodKey = (&'static str, &'static str);

/// Where the buckets live.
enum Store {
    Memory(Mutex<Buckets>),
    #[cfg(feature = "redis")]
    Redis(redis_store::Shared),
}

struct Buckets {
    arrival: HashMap<(MethodKey, Caller), Instant>,
    /// Above this many buckets, full ones (arrival time past) are dropped.
    sweep_at: usize,
}

/// The limits of one server and their buckets.
pub(crate) struct Limiter {
    limits: HashMap<MethodKey, RateLimit>,
    store: Store,
}

/// Buckets kept before the first sweep of full ones.
const SWEEP_AT: usize = 4096;

impl Limiter {
    /// A limiter of `limits` with buckets in this process; `None` without any.
    pub(crate) fn new(limits: HashMap<MethodKey, RateLimit>) -> Option<Limiter> {
        (!limits.is_empty()).then(|| Limiter {
            limits,
            store: Store::Memory(Mutex::new(Buckets { arrival: HashMap::new(), sweep_at: SWEEP_AT })),
        })
    }

    /// The same limits with buckets in the Redis at `url`, shared by every
    /// instance on it.
    #[cfg(feature = "redis")]
    pub(crate) async fn shared(self, url: &str) -> Result<Limiter, Status> {
        Ok(Limiter { store: Store::Redis(redis_store::connect(url).await?), ..self })
    }

    /// The limit of `(service, method)`, if it has one.
    pub(crate) fn limit(&self, key: MethodKey) -> Option<RateLimit> {
        self.limits.get(&key).copied()
    }

    /// Takes a token of `ctx`'s caller for `key`, or says when there will be one.
    pub(crate) async fn admit(&self, key: MethodKey, ctx: &Context) -> Result<(), Status> {
        let Some(limit) = self.limit(key) else { return Ok(()) };
        let Some(caller) = Caller::of(ctx) else { return Ok(()) };
        let wait = match &self.store {
            Store::Memory(buckets) => take(buckets, key, &caller, limit),
            #[cfg(feature = "redis")]
            Store::Redis(shared) => redis_store::take(shared, key, &caller, limit).await,
        };
        match wait {
            None => Ok(()),
            Some(wait) => Err(refusal(key, &caller, limit, wait)),
        }
    }
}

/// GCRA on one bucket in memory: `None` when admitted, else the wait.
fn take(buckets: &Mutex<Buckets>, key: MethodKey, caller: &Caller, limit: RateLimit) -> Option<Duration> {
    let now = Instant::now();
    let mut buckets = buckets.lock().unwrap_or_else(|e| e.into_inner());
    let bucket = (key, caller.clone());
    let arrival = buckets.arrival.get(&bucket).copied().filter(|at| *at > now).unwrap_or(now);
    let next = arrival + limit.interval();
    let ahead = next - now;
    if ahead > limit.capacity() {
        return Some(ahead - limit.capacity());
    }
    buckets.arrival.insert(bucket, next);
    if buckets.arrival.len() > buckets.sweep_at {
        buckets.arrival.retain(|_, at| *at > now);
        buckets.sweep_at = (buckets.arrival.len() * 2).max(SWEEP_AT);
    }
    None
}

/// `RESOURCE_EXHAUSTED`, with when to try again.
fn refusal(key: MethodKey, caller: &Caller, limit: RateLimit, wait: Duration) -> Status {
    let (service, method) = key;
    Status::resource_exhausted(format!(
        "{service}/{method} allows {limit} to {}; try again in {:.1} s",
        caller.describe(),
        wait.as_secs_f64().max(0.1)
    ))
    .with_detail(RetryInfo::delay(wait))
}

#[cfg(feature = "redis")]
mod redis_store {
    //! Buckets in Redis: the same GCRA in one Lua script, timed by Redis's
    //! clock so that instances with skewed clocks agree.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use redis::aio::ConnectionManager;

    use super::{Caller, MethodKey, RateLimit};
    use crate::core::status::Status;

    /// KEYS[1] holds the bucket's arrival time in µs; ARGV[1] is the
    /// interval and ARGV[2] the capacity, in µs. Returns 0 when admitted,
    /// else the µs to wait. Numbers stay below 2^53, so Lua's doubles hold
    /// them exactly; `%.0f` writes them without an exponent.
    const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local arrival = tonumber(redis.call('GET', KEYS[1]) or '0')
if arrival < now then arrival = now end
local next = arrival + tonumber(ARGV[1])
local ahead = next - now
local capacity = tonumber(ARGV[2])
if ahead > capacity then return ahead - capacity end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.floor(ahead / 1000) + 1)
return 0
";

    pub(super) struct Shared {
        commands: ConnectionManager,
        script: redis::Script,
        /// When the last warning about an unreachable Redis was logged, in s since the epoch.
        warned: AtomicU64,
    }

    pub(super) async fn connect(url: &str) -> Result<Shared, Status> {
        let client =
            redis::Client::open(url).map_err(|e| Status::invalid_argument(format!("{url} is not a Redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let commands = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| Status::unavailable(format!("cannot reach Redis at {url} for the rate limits: {e}")))?;
        Ok(Shared { commands, script: redis::Script::new(TAKE), warned: AtomicU64::new(0) })
    }

    pub(super) async fn take(shared: &Shared, key: MethodKey, caller: &Caller, limit: RateLimit) -> Option<Duration> {
        let (service, method) = key;
        let who = match caller {
            Caller::Subject(s) => format!("sub:{s}"),
            Caller::Address(ip) => format!("ip:{ip}"),
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut commands = shared.commands.clone();
        let outcome: redis::RedisResult<u64> = shared
            .script
            .key(format!("apigen:ratelimit:{service}/{method}:{who}"))
            .arg(micros(limit.interval()))
            .arg(micros(limit.capacity()))
            .invoke_async(&mut commands)
            .await;
        match outcome {
            Ok(0) => None,
            Ok(wait) => Some(Duration::from_micros(wait)),
            Err(e) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                if now >= shared.warned.load(Ordering::Relaxed) + 10 {
                    shared.warned.store(now, Ordering::Relaxed);
                    tracing::warn!("rate limits not applied: Redis did not answer ({e})");
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: MethodKey = ("a.S", "Get");

    fn caller() -> Context {
        Context::default().with_peer("127.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn parses_the_flag_syntax_and_explains_mistakes() {
        assert_eq!("100/s".parse(), Ok(RateLimit::per_second(100)));
        assert_eq!("5/min,burst=10".parse(), Ok(RateLimit::per_minute(5).burst(10)));
        assert_eq!("1000/h".parse(), Ok(RateLimit::per_hour(1000)));
        for bad in ["100", "0/s", "5/day", "5/s,burst=0", "5/s,10", "x/s"] {
            let err = bad.parse::<RateLimit>().expect_err(bad);
            assert!(err.contains("for example `100/s`"), "{err}");
        }
        assert_eq!(RateLimit::per_minute(5).burst(10).to_string(), "5 calls per minute, bursts of 10");
    }

    #[tokio::test]
    async fn a_burst_then_one_call_per_interval_per_caller() {
        let limiter =
            Limiter::new(HashMap::from([(KEY, RateLimit::per_second(2).burst(3))])).unwrap_or_else(|| unreachable!());
        for _ in 0..3 {
            assert!(limiter.admit(KEY, &caller()).await.is_ok());
        }
        let refused = limiter.admit(KEY, &caller()).await.expect_err("the fourth call is over the burst");
        assert_eq!(refused.code(), crate::Code::ResourceExhausted);
        let wait = crate::core::wire::retry_after(&refused);
        assert_eq!(wait, Some(1), "{}", refused.message());
        // Another caller and another method have buckets of their own.
        let other = Context::default().with_peer("127.0.0.2:5000".parse().unwrap_or_else(|_| unreachable!()));
        assert!(limiter.admit(KEY, &other).await.is_ok());
        assert!(limiter.admit(("a.S", "List"), &caller()).await.is_ok());
        // One token comes back every 500 ms.
        tokio::time::sleep(Duration::from_millis(550)).await;
        assert!(limiter.admit(KEY, &caller()).await.is_ok());
        assert!(limiter.admit(KEY, &caller()).await.is_err());
        // In-process calls have no caller to limit.
        for _ in 0..10 {
            assert!(limiter.admit(KEY, &Context::default()).await.is_ok());
        }
    }
}
