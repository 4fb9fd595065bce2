//! [`Telemetry`], the instance: the one home of its methods and of its builder. This is
//! where the layers are composed: the pipeline at the core, the aggregation and monitoring
//! tasks plugged into its collector (`setup`), the handles, health, alerts and exposition
//! offered on top (`api`).

mod api;
mod builder;
mod config;
mod config_file;
#[cfg(feature = "otlp")]
mod otlp;
mod parts;
mod reload;
mod sections;
mod setup;
#[cfg(test)]
mod tests;
mod watch;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use builder::{StartError, TelemetryBuilder};
pub use config::{Config, MonitoringConfig};
pub use config_file::{ConfigError, ConfigSource};
pub use reload::{ReloadError, ReloadReport};
pub use sections::{
    DurabilityName, KeyRingSection, PrometheusSection, RouteSpec, RouteTarget, SecuritySection,
    SegmentLogSection,
};
pub(crate) use setup::MonitorShared;
pub use watch::{ConfigWatch, ConfigWatchStats};

use crate::logging::{Audit, Callsite, Event, FieldRef, Level};
use crate::metrics::{Aggregates, CollectorTask, Counter, Latency, Metric, Monitor, Resource};
use crate::pipeline::{lane, FlushError, Pipeline, Shared, ShutdownError, Stats};
use crate::security::authn::Authenticator;
use crate::security::authz::Authorizer;
use crate::series::{RegisterError, SeriesKind};
use crate::sink::Sink;
use crate::KeyRing;
use setup::MonitorSetup;

/// One telemetry pipeline: per-thread rings, a collector thread, and its sinks.
///
/// `Send + Sync`: share it by reference (scoped threads) or in an `Arc`; handles
/// ([`Metric`], [`Counter`], [`Latency`], [`Resource`]) are `Clone` and own what they need.
/// Dropping it shuts it down (drains, flushes the sinks, joins the collector, waiting at most
/// `shutdown_timeout`). Several instances in one process are independent.
pub struct Telemetry {
    pub(crate) shared: Arc<Shared>,
    pipeline: Pipeline,
    /// The collector's aggregates, read by `snapshot()`.
    pub(crate) aggregates: Arc<Aggregates>,
    /// Health registry, alert manager and rule alerts (see `setup`).
    pub(crate) monitor: Arc<MonitorShared>,
    /// The key ring, authenticator and authorizer given to the builder.
    security: SecurityParts,
    /// The segment log given to the builder, for `query_logs`.
    log: Option<crate::store::LogHandle>,
    /// The running configuration and what a reload swaps (shared with a file watch).
    live: Arc<reload::Live>,
    /// The `[prometheus]` endpoint, served from start to drop, and its address (the server
    /// is not `Sync`: behind a mutex nobody contends).
    #[cfg(feature = "http")]
    endpoint: Option<(
        std::net::SocketAddr,
        std::sync::Mutex<crate::export::MetricsServer>,
    )>,
    /// The `[otlp]` section's exporter, stopped after the pipeline.
    #[cfg(feature = "otlp")]
    otlp: otlp::OwnedOtlp,
}

/// What `TelemetryBuilder::start` hands `Telemetry::start` for live reload.
pub(crate) struct StartLive {
    pub(crate) sink_set: Option<crate::sink::SinkSetHandle>,
    pub(crate) code_rules: Vec<crate::alerts::Rule>,
    pub(crate) policy_text: Option<String>,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<crate::export::otlp::OtlpControl>,
}

/// The security components an instance was built with (see `TelemetryBuilder::key_ring`,
/// `authenticator` and `authorizer`): what the global instance's free functions use.
#[derive(Debug, Default)]
pub(crate) struct SecurityParts {
    pub(crate) key_ring: Option<Arc<KeyRing>>,
    pub(crate) authenticator: Option<Arc<Authenticator>>,
    pub(crate) authorizer: Option<Arc<Authorizer>>,
}

