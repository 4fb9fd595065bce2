//! Metrics: the register-once handles the hot path writes through ([`Metric`], [`Counter`],
//! [`Latency`], [`Resource`]), the series they write to ([`SeriesKind`], the series cap),
//! the aggregation on the collector, and the [`Snapshot`]s read from it.
//!
//! Only the handles run on the hot path: the collector folds every drained record into
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
//! [`crate::metrics`] (below) for the details.
//!
//! Memory: a counter or a gauge costs ~160 bytes. A latency series holds two HDR histograms
//! (`u64` counts since start, `u32` per interval) and a coarse index over them: ~46 KiB to
//! start, growing by whole octaves up to the largest sample seen (samples above 1 hour grow
//! it no further): ~210 KiB for samples up to 10 ms, ~430 KiB for the full hour. The
//! by-name calls (`log_metric`, `measure_latency`, `track_resource_usage`) keep a
//! per-thread cache of the keys they have seen: one entry per series used (bounded by the
//! cap) plus at most [`REFUSED_CACHE_MAX`] (1,024)
//! refused keys, ~200 KiB at most for the refused ones; past that a refused key costs a
//! registry lookup per call and no memory.
//!
//! # The series cap, in detail
//!
//! [`max_series`](crate::TelemetryBuilder::max_series) counts the application's series only.
//! Past it, a new key is *refused*: the `try_*` calls fail with
//! [`RegisterError::TooManySeries`], the never-failing ones get the overflow series of the
//! key's kind ([`OVERFLOW_METRIC`], [`OVERFLOW_COUNTER`], [`OVERFLOW_LATENCY`],
//! [`OVERFLOW_RESOURCE`]: one per kind, so they never share a name and an exposition family,
//! no tags), and the refusal is counted (`Stats::overflowed_series`,
//! `Snapshot::refused_series`). Not counted against the cap, and never refused:
//!
//! * the four overflow series;
//! * tickwatch's own series (names starting with [`OWN_PREFIX`], such as the self-watch's
//!   `tickwatch_*` gauges), registered by the crate through a path of its own: an
//!   application that fills the cap before the first monitor tick still gets them. The
//!   application cannot use that path; a `tickwatch_*` name it registers itself is an
//!   ordinary series, counted (and later shared with tickwatch's if the key is the same).
//!
//! A refusal is counted per refused *registration*, not per distinct key: each refused
//! `metric()`/`counter()`/... call, and for the by-name calls each time a thread resolves a
//! refused key in the registry: once when the thread first sees the key, and no more while
//! its per-thread cache (below) has room for refused keys; for a key that found the cache
//! full ([`REFUSED_CACHE_MAX`] refused keys), once per call. So the count is an upper bound
//! on the distinct refused keys: non-zero exactly when something was refused, and growing
//! while refused keys keep being used. Counting distinct keys exactly would mean remembering
//! every refused key, the unbounded memory the cap exists to prevent.
//!
//! # Memory of the by-name calls, in detail
//!
//! `log_metric`, `measure_latency` and `track_resource_usage` find their series through a
//! per-thread cache from the key as passed (borrowed, no allocation on a hit). A thread's
//! cache holds one entry (~100 bytes plus the key's strings) per key it has used: at most one
//! per registered series, so bounded by the cap, plus at most [`REFUSED_CACHE_MAX`] keys the
//! cap refused (~200 KiB for keys of a few dozen bytes). Past that bound a refused key is not
//! cached: each call with it locks the registry and looks the key up there by its hash,
//! which allocates nothing (and counts one more refused registration). So distinct refused
//! keys cost time, not memory: with the cap full, 200,000 distinct refused keys on one
//! thread used to grow its cache by ~40 MiB (measured in `tests/series_cap_memory.rs`).

mod aggregate;
mod handles;
mod histogram;
mod monitor;
mod snapshot;
mod tick;

pub(crate) use aggregate::Aggregates;
pub use handles::{Counter, Latency, LatencyTimer, Metric, Resource};
pub use histogram::{MAX_TRACKABLE_NS, SIGNIFICANT_DIGITS};
pub(crate) use monitor::{CollectorEvents, Monitor};
pub use snapshot::{
    Bucket, CounterValue, Description, GaugeStats, GaugeValue, LatencyValue, OwnTotals,
    Percentiles, SeriesSnapshot, SeriesValue, Snapshot, Unit, MAX_HELP_LEN,
};
#[cfg(test)]
pub(crate) use tick::Schedule;
pub(crate) use tick::{wall_now, CollectorTask, GaugeId, TickContext};

pub use crate::series::{
    RegisterError, SeriesInfo, SeriesKind, EMPTY_NAME, MAX_NAME_LEN, OVERFLOW_COUNTER,
    OVERFLOW_LATENCY, OVERFLOW_METRIC, OVERFLOW_RESOURCE, OWN_PREFIX, REFUSED_CACHE_MAX,
};
