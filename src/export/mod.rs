//! Export: the [`Snapshot`](crate::metrics::Snapshot) in the Prometheus text format,
//! (feature `http`) a small HTTP endpoint serving it, and (feature `otlp`) an OTLP/HTTP
//! exporter pushing metrics and events to an OpenTelemetry collector (`otlp`, feature `otlp`).
//!
//! [`render_prometheus`] works on any snapshot value, so it runs wherever the snapshot was
//! taken: on a scrape thread, never on a trading thread. See [`prometheus`] for the mapping
//! of series kinds to families, the naming rules and how collisions are resolved.

mod lines;
pub mod naming;
pub mod prometheus;
mod text;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod otlp_section;

#[cfg(feature = "http")]
pub use http::{HealthReport, HealthState, MetricsEndpoint, MetricsServer, ServeError, StopError};
pub use otlp_section::OtlpSection;
pub use prometheus::{
    render_prometheus, render_prometheus_string, PrometheusRenderer, RenderSummary,
    CONFLICTS_METRIC, CONTENT_TYPE, OWN_COUNTERS, REFUSED_SERIES_METRIC,
};
pub use text::{
    escape_help, escape_label_value, sanitize_label_name, sanitize_metric_name, EMPTY_LABEL_NAME,
    EMPTY_METRIC_NAME,
};