impl SecurityParts {
    /// Gives each component without an audit log the instance's.
    fn attach_audit(&self, log: &crate::AuditLog) {
        if let Some(k) = &self.key_ring {
            k.attach_audit(log.clone());
        }
        if let Some(a) = &self.authenticator {
            a.attach_audit(log.clone());
        }
        if let Some(a) = &self.authorizer {
            a.attach_audit(log.clone());
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("id", &self.shared.id)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Telemetry {
    /// Starts an instance from a validated configuration (see [`TelemetryBuilder::start`]):
    /// the pipeline, with the aggregation and the monitoring tasks plugged into its
    /// collector. The one place the layers are composed.
    pub(crate) fn start(
        config: Config,
        sinks: Vec<Box<dyn Sink>>,
        mut tasks: Vec<Box<dyn CollectorTask>>,
        mut monitor: MonitorSetup,
        security: SecurityParts,
        log: Option<crate::store::LogHandle>,
        start_live: StartLive,
    ) -> Result<Telemetry, StartError> {
        let names: Vec<&str> = sinks.iter().map(|s| s.name()).collect();
        let running = config.clone();
        let Config {
            pipeline,
            monitoring,
            alerts,
            // Started by the builder (`otlp::OwnedOtlp`).
            otlp: _,
            // Built by the builder (`reload::build`, `MonitorSetup`).
            rules: _,
            routes: _,
            sinks: _,
            security: _,
            segment_log: _,
            prometheus: _,
        } = config;
        let shared = Arc::new(Shared::new(pipeline, names.len()));
        let aggregates = Aggregates::new(shared.clone());
        let mon = Arc::new(monitor.shared(alerts));
        let built = monitor.into_tasks(monitoring, &shared, &mon, &names);
        drop(names);
        tasks.extend(built?);
        let hooks = Monitor::new(aggregates.clone(), tasks, mon.collector_events());
        let pipeline = match Pipeline::start(shared.clone(), sinks, hooks) {
            Ok(p) => p,
            Err(e) => {
                // Leave the caller's health registry as it was (see `into_tasks`).
                mon.unregister_builtins();
                return Err(match e {
                    crate::pipeline::SpawnError::Io(e) => StartError::Spawn(e),
                    crate::pipeline::SpawnError::Pin(e) => StartError::Placement(e),
                });
            }
        };
        let live = Arc::new(reload::Live::new(
            running,
            shared.clone(),
            mon.clone(),
            security.authorizer.clone(),
            start_live,
        ));
        let tw = Telemetry {
            shared,
            pipeline,
            aggregates,
            monitor: mon,
            security,
            log,
            live,
            #[cfg(feature = "http")]
            endpoint: None,
            #[cfg(feature = "otlp")]
            otlp: otlp::OwnedOtlp::default(),
        };
        tw.security.attach_audit(&tw.audit_log());
        Ok(tw)
    }

    /// A builder with the defaults (256 KiB rings, `Block`, no sinks).
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// The key ring given to [`TelemetryBuilder::key_ring`], if any.
    pub fn key_ring(&self) -> Option<&Arc<KeyRing>> {
        self.security.key_ring.as_ref()
    }

    /// The authenticator given to [`TelemetryBuilder::authenticator`], if any.
    pub fn authenticator(&self) -> Option<&Arc<Authenticator>> {
        self.security.authenticator.as_ref()
    }

    /// The authorizer given to [`TelemetryBuilder::authorizer`], if any.
    pub fn authorizer(&self) -> Option<&Arc<Authorizer>> {
        self.security.authorizer.as_ref()
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A gauge-like series handle. Bad names are fixed up and counted (see
    /// [`crate::metrics`]); never fails.
    pub fn metric(&self, name: &str, tags: &[(&str, &str)]) -> Metric {
        Metric::new(
            self.shared.clone(),
            self.shared.series.register(SeriesKind::Metric, name, tags),
        )
    }

    /// Like [`Telemetry::metric`], but refuses bad names and a full series table.
    pub fn try_metric(&self, name: &str, tags: &[(&str, &str)]) -> Result<Metric, RegisterError> {
        Ok(Metric::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Metric, name, tags)?,
        ))
    }

    /// A counter handle; never fails.
    pub fn counter(&self, name: &str, tags: &[(&str, &str)]) -> Counter {
        Counter::new(
            self.shared.clone(),
            self.shared.series.register(SeriesKind::Counter, name, tags),
        )
    }

    /// Like [`Telemetry::counter`], but refuses bad names and a full series table.
    pub fn try_counter(&self, name: &str, tags: &[(&str, &str)]) -> Result<Counter, RegisterError> {
        Ok(Counter::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Counter, name, tags)?,
        ))
    }

    /// A latency handle for `operation` (no tags); never fails.
    pub fn latency(&self, operation: &str) -> Latency {
        self.latency_with_tags(operation, &[])
    }

    /// A latency handle for `operation` with tags; never fails.
    pub fn latency_with_tags(&self, operation: &str, tags: &[(&str, &str)]) -> Latency {
        Latency::new(
            self.shared.clone(),
            self.shared
                .series
                .register(SeriesKind::Latency, operation, tags),
        )
    }

    /// Like [`Telemetry::latency_with_tags`], but refuses bad names and a full series table.
    pub fn try_latency(
        &self,
        operation: &str,
        tags: &[(&str, &str)],
    ) -> Result<Latency, RegisterError> {
        Ok(Latency::new(
            self.shared.clone(),
            self.shared
                .series
                .try_register(SeriesKind::Latency, operation, tags)?,
        ))
    }

    /// A resource-usage handle; never fails.
    pub fn resource(&self, resource: &str) -> Resource {
        self.resource_with_tags(resource, &[])
    }

    /// A resource-usage handle with tags (`[("pool", "orders")]`); never fails.
    pub fn resource_with_tags(&self, resource: &str, tags: &[(&str, &str)]) -> Resource {
        Resource::new(
            self.shared.clone(),
            self.shared
                .series
                .register(SeriesKind::Resource, resource, tags),
        )
    }

    /// Records a metric sample by name. Looks the key up in a per-thread cache: allocates only
    /// the first time this thread sees the (name, tags) pair.
    #[inline]
    pub fn log_metric(&self, name: &str, value: f64, tags: &[(&str, &str)]) {
        self.shared
            .push_by_name(SeriesKind::Metric, name, tags, value.to_bits());
    }

    /// Records a latency sample by operation name (per-thread cache, as `log_metric`).
    #[inline]
    pub fn measure_latency(&self, operation: &str, duration: Duration) {
        self.measure_latency_with_tags(operation, duration, &[]);
    }

    /// [`Telemetry::measure_latency`] with tags, as `log_metric` takes them.
    ///
    /// ```
    /// # let tw = tickwatch::Telemetry::builder().start()?;
    /// use std::time::Duration;
    /// tw.measure_latency_with_tags("order_roundtrip", Duration::from_micros(42), &[("venue", "XNAS")]);
    /// tw.track_resource_usage_with_tags("order_pool", 0.7, &[("venue", "XNAS")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn measure_latency_with_tags(
        &self,
        operation: &str,
        duration: Duration,
        tags: &[(&str, &str)],
    ) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.shared
            .push_by_name(SeriesKind::Latency, operation, tags, nanos);
    }

    /// Records a resource-usage sample by name (per-thread cache, as `log_metric`).
    #[inline]
    pub fn track_resource_usage(&self, resource: &str, usage: f64) {
        self.track_resource_usage_with_tags(resource, usage, &[]);
    }

    /// [`Telemetry::track_resource_usage`] with tags, as `log_metric` takes them.
    #[inline]
    pub fn track_resource_usage_with_tags(
        &self,
        resource: &str,
        usage: f64,
        tags: &[(&str, &str)],
    ) {
        self.shared
            .push_by_name(SeriesKind::Resource, resource, tags, usage.to_bits());
    }

    /// Records a dynamic event (strings copied into the ring, nothing allocated).
    pub fn log_event(&self, event: &Event<'_>) {
        if self.enabled(event.level) {
            self.shared.push_dyn_event(event);
        }
    }

    /// Records an audit record. Never dropped for lack of room: under either backpressure
    /// policy the call waits for the collector (see [`Audit`]).
    pub fn audit(&self, audit: &Audit<'_>) {
        self.shared.push_audit(audit);
    }

    /// A cloneable handle for recording audit records into this instance.
    pub fn audit_log(&self) -> crate::AuditLog {
        crate::AuditLog {
            shared: self.shared.clone(),
        }
    }

    /// Whether events at `level` are recorded.
    #[inline(always)]
    pub fn enabled(&self, level: Level) -> bool {
        // The lowest level any target rule admits (the instance's level without rules):
        // an event past it is checked against its own target's rule once it has a call site.
        self.shared.targets.passes_floor(level)
    }

    /// Whether events of this `event!` call site are recorded, once [`Telemetry::enabled`]
    /// passed: with per-target rules, the call site's cached decision. Checked before the
    /// event's values are evaluated.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __callsite_enabled(&self, callsite: &'static Callsite) -> bool {
        let t = &self.shared.targets;
        t.is_empty() || t.callsite_enabled(callsite, callsite.id())
    }

    /// `event!`'s entry (after [`Telemetry::__callsite_enabled`]): the arguments then the fields, as one array. Numbers and bools
    /// only (the usual case, known where the macro expands): the packed form.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __emit_values<const N: usize>(
        &self,
        callsite: &'static Callsite,
        values: [FieldRef<'_>; N],
        truncated: bool,
    ) {
        match crate::record::pack(&values) {
            Some((layout, words)) => self.shared.push_packed(callsite, layout, &words, truncated),
            None => self.shared.push_event(callsite, &values, truncated),
        }
    }

    /// Creates the calling thread's ring now, so its first hot-path call does not allocate.
    pub fn preallocate(&self) {
        lane::with_lane(&self.shared, |_| ());
    }

    /// Waits until every record accepted before this call has been handed to every sink and
    /// every sink has been flushed. [`FlushError::SinkFailed`] if a sink's flush failed
    /// (its records are not known to be at its destination: a full disk, say).
    pub fn flush(&self) -> Result<(), FlushError> {
        self.pipeline.flush()
    }

    /// Exact counters; see [`Stats`].
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Stops accepting records, drains every ring, flushes every sink and joins the collector.
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        self.shutdown_ref()
    }

    /// [`Telemetry::shutdown`] without giving the instance up: for an instance shared in an
    /// `Arc`, or to read its final [`stats`](Telemetry::stats) and
    /// [`snapshot`](Telemetry::snapshot) afterwards. Later calls (and the drop) do nothing.
    ///
    /// ```
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// tw.counter("orders_sent", &[]).add(1);
    /// tw.close()?;
    /// let st = tw.stats();
    /// assert_eq!((st.accepted, st.delivered), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<(), ShutdownError> {
        self.shutdown_ref()
    }

    pub(crate) fn shutdown_ref(&self) -> Result<(), ShutdownError> {
        let done = self.pipeline.shutdown();
        // After the collector's last drain: the exporter's final export holds every record.
        #[cfg(feature = "otlp")]
        self.otlp.stop();
        done
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.shutdown_ref();
    }
}
