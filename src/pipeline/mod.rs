//! The pipeline, the crate's core: per-thread rings (`lane`), the collector thread that
//! drains them into the sinks (`collector`), the state both share (`shared`), the settings
//! (`config`) and the exact accounting (`stats`).
//!
//! It knows nothing of aggregation, health, alerts or export: those plug in through the
//! collector's extension points ([`hooks`]: a per-batch sample folder and a periodic
//! schedule) and the sinks, and are composed in one place, `crate::telemetry`.

mod collector;
pub(crate) mod config;
mod guard;
pub(crate) mod hooks;
mod idle;
pub(crate) mod lane;
mod sampler;
mod shared;
mod stats;
pub(crate) mod targets;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::AcqRel};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

pub use config::{
    default_latency_buckets, Backpressure, PipelineConfig, DEFAULT_BLOCK_TIMEOUT,
    DEFAULT_FLUSH_INTERVAL, DEFAULT_RING_CAPACITY, MAX_COLLECTOR_SPIN, MAX_IDLE_INTERVAL,
    MAX_INTERVAL, MAX_LATENCY_BUCKETS, MAX_RING_CAPACITY, MIN_IDLE_INTERVAL, MIN_INTERVAL,
    MIN_RING_CAPACITY,
};
pub(crate) use hooks::Hooks;
pub(crate) use shared::{Shared, RUNNING, STOPPED, STOPPING};
pub use stats::{SinkStats, Stats, ThreadStats};

pub(crate) use crate::affinity::SpawnError;
use crate::sink::Sink;

/// Why [`crate::Telemetry::flush`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The instance is shut down (or its collector died): nothing more will be delivered.
    Stopped,
    /// The collector did not finish within `flush_timeout` (a slow sink, or producers keeping
    /// it busy): raise `TelemetryBuilder::flush_timeout` or look at the sinks.
    Timeout,
    /// `flush()` was called on the collector thread (from a sink or an alert callback), which
    /// cannot wait for itself. The collector flushes the sinks on its own schedule; do not
    /// call `flush()` from a sink.
    OnCollectorThread,
    /// Every record accepted before the call was handed to every sink and every sink was
    /// flushed, but `failed` sinks' flushes returned an error (or panicked): what those sinks
    /// promise on a flush (for the segment log: the records written, and on disk under the
    /// sync policies) does not hold for them. Each failure is counted in
    /// [`Stats::sink_errors`](crate::Stats::sink_errors) and shows in the sink's health.
    SinkFailed {
        /// How many sinks failed their flush.
        failed: u32,
    },
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::Stopped => {
                f.write_str("telemetry instance is stopped; nothing more will be delivered")
            }
            FlushError::Timeout => f.write_str(
                "flush timed out: raise TelemetryBuilder::flush_timeout or check for a slow sink",
            ),
            FlushError::OnCollectorThread => f.write_str(
                "flush() called from a sink or alert callback on the collector thread, which cannot wait for itself: do not flush from a sink",
            ),
            FlushError::SinkFailed { failed } => write!(
                f,
                "{failed} sink(s) failed to flush: their records are not known to be at their destination (see stats().sink_errors and the sinks' health)"
            ),
        }
    }
}

impl std::error::Error for FlushError {}

/// Why [`crate::Telemetry::shutdown`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The collector did not finish within `shutdown_timeout`; it was left running detached.
    /// `stats()` shows what was delivered.
    Timeout,
    /// The collector thread panicked (a bug: sink panics are caught and counted).
    CollectorPanicked,
    /// The collector stopped, but `failed` sinks' final flushes returned an error (or
    /// panicked): records they were given may not have reached their destination (the
    /// segment log counts the ones it gave up in `SegmentLogStats::lost_records`).
    SinkFailed {
        /// How many sinks failed their final flush.
        failed: u32,
    },
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Timeout => f.write_str(
                "collector did not finish within shutdown_timeout; check stats() for what was delivered",
            ),
            ShutdownError::CollectorPanicked => f.write_str("collector thread panicked"),
            ShutdownError::SinkFailed { failed } => write!(
                f,
                "{failed} sink(s) failed their final flush: records may be lost (see stats().sink_errors)"
            ),
        }
    }
}

impl std::error::Error for ShutdownError {}

