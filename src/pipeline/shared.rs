//! [`Shared`]: the state an instance's handles, lanes and collector share, and the hot-path
//! entry points (push a sample, an event, an audit record) that handles and free functions
//! call.

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use super::config::PipelineConfig;
use super::lane::{self, CollectorLane, LaneShared};
use crate::logging::Audit;
use crate::logging::{Callsite, Event, FieldRef};
use crate::record::{self, kind, Writer, SAMPLE_LEN};
use crate::series::{Registry, SeriesKind};
use crate::time::now_ticks;

/// One batch in this many, chosen at random, has its sinks' CPU time measured (see
/// `Progress::sink_cpu_ns`): the thread CPU clock is a system call, too dear for every batch.
pub(crate) const SINK_CPU_SAMPLING: u64 = 16;

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
    /// Times the collector loop panicked outside a sink and was restarted.
    pub(crate) collector_restarts: AtomicU64,
    /// Panics still to inject, set by `Telemetry::inject_collector_panic` (a test hook): the
    /// collector panics in each of its next batches, after reading one and before handing it
    /// to the sinks, until this is 0.
    pub(crate) inject_panics: std::sync::atomic::AtomicU32,
    /// The oldest record's age when the collector reached it, max since the last health tick
    /// (nanoseconds; the health task swaps it to 0).
    pub(crate) max_lag_ns: AtomicU64,
    /// Nanoseconds the collector has spent inside `Sink::write` and `Sink::flush` since start
    /// (monotonic clock, so a sink blocked on I/O is charged its wait): the logging cost, kept
    /// apart from the collector's own work (draining, aggregation, tasks).
    pub(crate) sink_ns: AtomicU64,
    /// Nanoseconds the collector has spent parked (idle sleeps) since start: the rest of its
    /// wall time it was awake, on a CPU or waiting for one. Sink time's share of the awake
    /// time apportions the thread's measured CPU between sinks and the collector's own work
    /// where the sinks' CPU is not measured (`sink_cpu_ns`).
    pub(crate) sleep_ns: AtomicU64,
    /// CPU time the collector thread spent inside `Sink::write` and `Sink::flush` since
    /// start, nanoseconds, estimated from the thread's CPU clock read around every flush and
    /// around every batch that follows a long one and a random 1 in [`SINK_CPU_SAMPLING`]
    /// of the others (scaled up); 0 until the first reading. Unlike `sink_ns`, time spent
    /// preempted or blocked is not in it.
    pub(crate) sink_cpu_ns: AtomicU64,
    /// Whether `sink_cpu_ns` is measured at all (the thread CPU clock could be read).
    pub(crate) sink_cpu_known: std::sync::atomic::AtomicBool,
    /// The collector thread's CPU time since it started, nanoseconds, as of the last resource
    /// sample (written by the self-watch task; 0 until the first sample).
    pub(crate) collector_cpu_ns: AtomicU64,
    /// Errors per sink (write or flush failed or panicked), in the order the sinks were
    /// added; their sum is `sink_errors`.
    pub(crate) each_sink_errors: Box<[AtomicU64]>,
}

/// State shared by the instance, its handles, its lanes and its collector.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) config: PipelineConfig,
    state: AtomicU8,
    pub(crate) series: Registry,
    pub(crate) lanes: Mutex<LaneSet>,
    pub(crate) lanes_gen: AtomicU64,
    next_thread: AtomicU32,
    /// Written by the collector on every batch: on lines of its own, so that its stores do
    /// not evict the read-mostly fields (`id`, `state`, `config`) every hot-path call reads.
    pub(crate) progress: CachePadded<Progress>,
    pub(crate) unattributed_drops: AtomicU64,
    pub(crate) flush_requested: AtomicU64,
    pub(crate) flush_done: Mutex<u64>,
    /// The latest flush request whose sink flushes failed, and how many sinks failed it
    /// (written under `flush_done`'s lock, before `flush_done` moves past it).
    pub(crate) flush_failed: Mutex<(u64, u32)>,
    /// How many sinks failed the final flush at shutdown.
    pub(crate) final_flush_failed: AtomicU32,
    pub(crate) flush_cv: Condvar,
    /// Drain passes asked for (`Pipeline::drain`: every ring handed to the sinks, the sinks
    /// not flushed), and the last one done.
    pub(crate) drain_requested: AtomicU64,
    pub(crate) drain_done: Mutex<u64>,
    pub(crate) drain_cv: Condvar,
    pub(crate) exited: Mutex<bool>,
    pub(crate) exited_cv: Condvar,
    pub(crate) collector: OnceLock<Thread>,
    /// Each sink's name and counters, if it keeps any ([`crate::sink::Sink::counters`]).
    pub(crate) sink_counters: OnceLock<Vec<(String, crate::sink::SinkCounters)>>,
    /// The instance's level with its per-target rules.
    pub(crate) targets: super::targets::TargetLevels,
}

