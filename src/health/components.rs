//! Built-in health evaluators for tickwatch's own components: pure functions of numbers the
//! collector has at hand on its periodic tick, each returning a [`ComponentCheck`] to push
//! through a [`HealthHandle`](super::HealthHandle).
//!
//! None of them reads a clock or shared state: the collector gathers the inputs (counter
//! deltas, the drain lag, a [`ResourceSample`]), evaluates, and pushes. A stalled collector
//! therefore cannot evaluate anything; it shows through the staleness of its own pushed
//! status instead ([`CollectorPolicy::staleness`]).
//!
//! Until its first evaluation a component reads [`Status::Unknown`] (it is registered as a
//! pushed status, which starts so), and an evaluator with nothing to judge (a budget without
//! rates yet) answers `Unknown` too: no measurement is never reported as healthy.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

use super::{ComponentCheck, Staleness, Status};
use crate::resources::ResourceSample;

/// What the collector knows about its own progress on a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectorInput {
    /// How far behind the producers the collector is: the age of the oldest record still in
    /// a ring, or, if that is not known, the time since the last pass that found every ring
    /// empty (an upper bound). Zero when every ring was empty on the last pass.
    pub lag: Duration,
    /// Times the collector was restarted after a panic, since start.
    pub restarts: u64,
    /// How long ago the last restart was seen (`None`: never restarted).
    pub since_restart: Option<Duration>,
}

/// Thresholds for the collector component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorPolicy {
    /// The collector's pushed status goes `Unhealthy` when not refreshed for this long: it
    /// has stopped ticking (stuck in a sink, dead, or starved of CPU). Must exceed the tick
    /// interval by a comfortable margin. Default 5 s.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// A lag at or above this is `Degraded`. Default 100 ms (the collector's idle sleep is at
    /// most `max_idle_interval`, 16 ms by default).
    #[serde(with = "humantime_serde")]
    pub lag_degraded: Duration,
    /// A lag at or above this is `Unhealthy`. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub lag_unhealthy: Duration,
    /// After a restart (the collector panicked outside a sink), the collector reads
    /// `Degraded` for this long, so that a health poll every few seconds sees it. Default
    /// 60 s.
    #[serde(with = "humantime_serde")]
    pub restart_degraded_for: Duration,
}

impl Default for CollectorPolicy {
    fn default() -> Self {
        CollectorPolicy {
            stale_after: Duration::from_secs(5),
            lag_degraded: Duration::from_millis(100),
            lag_unhealthy: Duration::from_secs(1),
            restart_degraded_for: Duration::from_secs(60),
        }
    }
}

impl CollectorPolicy {
    /// The staleness to register the collector's pushed status with.
    pub fn staleness(&self) -> Staleness {
        Staleness::unhealthy_after(self.stale_after)
    }

    /// The collector's status from its lag and its restarts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tickwatch::health::{CollectorInput, CollectorPolicy, Status};
    /// let p = CollectorPolicy::default();
    /// let lagging = CollectorInput { lag: Duration::from_millis(300), ..Default::default() };
    /// assert_eq!(p.evaluate(&lagging).status, Status::Degraded);
    /// let restarted = CollectorInput {
    ///     restarts: 1,
    ///     since_restart: Some(Duration::from_secs(2)),
    ///     ..Default::default()
    /// };
    /// assert_eq!(p.evaluate(&restarted).status, Status::Degraded);
    /// ```
    pub fn evaluate(&self, input: &CollectorInput) -> ComponentCheck {
        let lag_ms = input.lag.as_secs_f64() * 1e3;
        let status = if input.lag >= self.lag_unhealthy {
            Status::Unhealthy
        } else if input.lag >= self.lag_degraded {
            Status::Degraded
        } else if let Some(ago) = input
            .since_restart
            .filter(|ago| *ago < self.restart_degraded_for)
        {
            return ComponentCheck::new(
                Status::Degraded,
                format!(
                    "ticking; lag {lag_ms:.1} ms; restarted {:.1} s ago after a panic ({} restarts since start; degraded for {:.0} s after each)",
                    ago.as_secs_f64(),
                    input.restarts,
                    self.restart_degraded_for.as_secs_f64()
                ),
            );
        } else {
            return ComponentCheck::healthy(format!("ticking; lag {lag_ms:.1} ms"));
        };
        ComponentCheck::new(
            status,
            format!(
                "collector lags {lag_ms:.1} ms behind the producers (degraded at {:.1} ms, unhealthy at {:.1} ms): a slow sink or too little CPU for the collector thread",
                self.lag_degraded.as_secs_f64() * 1e3,
                self.lag_unhealthy.as_secs_f64() * 1e3
            ),
        )
    }
}

