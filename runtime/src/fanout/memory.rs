//! The in-process backend: per topic, a bounded replay buffer, and a
//! `broadcast` channel only while the topic has subscribers.
//!
//! A topic is kept while it has subscribers, and after they leave only if
//! it was published to, until [`RETENTION`](super::RETENTION) after its last
//! publish. At most `max_topics` are kept; room for a new one is made by
//! forgetting the least recently used topic without subscribers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{Backend, Delivery, Encoded, LIVE_BUFFER, Leave, Live, too_many};
use crate::Status;
use crate::core::call::BoxFuture;

/// Topics kept before the first sweep for expired ones.
pub(super) const FIRST_SWEEP: usize = 64;

pub(super) struct Memory<T> {
    shared: Arc<Shared<T>>,
    /// Topic leases: holder and expiry. Few (one per fed topic) and short-lived.
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

struct Shared<T> {
    rooms: Mutex<Rooms<T>>,
    history: usize,
    retention: Duration,
}

/// The kept topics.
struct Rooms<T> {
    by_name: HashMap<String, Topic<T>>,
    /// Every kept topic without subscribers, least recently used first:
    /// each under its `used`.
    idle: BTreeMap<u64, String>,
    /// The clock of `used`: it counts uses.
    clock: u64,
    max_topics: usize,
    /// A sweep for expired topics runs when the map grows past this:
    /// amortized O(1) per topic.
    sweep_at: usize,
}

struct Topic<T> {
    last: u64,
    kept: VecDeque<(u64, T)>,
    /// The live broadcast, only while the topic has subscribers.
    live: Option<broadcast::Sender<Delivery<T>>>,
    subscribers: usize,
    /// The last publish; `None` for a topic only subscribed to, which is
    /// forgotten when its last subscriber leaves.
    published: Option<Instant>,
    /// When the topic was last published to, joined or left, on `Rooms::clock`.
    used: u64,
}

impl<T> Topic<T> {
    /// Whether nothing holds the topic any more: no subscriber, and no
    /// publish within `retention`.
    fn expired(&self, retention: Duration) -> bool {
        self.subscribers == 0 && self.published.is_none_or(|p| p.elapsed() >= retention)
    }
}

impl<T: Clone> Rooms<T> {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// `topic` if it is kept; one whose retention ran out is forgotten now.
    fn get(&mut self, topic: &str, retention: Duration) -> Option<&mut Topic<T>> {
        if self.by_name.get(topic)?.expired(retention) {
            if let Some(t) = self.by_name.remove(topic) {
                self.idle.remove(&t.used);
            }
            return None;
        }
        self.by_name.get_mut(topic)
    }

    /// Keeps `topic`, new or not. Room for a new one is made by forgetting
    /// expired topics, then the least recently used ones without
    /// subscribers; when every kept topic has subscribers, there is none.
    /// A new topic is not in `idle`: the caller publishes to it or joins it.
    fn open(&mut self, topic: &str, retention: Duration) -> Result<(), Status> {
        if self.get(topic, retention).is_some() {
            return Ok(());
        }
        if self.by_name.len() >= self.sweep_at {
            self.sweep(retention);
        }
        while self.by_name.len() >= self.max_topics {
            let Some((_, oldest)) = self.idle.pop_first() else {
                return Err(too_many(topic, self.max_topics));
            };
            self.by_name.remove(&oldest);
        }
        let used = self.tick();
        let new = Topic { last: 0, kept: VecDeque::new(), live: None, subscribers: 0, published: None, used };
        self.by_name.insert(topic.to_owned(), new);
        Ok(())
    }

    /// Forgets the topics without subscribers whose retention ran out.
    fn sweep(&mut self, retention: Duration) {
        let by_name = &self.by_name;
        let expired: Vec<u64> = self
            .idle
            .iter()
            .filter(|(_, name)| by_name.get(*name).is_none_or(|t| t.expired(retention)))
            .map(|(used, _)| *used)
            .collect();
        for used in expired {
            if let Some(name) = self.idle.remove(&used) {
                self.by_name.remove(&name);
            }
        }
        self.sweep_at = (self.by_name.len() * 2).max(FIRST_SWEEP);
    }

    fn publish(&mut self, topic: &str, message: &T, history: usize, retention: Duration) -> Result<u64, Status> {
        self.open(topic, retention)?;
        let used = self.tick();
        let Rooms { by_name, idle, .. } = self;
        let Some(t) = by_name.get_mut(topic) else { unreachable!("an open topic is kept") };
        t.last += 1;
        t.published = Some(Instant::now());
        if t.kept.len() == history {
            t.kept.pop_front();
        }
        t.kept.push_back((t.last, message.clone()));
        if let Some(live) = &t.live {
            // Every receiver may be gone already (its Leave is on the way).
            let _ = live.send((t.last, Encoded::new(t.last, message.clone())));
        }
        if t.subscribers == 0 {
            let name = idle.remove(&t.used).unwrap_or_else(|| topic.to_owned());
            idle.insert(used, name);
        }
        t.used = used;
        Ok(t.last)
    }

