//! Alerting rules: what they watch ([`Expr`] over series picked by a [`Selector`]), for how
//! long ([`Rule::for_`]), and how they are written in TOML or JSON
//! ([`load_rules_toml`](super::load_rules_toml)).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use super::alert::MAX_LABELS;
use super::Severity;
use crate::series::MAX_NAME_LEN;

/// Series picked by name and exact tag matchers: a series matches when it has this name and
/// every listed tag with exactly this value (it may carry other tags too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The series name.
    pub name: String,
    /// Tags the series must have, with these values.
    #[serde(with = "crate::schema::tags")]
    pub tags: Vec<(String, String)>,
}

impl Selector {
    /// Every series called `name`.
    pub fn new(name: impl Into<String>) -> Selector {
        Selector {
            name: name.into(),
            tags: Vec::new(),
        }
    }

    /// Also requires the tag `key = value`.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Selector {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Whether a series with these tags matches (the name is checked by the caller).
    pub(crate) fn matches(&self, tags: &[(String, String)]) -> bool {
        self.tags
            .iter()
            .all(|(k, v)| tags.iter().any(|(sk, sv)| sk == k && sv == v))
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// `value op bound`; false when either is NaN.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Gt => value > bound,
            Op::Ge => value >= bound,
            Op::Lt => value < bound,
            Op::Le => value <= bound,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Op> {
        Some(match s {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            _ => return None,
        })
    }
}

/// Which statistic of a gauge a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GaugeStat {
    /// The most recent sample since start.
    Last,
    /// The smallest sample of the last completed window.
    Min,
    /// The largest sample of the last completed window.
    Max,
    /// The mean of the last completed window.
    Mean,
}

/// Which statistic of a latency histogram a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyStat {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest sample.
    Max,
}

/// Which span of a latency series a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Horizon {
    /// The last completed aggregation interval (no sample in it: no data, condition false).
    Window,
    /// Since the instance started.
    Total,
}

/// A rule's condition, evaluated for each matching series (one alert instance per series)
/// except `Absent`, which has a single instance per rule.
///
/// A series with no data for the condition (a gauge or latency window with no sample, a
/// counter before the first rollover, a NaN value) counts as false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    /// A gauge statistic compared with `bound`.
    Gauge {
        /// Which series.
        selector: Selector,
        /// Which statistic.
        stat: GaugeStat,
        /// How to compare.
        op: Op,
        /// With what.
        bound: f64,
    },
    /// A counter's increase per second over the last completed window, compared with `bound`.
    CounterRate {
        /// Which series.
        selector: Selector,
        /// How to compare.
        op: Op,
        /// Per second.
        bound: f64,
    },
    /// A latency percentile above `above`.
    Latency {
        /// Which series.
        selector: Selector,
        /// Which percentile.
        stat: LatencyStat,
        /// Over which span.
        horizon: Horizon,
        /// The bound.
        above: Duration,
    },
    /// True when no series matches, or (once the first window has completed) none of the
    /// matching series had a sample in the last window.
    Absent {
        /// Which series.
        selector: Selector,
    },
}

impl Expr {
    /// The series this condition reads.
    pub fn selector(&self) -> &Selector {
        match self {
            Expr::Gauge { selector, .. }
            | Expr::CounterRate { selector, .. }
            | Expr::Latency { selector, .. }
            | Expr::Absent { selector } => selector,
        }
    }
}

/// An alerting rule.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::alerts::{Expr, GaugeStat, Op, Rule, Selector, Severity};
/// let rule = Rule::new(
///     "spread_wide",
///     Expr::Gauge {
///         selector: Selector::new("spread").tag("venue", "XNAS"),
///         stat: GaugeStat::Max,
///         op: Op::Gt,
///         bound: 0.05,
///     },
/// )
/// .for_(Duration::from_secs(30))
/// .severity(Severity::Critical)
/// .label("team", "risk")
/// .message("spread above 5 bp");
/// assert!(rule.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The alert name of every instance.
    pub name: String,
    /// The condition.
    pub expr: Expr,
    /// How long the condition must hold before firing (0: fire on the first true tick).
    pub for_: Duration,
    /// Severity of its alerts.
    pub severity: Severity,
    /// Labels added to every instance (over the series' tags of the same key), sorted.
    #[serde(with = "crate::schema::tags")]
    pub labels: Vec<(String, String)>,
    /// For people: the notification's message (Alertmanager's `summary`).
    pub message: String,
    /// Extra key/values (a runbook link, a description), sorted.
    #[serde(with = "crate::schema::tags")]
    pub annotations: Vec<(String, String)>,
}

