//! The monitoring calls on [`Telemetry`]: log queries, health, alerts and Prometheus
//! exposition.

use super::Telemetry;
use crate::alerts::{ActiveAlert, Alert, AlertId, AlertResponse, AlertStats};
use crate::health::{Health, HealthStatus};
use crate::metrics::{Snapshot, Unit};

impl Telemetry {
    /// `query_logs`: runs `query` over this instance's segment log
    /// ([`TelemetryBuilder::segment_log`](crate::TelemetryBuilder::segment_log)): its sealed
    /// segments and the segment being written, including the records the collector has not
    /// yet written to the file, as one ordered result: every record accepted before the call
    /// (from any thread) is seen, as the query first waits for one collector pass (at most
    /// `flush_timeout`; the sinks are not flushed for it). Runs on the calling thread; the
    /// collector is held up only while the not-yet-written bytes are copied.
    ///
    /// ```
    /// use tickwatch::store::{LogQuery, SegmentLog};
    /// use tickwatch::{warn, Level, Telemetry};
    /// let dir = std::env::temp_dir().join(format!("tw-query-doc-{}", std::process::id()));
    /// let tw = Telemetry::builder().segment_log(SegmentLog::options(&dir).open()?).start()?;
    /// warn!(tw, "order {} rejected", 42u64, order_id = 42u64, reason = "limit");
    /// tw.flush()?;
    /// let found = tw.query_logs(&r#"level>=warn order_id=42 "rejected""#.parse()?)?;
    /// assert_eq!(found.records.len(), 1);
    /// # drop(tw); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_logs(
        &self,
        query: &crate::store::LogQuery,
    ) -> Result<crate::store::LogResults, crate::store::QueryError> {
        let log = self.log.as_ref().ok_or(crate::store::QueryError::NoLog)?;
        // Records still in the rings reach the log's recent window first. A stopped
        // instance has nothing left in them; a pass that times out (a stalled collector) leaves
        // the query to answer what the log holds.
        let _ = self.pipeline.drain();
        log.query(query)
    }

    /// The segment log given to the builder, if any: its directory and counters.
    pub fn segment_log(&self) -> Option<&crate::store::LogHandle> {
        self.log.as_ref()
    }

    /// Describes every series named `name`: `help` becomes its `# HELP` line in the
    /// Prometheus exposition (instead of the generic `tickwatch gauge <name>`) and `unit`
    /// its unit suffix ([`Unit::suffix`]; values are not rescaled). Both also appear in
    /// [`Snapshot::descriptions`](crate::metrics::Snapshot::descriptions). Describing a
    /// name again replaces its description. Not a hot-path call: it takes a lock.
    ///
    /// Keeps at most `max_series` descriptions: returns `false` (and keeps nothing) for a new
    /// name past that. `help` is cut to [`MAX_HELP_LEN`](crate::metrics::MAX_HELP_LEN) bytes; line breaks are escaped in
    /// the exposition.
    ///
    /// ```
    /// use tickwatch::metrics::Unit;
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// tw.describe("order_queue", "orders waiting for the risk check", Some(Unit::Count));
    /// tw.log_metric("order_queue", 12.0, &[]);
    /// tw.flush()?;
    /// let text = tw.render_prometheus();
    /// assert!(text.contains("# HELP order_queue orders waiting for the risk check\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self, name: &str, help: &str, unit: Option<Unit>) -> bool {
        self.aggregates.describe(name, help, unit)
    }

    /// A `tracing-subscriber` layer recording `tracing` events (and, opt-in, span
    /// durations) into this instance: `tracing_subscriber::registry().with(tw.tracing_layer())`.
    /// See [`TracingLayer`](crate::adapters::TracingLayer) for its filters and costs.
    #[cfg(feature = "tracing")]
    pub fn tracing_layer(&self) -> crate::adapters::TracingLayer {
        self.live.has_tracing_layer();
        crate::adapters::TracingLayer::new(self.shared.clone())
    }

    /// A `metrics::Recorder` recording `counter!`, `gauge!` and `histogram!` into this
    /// instance's series. See [`MetricsRecorder`](crate::adapters::MetricsRecorder).
    #[cfg(feature = "metrics")]
    pub fn metrics_recorder(&self) -> crate::adapters::MetricsRecorder {
        crate::adapters::MetricsRecorder::new(self.shared.clone(), self.aggregates.clone())
    }

    /// The instance's health registry: add your own components to it (checks or pushed
    /// statuses) next to tickwatch's (`tickwatch.collector`, `.rings`, `.sinks`, `.alerts`,
    /// `.resources`, `.budget`; see [`crate::health::component`]).
    ///
    /// ```
    /// use tickwatch::health::Status;
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// tw.health().register_check("exchange_link", || (Status::Healthy, "connected"))?;
    /// let h = tw.get_system_health();
    /// assert!(h.component("exchange_link").is_some());
    /// assert!(h.component("tickwatch.collector").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn health(&self) -> Health {
        self.monitor.health.clone()
    }

    /// The overall status (the worst component's) and every component with its status,
    /// message and last update. Runs the registered checks on the calling thread.
    pub fn get_system_health(&self) -> HealthStatus {
        self.monitor.health.get_system_health()
    }

    /// Raises an alert by hand: accepted (with an id; a firing notification goes to the alert
    /// routes at the collector's next tick, within
    /// [`monitor_tick`](crate::TelemetryBuilder::monitor_tick), or at shutdown), deduplicated
    /// (same name and labels already active: its count grows, nothing is notified), rate
    /// limited, or refused (see [`AlertResponse`]): an instance with no alert route refuses
    /// ([`Refusal::NoRoute`](crate::alerts::Refusal::NoRoute)) rather than accept an alert
    /// nobody would hear of. Never blocks on a sink.
    ///
    /// ```
    /// use tickwatch::alerts::{Alert, AlertResponse, Refusal, Severity, SeverityFilter};
    /// let a = Alert::new("feed_gap", Severity::Warning, "no XNAS quotes for 2 s").label("venue", "XNAS");
    /// let unrouted = tickwatch::Telemetry::builder().start()?;
    /// assert!(matches!(
    ///     unrouted.send_alert(a.clone()),
    ///     AlertResponse::Refused { reason: Refusal::NoRoute }
    /// ));
    /// let tw = tickwatch::Telemetry::builder().alert_log(SeverityFilter::all()).start()?;
    /// assert!(matches!(tw.send_alert(a.clone()), AlertResponse::Accepted { .. }));
    /// assert!(matches!(tw.send_alert(a), AlertResponse::Deduplicated { count: 2, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_alert(&self, alert: Alert) -> AlertResponse {
        if self.shared.is_stopping() {
            // Its collector (which delivers) is gone or going: refuse rather than accept
            // an alert nobody will ever notify.
            return AlertResponse::Refused {
                reason: crate::alerts::Refusal::Stopped,
            };
        }
        if !self
            .monitor
            .routed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return AlertResponse::Refused {
                reason: crate::alerts::Refusal::NoRoute,
            };
        }
        let r = self.monitor.alerts.send_alert(alert);
        if matches!(r, AlertResponse::Accepted { .. }) {
            self.shared.wake_collector();
        }
        r
    }

    /// Resolves an alert raised with [`Telemetry::send_alert`] (a resolve notification
    /// follows); `None` if no such alert is active.
    pub fn resolve_alert(&self, name: &str, labels: &[(&str, &str)]) -> Option<AlertId> {
        let r = self.monitor.alerts.resolve(name, labels);
        if r.is_some() {
            self.shared.wake_collector();
        }
        r
    }

    /// A test hook (not part of the API): the collector panics in each of its next `times`
    /// batches, after reading the batch and before handing it to the sinks, as a bug in it
    /// would. Its supervisor restarts it (see [`Stats::collector_restarts`](crate::Stats)).
    #[doc(hidden)]
    pub fn inject_collector_panic(&self, times: u32) {
        self.shared
            .progress
            .inject_panics
            .fetch_add(times, std::sync::atomic::Ordering::Relaxed);
        self.shared.wake_collector();
    }

    /// Every active alert: those raised by hand, then the rules' pending and firing
    /// instances (as of the collector's last tick).
    pub fn active_alerts(&self) -> Vec<ActiveAlert> {
        let mut all = self.monitor.alerts.active();
        all.extend(self.monitor.rule_alerts.load().iter().cloned());
        all
    }

    /// What [`Telemetry::send_alert`] has done so far.
    pub fn alert_stats(&self) -> AlertStats {
        self.monitor.alerts.stats()
    }

    /// The current [`snapshot`](Telemetry::snapshot) in the Prometheus text format 0.0.4
    /// (see [`crate::export`]).
    ///
    /// ```
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// tw.counter("orders", &[("venue", "XNAS")]).add(3);
    /// tw.flush()?;
    /// assert!(tw.render_prometheus().contains("orders_total{venue=\"XNAS\"} 3\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render_prometheus(&self) -> String {
        crate::export::render_prometheus_string(&self.snapshot())
    }

    /// Serves `GET /metrics` (Prometheus text), `GET /health` (JSON; 503 when unhealthy) and
    /// `GET /snapshot` (JSON) for this instance on `addr`, on a thread of its own. Dropping
    /// the returned server stops it. The server keeps the instance's state alive, not its
    /// collector: after shutdown it serves the last aggregates.
    #[cfg(feature = "http")]
    pub fn serve_metrics(
        &self,
        addr: impl std::net::ToSocketAddrs,
    ) -> Result<crate::export::MetricsServer, crate::export::ServeError> {
        use crate::export::{HealthReport, HealthState, MetricsEndpoint};
        use crate::health::Status;
        let (a, b, c) = (
            self.aggregates.clone(),
            self.aggregates.clone(),
            self.monitor.clone(),
        );
        MetricsEndpoint::new()
            .snapshot(move || a.snapshot())
            .metrics_text(move || crate::export::render_prometheus_string(&b.snapshot()))
            .health(move || {
                let h = c.health.get_system_health();
                HealthReport {
                    state: match h.status {
                        // Not measured yet is not a failure: 200, like degraded (the status
                        // sorts between healthy and degraded; the body says "unknown").
                        Status::Healthy => HealthState::Healthy,
                        Status::Unknown | Status::Degraded => HealthState::Degraded,
                        Status::Unhealthy => HealthState::Unhealthy,
                    },
                    json: serde_json::to_string(&h).unwrap_or_else(|e| {
                        format!("{{\"status\":\"unhealthy\",\"error\":\"{e}\"}}")
                    }),
                }
            })
            .serve(addr)
    }

    /// The address the configuration's `[prometheus]` endpoint listens on (its port, when
    /// `listen` asked for port 0), or `None` without one.
    #[cfg(feature = "http")]
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.as_ref().map(|(addr, _)| *addr)
    }

    /// Has an OTLP exporter export this instance's metrics (its [`snapshot`](Self::snapshot))
    /// every metrics interval and at each of its flushes, from the exporter's thread. The
    /// exporter keeps the instance's aggregates (not its collector) alive; give its
    /// [`log_sink`](crate::export::otlp::OtlpExporter::log_sink) to the builder for events.
    #[cfg(feature = "otlp")]
    pub fn export_metrics_to(&self, exporter: &crate::export::otlp::OtlpExporter) {
        let aggregates = self.aggregates.clone();
        exporter.metrics_source(move || aggregates.snapshot());
    }

    /// Every series as the collector has aggregated it: counters, gauges (`Metric` and
    /// `Resource` series) and latency percentiles, since start and over the last completed
    /// [`aggregation_interval`](crate::TelemetryBuilder::aggregation_interval). Callable
    /// from any thread, also after shutdown.
    ///
    /// It reflects every record accepted before a [`flush`](crate::Telemetry::flush) that
    /// returned before this call (records accepted since may or may not be in). A series appears once one of
    /// its samples has been aggregated. Series refused by the `max_series` cap are counted in
    /// [`Snapshot::refused_series`]; their samples are in the kind's overflow series
    /// ([`SeriesKind::overflow_name`](crate::metrics::SeriesKind::overflow_name): `tickwatch_overflow_metric`, `_counter`, `_latency`,
    /// `_resource`).
    ///
    /// Cost: the collector's aggregates are locked while values are copied out (percentiles
    /// are cached and recomputed only for series with new samples); names and tags are cloned
    /// after the lock is released. A few milliseconds for 10,000 series (see
    /// `benches/monitoring.rs`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tickwatch::metrics::SeriesValue;
    /// let tw = tickwatch::Telemetry::builder().start()?;
    /// let rt = tw.latency("order_roundtrip");
    /// for us in 1..=100 {
    ///     rt.record(Duration::from_micros(us));
    /// }
    /// tw.counter("orders_sent", &[("venue", "XNAS")]).add(3);
    /// tw.flush()?;
    /// let snap = tw.snapshot();
    /// let Some(SeriesValue::Latency(l)) = snap.find("order_roundtrip", &[]).map(|s| &s.value)
    /// else { panic!("missing") };
    /// assert_eq!(l.total.count, 100);
    /// // 50 µs within the histogram's precision (3 significant digits).
    /// assert!(l.total.p50.abs_diff(50_000) <= 50);
    /// let Some(SeriesValue::Counter(c)) =
    ///     snap.find("orders_sent", &[("venue", "XNAS")]).map(|s| &s.value)
    /// else { panic!("missing") };
    /// assert_eq!(c.total, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        self.aggregates.snapshot()
    }
}
