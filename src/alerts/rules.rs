//! Alerting rules: what they watch ([`Expr`] over series picked by a [`Selector`]), for how
//! long ([`Rule::for_`]), and how they are written in TOML or JSON ([`load_rules_toml`],
//! [`load_rules_json`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::alert::MAX_LABELS;
use super::Severity;
use crate::performance::MAX_NAME_LEN;

/// Series picked by name and exact tag matchers: a series matches when it has this name and
/// every listed tag with exactly this value (it may carry other tags too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The series name.
    pub name: String,
    /// Tags the series must have, with these values.
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

    fn parse(s: &str) -> Option<Op> {
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
    pub labels: Vec<(String, String)>,
    /// For people: the notification's message (Alertmanager's `summary`).
    pub message: String,
    /// Extra key/values (a runbook link, a description), sorted.
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

/// Why a rule file could not be loaded.
#[derive(Debug)]
pub enum LoadRulesError {
    /// Not a TOML rule document (syntax, unknown field, wrong type); the message gives the
    /// line and column.
    Toml(toml::de::Error),
    /// Not a JSON rule document; the message gives the line and column.
    Json(serde_json::Error),
    /// A rule is invalid; the error names it.
    Invalid(RuleError),
}

impl fmt::Display for LoadRulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadRulesError::Toml(e) => write!(f, "rules are not valid TOML: {e}"),
            LoadRulesError::Json(e) => write!(f, "rules are not valid JSON: {e}"),
            LoadRulesError::Invalid(e) => write!(f, "invalid rule: {e}"),
        }
    }
}

impl std::error::Error for LoadRulesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadRulesError::Toml(e) => Some(e),
            LoadRulesError::Json(e) => Some(e),
            LoadRulesError::Invalid(e) => Some(e),
        }
    }
}

/// Parses and validates a TOML rule file. The format, every field shown:
///
/// ```
/// let rules = tickwatch::alerts::load_rules_toml(r#"
/// [[rules]]
/// name = "spread_wide"        # the alert name
/// kind = "gauge"              # gauge | counter_rate | latency | absent
/// series = "spread"           # series name
/// tags = { venue = "XNAS" }   # exact tag matchers (series may carry more tags); optional
/// stat = "max"                # gauge: last (default) | min | max | mean (over the window)
/// op = ">"                    # gauge, counter_rate: > >= < <=
/// bound = 0.05                # gauge, counter_rate (a counter's rate is per second)
/// for = "30s"                 # how long the condition must hold; default 0 (fire at once)
/// severity = "warning"        # info | warning (default) | critical
/// message = "spread above 5 bp"
/// labels = { team = "risk" }
/// annotations = { runbook = "https://wiki/spread" }
///
/// [[rules]]
/// name = "order_slow"
/// kind = "latency"
/// series = "order_roundtrip"
/// stat = "p99"                # p50 | p90 | p99 | p999 | max
/// over = "window"             # window (default: the last completed interval) | total
/// above = "250us"             # ns, us, ms, s, m, h; decimals allowed
/// severity = "critical"
///
/// [[rules]]
/// name = "feed_silent"
/// kind = "absent"             # no matching series, or none with a sample in the window
/// series = "ticks"
/// for = "5s"
/// "#)?;
/// assert_eq!(rules.len(), 3);
/// # Ok::<(), tickwatch::alerts::LoadRulesError>(())
/// ```
///
/// Unknown fields are refused (with their line); a bad value is refused with the rule's
/// name and position ([`RuleError`]).
pub fn load_rules_toml(text: &str) -> Result<Vec<Rule>, LoadRulesError> {
    let file: RuleFile = toml::from_str(text).map_err(LoadRulesError::Toml)?;
    file.into_rules().map_err(LoadRulesError::Invalid)
}

/// Parses and validates a JSON rule file: `{"rules": [{"name": ..., "kind": ..., ...}]}`,
/// with the fields of the TOML format ([`load_rules_toml`]).
pub fn load_rules_json(text: &str) -> Result<Vec<Rule>, LoadRulesError> {
    let file: RuleFile = serde_json::from_str(text).map_err(LoadRulesError::Json)?;
    file.into_rules().map_err(LoadRulesError::Invalid)
}

/// `"250us"`, `"1.5s"`, `"5m"`, `"0"`: a non-negative decimal number and one unit of `ns`,
/// `us` (or `µs`), `ms`, `s`, `m`, `h`; `None` for anything else.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::alerts::parse_duration;
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
/// assert_eq!(parse_duration("5 parsecs"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if t == "0" {
        return Some(Duration::ZERO);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let secs_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(n * secs_per_unit).ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

