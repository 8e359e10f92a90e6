//! Token buckets by key: request rates per principal (or source address), and failed
//! authentication attempts per source address.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Buckets are dropped once full again, when the map has grown past this many.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key: `rate` tokens a second, at most `burst` held.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Buckets refilling at `rate` a second and holding at most `burst` (at least 1).
    pub fn new(rate: f64, burst: f64) -> Buckets<K> {
        Buckets {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
    }

    fn wait(&self, bucket: &Bucket) -> Duration {
        Duration::from_secs_f64(((1.0 - bucket.tokens) / self.rate).max(0.0))
    }

    /// Takes a token for `key`, or says how long until one is there.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        if buckets.len() > PRUNE_ABOVE {
            self.prune(&mut buckets, now);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait(bucket))
        }
    }

    /// Whether `key` has a token, without taking it.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        match buckets.get_mut(key) {
            None => Ok(()),
            Some(bucket) => {
                self.refill(bucket, now);
                if bucket.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait(bucket))
                }
            }
        }
    }

    fn prune(&self, buckets: &mut HashMap<K, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens + elapsed * self.rate < self.burst
        });
    }

    /// How many keys have a bucket (for tests).
    pub fn len(&self) -> usize {
        self.buckets.lock().len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let buckets = Buckets::new(10.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take_at(&"a", start).is_ok());
        }
        let wait = buckets.take_at(&"a", start).expect_err("empty");
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(buckets.take_at(&"b", start).is_ok());
        // 100 ms later one token is back, and only one.
        let later = start + Duration::from_millis(100);
        assert!(buckets.take_at(&"a", later).is_ok());
        assert!(buckets.take_at(&"a", later).is_err());
        // Long idle: the bucket is full again, never fuller.
        let idle = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(buckets.take_at(&"a", idle).is_ok());
        }
        assert!(buckets.take_at(&"a", idle).is_err());
    }

    #[test]
    fn full_buckets_are_pruned() {
        let buckets = Buckets::new(1000.0, 1.0);
        let start = Instant::now();
        for key in 0..=PRUNE_ABOVE {
            let _ = buckets.take_at(&key, start);
        }
        let _ = buckets.take_at(&usize::MAX, start + Duration::from_secs(1));
        assert!(buckets.len() < 10, "{}", buckets.len());
    }
}
