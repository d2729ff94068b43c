//! A token bucket per source address, in a bounded table: how often one socket may Register.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::store::lock;

/// Registers allowed per source address: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate.
    pub per_second: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of the addresses seen lately. At `capacity` addresses, buckets that refilled
/// are dropped; if none did, new addresses are refused until some do.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    capacity: usize,
    buckets: Mutex<HashMap<SocketAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter keeping at most `capacity` addresses.
    pub fn new(limit: RateLimit, capacity: usize) -> Self {
        Self {
            limit,
            capacity,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `peer` at `now`; whether it had one.
    pub fn allow(&self, peer: SocketAddr, now: Instant) -> bool {
        let burst = f64::from(self.limit.burst);
        let refill = |bucket: &Bucket| {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            (bucket.tokens + elapsed * self.limit.per_second).min(burst)
        };
        let mut buckets = lock(&self.buckets);
        if !buckets.contains_key(&peer) && buckets.len() >= self.capacity {
            buckets.retain(|_, bucket| refill(bucket) < burst);
            if buckets.len() >= self.capacity {
                return false;
            }
        }
        let bucket = buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket);
        let allowed = tokens >= 1.0;
        *bucket = Bucket {
            tokens: if allowed { tokens - 1.0 } else { tokens },
            at: now,
        };
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_burst_then_the_rate_per_address_and_a_bounded_table() {
        let limiter = RateLimiter::new(
            RateLimit {
                burst: 3,
                per_second: 2.0,
            },
            2,
        );
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow(addr(1), start)));
        assert!(!limiter.allow(addr(1), start));
        assert!(limiter.allow(addr(2), start));
        assert!(!limiter.allow(addr(3), start), "table full of busy buckets");
        let later = start + Duration::from_millis(500);
        assert!(limiter.allow(addr(1), later));
        assert!(!limiter.allow(addr(1), later));
        let much_later = start + Duration::from_secs(10);
        assert!(
            limiter.allow(addr(3), much_later),
            "refilled buckets make room"
        );
    }
}
