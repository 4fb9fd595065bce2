//! Per-target event levels: `[pipeline.targets]` / `TelemetryBuilder::target_level`.
//!
//! The instance's `level` applies to every target no rule names; a rule names a target and
//! its submodules (`"engine"` covers `engine::risk`, not `engine2`), the longest covering
//! rule winning, and may be above or below the instance's level. The hot path's first
//! check, [`Telemetry::enabled`](crate::Telemetry::enabled), compares with the lowest level
//! any rule admits (a load and a compare, nothing evaluated below it); an event past that
//! is then checked against its own target's rule, decided once per call site and instance
//! and cached (one byte per call-site id, the first 4,096 ids), so with no rules nothing
//! changes and with rules a call site costs one more load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::logging::{Callsite, Level};

/// Call-site ids with a cached decision.
const CACHED: usize = 4096;
const UNKNOWN: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

pub(crate) struct TargetLevels {
    /// The lowest level anything is recorded at: `min(level, every rule's)`.
    pub(crate) floor: Level,
    global: Level,
    rules: Vec<(String, Level)>,
    /// Per call-site id: UNKNOWN, ON or OFF (only when there are rules).
    decided: Box<[AtomicU8]>,
}

/// `target` is `prefix` or one of its submodules.
pub(crate) fn covers(prefix: &str, target: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The level of the longest rule covering `target`, if any: the one lookup both the
/// instance's rules and the `tracing` layer's use.
pub(crate) fn rule_for<'a>(
    rules: impl IntoIterator<Item = &'a (String, Level)>,
    target: &str,
) -> Option<Level> {
    rules
        .into_iter()
        .filter(|(t, _)| covers(t, target))
        .max_by_key(|(t, _)| t.len())
        .map(|(_, l)| *l)
}

impl TargetLevels {
    pub(crate) fn new(global: Level, rules: &BTreeMap<String, Level>) -> Self {
        let rules: Vec<(String, Level)> = rules.iter().map(|(t, l)| (t.clone(), *l)).collect();
        let floor = rules.iter().map(|(_, l)| *l).fold(global, Level::min);
        let decided = if rules.is_empty() {
            Box::default()
        } else {
            (0..CACHED).map(|_| AtomicU8::new(UNKNOWN)).collect()
        };
        TargetLevels {
            floor,
            global,
            rules,
            decided,
        }
    }

    /// No per-target rule: the instance's level decides alone.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The level events of `target` are recorded at.
    pub(crate) fn level_for(&self, target: &str) -> Level {
        rule_for(&self.rules, target).unwrap_or(self.global)
    }

    /// Whether an event at `level` in `target` is recorded.
    pub(crate) fn admits(&self, target: &str, level: Level) -> bool {
        level >= self.level_for(target)
    }

    /// Whether events of this call site (id `id`) are recorded; cached per id.
    #[inline]
    pub(crate) fn callsite_enabled(&self, cs: &'static Callsite, id: u32) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(slot) = self.decided.get(id as usize) else {
            return self.admits(cs.target(), cs.level());
        };
        match slot.load(Relaxed) {
            ON => true,
            OFF => false,
            _ => {
                let on = self.admits(cs.target(), cs.level());
                slot.store(if on { ON } else { OFF }, Relaxed);
                on
            }
        }
    }
}

/// A target that cannot name a module path: empty, or with whitespace, quotes or `=`.
pub(crate) fn bad_target(t: &str) -> bool {
    t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == '=' || c == '"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_covering_rule_wins_and_the_floor_is_the_lowest_level() {
        let rules = BTreeMap::from([
            ("engine".to_string(), Level::Warn),
            ("engine::risk".to_string(), Level::Debug),
        ]);
        let t = TargetLevels::new(Level::Info, &rules);
        assert_eq!(t.floor, Level::Debug);
        assert_eq!(t.level_for("engine::book"), Level::Warn);
        assert_eq!(t.level_for("engine::risk::limits"), Level::Debug);
        assert_eq!(t.level_for("engine2"), Level::Info);
        assert!(!t.admits("engine::book", Level::Info));
        assert!(t.admits("engine::risk", Level::Debug));
        let none = TargetLevels::new(Level::Warn, &BTreeMap::new());
        assert!(none.is_empty());
        assert_eq!(none.floor, Level::Warn);
    }
}
