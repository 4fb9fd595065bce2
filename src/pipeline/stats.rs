//! Exact accounting of what happened to every record.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use super::shared::Shared;
use crate::sink::ThreadInfo;

/// Counters of one instance, exact `u64`s.
///
/// Every hot-path call that passes the level filter is either **accepted** (written to a
/// ring) or **dropped** (counted, and reported to the sinks as a `Dropped` record). After
/// [`crate::Telemetry::flush`] returns, every record accepted before the call has been
/// **delivered**: handed to every sink's `write` and then every sink's `flush` (for the
/// JSON-lines sink: written to the file, not synced to disk). Between flushes the collector
/// flushes the sinks every `flush_interval` (see
/// [`TelemetryBuilder::flush_interval`](crate::TelemetryBuilder::flush_interval)), so a
/// delivered record reaches the sink's destination within that interval.
///
/// The contract, which the tests check under concurrency:
///
/// * always, `calls == accepted + dropped` (calls that passed the level filter);
/// * after `flush()` with no thread logging concurrently, `accepted == delivered`;
/// * after shutdown, `accepted == delivered` too, whatever the producers were doing: a
///   record that a thread managed to write into its ring after the collector's final drain
///   (it was preempted between its "is the instance stopping?" check and its write) is never
///   delivered, so it counts as **dropped** (and in [`Stats::dropped_at_shutdown`]), not as
///   accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Of `dropped`: records given up after waiting
    /// [`block_timeout`](crate::TelemetryBuilder::block_timeout) for room in a full ring (a
    /// collector stuck in a sink).
    pub block_timeouts: u64,
    /// Of `block_timeouts`: audit records (which wait for room under either policy).
    pub audit_dropped: u64,
    /// Of `dropped`: records written into a ring after the collector's final drain at
    /// shutdown (a thread racing with shutdown), which nothing will deliver. 0 while the
    /// instance runs.
    pub dropped_at_shutdown: u64,
    /// Accepted records in which a string was cut to `max_string_len`.
    pub truncated: u64,
    /// Accepted records the collector could not decode (a bug if ever non-zero); also the
    /// records of a batch discarded after the collector panicked on it three times in a row.
    pub decode_errors: u64,
    /// Times the collector panicked outside a sink (a bug) and was restarted at once on its
    /// thread, with every ring, sink and table intact: the batch it was handling is delivered
    /// after the restart (again, if the sinks had already received it). Each restart also
    /// raises the [`COLLECTOR_RESTARTED`](crate::alerts::COLLECTOR_RESTARTED) alert and
    /// degrades the collector's health component for
    /// [`restart_degraded_for`](crate::health::CollectorPolicy::restart_degraded_for).
    pub collector_restarts: u64,
    /// Names, tag keys or tag values fixed up at registration (empty or too long).
    pub invalid_names: u64,
    /// Registrations sent to the overflow series because `max_series` was reached (per
    /// refused registration, not per distinct key: see [`crate::metrics`]).
    pub overflowed_series: u64,
    /// Series registered.
    pub series: u64,
    /// Threads whose lanes have been reclaimed after they exited.
    pub retired_threads: u64,
    /// Live lanes (threads that have logged and not yet exited).
    pub threads: Vec<ThreadStats>,
    /// The counters of the sinks that keep some ([`crate::sink::Sink::counters`]), such as a
    /// [`crate::recovery::Spool`]'s `spooled`, `replayed`, `dropped`, `records`, `bytes` and
    /// `oldest_unix_ns`.
    pub sinks: Vec<SinkStats>,
}

/// One sink's counters in [`Stats::sinks`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's [`name`](crate::sink::Sink::name).
    pub name: String,
    /// Its counters by name.
    pub counters: Vec<(&'static str, u64)>,
}

impl SinkStats {
    /// The counter `name`, if the sink keeps one.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters.iter().find(|(n, _)| *n == name).map(|c| c.1)
    }
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
#[non_exhaustive]
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
        // Acquire: once STOPPED, every lane's `consumed` count is final (see `ExitGuard`).
        let stopped = self.state() == super::shared::STOPPED;
        let set = self.lanes.lock();
        let mut s = Stats {
            accepted: set.retired.accepted,
            dropped: set.retired.dropped + self.unattributed_drops.load(Relaxed),
            oversized: set.retired.oversized,
            block_timeouts: set.retired.timed_out,
            audit_dropped: set.retired.audit_dropped,
            truncated: set.retired.truncated,
            retired_threads: set.retired.threads,
            ..Stats::default()
        };
        for l in &set.live {
            let c = &l.counters;
            let mut t = ThreadStats {
                thread: l.thread.clone(),
                capacity: l.capacity as u64,
                accepted: l.accepted.records(),
                dropped: l.drops.dropped.load(Relaxed),
                high_water: l.high_water.load(Relaxed),
            };
            if stopped {
                // Anything beyond what the collector took out of the ring was written after
                // its final drain: never delivered, so dropped.
                let late = t.accepted.saturating_sub(l.consumed.load(Relaxed));
                t.accepted -= late;
                t.dropped += late;
                s.dropped_at_shutdown += late;
            }
            s.accepted += t.accepted;
            s.dropped += t.dropped;
            s.oversized += l.drops.oversized.load(Relaxed);
            s.block_timeouts += l.drops.timed_out.load(Relaxed);
            s.audit_dropped += l.drops.audit_dropped.load(Relaxed);
            s.truncated += c.truncated.load(Relaxed);
            s.threads.push(t);
        }
        drop(set);
        s.delivered = self.progress.delivered.load(Acquire);
        s.sink_errors = self.progress.sink_errors.load(Relaxed);
        s.decode_errors = self.progress.decode_errors.load(Relaxed);
        s.collector_restarts = self.progress.collector_restarts.load(Relaxed);
        s.invalid_names = self.series.invalid_names.load(Relaxed);
        s.overflowed_series = self.series.overflowed.load(Relaxed);
        s.series = self.series.len() as u64;
        s.sinks = self
            .sink_counters
            .get()
            .into_iter()
            .flatten()
            .map(|(name, read)| SinkStats {
                name: name.clone(),
                counters: read(),
            })
            .collect();
        s
    }
}
