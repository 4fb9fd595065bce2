//! What [`Telemetry::snapshot`](crate::Telemetry::snapshot) returns: every series as the
//! collector has aggregated it, with percentiles, counts and rates. Plain data, serde
//! serializable, cheap to hand to another thread, a renderer or an alert rule.
//!
//! Two horizons per series: `total` (since the instance started) and `window` (the last
//! *completed* aggregation interval, see
//! [`TelemetryBuilder::aggregation_interval`](crate::TelemetryBuilder::aggregation_interval)).
//! Rates are computed over the window, so they are stable between two rollovers rather than
//! jumping when an interval has just begun. Before the first rollover `window` is `None` and
//! rates are 0.

use serde::{Deserialize, Serialize};

use crate::series::SeriesKind;
use crate::Timestamp;

/// Every aggregated series at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the snapshot was taken (wall clock).
    pub taken_at: Timestamp,
    /// Seconds since the instance started.
    pub uptime_secs: f64,
    /// Length in seconds of the last completed interval, which `window` values and rates
    /// cover; 0 before the first rollover.
    pub window_secs: f64,
    /// Every series, in registration order.
    pub series: Vec<SeriesSnapshot>,
    /// Registrations refused by the series cap (`max_series`) since start; their samples
    /// went to the overflow series of their kind ([`SeriesKind::overflow_name`]:
    /// `tickwatch_overflow_metric`, `_counter`, `_latency`, `_resource`). Counts refused
    /// registrations, not distinct keys: a key refused on several threads, or used by name
    /// past a thread's cache of refused keys ([`REFUSED_CACHE_MAX`]), counts again (see
    /// [`crate::metrics`]).
    ///
    /// [`REFUSED_CACHE_MAX`]: crate::series::REFUSED_CACHE_MAX
    pub refused_series: u64,
    /// tickwatch's own running totals at `taken_at`: exported as counters
    /// (`tickwatch_records_accepted_total`, ...; see [`crate::export`]).
    #[serde(default)]
    pub totals: OwnTotals,
    /// What [`Telemetry::describe`](crate::Telemetry::describe) said about series names:
    /// the `# HELP` text and unit of their exposition.
    #[serde(default)]
    pub descriptions: Vec<Description>,
}

/// tickwatch's own cumulative counters at a snapshot's instant (see [`crate::Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OwnTotals {
    /// [`Stats::accepted`](crate::Stats::accepted).
    pub accepted: u64,
    /// [`Stats::dropped`](crate::Stats::dropped).
    pub dropped: u64,
    /// [`Stats::delivered`](crate::Stats::delivered).
    pub delivered: u64,
    /// [`Stats::sink_errors`](crate::Stats::sink_errors).
    pub sink_errors: u64,
    /// CPU time of the collector thread since start, seconds (`None` until the resource
    /// sampler has read it, or where the platform does not report a thread's CPU time).
    pub collector_cpu_secs: Option<f64>,
}

/// The unit of a series' values, given with [`Telemetry::describe`](crate::Telemetry::describe).
///
/// Prometheus names carry their unit as a suffix in base units: a gauge or counter whose
/// name does not already end with the unit gets it appended (`queue_depth` described with
/// `Unit::Bytes` exports as `queue_depth_bytes`). Values are never rescaled: give the values
/// in the unit you describe. Latencies are always exported in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// Seconds (`_seconds`).
    Seconds,
    /// Bytes (`_bytes`).
    Bytes,
    /// A ratio, 0 to 1 (`_ratio`).
    Ratio,
    /// A count of things with no unit (no suffix).
    Count,
}

impl Unit {
    /// The Prometheus name suffix, with its leading `_` (empty for [`Unit::Count`]).
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "_seconds",
            Unit::Bytes => "_bytes",
            Unit::Ratio => "_ratio",
            Unit::Count => "",
        }
    }
}

/// The longest HELP text kept by [`Telemetry::describe`](crate::Telemetry::describe), in bytes (longer text is cut at a
/// character boundary).
pub const MAX_HELP_LEN: usize = 1024;

/// HELP text and unit for every series of one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// The series name as registered (before any exposition renaming).
    pub name: String,
    /// One line of help text.
    pub help: String,
    /// The values' unit, if given.
    pub unit: Option<Unit>,
}

impl Snapshot {
    /// A snapshot with no series, taken at `taken_at`: a start for tests and for renderers
    /// fed by hand.
    pub fn empty(taken_at: Timestamp) -> Snapshot {
        Snapshot {
            taken_at,
            uptime_secs: 0.0,
            window_secs: 0.0,
            series: Vec::new(),
            refused_series: 0,
            totals: OwnTotals::default(),
            descriptions: Vec::new(),
        }
    }

