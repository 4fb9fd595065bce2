//! Exact accounting of what happened to every record.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::lane::ThreadInfo;
use crate::telemetry::Shared;

/// Counters of one instance, exact `u64`s.
///
/// Every hot-path call that passes the level filter is either **accepted** (written to a
/// ring) or **dropped** (counted, and reported to the sinks as a `Dropped` record). After
/// [`crate::Telemetry::flush`] returns, every record accepted before the call has been
/// **delivered** (handed to every sink), so on a quiet instance `accepted == delivered` and
/// `calls == accepted + dropped`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records written to a ring.
    pub accepted: u64,
    /// Records not written: ring full under `Backpressure::Drop`, larger than the ring
    /// ([`Stats::oversized`]), the instance stopping, or no thread-local lane available
    /// (a call from a thread-local destructor during thread exit).
    pub dropped: u64,
    /// Accepted records the collector decoded and handed to every sink.
    pub delivered: u64,
    /// Failed (or panicked) `Sink::write`/`Sink::flush` calls.
    pub sink_errors: u64,
    /// Of `dropped`: records larger than half the ring, which can never fit.
    pub oversized: u64,
    /// Accepted records in which a string was cut to `max_string_len`.
    pub truncated: u64,
    /// Accepted records the collector could not decode (a bug if ever non-zero).
    pub decode_errors: u64,
    /// Names, tag keys or tag values fixed up at registration (empty or too long).
    pub invalid_names: u64,
    /// Registrations sent to the overflow series because `max_series` was reached (per
    /// refused registration, not per distinct key: see [`crate::performance`]).
    pub overflowed_series: u64,
    /// Series registered.
    pub series: u64,
    /// Threads whose lanes have been reclaimed after they exited.
    pub retired_threads: u64,
    /// Live lanes (threads that have logged and not yet exited).
    pub threads: Vec<ThreadStats>,
}

impl Stats {
    /// `accepted == delivered`: nothing accepted is still in flight or lost. Holds after
    /// `flush()` when no thread is logging concurrently, and after shutdown.
    pub fn all_delivered(&self) -> bool {
        self.accepted == self.delivered
    }
}

/// One live lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStats {
    /// The thread.
    pub thread: ThreadInfo,
    /// Ring capacity in bytes.
    pub capacity: u64,
    /// Records accepted from this thread.
    pub accepted: u64,
    /// Records dropped by this thread.
    pub dropped: u64,
    /// Highest fill the collector found when draining this ring, in bytes. Near `capacity`
    /// means the thread came close to blocking (or dropping): consider a larger ring.
    pub high_water: u64,
}

impl Shared {
    /// Every record dropped so far, by every thread (the `dropped` of [`Shared::stats`]).
    pub(crate) fn dropped_total(&self) -> u64 {
        let set = self.lanes.lock();
        let live: u64 = set.live.iter().map(|l| l.drops.dropped.load(Relaxed)).sum();
        set.retired.dropped + self.unattributed_drops.load(Relaxed) + live
    }

    /// The instance's counters now (see [`crate::Telemetry::stats`]).
    pub(crate) fn stats(&self) -> Stats {
        let set = self.lanes.lock();
        let mut s = Stats {
            accepted: set.retired.accepted,
            dropped: set.retired.dropped + self.unattributed_drops.load(Relaxed),
            oversized: set.retired.oversized,
            truncated: set.retired.truncated,
            retired_threads: set.retired.threads,
            ..Stats::default()
        };
        for l in &set.live {
            let c = &l.counters;
            let t = ThreadStats {
                thread: l.thread.clone(),
                capacity: l.capacity as u64,
                accepted: c.accepted.load(Relaxed),
                dropped: l.drops.dropped.load(Relaxed),
                high_water: l.high_water.load(Relaxed),
            };
            s.accepted += t.accepted;
            s.dropped += t.dropped;
            s.oversized += l.drops.oversized.load(Relaxed);
            s.truncated += c.truncated.load(Relaxed);
            s.threads.push(t);
        }
        drop(set);
        s.delivered = self.progress.delivered.load(Acquire);
        s.sink_errors = self.progress.sink_errors.load(Relaxed);
        s.decode_errors = self.progress.decode_errors.load(Relaxed);
        s.invalid_names = self.series.invalid_names.load(Relaxed);
        s.overflowed_series = self.series.overflowed.load(Relaxed);
        s.series = self.series.len() as u64;
        s
    }
}
