//! Fan-out of messages that many subscribers share (chat rooms, watch
//! streams): topics with a per-topic sequence, a bounded history, and live
//! subscriptions. This is the in-process backend.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use futures_util::Stream;
use tokio::sync::broadcast;

use crate::Status;

/// Topics of `T`, each numbering its messages 1, 2, 3, … in publish order.
#[derive(Debug)]
pub struct Hub<T> {
    topics: Mutex<HashMap<String, Topic<T>>>,
    history: usize,
}

#[derive(Debug)]
struct Topic<T> {
    next: u64,
    history: VecDeque<T>,
    live: broadcast::Sender<T>,
}

/// How many messages a slow subscriber may fall behind before it is cut off.
const LIVE_BUFFER: usize = 1024;

impl<T: Clone + Send + 'static> Hub<T> {
    /// A hub that keeps the last `history` messages of each topic.
    pub fn new(history: usize) -> Hub<T> {
        Hub { topics: Mutex::new(HashMap::new()), history }
    }

    fn with_topic<R>(&self, topic: &str, f: impl FnOnce(&mut Topic<T>) -> R) -> R {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        let entry = topics.entry(topic.to_owned()).or_insert_with(|| Topic {
            next: 1,
            history: VecDeque::new(),
            live: broadcast::channel(LIVE_BUFFER).0,
        });
        f(entry)
    }

    /// Publishes the message `make` builds from the topic's next sequence
    /// number, and returns it.
    pub fn publish(&self, topic: &str, make: impl FnOnce(u64) -> T) -> T {
        self.with_topic(topic, |t| {
            let message = make(t.next);
            t.next += 1;
            if t.history.len() == self.history {
                t.history.pop_front();
            }
            t.history.push_back(message.clone());
            // No live subscribers is fine.
            let _ = t.live.send(message.clone());
            message
        })
    }

    /// The newest `limit` messages of `topic`, oldest first.
    pub fn history(&self, topic: &str, limit: usize) -> Vec<T> {
        self.with_topic(topic, |t| t.history.iter().skip(t.history.len().saturating_sub(limit)).cloned().collect())
    }

    /// Every message published to `topic` from now on. A subscriber that
    /// falls too far behind gets `RESOURCE_EXHAUSTED` and the stream ends.
    pub fn subscribe(&self, topic: &str) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
        let rx = self.with_topic(topic, |t| t.live.subscribe());
        futures_util::stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Ok(m) => Some((Ok(m), Some(rx))),
                Err(broadcast::error::RecvError::Closed) => None,
                Err(broadcast::error::RecvError::Lagged(n)) => Some((
                    Err(Status::resource_exhausted(format!("this subscriber fell {n} messages behind; resubscribe"))),
                    None,
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn topics_number_messages_and_fan_out() {
        let hub = Hub::new(2);
        let mut a = Box::pin(hub.subscribe("r"));
        let mut b = Box::pin(hub.subscribe("r"));
        assert_eq!(hub.publish("r", |n| n), 1);
        assert_eq!(hub.publish("r", |n| n), 2);
        assert_eq!(hub.publish("other", |n| n), 1, "each topic counts on its own");
        assert_eq!(hub.publish("r", |n| n), 3);
        assert_eq!(hub.history("r", 10), [2, 3], "history is bounded");
        assert_eq!(hub.history("r", 1), [3]);
        for s in [&mut a, &mut b] {
            let got: Vec<u64> = s.by_ref().take(3).map(|m| m.unwrap()).collect().await;
            assert_eq!(got, [1, 2, 3]);
        }
    }
}