impl Shared {
    /// A new, running instance's state.
    pub(crate) fn new(config: PipelineConfig, sinks: usize) -> Shared {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Relaxed),
            series: Registry::new(config.max_series),
            targets: super::targets::TargetLevels::new(config.level, &config.targets),
            state: AtomicU8::new(RUNNING),
            lanes: Mutex::new(LaneSet::default()),
            lanes_gen: AtomicU64::new(0),
            next_thread: AtomicU32::new(0),
            progress: CachePadded::new(Progress {
                each_sink_errors: (0..sinks).map(|_| AtomicU64::new(0)).collect(),
                ..Progress::default()
            }),
            unattributed_drops: AtomicU64::new(0),
            flush_requested: AtomicU64::new(0),
            flush_done: Mutex::new(0),
            flush_failed: Mutex::new((0, 0)),
            final_flush_failed: AtomicU32::new(0),
            flush_cv: Condvar::new(),
            drain_requested: AtomicU64::new(0),
            drain_done: Mutex::new(0),
            drain_cv: Condvar::new(),
            exited: Mutex::new(false),
            exited_cv: Condvar::new(),
            collector: OnceLock::new(),
            sink_counters: OnceLock::new(),
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
    #[inline(always)]
    pub(crate) fn push_sample(self: &Arc<Self>, k: u8, flags: u8, id: u32, value: u64) {
        let ticks = now_ticks();
        lane::push_record(
            self,
            record::sample_head(k, flags, id),
            ticks,
            &[value],
            false,
        );
    }

    /// A packed event (`event!` with numbers and bools only): its words, straight into the
    /// ring.
    #[inline(always)]
    pub(crate) fn push_packed<const N: usize>(
        self: &Arc<Self>,
        cs: &'static Callsite,
        layout: u16,
        words: &[u64; N],
        truncated: bool,
    ) {
        // The macro checked the call site's level (`Telemetry::__callsite_enabled`) before
        // evaluating the values.
        let id = cs.id();
        let ticks = now_ticks();
        let head = record::packed_head(id, layout, N, truncated);
        lane::push_record(self, head, ticks, words, truncated);
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

    /// An event with tagged values, the message's arguments then the fields (strings,
    /// `None`, more than [`record::MAX_PACKED`] values; `event!` with numbers only takes
    /// [`Shared::push_packed`]).
    #[inline]
    pub(crate) fn push_event(
        self: &Arc<Self>,
        cs: &'static Callsite,
        values: &[FieldRef<'_>],
        truncated: bool,
    ) {
        // The macro checked the call site's level (`Telemetry::__callsite_enabled`) before
        // evaluating the values.
        let id = cs.id();
        let ticks = now_ticks();
        let pushed = lane::with_lane(self, |lane| {
            let max = lane.max_str;
            let len = record::event_len(values, max);
            // One macro call site's arguments and fields: far below u16::MAX.
            let n = values.len() as u16;
            lane.push(self, len, false, |b| {
                let mut w = Writer::new(b);
                w.header(kind::EVENT, 0, n, id, ticks);
                for v in values {
                    w.value(v, max);
                }
                if truncated {
                    w.mark_truncated();
                }
                w.finish()
            })
        });
        if pushed.is_none() {
            self.unattributed_drops.fetch_add(1, Relaxed);
        }
    }

    #[cfg(feature = "tracing")]
    /// [`Shared::push_event`] for `n` values already encoded in the record's form (the
    /// `tracing` layer's): one copy into the ring.
    #[inline]
    pub(crate) fn push_event_encoded(
        self: &Arc<Self>,
        cs: &'static Callsite,
        n: u16,
        ticks: u64,
        values: &record::Encoded,
    ) {
        // The instance's per-target levels were applied by the layer, once per call site
        // (`Site::new`), not here per event.
        let id = cs.id();
        let bytes = values.bytes();
        let truncated = values.truncated();
        let flags = if truncated { record::FLAG_TRUNCATED } else { 0 };
        let head = record::sample_head(kind::EVENT, flags, id) | u64::from(n) << 16;
        lane::push_record(self, head, ticks, bytes, truncated);
    }

    pub(crate) fn push_dyn_event(self: &Arc<Self>, ev: &Event<'_>) {
        if !self.targets.is_empty() && !self.targets.admits(ev.target, ev.level) {
            return;
        }
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
