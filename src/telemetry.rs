//! [`Telemetry`]: one instance of the pipeline (lanes, collector, sinks), its builder, and
//! the hot-path entry points that handles and free functions call.

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

pub(crate) use crate::builder::{Backpressure, Config, TelemetryBuilder};
use crate::collector;
use crate::lane::{self, CollectorLane, LaneShared};
use crate::logging::Audit;
use crate::logging::{Callsite, Event, FieldRef, Level};
use crate::monitoring::aggregate::Aggregator;
use crate::monitoring::setup::{MonitorSetup, MonitorShared};
use crate::monitoring::tick::CollectorTask;
use crate::performance::{Counter, Latency, Metric, Resource};
use crate::record::{self, kind, Writer, SAMPLE_LEN};
use crate::series::{RegisterError, Registry, SeriesKind};
use crate::sink::Sink;
use crate::stats::Stats;
use crate::time::now_ticks;
use crate::StartError;

/// Why [`Telemetry::flush`] failed.
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
        }
    }
}

impl std::error::Error for FlushError {}

/// Why [`Telemetry::shutdown`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The collector did not finish within `shutdown_timeout`; it was left running detached.
    /// `stats()` shows what was delivered.
    Timeout,
    /// The collector thread panicked (a bug: sink panics are caught and counted).
    CollectorPanicked,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Timeout => f.write_str(
                "collector did not finish within shutdown_timeout; check stats() for what was delivered",
            ),
            ShutdownError::CollectorPanicked => f.write_str("collector thread panicked"),
        }
    }
}

impl std::error::Error for ShutdownError {}

pub(crate) const RUNNING: u8 = 0;
pub(crate) const STOPPING: u8 = 1;
pub(crate) const STOPPED: u8 = 2;

#[derive(Default)]
pub(crate) struct LaneSet {
    /// Lanes registered and not yet picked up by the collector.
    pub(crate) pending: Vec<CollectorLane>,
    /// Every lane not yet retired (for `stats()`).
    pub(crate) live: Vec<Arc<LaneShared>>,
    pub(crate) retired: Retired,
}

#[derive(Default)]
pub(crate) struct Retired {
    pub(crate) accepted: u64,
    pub(crate) dropped: u64,
    pub(crate) oversized: u64,
    pub(crate) truncated: u64,
    pub(crate) timed_out: u64,
    pub(crate) audit_dropped: u64,
    pub(crate) threads: u64,
}

/// Collector-written counters.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) delivered: AtomicU64,
    pub(crate) sink_errors: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    /// Collector tasks that panicked (caught; the task runs again next tick).
    pub(crate) task_panics: AtomicU64,
    /// The oldest record's age when the collector reached it, max since the last health tick
    /// (nanoseconds; the health task swaps it to 0).
    pub(crate) max_lag_ns: AtomicU64,
    /// Nanoseconds the collector has spent inside `Sink::write` and `Sink::flush` since start
    /// (monotonic clock, so a sink blocked on I/O is charged its wait): the logging cost, kept
    /// apart from the collector's own work (draining, aggregation, tasks).
    pub(crate) sink_ns: AtomicU64,
    /// Nanoseconds the collector has spent parked (idle sleeps) since start: the rest of its
    /// wall time it was awake, on a CPU or waiting for one. Sink time's share of the awake
    /// time apportions the thread's measured CPU between sinks and the collector's own work.
    pub(crate) sleep_ns: AtomicU64,
    /// The collector thread's CPU time since it started, nanoseconds, as of the last resource
    /// sample (written by the self-watch task; 0 until the first sample).
    pub(crate) collector_cpu_ns: AtomicU64,
}

/// State shared by the instance, its handles, its lanes and its collector.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) config: Config,
    state: AtomicU8,
    pub(crate) series: Registry,
    pub(crate) lanes: Mutex<LaneSet>,
    pub(crate) lanes_gen: AtomicU64,
    next_thread: AtomicU32,
    /// Written by the collector on every batch: on lines of its own, so that its stores do
    /// not evict the read-mostly fields (`id`, `state`, `config`) every hot-path call reads.
    pub(crate) progress: CachePadded<Progress>,
    /// Per-series aggregates: written by the collector (once per batch and per tick), read by
    /// `snapshot()`. On lines of their own for the same reason as `progress`.
    pub(crate) aggregates: CachePadded<Mutex<Aggregator>>,
    pub(crate) unattributed_drops: AtomicU64,
    pub(crate) flush_requested: AtomicU64,
    pub(crate) flush_done: Mutex<u64>,
    pub(crate) flush_cv: Condvar,
    pub(crate) exited: Mutex<bool>,
    pub(crate) exited_cv: Condvar,
    collector: OnceLock<Thread>,
    /// Health registry, alert manager and rule alerts (see `monitoring::setup`).
    pub(crate) monitor: MonitorShared,
}