/// One rule as written: enumerations stay strings so that a bad value is reported with the
/// rule's name rather than only a line number.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    kind: String,
    series: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    stat: Option<String>,
    op: Option<String>,
    bound: Option<f64>,
    over: Option<String>,
    above: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    severity: Option<String>,
    message: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl RuleFile {
    fn into_rules(self) -> Result<Vec<Rule>, RuleError> {
        self.rules
            .into_iter()
            .enumerate()
            .map(|(index, spec)| {
                let rule = spec.name.clone();
                spec.into_rule().map_err(|problem| RuleError {
                    index,
                    rule,
                    problem,
                })
            })
            .collect()
    }
}

fn bad(field: &'static str, got: &str, expected: &'static str) -> RuleProblem {
    RuleProblem::BadValue {
        field,
        got: got.to_owned(),
        expected,
    }
}

impl RuleSpec {
    fn into_rule(self) -> Result<Rule, RuleProblem> {
        let selector = Selector {
            name: self.series,
            tags: self.tags.into_iter().collect(),
        };
        let used = |field: &'static str, present: bool, allowed: bool| {
            if present && !allowed {
                Err(RuleProblem::NotAllowed { field })
            } else {
                Ok(())
            }
        };
        let op = |s: &Option<String>| -> Result<Op, RuleProblem> {
            let s = s.as_deref().ok_or(RuleProblem::Missing { field: "op" })?;
            Op::parse(s).ok_or_else(|| bad("op", s, "one of >, >=, <, <="))
        };
        let kind = self.kind.as_str();
        let (is_gauge, is_counter, is_latency) =
            (kind == "gauge", kind == "counter_rate", kind == "latency");
        if !(is_gauge || is_counter || is_latency || kind == "absent") {
            return Err(RuleProblem::UnknownKind {
                got: self.kind.clone(),
            });
        }
        used("stat", self.stat.is_some(), is_gauge || is_latency)?;
        used("op", self.op.is_some(), is_gauge || is_counter)?;
        used("bound", self.bound.is_some(), is_gauge || is_counter)?;
        used("over", self.over.is_some(), is_latency)?;
        used("above", self.above.is_some(), is_latency)?;
        let expr = match kind {
            "gauge" => Expr::Gauge {
                selector,
                stat: match self.stat.as_deref().unwrap_or("last") {
                    "last" => GaugeStat::Last,
                    "min" => GaugeStat::Min,
                    "max" => GaugeStat::Max,
                    "mean" => GaugeStat::Mean,
                    s => return Err(bad("stat", s, "last, min, max or mean")),
                },
                op: op(&self.op)?,
                bound: self.bound.ok_or(RuleProblem::Missing { field: "bound" })?,
            },
            "counter_rate" => Expr::CounterRate {
                selector,
                op: op(&self.op)?,
                bound: self.bound.ok_or(RuleProblem::Missing { field: "bound" })?,
            },
            "latency" => Expr::Latency {
                selector,
                stat: match self
                    .stat
                    .as_deref()
                    .ok_or(RuleProblem::Missing { field: "stat" })?
                {
                    "p50" => LatencyStat::P50,
                    "p90" => LatencyStat::P90,
                    "p99" => LatencyStat::P99,
                    "p999" => LatencyStat::P999,
                    "max" => LatencyStat::Max,
                    s => return Err(bad("stat", s, "p50, p90, p99, p999 or max")),
                },
                horizon: match self.over.as_deref().unwrap_or("window") {
                    "window" => Horizon::Window,
                    "total" => Horizon::Total,
                    s => return Err(bad("over", s, "window or total")),
                },
                above: {
                    let s = self
                        .above
                        .as_deref()
                        .ok_or(RuleProblem::Missing { field: "above" })?;
                    parse_duration(s)
                        .ok_or_else(|| bad("above", s, "a duration such as 250us or 1.5ms"))?
                },
            },
            _ => Expr::Absent { selector },
        };
        let for_ = match self.for_.as_deref() {
            None => Duration::ZERO,
            Some(s) => {
                parse_duration(s).ok_or_else(|| bad("for", s, "a duration such as 30s, 5m or 0"))?
            }
        };
        let severity = match self.severity.as_deref().unwrap_or("warning") {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            s => return Err(bad("severity", s, "info, warning or critical")),
        };
        let mut rule = Rule {
            message: self.message.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            expr,
            for_,
            severity,
            labels: self.labels.into_iter().collect(),
            annotations: self.annotations.into_iter().collect(),
        };
        rule.validate()?;
        rule.normalize();
        Ok(rule)
    }
}

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
