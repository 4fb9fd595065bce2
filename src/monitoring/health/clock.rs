//! The time source of [`Health`](super::Health): injectable, so that staleness is tested by
//! moving a clock rather than by sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// Wall-clock time for health: when a status was updated and how old it is.
pub trait HealthClock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock; a clock before 1970 reads as the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHealthClock;

impl HealthClock for SystemHealthClock {
    fn now(&self) -> Timestamp {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Timestamp::from_unix_nanos(nanos)
    }
}

/// A clock that moves only when told to; for tests.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::monitoring::{HealthClock, ManualHealthClock};
/// let c = ManualHealthClock::new(tickwatch::Timestamp::from_unix_nanos(1_000));
/// c.advance(Duration::from_nanos(500));
/// assert_eq!(c.now().unix_nanos(), 1_500);
/// ```
#[derive(Debug, Default)]
pub struct ManualHealthClock {
    nanos: AtomicU64,
}

impl ManualHealthClock {
    /// A clock reading `t`.
    pub fn new(t: Timestamp) -> Self {
        ManualHealthClock {
            nanos: AtomicU64::new(t.unix_nanos()),
        }
    }

    /// Sets the time to `t`.
    pub fn set(&self, t: Timestamp) {
        self.nanos.store(t.unix_nanos(), Ordering::SeqCst);
    }

    /// Moves the time forward by `d` (saturating).
    pub fn advance(&self, d: std::time::Duration) {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(add))
            });
    }
}

impl HealthClock for ManualHealthClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