impl Shared {
    /// A new, running instance's state.
    fn new(config: Config, monitor: MonitorShared) -> Shared {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Relaxed),
            series: Registry::new(config.max_series),
            state: AtomicU8::new(RUNNING),
            lanes: Mutex::new(LaneSet::default()),
            lanes_gen: AtomicU64::new(0),
            next_thread: AtomicU32::new(0),
            progress: CachePadded::new(Progress::default()),
            aggregates: CachePadded::new(Mutex::new(Aggregator::new(
                // Validated by `start()`: each fits in u64 nanoseconds.
                config
                    .latency_buckets
                    .iter()
                    .map(|d| d.as_nanos() as u64)
                    .collect(),
                Instant::now(),
            ))),
            unattributed_drops: AtomicU64::new(0),
            flush_requested: AtomicU64::new(0),
            flush_done: Mutex::new(0),
            flush_cv: Condvar::new(),
            exited: Mutex::new(false),
            exited_cv: Condvar::new(),
            collector: OnceLock::new(),
            monitor,
            config,
        }
    }

    #[inline(always)]
    pub(crate) fn is_stopping(&self) -> bool {
        self.state.load(Relaxed) != RUNNING
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Acquire)
    }

    pub(crate) fn set_state(&self, s: u8) {
        self.state.store(s, Release);
    }

    pub(crate) fn next_thread_index(&self) -> u32 {
        self.next_thread.fetch_add(1, Relaxed)
    }

    pub(crate) fn adopt_lane(&self, lane: CollectorLane) {
        let mut set = self.lanes.lock();
        set.live.push(lane.shared.clone());
        set.pending.push(lane);
        self.lanes_gen.fetch_add(1, Release);
    }

    pub(crate) fn wake_collector(&self) {
        if let Some(t) = self.collector.get() {
            t.unpark();
        }
    }

    /// One sample into the calling thread's ring.
    #[inline]
    pub(crate) fn push_sample(self: &Arc<Self>, k: u8, flags: u8, id: u32, value: u64) {
        let ticks = now_ticks();
        let pushed = lane::with_lane(self, |lane| {
            lane.push(self, SAMPLE_LEN, false, |b| {
                record::encode_sample(b, k, flags, id, ticks, value);
                false
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    /// One sample to a series found by name (per-thread cache; allocates on first sight only).
    #[inline]
    pub(crate) fn push_by_name(
        self: &Arc<Self>,
        sk: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
        value: u64,
    ) {
        let ticks = now_ticks();
        let pushed = lane::with_lane(self, |lane| {
            let id = lane.names.id(&self.series, sk, name, tags);
            lane.push(self, SAMPLE_LEN, false, |b| {
                record::encode_sample(b, sk.record_kind(), 0, id, ticks, value);
                false
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    #[inline]
    fn push_event(self: &Arc<Self>, cs: &'static Callsite, values: &[FieldRef<'_>]) {
        let id = cs.id();
        let ticks = now_ticks();
        let pushed = lane::with_lane(self, |lane| {
            let max = lane.max_str;
            let len = record::event_len(values, max);
            lane.push(self, len, false, |b| {
                let mut w = Writer::new(b);
                w.header(kind::EVENT, 0, values.len() as u16, id, ticks);
                for v in values {
                    w.value(v, max);
                }
                w.finish()
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn push_dyn_event(self: &Arc<Self>, ev: &Event<'_>) {
        let ticks = now_ticks();
        let pushed = lane::with_lane(self, |lane| {
            let max = lane.max_str;
            if ev.fields.len() > u16::MAX as usize {
                return lane.push(self, usize::MAX / 2, false, |_| false);
            }
            let len = record::dyn_event_len(ev.message, ev.target, ev.fields, max);
            lane.push(self, len, false, |b| {
                let mut w = Writer::new(b);
                w.header(kind::DYN_EVENT, 0, ev.level as u16, 0, ticks);
                w.str(ev.message, max);
                w.str(ev.target, max);
                w.u16(ev.fields.len() as u16);
                for (name, v) in ev.fields {
                    w.str(name, max);
                    w.value(v, max);
                }
                w.finish()
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    /// An audit record: waits for room whatever the backpressure policy (at most
    /// `block_timeout`), and is cut to fit the ring rather than refused.
    pub(crate) fn push_audit(self: &Arc<Self>, audit: &Audit<'_>) {
        let ticks = now_ticks();
        let parts = audit.parts();
        let pushed = lane::with_lane(self, |lane| {
            let max = record::audit_fit(&parts, lane.max_str, lane.max_payload());
            let len = record::audit_len(&parts, max);
            lane.push(self, len, true, |b| {
                let mut w = Writer::new(b);
                w.header(kind::AUDIT, 0, 0, 0, ticks);
                for s in parts {
                    w.str(s, max);
                }
                w.finish()
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    /// Whether the calling thread is this instance's collector (which must never wait for
    /// room in a ring it alone drains).
    pub(crate) fn on_collector_thread(&self) -> bool {
        self.collector
            .get()
            .is_some_and(|t| t.id() == std::thread::current().id())
    }
}

/// One telemetry pipeline: per-thread rings, a collector thread, and its sinks.
///
/// `Send + Sync`: share it by reference (scoped threads) or in an `Arc`; handles
/// ([`Metric`], [`Counter`], [`Latency`], [`Resource`]) are `Clone` and own what they need.
/// Dropping it shuts it down (drains, flushes the sinks, joins the collector, waiting at most
/// `shutdown_timeout`). Several instances in one process are independent.
pub struct Telemetry {
    pub(crate) shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("id", &self.shared.id)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Telemetry {
    /// Starts an instance from a validated configuration (see [`TelemetryBuilder::start`]).
    pub(crate) fn start(
        config: Config,
        sinks: Vec<Box<dyn Sink>>,
        mut tasks: Vec<Box<dyn CollectorTask>>,
        mut monitor: MonitorSetup,
    ) -> Result<Telemetry, StartError> {
        let names: Vec<&str> = sinks.iter().map(|s| s.name()).collect();
        let shared = Arc::new(Shared::new(config, monitor.shared(names.len())));
        let built = monitor.into_tasks(&shared, &names);
        drop(names);
        tasks.extend(built?);
        let handle = match collector::spawn(shared.clone(), sinks, tasks) {
            Ok(h) => h,
            Err(e) => {
                // Leave the caller's health registry as it was (see `into_tasks`).
                shared.monitor.unregister_builtins();
                return Err(StartError::Spawn(e));
            }
        };
        let _ = shared.collector.set(handle.thread().clone());
        Ok(Telemetry {
            shared,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// A builder with the defaults (64 KiB rings, `Block`, no sinks).
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A gauge-like series handle. Bad names are fixed up and counted (see
    /// [`crate::performance`]); never fails.
    pub fn metric(&self, name: &str, tags: &[(&str, &str)]) -> Metric {
        Metric::new(
            self.shared.clone(),
            self.shared.series.register(SeriesKind::Metric, name, tags),
        )
    }

    /// Like [`Telemetry::metric`], but refuses bad names and a full series table.
    pub fn try_metric(&self, name: &str, tags: &[(&str, &str)]) -> Result<Metric, RegisterError> {
        Ok(Metric::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Metric, name, tags)?,
        ))
    }

    /// A counter handle; never fails.
    pub fn counter(&self, name: &str, tags: &[(&str, &str)]) -> Counter {
        Counter::new(
            self.shared.clone(),
            self.shared.series.register(SeriesKind::Counter, name, tags),
        )
    }

    /// Like [`Telemetry::counter`], but refuses bad names and a full series table.
    pub fn try_counter(&self, name: &str, tags: &[(&str, &str)]) -> Result<Counter, RegisterError> {
        Ok(Counter::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Counter, name, tags)?,
        ))
    }

    /// A latency handle for `operation` (no tags); never fails.
    pub fn latency(&self, operation: &str) -> Latency {
        self.latency_with_tags(operation, &[])
    }

    /// A latency handle for `operation` with tags; never fails.
    pub fn latency_with_tags(&self, operation: &str, tags: &[(&str, &str)]) -> Latency {
        Latency::new(
            self.shared.clone(),
            self.shared
                .series
                .register(SeriesKind::Latency, operation, tags),
        )
    }

    /// Like [`Telemetry::latency_with_tags`], but refuses bad names and a full series table.
    pub fn try_latency(
        &self,
        operation: &str,
        tags: &[(&str, &str)],
    ) -> Result<Latency, RegisterError> {
        Ok(Latency::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Latency, operation, tags)?,
        ))
    }

    /// A resource-usage handle; never fails.
    pub fn resource(&self, resource: &str) -> Resource {
        self.resource_with_tags(resource, &[])
    }

    /// A resource-usage handle with tags (`[("pool", "orders")]`); never fails.
    pub fn resource_with_tags(&self, resource: &str, tags: &[(&str, &str)]) -> Resource {
        Resource::new(
            self.shared.clone(),
            self.shared
                .series
                .register(SeriesKind::Resource, resource, tags),
        )
    }

    /// Records a metric sample by name. Looks the key up in a per-thread cache: allocates only
    /// the first time this thread sees the (name, tags) pair.
    #[inline]
    pub fn log_metric(&self, name: &str, value: f64, tags: &[(&str, &str)]) {
        self.shared
            .push_by_name(SeriesKind::Metric, name, tags, value.to_bits());
    }

    /// Records a latency sample by operation name (per-thread cache, as `log_metric`).
    #[inline]
    pub fn measure_latency(&self, operation: &str, duration: Duration) {
        self.measure_latency_with_tags(operation, duration, &[]);
    }

    /// [`Telemetry::measure_latency`] with tags, as `log_metric` takes them.
    ///
    /// ```
    /// # let tw = tickwatch::Telemetry::builder().start()?;
    /// use std::time::Duration;
    /// tw.measure_latency_with_tags("order_roundtrip", Duration::from_micros(42), &[("venue", "XNAS")]);
    /// tw.track_resource_usage_with_tags("order_pool", 0.7, &[("venue", "XNAS")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn measure_latency_with_tags(
        &self,
        operation: &str,
        duration: Duration,
        tags: &[(&str, &str)],
    ) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.shared
            .push_by_name(SeriesKind::Latency, operation, tags, nanos);
    }

    /// Records a resource-usage sample by name (per-thread cache, as `log_metric`).
    #[inline]
    pub fn track_resource_usage(&self, resource: &str, usage: f64) {
        self.track_resource_usage_with_tags(resource, usage, &[]);
    }

    /// [`Telemetry::track_resource_usage`] with tags, as `log_metric` takes them.
    #[inline]
    pub fn track_resource_usage_with_tags(
        &self,
        resource: &str,
        usage: f64,
        tags: &[(&str, &str)],
    ) {
        self.shared
            .push_by_name(SeriesKind::Resource, resource, tags, usage.to_bits());
    }

    /// Records a dynamic event (strings copied into the ring, nothing allocated).
    pub fn log_event(&self, event: &Event<'_>) {
        if self.enabled(event.level) {
            self.shared.push_dyn_event(event);
        }
    }

    /// Records an audit record. Never dropped for lack of room: under either backpressure
    /// policy the call waits for the collector (see [`Audit`]).
    pub fn audit(&self, audit: &Audit<'_>) {
        self.shared.push_audit(audit);
    }

    /// A cloneable handle for recording audit records into this instance.
    pub fn audit_log(&self) -> crate::AuditLog {
        crate::AuditLog {
            shared: self.shared.clone(),
        }
    }

    /// Whether events at `level` are recorded.
    #[inline(always)]
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.shared.config.level
    }

    #[doc(hidden)]
    #[inline]
    pub fn __emit(&self, callsite: &'static Callsite, values: &[FieldRef<'_>]) {
        self.shared.push_event(callsite, values);
    }

    /// Creates the calling thread's ring now, so its first hot-path call does not allocate.
    pub fn preallocate(&self) {
        lane::with_lane(&self.shared, |_| ());
    }

    /// Waits until every record accepted before this call has been handed to every sink and
    /// every sink has been flushed.
    pub fn flush(&self) -> Result<(), FlushError> {
        let s = &self.shared;
        if s.state() != RUNNING {
            return Err(FlushError::Stopped);
        }
        if s.on_collector_thread() {
            return Err(FlushError::OnCollectorThread);
        }
        let target = s.flush_requested.fetch_add(1, AcqRel) + 1;
        s.wake_collector();
        let deadline = Instant::now() + s.config.flush_timeout;
        let mut done = s.flush_done.lock();
        while *done < target {
            if s.state() == STOPPED {
                return Err(FlushError::Stopped);
            }
            if s.flush_cv.wait_until(&mut done, deadline).timed_out() && *done < target {
                return Err(FlushError::Timeout);
            }
        }
        Ok(())
    }

    /// Exact counters; see [`Stats`].
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Stops accepting records, drains every ring, flushes every sink and joins the collector.
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        self.shutdown_ref()
    }

    /// [`Telemetry::shutdown`] without giving the instance up: for an instance shared in an
    /// `Arc`, or to read its final [`stats`](Telemetry::stats) and
    /// [`snapshot`](Telemetry::snapshot) afterwards. Later calls (and the drop) do nothing.
    ///
    /// ```
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// tw.counter("orders_sent", &[]).add(1);
    /// tw.close()?;
    /// let st = tw.stats();
    /// assert_eq!((st.accepted, st.delivered), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<(), ShutdownError> {
        self.shutdown_ref()
    }

    pub(crate) fn shutdown_ref(&self) -> Result<(), ShutdownError> {
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
        handle.join().map_err(|_| ShutdownError::CollectorPanicked)
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.shutdown_ref();
    }
}
