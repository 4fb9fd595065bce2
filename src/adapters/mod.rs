//! Ecosystem in: code that already calls `tracing::info!` or `metrics::counter!` (and every
//! dependency that does: tokio, hyper, reqwest, sqlx) recorded by tickwatch without
//! rewriting a call site.
//!
//! * [`TracingLayer`] (feature `tracing`, on by default): a `tracing-subscriber` layer.
//!   Each `tracing` call site becomes a tickwatch event call site, registered once; each
//!   event's typed field values go into the calling thread's ring as the same `Event`
//!   record [`event!`](crate::event!) writes. See [`Telemetry::tracing_layer`](crate::Telemetry::tracing_layer).
//! * [`MetricsRecorder`] (feature `metrics`, on by default): a `metrics::Recorder` whose
//!   counters, gauges and histograms are tickwatch series, written through the same
//!   handles as [`Counter`](crate::Counter), [`Metric`](crate::Metric) and
//!   [`Latency`](crate::Latency). See [`Telemetry::metrics_recorder`](crate::Telemetry::metrics_recorder).
//!
//! Neither costs anything until it is created: no thread, no table, no registration.

#[cfg(feature = "metrics")]
pub mod metrics_recorder;
#[cfg(feature = "tracing")]
pub mod tracing_layer;

#[cfg(feature = "metrics")]
pub use metrics_recorder::*;
#[cfg(feature = "tracing")]
pub use tracing_layer::*;
