//! A lock-free latency histogram in microseconds: exact below 128 µs, then 64
//! buckets per power of two (at most 1.6 % above the true value), so any
//! number of tasks can record into one without a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two.
const SUB: usize = 64;
const EXACT: usize = 2 * SUB;
const BUCKETS: usize = EXACT + 57 * SUB;

pub struct Hist {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

/// What a histogram holds, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

fn index(v: u64) -> usize {
    if v < EXACT as u64 {
        return v as usize;
    }
    let bits = 64 - v.leading_zeros() as usize;
    let shift = bits - 7;
    EXACT + (shift - 1) * SUB + ((v >> shift) as usize - SUB)
}

/// The largest value bucket `i` holds.
fn upper(i: usize) -> u64 {
    if i < EXACT {
        return i as u64;
    }
    let shift = (i - EXACT) / SUB + 1;
    let m = ((i - EXACT) % SUB + SUB) as u128;
    (((m + 1) << shift) - 1).min(u64::MAX as u128) as u64
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl Hist {
    pub fn record(&self, micros: u64) {
        self.buckets[index(micros)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(micros, Relaxed);
        self.max.fetch_max(micros, Relaxed);
    }

    pub fn summary(&self) -> Summary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Relaxed);
        if total == 0 {
            return Summary::default();
        }
        let quantile = |q: f64| {
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper(i).min(max);
                }
            }
            max
        };
        Summary {
            count: total,
            mean: self.sum.load(Relaxed) as f64 / total as f64,
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for v in [0, 1, 127, 128, 129, 255, 256, 1000, 123_456, u64::MAX / 3, u64::MAX] {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(upper(i) >= v, "{v}: {}", upper(i));
            assert!(i == 0 || upper(i - 1) < v, "{v}");
            assert!((upper(i) - v) as f64 <= v as f64 / 60.0 + 1.0, "{v}: {}", upper(i));
        }
    }

    #[test]
    fn quantiles() {
        let h = Hist::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((500..=508).contains(&s.p50), "{s:?}");
        assert!((990..=1000).contains(&s.p99), "{s:?}");
        assert_eq!(s.max, 1000);
    }
}