    fn join(&mut self, topic: &str, retention: Duration) -> Result<broadcast::Receiver<Delivery<T>>, Status> {
        self.open(topic, retention)?;
        let used = self.tick();
        let Rooms { by_name, idle, .. } = self;
        let Some(t) = by_name.get_mut(topic) else { unreachable!("an open topic is kept") };
        if t.subscribers == 0 {
            idle.remove(&t.used);
        }
        t.subscribers += 1;
        t.used = used;
        Ok(t.live.get_or_insert_with(|| broadcast::channel(LIVE_BUFFER).0).subscribe())
    }

    /// A subscriber of `topic` left: the last one drops the live broadcast,
    /// and the topic too unless it is published and within retention.
    fn leave(&mut self, topic: &str, retention: Duration) {
        let used = self.tick();
        // A topic with subscribers is always kept.
        let Some(t) = self.by_name.get_mut(topic) else { return };
        t.subscribers = t.subscribers.saturating_sub(1);
        t.used = used;
        if t.subscribers > 0 {
            return;
        }
        t.live = None;
        if t.expired(retention) {
            self.by_name.remove(topic);
        } else {
            self.idle.insert(used, topic.to_owned());
        }
    }
}

impl<T: Clone + Send + 'static> Memory<T> {
    pub(super) fn new(history: usize, retention: Duration, max_topics: usize) -> Memory<T> {
        let rooms = Rooms {
            by_name: HashMap::new(),
            idle: BTreeMap::new(),
            clock: 0,
            max_topics: max_topics.max(1),
            sweep_at: FIRST_SWEEP,
        };
        Memory {
            shared: Arc::new(Shared { rooms: Mutex::new(rooms), history: history.max(1), retention }),
            leases: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Shared<T> {
    fn rooms(&self) -> MutexGuard<'_, Rooms<T>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `topic` without creating it: `None` when it is not kept.
    fn read<R>(&self, topic: &str, f: impl FnOnce(&Topic<T>) -> R) -> Option<R> {
        self.rooms().get(topic, self.retention).map(|t| f(t))
    }
}

fn ready<R: Send + 'static>(value: R) -> BoxFuture<R> {
    Box::pin(std::future::ready(value))
}

impl<T: Clone + Send + Sync + 'static> Backend<T> for Memory<T> {
    fn append(&self, topic: &str, message: &T) -> BoxFuture<Result<u64, Status>> {
        let shared = &self.shared;
        ready(shared.rooms().publish(topic, message, shared.history, shared.retention))
    }

    fn last(&self, topic: &str) -> BoxFuture<Result<u64, Status>> {
        ready(Ok(self.shared.read(topic, |t| t.last).unwrap_or(0)))
    }

    fn range(&self, topic: &str, after: u64) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
        let after = |t: &Topic<T>| t.kept.iter().filter(|(n, _)| *n > after).cloned().collect();
        ready(Ok(self.shared.read(topic, after).unwrap_or_default()))
    }

    fn newest(&self, topic: &str, limit: usize) -> BoxFuture<Result<Vec<(u64, T)>, Status>> {
        let newest = |t: &Topic<T>| t.kept.iter().skip(t.kept.len().saturating_sub(limit)).cloned().collect();
        ready(Ok(self.shared.read(topic, newest).unwrap_or_default()))
    }

    fn live(&self, topic: &str) -> BoxFuture<Result<Live<T>, Status>> {
        let joined = self.shared.rooms().join(topic, self.shared.retention);
        ready(joined.map(|messages| {
            let (shared, topic) = (Arc::clone(&self.shared), topic.to_owned());
            Live { messages, _leave: Leave::new(move || shared.rooms().leave(&topic, shared.retention)) }
        }))
    }

    fn ping(&self) -> BoxFuture<Result<(), Status>> {
        ready(Ok(()))
    }

    fn claim(&self, topic: &str, holder: &str, ttl: Duration) -> BoxFuture<Result<bool, Status>> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        leases.retain(|_, (_, until)| *until > now);
        let held = leases.get(topic).is_some_and(|(h, _)| h != holder);
        if !held {
            leases.insert(topic.to_owned(), (holder.to_owned(), now + ttl));
        }
        ready(Ok(!held))
    }

    fn release(&self, topic: &str, holder: &str) -> BoxFuture<Result<(), Status>> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.get(topic).is_some_and(|(h, _)| h == holder) {
            leases.remove(topic);
        }
        ready(Ok(()))
    }

    fn set_max_topics(&self, max: usize) {
        self.shared.rooms().max_topics = max;
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        let rooms = self.shared.rooms();
        // The bookkeeping agrees with itself: `idle` lists exactly the
        // topics without subscribers, and each of those was published to.
        for (used, name) in &rooms.idle {
            let t = &rooms.by_name[name];
            assert!(t.used == *used && t.subscribers == 0 && t.published.is_some() && t.live.is_none(), "{name}");
        }
        let idle = rooms.by_name.values().filter(|t| t.subscribers == 0).count();
        assert_eq!(idle, rooms.idle.len(), "every topic without subscribers is listed as idle");
        rooms.by_name.len()
    }
}