/// The rings over the last tick interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingInput {
    /// Records dropped since the previous tick (the delta of `Stats::dropped`).
    pub dropped: u64,
}

/// Thresholds for the rings component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingPolicy {
    /// Drops in one interval at or above this are `Degraded`. Default 1: any drop.
    pub degraded_drops: u64,
    /// Drops in one interval at or above this are `Unhealthy`. Default `None`: drops alone
    /// never make the rings unhealthy (they are counted and reported, nothing else breaks).
    pub unhealthy_drops: Option<u64>,
}

impl Default for RingPolicy {
    fn default() -> Self {
        RingPolicy {
            degraded_drops: 1,
            unhealthy_drops: None,
        }
    }
}

impl RingPolicy {
    /// The rings' status from the drops of the last interval.
    pub fn evaluate(&self, input: &RingInput) -> ComponentCheck {
        let d = input.dropped;
        let status = if self.unhealthy_drops.is_some_and(|u| d >= u) {
            Status::Unhealthy
        } else if d >= self.degraded_drops.max(1) {
            Status::Degraded
        } else {
            return ComponentCheck::healthy("no drops in the last interval");
        };
        ComponentCheck::new(
            status,
            format!("{d} records dropped in the last interval: rings full; raise ring_capacity or use Backpressure::Block"),
        )
    }
}

/// Thresholds for one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkPolicy {
    /// Errors in one interval at or above this are `Degraded`. Default 1: any error.
    pub degraded_errors: u64,
    /// Errors in one interval at or above this are `Unhealthy`. Default `None`.
    pub unhealthy_errors: Option<u64>,
    /// This many consecutive intervals with errors are `Unhealthy`: the sink is failing,
    /// not hiccuping. Default 3; 0 disables.
    pub unhealthy_after_intervals: u32,
}

impl Default for SinkPolicy {
    fn default() -> Self {
        SinkPolicy {
            degraded_errors: 1,
            unhealthy_errors: None,
            unhealthy_after_intervals: 3,
        }
    }
}

/// One sink's health: remembers how many intervals in a row it has failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkHealth {
    /// The thresholds.
    pub policy: SinkPolicy,
    failing_intervals: u32,
}

impl SinkHealth {
    /// A sink evaluator with `policy`.
    pub fn new(policy: SinkPolicy) -> Self {
        SinkHealth {
            policy,
            failing_intervals: 0,
        }
    }

    /// Consecutive intervals with errors so far.
    pub fn failing_intervals(&self) -> u32 {
        self.failing_intervals
    }

    /// The sink's status from its errors in the last interval (the delta of its error
    /// count, or of `Stats::sink_errors` when there is one sink).
    ///
    /// ```
    /// use tickwatch::health::{SinkHealth, Status};
    /// let mut s = SinkHealth::default();
    /// assert_eq!(s.observe(0).status, Status::Healthy);
    /// assert_eq!(s.observe(2).status, Status::Degraded);
    /// ```
    pub fn observe(&mut self, errors: u64) -> ComponentCheck {
        let p = &self.policy;
        if errors < p.degraded_errors.max(1) {
            self.failing_intervals = 0;
            return ComponentCheck::healthy("no errors in the last interval");
        }
        self.failing_intervals = self.failing_intervals.saturating_add(1);
        let persistent = p.unhealthy_after_intervals > 0
            && self.failing_intervals >= p.unhealthy_after_intervals;
        let status = if persistent || p.unhealthy_errors.is_some_and(|u| errors >= u) {
            Status::Unhealthy
        } else {
            Status::Degraded
        };
        ComponentCheck::new(
            status,
            format!(
                "{errors} write/flush errors in the last interval ({} interval(s) in a row): check the sink's destination (disk, network, permissions)",
                self.failing_intervals
            ),
        )
    }
}

