//! Injectable wall-clock time, the crate's one clock abstraction: the alert manager
//! (deduplication, token buckets, auto-resolve), the health registry (staleness) and
//! authentication (lockout delays, TOTP steps, session expiry) all read a [`WallClock`].
//! Tests move one [`ManualClock`] instead of sleeping. (The rule engine needs no clock: the
//! collector's tick passes `now`.)

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::Timestamp;

/// A source of wall-clock time.
pub trait WallClock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Whole seconds since the Unix epoch: the unit of authentication's deadlines (lockout,
    /// TOTP steps, session expiry).
    fn unix_secs(&self) -> u64 {
        self.now().unix_nanos() / 1_000_000_000
    }
}

/// The system's wall clock; a clock before 1970 reads as the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Timestamp {
        // Under Miri (no real-time clock when isolated) a fixed epoch moved by the monotonic
        // clock; see `clock::unix_now_ns`.
        Timestamp::from_unix_nanos(crate::time::unix_now_ns())
    }
}

/// A clock that moves only when told to; for tests and simulations.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::{ManualClock, WallClock};
/// use tickwatch::Timestamp;
/// let c = ManualClock::new(Timestamp::from_unix_nanos(1_000));
/// c.advance(Duration::from_nanos(500));
/// assert_eq!(c.now().unix_nanos(), 1_500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock {
            nanos: AtomicU64::new(at.unix_nanos()),
        }
    }

    /// A clock reading `secs` whole seconds after the Unix epoch.
    pub fn from_unix_secs(secs: u64) -> Self {
        ManualClock::new(Timestamp::from_unix_nanos(
            secs.saturating_mul(1_000_000_000),
        ))
    }

    /// Moves the time forward by `secs` whole seconds (saturating).
    pub fn advance_secs(&self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        self.nanos.store(at.unix_nanos(), SeqCst);
    }

    /// Moves the time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_add(by)));
    }
}

impl WallClock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.nanos.load(SeqCst))
    }
}

/// `later - earlier`, 0 if `later` is not after `earlier` (clocks can step back).
pub(crate) fn elapsed(earlier: crate::Timestamp, later: crate::Timestamp) -> Duration {
    Duration::from_nanos(later.unix_nanos().saturating_sub(earlier.unix_nanos()))
}
