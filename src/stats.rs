//! Exact accounting of what happened to every record.

use crate::lane::ThreadInfo;

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
    /// Registrations sent to the overflow series because `max_series` was reached.
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
