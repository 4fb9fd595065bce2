//! Rule files: TOML and JSON documents of rules ([`load_rules_toml`], [`load_rules_json`]),
//! validated so that every error names the rule at fault.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::rules::{
    Expr, GaugeStat, Horizon, LatencyStat, Op, Rule, RuleError, RuleProblem, Selector,
};
use super::Severity;

/// Why a rule file could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
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

/// One alert rule as written in a rule file or a configuration's `[[rules]]` table (the
/// format of [`load_rules_toml`]): enumerations stay strings so that a bad value is reported
/// with the rule's name rather than only a line number. [`RuleSpec::rule`] checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    name: String,
    kind: String,
    series: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    over: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    above: Option<String>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl RuleSpec {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked rule.
    pub fn rule(&self) -> Result<Rule, RuleProblem> {
        self.clone().into_rule()
    }
}

/// Every spec checked, in order; the error names the first bad one and its position.
pub(crate) fn rules_of(specs: &[RuleSpec]) -> Result<Vec<Rule>, RuleError> {
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            spec.rule().map_err(|problem| RuleError {
                index,
                rule: spec.name.clone(),
                problem,
            })
        })
        .collect()
}

impl RuleFile {
    fn into_rules(self) -> Result<Vec<Rule>, RuleError> {
        rules_of(&self.rules)
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
