//! Token buckets: how [`Alerts`](super::Alerts) limits the rate of new alerts, per name
//! and overall.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::time::elapsed;
use crate::Timestamp;

/// A token bucket: up to `burst` alerts at once, then one more every `refill_every`.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::alerts::RateLimit;
/// // 10 at once, then one every 6 s (10 a minute).
/// let r = RateLimit::new(10, Duration::from_secs(6));
/// # let _ = r;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Bucket size: alerts accepted back to back from a full bucket (0 is read as 1).
    pub burst: u32,
    /// Time to earn one token back (zero disables the limit).
    #[serde(with = "humantime_serde")]
    pub refill_every: Duration,
}

impl RateLimit {
    /// A bucket of `burst` tokens refilled one per `refill_every`.
    pub const fn new(burst: u32, refill_every: Duration) -> RateLimit {
        RateLimit {
            burst,
            refill_every,
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) tokens: u32,
    /// Time up to which refills have been credited.
    credited_to: Timestamp,
}

impl Bucket {
    pub(crate) fn full(limit: &RateLimit, now: Timestamp) -> Bucket {
        Bucket {
            tokens: limit.burst.max(1),
            credited_to: now,
        }
    }

    /// Credits the tokens earned since `credited_to`.
    pub(crate) fn refill(&mut self, limit: &RateLimit, now: Timestamp) {
        let burst = limit.burst.max(1);
        let step = limit.refill_every.as_nanos().max(1);
        let gap = elapsed(self.credited_to, now).as_nanos();
        let earned = gap / step;
        if self.tokens as u128 + earned >= burst as u128 {
            self.tokens = burst;
            self.credited_to = now;
        } else {
            self.tokens += earned as u32;
            let credited = u64::try_from(earned * step).unwrap_or(u64::MAX);
            self.credited_to =
                Timestamp::from_unix_nanos(self.credited_to.unix_nanos().saturating_add(credited));
        }
    }

    /// Time until the next token, given no token now.
    pub(crate) fn retry_after(&self, limit: &RateLimit, now: Timestamp) -> Duration {
        limit
            .refill_every
            .saturating_sub(elapsed(self.credited_to, now))
    }
}
