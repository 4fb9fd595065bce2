//! Monitoring: aggregation on the collector, snapshots, resource sampling and health.
//!
//! Nothing here runs on the hot path: the collector folds every drained record into
//! per-series state, and [`Telemetry::snapshot`](crate::Telemetry::snapshot) copies that
//! state out.
//!
//! # What is aggregated, and how
//!
//! * **Counters** ([`crate::Counter`]): a monotonic total (saturating at `u64::MAX`) and the
//!   increase over each interval.
//! * **Gauges** ([`crate::Metric`] / `log_metric` and [`crate::Resource`] /
//!   `track_resource_usage`): last, min, max, sum and count since start and per interval.
//!   `last` is the sample with the latest timestamp (threads are drained in turn, so arrival
//!   order is not time order). NaN samples are counted and summed (the sum becomes NaN) but
//!   never become the min or max. Note that JSON has no NaN or infinity: `serde_json`
//!   writes such a value as `null`, which does not deserialize back into an `f64`.
//! * **Latencies** ([`crate::Latency`] / `measure_latency`): HDR histograms
//!   ([`hdrhistogram`], [`SIGNIFICANT_DIGITS`] = 3 significant digits) since start and per
//!   interval. `count`, `sum_ns`, `min`, `max` and `mean` are exact over the samples as
//!   recorded, whatever their size (`sum_ns` is a `u64` that saturates after ~584 years of
//!   summed latency; `mean` does not). Bucket counts for exposition are exact too: each
//!   sample is compared with the configured bounds
//!   ([`crate::TelemetryBuilder::latency_buckets`]), including bounds above 1 hour.
//!   p50 .. p99.9 are the highest value of the HDR sub-bucket holding the sample at rank
//!   `ceil(q * count)`, so within 0.1 % above it, and never below `min` nor above `max`.
//!   Only they see the histogram's range: it holds a sample of 0 ns as 1 ns and one above
//!   [`MAX_TRACKABLE_NS`] (1 hour) as 1 hour (counted in [`LatencyValue::clamped`]), so a
//!   percentile whose rank falls on such a sample reads as about 1 hour.
//!
//! A series appears in snapshots once one of its samples has been aggregated. A sample
//! belongs to the interval in which the collector aggregated it (normally within a few
//! milliseconds of being taken); intervals roll over every
//! [`aggregation_interval`](crate::TelemetryBuilder::aggregation_interval), with or without
//! records.
//!
//! # Cardinality and memory
//!
//! At most [`max_series`](crate::TelemetryBuilder::max_series) series of the application:
//! past it, new series are refused, counted in [`Snapshot::refused_series`] (per refused
//! registration, not per distinct key), and their samples go to the overflow series of their
//! kind: `tickwatch_overflow_metric`, `tickwatch_overflow_counter`,
//! `tickwatch_overflow_latency` and `tickwatch_overflow_resource`
//! ([`SeriesKind::overflow_name`](crate::series::SeriesKind::overflow_name)), distinct
//! names so that exposition keeps all four. Those four and tickwatch's own `tickwatch_*`
//! series (the self-watch gauges) are not counted against the cap and never refused, so
//! they are there even when the application filled the cap first. See
//! [`crate::performance`] for the details.
//!
//! Memory: a counter or a gauge costs ~160 bytes. A latency series holds two HDR histograms
//! (`u64` counts since start, `u32` per interval) and a coarse index over them: ~46 KiB to
//! start, growing by whole octaves up to the largest sample seen (samples above 1 hour grow
//! it no further): ~210 KiB for samples up to 10 ms, ~430 KiB for the full hour. The
//! by-name calls (`log_metric`, `measure_latency`, `track_resource_usage`) keep a
//! per-thread cache of the keys they have seen: one entry per series used (bounded by the
//! cap) plus at most [`REFUSED_CACHE_MAX`](crate::series::REFUSED_CACHE_MAX) (1,024)
//! refused keys, ~200 KiB at most for the refused ones; past that a refused key costs a
//! registry lookup per call and no memory.

pub(crate) mod aggregate;
mod api;
pub use api::MAX_HELP_LEN;
mod health;
mod histogram;
mod resources;
mod selfwatch;
pub(crate) mod setup;
mod snapshot;
pub(crate) mod tick;

pub use setup::component;

pub use histogram::{MAX_TRACKABLE_NS, SIGNIFICANT_DIGITS};

pub use health::{
    Bound, CollectorInput, CollectorPolicy, ComponentCheck, ComponentHealth, CostBudget, Health,
    HealthHandle, HealthStatus, RegisterHealthError, ResourceThresholds, RingInput, RingPolicy,
    SinkHealth, SinkPolicy, Staleness, Status, PENDING,
};
#[cfg(any(test, fuzzing))]
pub(crate) use resources::parse_proc_texts;
pub use resources::{
    PipelineCounters, ResourceSample, ResourceSampler, SampleError, DEFAULT_CLOCK_TICKS_PER_SEC,
};
pub use snapshot::{
    Bucket, CounterValue, Description, GaugeStats, GaugeValue, LatencyValue, OwnTotals,
    Percentiles, SeriesSnapshot, SeriesValue, Snapshot, Unit,
};
