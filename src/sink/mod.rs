//! Where records go: the [`Sink`] trait and the built-in sinks.
//!
//! The collector hands each sink one [`Batch`] per drained ring. A sink that returns an error
//! (or panics) does not stop the others or the collector; its failures are counted in
//! [`crate::Stats::sink_errors`].

mod batch;
mod failover;
mod json;
mod memory;
mod owned;
mod set;
mod spec;

pub(crate) use batch::Tables;
pub use batch::{Batch, EventView, RecordKind, RecordView, ThreadInfo};
pub use failover::Failover;
pub use json::JsonLinesSink;
pub use memory::MemorySink;
pub use owned::Record;
pub use set::{SinkSet, SinkSetChange, SinkSetHandle};
pub use spec::SinkSpec;

use std::fmt;

/// A destination for records. Object-safe: box your own and pass it to
/// [`crate::TelemetryBuilder::sink`].
///
/// Sinks run on the collector thread only; they never run on the hot path. While a sink
/// runs, no record is drained: keep `write` short and hand slow I/O to a thread of your own.
///
/// What a sink may call on its own instance: [`snapshot`](crate::Telemetry::snapshot),
/// [`stats`](crate::Telemetry::stats), [`render_prometheus`](crate::Telemetry::render_prometheus),
/// [`get_system_health`](crate::Telemetry::get_system_health) and
/// [`send_alert`](crate::Telemetry::send_alert) are safe. Recording into the instance works,
/// but a record that finds the collector's own ring full is dropped (counted): the collector
/// never waits for itself. [`flush`](crate::Telemetry::flush) returns
/// [`FlushError::OnCollectorThread`](crate::FlushError::OnCollectorThread) at once, and
/// `shutdown` must not be called from a sink. A sink that never returns stalls delivery, not
/// the engine: producers under `Backpressure::Block` give up after
/// [`block_timeout`](crate::TelemetryBuilder::block_timeout), counted.
///
/// "Delivered" ([`Stats::delivered`](crate::Stats::delivered)) means handed to every sink's
/// `write`. The collector calls [`Sink::flush`] every
/// [`flush_interval`](crate::TelemetryBuilder::flush_interval) while records arrive, within
/// about a millisecond of a `Warn`-or-worse event or an audit record, on
/// [`Telemetry::flush`](crate::Telemetry::flush) and at shutdown: a buffering sink should
/// make its records visible there.
///
/// ```
/// use tickwatch::sink::{Batch, RecordView, Sink, SinkError};
///
/// /// Counts latency samples above 1 ms.
/// struct SlowCounter(u64);
///
/// impl Sink for SlowCounter {
///     fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         for r in batch.iter() {
///             if let RecordView::Latency { nanos, .. } = r {
///                 self.0 += (nanos > 1_000_000) as u64;
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// Takes one batch. An error is counted; the batch is not offered again.
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError>;

    /// Called after each pass of the collector over the threads' rings that delivered at
    /// least one record, once every batch of the pass has been given to [`Sink::write`]: a
    /// sink that writes in blocks can hand the pass's records to the OS here, with one system
    /// call per pass rather than one per thread's batch (a group commit). An error is
    /// counted like a `write` error. Default: nothing.
    fn end_pass(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Makes everything written so far visible at the destination, or durable if the sink
    /// promises that (called every `flush_interval` while records arrive, promptly after a
    /// `Warn`-or-worse event or an audit record, by `Telemetry::flush()` and at shutdown).
    /// An error is counted like a `write` error, and makes the `Telemetry::flush()` it
    /// answers return [`FlushError::SinkFailed`](crate::FlushError::SinkFailed) (at shutdown,
    /// [`ShutdownError::SinkFailed`](crate::ShutdownError::SinkFailed)): return one whenever
    /// records given to this sink are not where the flush promises.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// A short name for diagnostics.
    fn name(&self) -> &str {
        "sink"
    }

    /// Called on the collector's monitoring schedule (every `monitor_tick`, 1 s by default),
    /// whether records arrive or not: for a sink with work of its own, such as a
    /// [`crate::recovery::Spool`] offering its sink the spool again in a quiet process. An
    /// error is counted like a `write` error. Default: nothing.
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Named counters the sink keeps (a [`crate::recovery::Spool`]: spooled, replayed,
    /// dropped, ...), read from any thread: asked once at start, then called by every
    /// [`Telemetry::stats`](crate::Telemetry::stats) ([`crate::Stats::sinks`]). Default: none.
    fn counters(&self) -> Option<SinkCounters> {
        None
    }

    /// A change in the sink's own condition since the last call, such as a [`Failover`]
    /// switching to its secondary or back. The collector asks after every `write`, `end_pass`
    /// and `flush` (so this must be cheap: a field taken), shows a degraded condition on the
    /// sink's health component (`tickwatch.sink.<name>`) until a healthy one replaces it, and
    /// raises the `tickwatch_sink_condition` alert (Warning, label `sink`) while it lasts.
    /// Default: `None`, never a change.
    fn take_notice(&mut self) -> Option<SinkNotice> {
        None
    }

    /// Takes records replayed from a spool ([`crate::recovery::Spool`]): records this sink
    /// refused earlier, read back from disk in the order written, oldest first. `replay`
    /// says whether they may already have reached the destination (the batch in flight
    /// when the sink failed): a sink that can, drops or marks them. Default: refused, so
    /// only sinks that implement it can be spooled.
    fn write_records(&mut self, records: &[Record], replay: Replay) -> Result<(), SinkError> {
        let _ = (records, replay);
        Err(SinkError::new(format!(
            "sink {:?} cannot take replayed records (implement Sink::write_records)",
            self.name()
        )))
    }
}

/// Reads a sink's named counters from any thread ([`Sink::counters`]).
pub type SinkCounters = std::sync::Arc<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// What a replay ([`Sink::write_records`]) says about its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Replay {
    /// The records may have reached the destination already: they were in the batch in
    /// flight when the sink failed (delivery is at least once; these are the only
    /// possible duplicates).
    pub possible_duplicates: bool,
}

impl Replay {
    /// A replay whose records may (`true`) or may not have reached the destination.
    pub fn new(possible_duplicates: bool) -> Replay {
        Replay {
            possible_duplicates,
        }
    }
}

/// What a sink reports about itself through [`Sink::take_notice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkNotice {
    /// `true`: the sink works but not as configured (on its secondary, spooling); `false`:
    /// back to normal.
    pub degraded: bool,
    /// What happened, for a human.
    pub message: String,
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn end_pass(&mut self) -> Result<(), SinkError> {
        (**self).end_pass()
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn take_notice(&mut self) -> Option<SinkNotice> {
        (**self).take_notice()
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        (**self).tick()
    }
    fn counters(&self) -> Option<SinkCounters> {
        (**self).counters()
    }
    fn write_records(&mut self, records: &[Record], replay: Replay) -> Result<(), SinkError> {
        (**self).write_records(records, replay)
    }
}

/// Discards everything; measures the collector alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn write(&mut self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
    fn name(&self) -> &str {
        "null"
    }
}

/// A sink's failure.
#[derive(Debug)]
pub struct SinkError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    /// Wraps any error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sink failed: {}", self.source)
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        Self::new(e)
    }
}