impl Rule {
    /// A rule with severity `Warning`, no `for`, no labels, and its name as message.
    pub fn new(name: impl Into<String>, expr: Expr) -> Rule {
        let name = name.into();
        Rule {
            message: name.clone(),
            name,
            expr,
            for_: Duration::ZERO,
            severity: Severity::Warning,
            labels: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// Sets `for`.
    #[must_use]
    pub fn for_(mut self, d: Duration) -> Rule {
        self.for_ = d;
        self
    }

    /// Sets the severity.
    #[must_use]
    pub fn severity(mut self, s: Severity) -> Rule {
        self.severity = s;
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Rule {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// Sets the message.
    #[must_use]
    pub fn message(mut self, m: impl Into<String>) -> Rule {
        self.message = m.into();
        self
    }

    /// Adds an annotation.
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Rule {
        self.annotations.push((key.into(), value.into()));
        self
    }

    /// Checks names, label limits and bounds; the engine calls it on every rule.
    pub fn validate(&self) -> Result<(), RuleProblem> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(RuleProblem::BadName);
        }
        let sel = self.expr.selector();
        if sel.name.is_empty() || sel.name.len() > MAX_NAME_LEN {
            return Err(RuleProblem::BadSeries);
        }
        for (k, v) in self.labels.iter().chain(&self.annotations).chain(&sel.tags) {
            if k.is_empty() || k.len() > MAX_NAME_LEN || v.len() > MAX_NAME_LEN * 16 {
                return Err(RuleProblem::BadLabel { key: k.clone() });
            }
        }
        if self.labels.len() + sel.tags.len() > MAX_LABELS {
            return Err(RuleProblem::TooManyLabels);
        }
        match &self.expr {
            Expr::Gauge { bound, .. } | Expr::CounterRate { bound, .. } if !bound.is_finite() => {
                Err(RuleProblem::NonFiniteBound)
            }
            _ => Ok(()),
        }
    }

    /// Labels and annotations sorted, repeated keys keeping their last value.
    pub(crate) fn normalize(&mut self) {
        for list in [&mut self.labels, &mut self.annotations] {
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
        }
    }
}

/// What is wrong with one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleProblem {
    /// The rule name is empty or longer than 256 bytes.
    BadName,
    /// The series name is empty or longer than 256 bytes.
    BadSeries,
    /// A label, annotation or tag key is empty or too long (keys 256 bytes, values 4 KiB).
    BadLabel {
        /// The key.
        key: String,
    },
    /// Selector tags plus labels exceed 32.
    TooManyLabels,
    /// `bound` is NaN or infinite.
    NonFiniteBound,
    /// `kind` is not one of `gauge`, `counter_rate`, `latency`, `absent`.
    UnknownKind {
        /// As written.
        got: String,
    },
    /// A field this kind needs is missing.
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field was given that this kind does not use.
    NotAllowed {
        /// The field.
        field: &'static str,
    },
    /// A field's value is not one of the accepted ones.
    BadValue {
        /// The field.
        field: &'static str,
        /// As written.
        got: String,
        /// What is accepted.
        expected: &'static str,
    },
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleProblem::BadName => f.write_str("`name` must be 1 to 256 bytes"),
            RuleProblem::BadSeries => f.write_str("`series` must be 1 to 256 bytes"),
            RuleProblem::BadLabel { key } => write!(
                f,
                "key `{key}`: keys must be 1 to 256 bytes, values at most 4096 bytes"
            ),
            RuleProblem::TooManyLabels => {
                f.write_str("`tags` and `labels` together must hold at most 32 entries")
            }
            RuleProblem::NonFiniteBound => f.write_str("`bound` must be a finite number"),
            RuleProblem::UnknownKind { got } => write!(
                f,
                "`kind` = \"{got}\": use gauge, counter_rate, latency or absent"
            ),
            RuleProblem::Missing { field } => write!(f, "`{field}` is required for this kind"),
            RuleProblem::NotAllowed { field } => {
                write!(f, "`{field}` does not apply to this kind: remove it")
            }
            RuleProblem::BadValue {
                field,
                got,
                expected,
            } => write!(f, "`{field}` = \"{got}\": expected {expected}"),
        }
    }
}

/// A rule that failed validation: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleError {
    /// Position in the file or list (0-based).
    pub index: usize,
    /// Its name (empty if it has none).
    pub rule: String,
    /// What is wrong.
    pub problem: RuleProblem,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule `{}` (rules[{}]): {}",
            self.rule, self.index, self.problem
        )
    }
}

impl std::error::Error for RuleError {}

/// Series tags overlaid with a rule's labels (the rule wins on a shared key), sorted.
pub(crate) fn instance_labels(
    tags: &[(String, String)],
    rule_labels: &[(String, String)],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = tags
        .iter()
        .filter(|(k, _)| !rule_labels.iter().any(|(rk, _)| rk == k))
        .cloned()
        .chain(rule_labels.iter().cloned())
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}
