//! Monitoring: aggregation on the collector, snapshots, resource sampling and health.
//!
//! Nothing here runs on the hot path: the collector folds every drained record into
//! per-series state, and [`Telemetry::snapshot`](crate::Telemetry::snapshot) copies that
//! state out.

mod health;
mod resources;
mod snapshot;

pub use health::{
    Bound, CollectorInput, CollectorPolicy, ComponentCheck, ComponentHealth, CostBudget, Health,
    HealthClock, HealthHandle, HealthStatus, ManualHealthClock, RegisterHealthError,
    ResourceThresholds, RingInput, RingPolicy, SinkHealth, SinkPolicy, Staleness, Status,
    SystemHealthClock,
};
pub(crate) use resources::parse_proc_texts;
pub use resources::{
    PipelineCounters, ResourceSample, ResourceSampler, SampleError, DEFAULT_CLOCK_TICKS_PER_SEC,
};
pub use snapshot::{
    Bucket, CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot,
    SeriesValue, Snapshot,
};
