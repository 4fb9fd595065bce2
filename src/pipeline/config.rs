//! The settings of an instance ([`Config`]), the ring-full policy ([`Backpressure`]) and the
//! bounds the builder checks them against.

use std::time::Duration;

use crate::logging::Level;

/// What a thread does when its ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// The default ring size per thread: 64 KiB, about 2,000 samples or 1,000 events.
pub const DEFAULT_RING_CAPACITY: usize = 64 * 1024;
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

/// One instance's settings, filled and validated by [`crate::TelemetryBuilder`]. The
/// pipeline reads its own fields (rings, backpressure, flushing, timeouts); the layers above
/// read theirs (aggregation, latency buckets, the monitoring tick).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) ring_capacity: usize,
    pub(crate) backpressure: Backpressure,
    pub(crate) max_string_len: usize,
    pub(crate) level: Level,
    pub(crate) max_series: usize,
    pub(crate) idle_interval: Duration,
    pub(crate) max_idle_interval: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) aggregation_interval: Duration,
    pub(crate) aggregation: bool,
    pub(crate) latency_buckets: Vec<Duration>,
    pub(crate) monitor_tick: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) block_timeout: Duration,
}

impl Default for Config {
    /// The builder's defaults (see each `TelemetryBuilder` option).
    fn default() -> Config {
        Config {
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
        }
    }
}