    /// The description given for `name`, if any.
    pub fn description(&self, name: &str) -> Option<&Description> {
        self.descriptions.iter().find(|d| d.name == name)
    }

    /// The first series with this name and exactly these tags (order-insensitive).
    pub fn find(&self, name: &str, tags: &[(&str, &str)]) -> Option<&SeriesSnapshot> {
        self.series.iter().find(|s| {
            s.name == name
                && s.tags.len() == tags.len()
                && tags
                    .iter()
                    .all(|(k, v)| s.tags.iter().any(|(sk, sv)| sk == k && sv == v))
        })
    }
}

/// One series: identity and aggregated value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSnapshot {
    /// The registered (possibly fixed-up) name.
    pub name: String,
    /// The tags, in registration order (a JSON object).
    #[serde(with = "crate::schema::tags")]
    pub tags: Vec<(String, String)>,
    /// What produced it: `Metric` and `Resource` aggregate as gauges.
    pub kind: SeriesKind,
    /// The aggregate.
    pub value: SeriesValue,
}

/// The aggregate of one series, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SeriesValue {
    /// From [`crate::Counter`]: monotonic total.
    Counter(CounterValue),
    /// From [`crate::Metric`] / `log_metric` and [`crate::Resource`] /
    /// `track_resource_usage`.
    Gauge(GaugeValue),
    /// From [`crate::Latency`] / `measure_latency`: an HDR histogram.
    Latency(LatencyValue),
}

/// A counter's aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterValue {
    /// Sum of every increment since start (saturating at `u64::MAX`).
    pub total: u64,
    /// Increase over the last completed window (`None` before the first rollover).
    pub window: Option<u64>,
    /// `window / window_secs`, per second; 0 before the first rollover.
    pub rate_per_sec: f64,
}

/// Last, min, max, sum and count of gauge samples over some span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaugeStats {
    /// The most recent sample.
    pub last: f64,
    /// The smallest sample (NaN samples are not compared; see `count`).
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// Sum of the samples.
    pub sum: f64,
    /// Number of samples.
    pub count: u64,
}

/// A gauge's aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeValue {
    /// Since start (always at least one sample: a series appears once it has one).
    pub total: GaugeStats,
    /// Over the last completed window; `None` if it had no sample.
    pub window: Option<GaugeStats>,
    /// Samples per second over the last completed window.
    pub rate_per_sec: f64,
}

/// Percentiles of a latency histogram, in nanoseconds. `count`, `min`, `max` and `mean` are
/// exact over the recorded values, whatever their size. p50 .. p99.9 are within the
/// histogram's precision (3 significant digits: the reported value is within 0.1 % above the
/// sample at that rank) for samples up to [`MAX_TRACKABLE_NS`] (1 hour); a rank held by a
/// sample above it reads as about 1 hour (or as `min`, if every sample is above it). They
/// are never below `min` nor above `max`.
///
/// [`MAX_TRACKABLE_NS`]: crate::metrics::MAX_TRACKABLE_NS
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Arithmetic mean (the exact sum, divided in `f64`).
    pub mean: f64,
}

/// One cumulative histogram bucket for exposition: samples `<= le_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound, seconds.
    pub le_secs: f64,
    /// Samples at or below the bound since start (cumulative, non-decreasing).
    pub cumulative: u64,
}

/// A latency series' aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyValue {
    /// Since start.
    pub total: Percentiles,
    /// Over the last completed window; `None` if it had no sample.
    pub window: Option<Percentiles>,
    /// Sum of every sample since start, nanoseconds: exact, samples above 1 hour included.
    /// A `u64`, saturating at `u64::MAX` (~584 years of summed latency: a series summing
    /// 1,000 s of latency per second, say 100,000 samples/s of 10 ms, gets there after
    /// ~7 months of uptime). `total.mean` is computed from a sum that does not saturate.
    pub sum_ns: u64,
    /// Samples per second over the last completed window.
    pub rate_per_sec: f64,
    /// Samples above the histogram's highest trackable value
    /// ([`MAX_TRACKABLE_NS`](crate::metrics::MAX_TRACKABLE_NS), 1 hour): their
    /// percentiles read as about 1 hour; their count, sum, min, max and buckets are exact.
    pub clamped: u64,
    /// Cumulative buckets at the configured boundaries (without `+Inf`, which is
    /// `total.count`). Exact for every bound, including bounds above 1 hour: each sample is
    /// compared with the bounds as recorded.
    pub buckets: Vec<Bucket>,
}
