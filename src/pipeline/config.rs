//! The pipeline's settings ([`PipelineConfig`]), the ring-full policy ([`Backpressure`]) and the
//! bounds the builder checks them against.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::affinity::ThreadPlacement;
use crate::logging::Level;

/// What a thread does when its ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backpressure {
    /// Wait (spin briefly, then yield) until the collector makes room, for at most
    /// [`block_timeout`](crate::TelemetryBuilder::block_timeout) (default 1 s); past it the record is
    /// dropped and counted ([`Stats::block_timeouts`](crate::Stats::block_timeouts)), so that
    /// a collector stuck in a sink cannot stop the engine. While the collector keeps up
    /// nothing is lost. The default: a silent loss is worse than a slow call.
    #[default]
    Block,
    /// Return at once; the record is dropped, counted exactly per thread, and reported to the
    /// sinks as a `Dropped` record.
    Drop,
}

/// The default ring size per thread: 256 KiB, about 8,000 samples or 4,000 three-field events,
/// so that the collector, waking when a ring is about half full, wakes about 250 times a
/// second for a thread recording a million samples a second (a wake-up costs tens of
/// microseconds of CPU on a virtual machine; `examples/collector_cost.rs` measures it). It
/// fits a core's L2 cache. NanoLog's staging buffers are 1 MiB, Quill's queues start at
/// 128 KiB and grow.
pub const DEFAULT_RING_CAPACITY: usize = 256 * 1024;
/// The largest ring size accepted.
pub const MAX_RING_CAPACITY: usize = 1 << 30;
/// The smallest ring size accepted: 128 bytes, so that an audit record (whose strings are cut
/// to fit: it is never refused) and a three-field event always fit.
pub const MIN_RING_CAPACITY: usize = 128;
/// The most latency bucket bounds accepted by [`crate::TelemetryBuilder::latency_buckets`].
pub const MAX_LATENCY_BUCKETS: usize = 64;
/// The shortest `aggregation_interval` or `monitor_tick` accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The longest `aggregation_interval` or `monitor_tick` accepted.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The shortest `idle_interval` or `max_idle_interval` accepted. Shorter sleeps would make
/// an idle collector a busy spin (the OS's timer slack is ~50 µs anyway).
pub const MIN_IDLE_INTERVAL: Duration = Duration::from_micros(10);
/// The longest `idle_interval` or `max_idle_interval` accepted.
pub const MAX_IDLE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `collector_spin` accepted.
pub const MAX_COLLECTOR_SPIN: Duration = Duration::from_secs(1);
/// The default `flush_interval`: how long a record can sit in a sink's buffer.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// The default `block_timeout`: the longest a hot-path call waits for room under
/// [`Backpressure::Block`].
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// The default latency bucket bounds: 100 ns to 10 s in 1-2.5-5 steps (25 bounds), covering
/// a risk check's sub-microsecond work, an order gateway's microseconds and a venue round
/// trip's seconds.
pub fn default_latency_buckets() -> Vec<Duration> {
    let mut v = Vec::with_capacity(25);
    let mut decade = Duration::from_nanos(100);
    while decade <= Duration::from_secs(10) {
        v.push(decade);
        if decade < Duration::from_secs(10) {
            v.push(decade * 5 / 2);
            v.push(decade * 5);
        }
        decade *= 10;
    }
    v
}

/// The pipeline's settings: rings, backpressure, flushing, timeouts, and what the layers
/// above read from it (aggregation, latency buckets, the monitoring tick). One section of
/// [`crate::Config`]; each field's meaning and default are those of the
/// [`TelemetryBuilder`](crate::TelemetryBuilder) option of the same name, and
/// [`crate::Config::validate`] checks them against the bounds in this module.
///
/// Serde: every field is optional (a missing one keeps its default), an unknown one is an
/// error, durations are written as `"100ms"`, `"1s"`, `"2m 30s"` (humantime's format) and the
/// level and backpressure in lower case (`"warn"`, `"drop"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Bytes of ring per producing thread (a power of two). Default 256 KiB.
    pub ring_capacity: usize,
    /// What a thread does when its ring is full. Default `block`.
    pub backpressure: Backpressure,
    /// Longest string kept in a record; longer ones are cut and flagged. Default 1,024.
    pub max_string_len: usize,
    /// Events below this level are not recorded. Default `trace`.
    pub level: Level,
    /// Most series (name + tags) the registry holds. Default 100,000.
    pub max_series: usize,
    /// The collector's first idle sleep. Default 1 ms.
    #[serde(with = "humantime_serde")]
    pub idle_interval: Duration,
    /// The collector's longest idle sleep. Default 16 ms.
    #[serde(with = "humantime_serde")]
    pub max_idle_interval: Duration,
    /// Longest [`flush`](crate::Telemetry::flush) wait. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// Longest [`shutdown`](crate::Telemetry::shutdown) wait. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// How often aggregates are published. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub aggregation_interval: Duration,
    /// Whether the collector aggregates at all. Default `true`.
    pub aggregation: bool,
    /// Latency bucket bounds, strictly increasing. Default 100 ns to 10 s in 1-2.5-5 steps.
    #[serde(with = "humantime_serde_vec")]
    pub latency_buckets: Vec<Duration>,
    /// How often health, resources and alerts are evaluated (the first time at most 100 ms
    /// after start). Default 1 s.
    #[serde(with = "humantime_serde")]
    pub monitor_tick: Duration,
    /// Longest a record sits in a sink's buffer. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Longest a hot-path call waits for room under `block`. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub block_timeout: Duration,
    /// Per-target event levels (`"engine::book" = "warn"`): a target and its submodules are
    /// recorded at their rule's level, above or below `level`; the longest covering target
    /// wins. In a file, the `[pipeline.targets]` table.
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, Level>,
    /// The collector thread's name and CPU set (Linux; elsewhere the CPU set is a no-op).
    /// Default: `tickwatch-collector-N`, any CPU. In a file, `[pipeline.collector]` with
    /// `name` and `cpus`.
    pub collector: ThreadPlacement,
    /// Low-latency mode: after a pass that found records, the collector keeps polling (a
    /// spin with pauses, one CPU busy) for this long before it sleeps, so a record written
    /// within it is picked up within about a microsecond instead of after the idle sleep.
    /// Default 0 (off): the collector sleeps between small batches. At most 1 s.
    #[serde(with = "humantime_serde")]
    pub collector_spin: Duration,
}

/// A list of durations in humantime's form (`["100ns", "1us"]`).
mod humantime_serde_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Human(#[serde(with = "humantime_serde")] Duration);

    pub(super) fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&d| Human(d)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Ok(Vec::<Human>::deserialize(d)?
            .into_iter()
            .map(|h| h.0)
            .collect())
    }
}

impl Default for PipelineConfig {
    /// The builder's defaults (see each `TelemetryBuilder` option).
    fn default() -> PipelineConfig {
        PipelineConfig {
            ring_capacity: DEFAULT_RING_CAPACITY,
            backpressure: Backpressure::Block,
            max_string_len: 1024,
            level: Level::Trace,
            max_series: 100_000,
            idle_interval: Duration::from_millis(1),
            max_idle_interval: Duration::from_millis(16),
            flush_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            aggregation_interval: Duration::from_secs(10),
            aggregation: true,
            latency_buckets: default_latency_buckets(),
            monitor_tick: Duration::from_secs(1),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            block_timeout: DEFAULT_BLOCK_TIMEOUT,
            targets: std::collections::BTreeMap::new(),
            collector: ThreadPlacement::default(),
            collector_spin: Duration::ZERO,
        }
    }
}
