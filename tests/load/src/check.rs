//! The fan-out check: every subscriber against what was posted to its room,
//! counting lost, repeated and out-of-order messages.

use std::sync::atomic::Ordering::Relaxed;

use crate::load::{Ctx, Kind};

/// What the subscribers received against what was posted.
#[derive(Debug, Default, Clone)]
pub struct FanoutCheck {
    pub clients: u64,
    /// Subscribers that received at least one message.
    pub ready: u64,
    /// Messages the subscribers should have received (each counted once per subscriber).
    pub expected: u64,
    pub received: u64,
    /// Expected messages that never came (`lost_at_start` included).
    pub lost: u64,
    /// SSE subscribers' losses between their subscription and their first message.
    pub lost_at_start: u64,
    pub repeated: u64,
    /// Subscribers that saw sequences past their room's last one.
    pub beyond_final: u64,
    pub planned_reconnects: u64,
    /// Connections that dropped without being asked to.
    pub drops: u64,
}

/// Every subscriber against its room's final sequence: what it should have
/// had (from its first message on; for SSE, from the first post sent after
/// its response headers, when the server had surely subscribed it), what it
/// had, what was lost or repeated.
pub fn fanout_check(ctx: &Ctx) -> FanoutCheck {
    // Per room: posts by send time, and the smallest sequence sent at or after each.
    let starts: Vec<(Vec<u64>, Vec<u64>)> = ctx
        .rooms
        .iter()
        .map(|room| {
            let mut posts = room.posts.lock().map(|p| p.clone()).unwrap_or_default();
            posts.sort_unstable();
            let times = posts.iter().map(|&(t, _)| t).collect();
            let mut min = vec![u64::MAX; posts.len()];
            let mut smallest = u64::MAX;
            for (i, &(_, seq)) in posts.iter().enumerate().rev() {
                smallest = smallest.min(seq);
                min[i] = smallest;
            }
            (times, min)
        })
        .collect();
    let mut check = FanoutCheck { clients: ctx.subs.len() as u64, ..FanoutCheck::default() };
    for sub in &ctx.subs {
        let last_seq = ctx.rooms[sub.room].final_seq.load(Relaxed);
        let (first, last) = (sub.first.load(Relaxed), sub.last.load(Relaxed));
        check.planned_reconnects += sub.planned_reconnects.load(Relaxed);
        check.drops += sub.drops.load(Relaxed);
        if first == 0 {
            continue;
        }
        check.ready += 1;
        let mut start = first;
        if sub.kind == Kind::Sse {
            let (times, min) = &starts[sub.room];
            let i = times.partition_point(|&t| t < sub.subscribed_ns.load(Relaxed));
            if let Some(&must) = min.get(i)
                && must < first
            {
                check.lost_at_start += first - must;
                start = must;
            }
        }
        check.expected += (last_seq + 1).saturating_sub(start);
        check.received += sub.received.load(Relaxed);
        check.lost += sub.gaps.load(Relaxed) + last_seq.saturating_sub(last);
        check.repeated += sub.repeats.load(Relaxed);
        if last > last_seq {
            check.beyond_final += 1;
        }
    }
    check.lost += check.lost_at_start;
    check
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use chat_example::v1::ChatMessage;

    use super::*;
    use crate::load::{Ctx, Kind, now_ns};

    fn deliver(ctx: &Ctx, sub: usize, sequences: impl IntoIterator<Item = u64>) {
        for sequence in sequences {
            let text = format!("load n=0 t={}", now_ns());
            let message = ChatMessage { room: "rooms/a".to_owned(), sequence, text, ..ChatMessage::default() };
            ctx.subs[sub].on_message(ctx, sub, &message);
        }
    }

    #[test]
    fn the_check_counts_gaps_repeats_late_starts_and_lag() {
        let subs = vec![(Kind::Ws, 0), (Kind::Ws, 0), (Kind::Ws, 0), (Kind::Ws, 0), (Kind::Sse, 0), (Kind::Sse, 0)];
        let ctx = Ctx::new(String::new(), String::new(), vec!["rooms/a".to_owned()], subs);
        // Post n was sent at time 100 n.
        ctx.rooms[0].posts.lock().unwrap().extend((1..=10).map(|n| (100 * n, n)));
        ctx.rooms[0].final_seq.store(10, Relaxed);
        deliver(&ctx, 0, 1..=10); // everything
        deliver(&ctx, 1, [1, 2, 3, 5, 6, 7, 8, 9, 10]); // 4 lost
        deliver(&ctx, 2, [1, 2, 3, 4, 3, 5, 6, 7, 8, 9, 10]); // 3 repeated
        deliver(&ctx, 3, 2..=8); // joined late (fine: no SSE headers to go by), 9 and 10 lost
        // SSE subscribed at 250: posts 3.. were sent after, so they must all come.
        ctx.subs[4].subscribed_ns.store(250, Relaxed);
        deliver(&ctx, 4, 3..=10);
        ctx.subs[5].subscribed_ns.store(250, Relaxed);
        deliver(&ctx, 5, 5..=10); // 3 and 4 lost at the start
        let check = fanout_check(&ctx);
        assert_eq!(check.ready, 6);
        assert_eq!(check.lost, 1 + 2 + 2);
        assert_eq!(check.lost_at_start, 2);
        assert_eq!(check.repeated, 1);
        assert_eq!(check.expected, 10 + 10 + 10 + 9 + 8 + 8);
        assert_eq!(check.received + check.lost, check.expected);
        assert_eq!(ctx.errors.total(), 2, "{:?}", ctx.errors.samples());
    }

    #[test]
    fn a_complete_run_passes_the_check() {
        let ctx = Ctx::new(String::new(), String::new(), vec!["rooms/a".to_owned()], vec![(Kind::Sse, 0); 3]);
        ctx.rooms[0].posts.lock().unwrap().extend((1..=10).map(|n| (100 * n, n)));
        ctx.rooms[0].final_seq.store(10, Relaxed);
        for sub in 0..3 {
            ctx.subs[sub].subscribed_ns.store(50, Relaxed);
            deliver(&ctx, sub, 1..=10);
        }
        let check = fanout_check(&ctx);
        assert_eq!((check.lost, check.repeated, check.expected, check.received), (0, 0, 30, 30));
    }
}
