//! Alerts: sent by hand ([`Alerts::send_alert`]) or raised by rules over a
//! [`Snapshot`](crate::metrics::Snapshot) ([`RuleEngine`]), delivered to sinks routed by
//! severity ([`AlertRouter`]).
//!
//! Every part is pure and clock-injectable: nothing here starts a thread or reads the time
//! except [`SystemClock`] and, behind the `alertmanager` feature, the Alertmanager sink's own
//! sender thread.
//!
//! ```text
//! any thread                      collector tick (every interval)          sinks
//! Alerts::send_alert  --outbox-->  Alerts::drain_notifications \
//!                                  RuleEngine::evaluate(snapshot) >  AlertRouter  -> LogSink
//!                                                                                -> CallbackSink
//!                                                                                -> AlertmanagerSink
//!                                                                                   (own thread)
//! ```
//!
//! * [`Alerts`] deduplicates (same name and labels while active: the count grows, no new
//!   notification), rate-limits with token buckets ([`RateLimit`]), caps the number of active
//!   alerts, and queues one [`Notification`] per transition in a bounded outbox that the tick
//!   drains: no sink code, and no I/O, runs on the caller's thread.
//! * [`RuleEngine`] follows Prometheus' alerting rules: inactive -> pending (condition true)
//!   -> firing (true for `for`) -> resolved (false again); a pending alert whose condition
//!   goes false returns to inactive silently. One notification per transition.
//! * [`AlertPipeline`] bundles the three for the collector: `tick(&snapshot, now)`.

mod alert;
#[cfg(feature = "alertmanager")]
mod alertmanager;
mod engine;
mod manager;
mod pipeline;
mod rate_limit;
mod rule_file;
mod rules;
mod sink;

pub use crate::time::{ManualClock, SystemClock, WallClock};
pub use alert::{
    ActiveAlert, Alert, AlertResponse, AlertState, Refusal, MAX_LABELS, MAX_MESSAGE_LEN,
};
#[cfg(feature = "alertmanager")]
pub use alertmanager::{
    AlertmanagerConfig, AlertmanagerError, AlertmanagerSink, AlertmanagerStats,
    AlertmanagerStatsHandle,
};
pub use engine::{EngineStats, RuleEngine, DEFAULT_MAX_INSTANCES};
pub use manager::{AlertStats, Alerts, AlertsConfig};
pub use pipeline::AlertPipeline;
pub use rate_limit::RateLimit;
pub(crate) use rule_file::rules_of;
pub use rule_file::{load_rules_json, load_rules_toml, parse_duration, LoadRulesError, RuleSpec};
pub use rules::{
    Expr, GaugeStat, Horizon, LatencyStat, Op, Rule, RuleError, RuleProblem, Selector,
};
pub use sink::{
    AlertRouter, AlertSink, AlertSinkError, CallbackSink, LogSink, RouteStats, SeverityFilter,
    LOG_TARGET,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Timestamp;

/// The alert tickwatch raises (`Critical`) when its collector panicked outside a sink and was
/// restarted; the message carries the panic's text and the restart count.
pub const COLLECTOR_RESTARTED: &str = "tickwatch_collector_restarted";

/// The alert tickwatch raises (`Warning`, label `sink`: the sink's health component name) while
/// a sink reports a degraded condition through `Sink::take_notice` (a
/// [`Failover`](crate::sink::Failover) on its secondary); resolved when it reports recovery.
pub const SINK_CONDITION: &str = "tickwatch_sink_condition";

/// The alert tickwatch raises (`Warning`) when a configuration reload is refused (the message
/// says why; the previous configuration keeps running); resolved by the next reload that
/// applies.
pub const CONFIG_RELOAD_FAILED: &str = "tickwatch_config_reload_failed";

/// How urgent an alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nobody needs to act.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The lower-case name used in labels and JSON (`"critical"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one alert instance from the moment it starts until it resolves; unique within
/// the process (manual alerts and rule instances draw from one counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub u64);

impl AlertId {
    /// A fresh, process-unique id.
    pub(crate) fn next() -> AlertId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        AlertId(NEXT.fetch_add(1, Relaxed))
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which transition a [`Notification`] reports (ordered: `Firing < Resolved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The alert started firing.
    Firing,
    /// The alert stopped firing (condition false, resolved by hand, or timed out).
    Resolved,
}

impl Transition {
    /// `"firing"` or `"resolved"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
        }
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// [`Alerts::send_alert`].
    Manual,
    /// A [`Rule`] evaluated by a [`RuleEngine`].
    Rule,
}

/// One transition of one alert instance, as handed to every [`AlertSink`] whose route takes
/// its severity. Exactly one `Firing` and, later, at most one `Resolved` per instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The instance (same id on its firing and its resolved notification).
    pub id: AlertId,
    /// The alert or rule name (Alertmanager's `alertname`).
    pub name: String,
    /// Its severity (a resolve carries the severity it fired with).
    pub severity: Severity,
    /// Firing or resolved.
    pub transition: Transition,
    /// What happened, for people (Alertmanager's `summary` annotation).
    pub message: String,
    /// Identifying labels, sorted by key: for a rule, the series' tags overlaid with the
    /// rule's labels; for a manual alert, the alert's labels.
    #[serde(with = "crate::schema::tags")]
    pub labels: Vec<(String, String)>,
    /// Extra descriptive key/values (a rule's `annotations`), sorted by key.
    #[serde(with = "crate::schema::tags")]
    pub annotations: Vec<(String, String)>,
    /// When it started firing.
    pub starts_at: Timestamp,
    /// When it resolved (`Some` exactly for `Resolved`).
    pub ends_at: Option<Timestamp>,
    /// For a rule: the value that made the condition true (at firing), and at resolve the
    /// last value that held it (as Prometheus keeps it); `None` for manual alerts and
    /// absence rules. Latency rules report nanoseconds.
    pub value: Option<f64>,
    /// Manual or rule.
    pub source: AlertSource,
}