/// A running pipeline: its shared state and its collector thread.
pub(crate) struct Pipeline {
    pub(crate) shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Pipeline {
    /// Spawns the collector for `shared` with its sinks and the layers above's hooks.
    pub(crate) fn start<H: Hooks>(
        shared: Arc<Shared>,
        sinks: Vec<Box<dyn Sink>>,
        hooks: H,
    ) -> Result<Pipeline, SpawnError> {
        let counters = sinks
            .iter()
            .filter_map(|s| Some((s.name().to_owned(), s.counters()?)))
            .collect();
        let _ = shared.sink_counters.set(counters);
        let handle = collector::spawn(shared.clone(), sinks, hooks)?;
        let _ = shared.collector.set(handle.thread().clone());
        Ok(Pipeline {
            shared,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Waits until every record accepted before this call has been handed to every sink and
    /// every sink has been flushed.
    pub(crate) fn flush(&self) -> Result<(), FlushError> {
        let s = &self.shared;
        let target = self.request(&s.flush_requested, &s.flush_done, &s.flush_cv)?;
        // The flush that covered `target` (or a later one) had failing sinks.
        let (at, failed) = *s.flush_failed.lock();
        if at >= target && failed > 0 {
            return Err(FlushError::SinkFailed { failed });
        }
        Ok(())
    }

    /// Waits until every record accepted before this call has been handed to every sink (one
    /// collector pass; the sinks are not flushed), at most `flush_timeout`.
    pub(crate) fn drain(&self) -> Result<(), FlushError> {
        let s = &self.shared;
        self.request(&s.drain_requested, &s.drain_done, &s.drain_cv)
            .map(|_| ())
    }

    /// Asks the collector for one more pass of a kind (`requested`), wakes it and waits, at
    /// most `flush_timeout`, until `done` reaches the request's number, which it returns.
    fn request(
        &self,
        requested: &AtomicU64,
        done: &Mutex<u64>,
        cv: &parking_lot::Condvar,
    ) -> Result<u64, FlushError> {
        let s = &self.shared;
        if s.state() != RUNNING {
            return Err(FlushError::Stopped);
        }
        if s.on_collector_thread() {
            return Err(FlushError::OnCollectorThread);
        }
        let target = requested.fetch_add(1, AcqRel) + 1;
        s.wake_collector();
        let deadline = Instant::now() + s.config.flush_timeout;
        let mut done = done.lock();
        while *done < target {
            if s.state() == STOPPED {
                return Err(FlushError::Stopped);
            }
            if cv.wait_until(&mut done, deadline).timed_out() && *done < target {
                return Err(FlushError::Timeout);
            }
        }
        Ok(target)
    }

    /// Stops accepting records, drains every ring, flushes every sink and joins the
    /// collector. Later calls do nothing.
    pub(crate) fn shutdown(&self) -> Result<(), ShutdownError> {
        let Some(handle) = self.handle.lock().take() else {
            return Ok(());
        };
        let s = &self.shared;
        if s.state() == RUNNING {
            s.set_state(STOPPING);
        }
        s.wake_collector();
        let deadline = Instant::now() + s.config.shutdown_timeout;
        let mut exited = s.exited.lock();
        while !*exited {
            if s.exited_cv.wait_until(&mut exited, deadline).timed_out() && !*exited {
                return Err(ShutdownError::Timeout);
            }
        }
        drop(exited);
        handle
            .join()
            .map_err(|_| ShutdownError::CollectorPanicked)?;
        match s
            .final_flush_failed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => Ok(()),
            failed => Err(ShutdownError::SinkFailed { failed }),
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("id", &self.shared.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::hooks::NoHooks;
    use super::*;
    use crate::record::kind;
    use crate::series::SeriesKind;
    use crate::sink::{MemorySink, Record};

    /// The pipeline stands alone: no aggregation, no health, no alerts, and every record
    /// accepted on several threads is delivered, in each thread's order.
    #[test]
    fn a_bare_pipeline_delivers_every_record_without_the_layers_above() {
        let shared = Arc::new(Shared::new(PipelineConfig::default(), 1));
        let mem = MemorySink::new();
        let p = Pipeline::start(shared.clone(), vec![Box::new(mem.clone())], NoHooks).unwrap();
        let id = shared.series.register(SeriesKind::Counter, "n", &[]).id();
        let per_thread = if cfg!(miri) { 20 } else { 2_000 };
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for v in 0..per_thread {
                        shared.push_sample(kind::COUNTER, 0, id, v);
                    }
                });
            }
        });
        p.flush().unwrap();
        let st = shared.stats();
        assert_eq!(st.accepted, 3 * per_thread);
        assert_eq!(st.delivered, st.accepted);
        let mut by_thread = std::collections::HashMap::<u32, Vec<u64>>::new();
        for r in mem.records() {
            if let Record::Counter { thread, delta, .. } = r {
                by_thread.entry(thread).or_default().push(delta);
            }
        }
        assert_eq!(by_thread.len(), 3);
        for deltas in by_thread.values() {
            assert_eq!(*deltas, (0..per_thread).collect::<Vec<_>>());
        }
        p.shutdown().unwrap();
        assert_eq!(shared.state(), STOPPED);
        assert_eq!(p.flush(), Err(FlushError::Stopped));
    }
}
