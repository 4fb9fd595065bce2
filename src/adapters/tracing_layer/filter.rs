//! The layer's level rules: one default, longest-target overrides, and which spans are timed.

use std::fmt;

use crate::logging::Level;

/// Level rules, decided once per call site.
#[derive(Debug, Clone)]
pub(super) struct Filters {
    /// The level for targets no rule names.
    pub(super) default: Level,
    /// `(target, level)`: the longest target that covers a call site's wins.
    targets: Vec<(String, Level)>,
    /// Span names or targets whose spans are timed.
    pub(super) span_latency: Vec<String>,
    /// Attach the current spans' fields to events.
    pub(super) span_fields: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            // Everything: the instance's own level still applies on top.
            default: Level::Trace,
            targets: Vec::new(),
            span_latency: Vec::new(),
            span_fields: false,
        }
    }
}

// The same target matching as the instance's per-target levels.
pub(super) use crate::pipeline::targets::covers;
use crate::pipeline::targets::{bad_target, rule_for};

impl Filters {
    pub(super) fn set_target(&mut self, target: String, level: Level) {
        match self.targets.iter_mut().find(|(t, _)| *t == target) {
            Some(rule) => rule.1 = level,
            None => self.targets.push((target, level)),
        }
    }

    /// The level rule that applies to `target`.
    pub(super) fn level_for(&self, target: &str) -> Level {
        rule_for(&self.targets, target).unwrap_or(self.default)
    }

    /// Whether an event or span at `level` in `target` passes the rules.
    pub(super) fn admits(&self, target: &str, level: Level) -> bool {
        level >= self.level_for(target)
    }

    /// The lowest level any rule admits: what `max_level_hint` reports.
    pub(super) fn lowest(&self) -> Level {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, Level::min)
    }

    /// Whether a span with this name and target is timed.
    pub(super) fn times_span(&self, name: &str, target: &str) -> bool {
        self.span_latency
            .iter()
            .any(|p| p == name || covers(p, target))
    }
}

/// A target given to [`TracingLayer::target`](super::TracingLayer::target) that cannot
/// name a module path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetFilterError {
    /// The target was empty: use [`TracingLayer::level`](super::TracingLayer::level) for
    /// the level of every target.
    Empty,
    /// The target holds whitespace, `"` or `=` (`"engine=warn"`): pass the target and the level
    /// separately, `.target("engine", Level::Warn)`.
    Invalid(String),
}

impl fmt::Display for TargetFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetFilterError::Empty => f.write_str(
                "empty target filter: use TracingLayer::level to set the level of every target",
            ),
            TargetFilterError::Invalid(t) => write!(
                f,
                "target filter {t:?} is not a module path: pass the target and the level separately, .target(\"engine\", Level::Warn)"
            ),
        }
    }
}

impl std::error::Error for TargetFilterError {}

pub(super) fn check_target(target: String) -> Result<String, TargetFilterError> {
    if target.is_empty() {
        Err(TargetFilterError::Empty)
    } else if bad_target(&target) {
        Err(TargetFilterError::Invalid(target))
    } else {
        Ok(target)
    }
}
