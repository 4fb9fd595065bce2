//! Monitoring: aggregation on the collector, snapshots, resource sampling and health.
//!
//! Nothing here runs on the hot path: the collector folds every drained record into
//! per-series state, and [`Telemetry::snapshot`](crate::Telemetry::snapshot) copies that
//! state out.

pub(crate) mod aggregate;
mod histogram;
mod snapshot;
pub(crate) mod tick;

pub use histogram::{MAX_TRACKABLE_NS, SIGNIFICANT_DIGITS};

pub use snapshot::{
    Bucket, CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot,
    SeriesValue, Snapshot,
};