/// A degraded and an unhealthy bound on one number; a value at or above a bound reaches
/// that status. `None` disables a bound.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bound {
    /// At or above: `Degraded`.
    pub degraded: Option<f64>,
    /// At or above: `Unhealthy`.
    pub unhealthy: Option<f64>,
}

impl Bound {
    /// Both bounds set.
    pub fn new(degraded: f64, unhealthy: f64) -> Self {
        Bound {
            degraded: Some(degraded),
            unhealthy: Some(unhealthy),
        }
    }

    /// The status of `value` (NaN is `Healthy`: no evidence).
    pub fn classify(&self, value: f64) -> Status {
        if self.unhealthy.is_some_and(|u| value >= u) {
            Status::Unhealthy
        } else if self.degraded.is_some_and(|d| value >= d) {
            Status::Degraded
        } else {
            Status::Healthy
        }
    }
}

/// Bounds on the process's resources, evaluated on each [`ResourceSample`]. Every bound is
/// off by default: sensible limits depend on the machine and the engine.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceThresholds {
    /// Process CPU as a fraction of one core (1.0 = one core busy).
    pub cpu_ratio: Bound,
    /// Resident memory in bytes.
    pub resident_bytes: Bound,
    /// Open file descriptors.
    pub open_fds: Bound,
    /// Threads.
    pub threads: Bound,
}

impl ResourceThresholds {
    /// The worst status over every bound, naming each one crossed.
    pub fn evaluate(&self, s: &ResourceSample) -> ComponentCheck {
        let checks = [
            ("cpu_ratio", s.process_cpu_ratio, self.cpu_ratio),
            (
                "resident_bytes",
                Some(s.resident_bytes as f64),
                self.resident_bytes,
            ),
            ("open_fds", Some(s.open_fds as f64), self.open_fds),
            ("threads", Some(s.threads as f64), self.threads),
        ];
        worst_of(checks.iter().filter_map(|&(name, v, bound)| {
            let v = v?;
            Some((name, v, bound.classify(v)))
        }))
    }
}

/// tickwatch's own cost budgets (the seed's: monitoring <= 5 %, logging <= 2 %), both as
/// fractions of one core over the sampling interval, judged on every resource sample.
///
/// * **monitoring** is the collector's own work: its thread's measured CPU minus the time
///   it spent inside the sinks ([`ResourceSample::collector_own_cpu_ratio`]): draining,
///   decoding, aggregation, collector tasks, idling.
/// * **logging** is the collector's CPU spent inside the sinks, formatting and writing
///   ([`ResourceSample::sink_cpu_ratio`]): measured on the collector thread's CPU clock
///   where there is one (Linux), else the thread's CPU apportioned by the sinks' share of
///   its awake time (see [`crate::resources::ResourceSampler`]); either way time the thread
///   spent preempted, or a sink spent blocked on I/O, is not charged as CPU.
/// * **hot path** (informational, not judged): what the trading threads pay to record, the
///   records per second times `hot_path_ns_per_record` (measured by `benches/hot_path`:
///   12-37 ns depending on the call). It is shown in the message but never degrades the
///   component: it is an estimate from a constant, not a measurement (measuring it would
///   cost a clock read per call), and it is paid for every record, metrics and latencies as
///   much as log events, so it belongs to neither budget above.
///
/// Over budget is `Degraded`, never `Unhealthy`: the pipeline works, it costs too much. A
/// budget without a measurement (no rates yet, or no per-thread CPU time in procfs) is
/// `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostBudget {
    /// Largest acceptable collector own CPU (its thread's CPU less the sinks' share),
    /// fraction of one core. Default 0.05.
    pub monitoring_cpu_ratio: f64,
    /// Largest acceptable CPU inside the sinks, fraction of one core. Default 0.02.
    pub logging_cpu_ratio: f64,
    /// Hot-path cost of one record in nanoseconds, for the informational estimate. Default
    /// 20.
    pub hot_path_ns_per_record: f64,
}

impl Default for CostBudget {
    fn default() -> Self {
        CostBudget {
            monitoring_cpu_ratio: 0.05,
            logging_cpu_ratio: 0.02,
            hot_path_ns_per_record: 20.0,
        }
    }
}

impl CostBudget {
    /// Estimated hot-path CPU over the sample's interval, fraction of one core; `None` on a
    /// first sample (no rate yet). Informational: not part of the verdict.
    pub fn estimated_hot_path_cpu_ratio(&self, s: &ResourceSample) -> Option<f64> {
        s.records_per_second
            .map(|r| r * self.hot_path_ns_per_record / 1e9)
    }

    /// `Degraded` when the monitoring or the logging budget is exceeded, `Unknown` when
    /// either has no measurement, else `Healthy`. The message names each number, its
    /// budget and its cost per record, e.g. `monitoring 0.0210 of 0.05 (collector CPU
    /// 0.1500 less the sinks' share; 155 ns/record), logging 0.1290 of 0.02 (degraded; CPU in
    /// sinks; 955 ns/record), hot path ~0.0027 (estimate at 20 ns/record; not judged)`.
    ///
    /// ```
    /// use tickwatch::health::{CostBudget, Status};
    /// use tickwatch::resources::ResourceSample;
    /// let busy_sink = ResourceSample {
    ///     collector_cpu_ratio: Some(0.30),
    ///     sink_cpu_ratio: Some(0.28),
    ///     collector_own_cpu_ratio: Some(0.02),
    ///     ..ResourceSample::default()
    /// };
    /// let c = CostBudget::default().evaluate(&busy_sink);
    /// assert_eq!(c.status, Status::Degraded);
    /// assert!(c.message.contains("logging 0.2800 of 0.02 (degraded"), "{}", c.message);
    /// assert!(c.message.contains("monitoring 0.0200 of 0.05 ("), "{}", c.message);
    /// ```
    pub fn evaluate(&self, s: &ResourceSample) -> ComponentCheck {
        let per_record = |ratio: f64| {
            s.records_per_second
                .filter(|&r| r > 0.0)
                .map(|r| format!("{:.0} ns/record", ratio * 1e9 / r))
        };
        let judge = |name: &str, value: Option<f64>, max: f64, what: String| match value {
            None => (
                Status::Unknown,
                format!("{name} unknown (no measurement yet; budget {max})"),
            ),
            Some(v) => {
                let status = if v > max {
                    Status::Degraded
                } else {
                    Status::Healthy
                };
                let mut notes = Vec::new();
                if status != Status::Healthy {
                    notes.push(status.to_string());
                }
                notes.push(what);
                notes.extend(per_record(v));
                (
                    status,
                    format!("{name} {v:.4} of {max} ({})", notes.join("; ")),
                )
            }
        };
        let cpu = s
            .collector_cpu_ratio
            .map_or(String::new(), |c| format!(" {c:.4}"));
        let (m_status, m_msg) = judge(
            "monitoring",
            s.collector_own_cpu_ratio,
            self.monitoring_cpu_ratio,
            format!("collector CPU{cpu} less the sinks' share"),
        );
        let (l_status, l_msg) = judge(
            "logging",
            s.sink_cpu_ratio,
            self.logging_cpu_ratio,
            "CPU in sinks".to_string(),
        );
        let mut message = format!("{m_msg}, {l_msg}");
        if let Some(h) = self.estimated_hot_path_cpu_ratio(s) {
            let _ = write!(
                message,
                ", hot path ~{h:.4} (estimate at {} ns/record; not judged)",
                self.hot_path_ns_per_record
            );
        }
        ComponentCheck::new(m_status.worst(l_status), message)
    }
}

/// The worst of `(name, value, status)` triples, with a message naming every value and
/// marking those not healthy.
fn worst_of<'a>(parts: impl Iterator<Item = (&'a str, f64, Status)>) -> ComponentCheck {
    let mut status = Status::Healthy;
    let mut message = String::new();
    for (name, value, st) in parts {
        status = status.worst(st);
        if !message.is_empty() {
            message.push_str(", ");
        }
        if value.fract() == 0.0 {
            let _ = write!(message, "{name} {value:.0}");
        } else {
            let _ = write!(message, "{name} {value:.4}");
        }
        if st != Status::Healthy {
            let _ = write!(message, " ({st})");
        }
    }
    if message.is_empty() {
        // Nothing to judge is not a clean bill of health.
        return ComponentCheck::new(Status::Unknown, "no measurement yet");
    }
    ComponentCheck::new(status, message)
}
