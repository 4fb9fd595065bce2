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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};

use arc_swap::ArcSwap;

use crate::logging::{Callsite, Level};

/// Call-site ids with a cached decision.
const CACHED: usize = 4096;
/// A cached decision: `generation << 2 | ON` (or `OFF`); anything else (`0`, another
/// generation's) is undecided. 62 bits of generation never wrap (a reload a microsecond
/// would take 146,000 years), so a reload invalidates every decision without touching them.
const ON: u64 = 1;
const OFF: u64 = 2;

/// The levels as data: what a reload replaces whole.
struct Rules {
    global: Level,
    rules: Vec<(String, Level)>,
}

/// The instance's level and per-target levels, replaceable while threads record
/// ([`TargetLevels::set`], for `Telemetry::reload`): the floor and the "any rules" flag are
/// atomics read with `Relaxed` loads, the rules themselves sit behind an `ArcSwap` read only
/// when a call site is first decided, and each cached decision carries the generation it was
/// made in, so a reload makes every cached decision stale at once.
pub(crate) struct TargetLevels {
    /// The lowest level anything is recorded at: `min(level, every rule's)`, as `Level as u8`.
    floor: AtomicU8,
    /// Whether any per-target rule exists (without one the floor decides alone).
    any_rules: AtomicBool,
    rules: ArcSwap<Rules>,
    /// Bumped by every `set`, after the new rules are in place.
    generation: AtomicU64,
    /// Per call-site id: `generation << 2 | ON/OFF`, or undecided.
    decided: Box<[AtomicU64]>,
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

impl Rules {
    fn new(global: Level, rules: &BTreeMap<String, Level>) -> Rules {
        Rules {
            global,
            rules: rules.iter().map(|(t, l)| (t.clone(), *l)).collect(),
        }
    }

    fn floor(&self) -> Level {
        self.rules
            .iter()
            .map(|(_, l)| *l)
            .fold(self.global, Level::min)
    }
}

impl TargetLevels {
    pub(crate) fn new(global: Level, rules: &BTreeMap<String, Level>) -> Self {
        let r = Rules::new(global, rules);
        TargetLevels {
            floor: AtomicU8::new(r.floor() as u8),
            any_rules: AtomicBool::new(!r.rules.is_empty()),
            rules: ArcSwap::from_pointee(r),
            generation: AtomicU64::new(1),
            decided: (0..CACHED).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Replaces the level and the rules while threads record. Events decided after this
    /// returns follow the new levels; a call racing with it follows the old or the new.
    pub(crate) fn set(&self, global: Level, rules: &BTreeMap<String, Level>) {
        let r = Rules::new(global, rules);
        let floor = r.floor();
        let any = !r.rules.is_empty();
        self.rules.store(std::sync::Arc::new(r));
        // A decision is tagged with the generation read *before* its rules were loaded
        // (Acquire below pairs with this Release): one made from the old rules carries the
        // old generation and is ignored from here on.
        self.generation.fetch_add(1, Release);
        self.any_rules.store(any, Release);
        self.floor.store(floor as u8, Release);
    }

    /// The lowest level anything is recorded at (the `tracing` layer's level hint).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn floor(&self) -> Level {
        Level::from_u8(self.floor.load(Relaxed)).unwrap_or(Level::Trace)
    }

    /// Whether events at `level` pass the floor (the hot path's first check).
    #[inline(always)]
    pub(crate) fn passes_floor(&self, level: Level) -> bool {
        level as u8 >= self.floor.load(Relaxed)
    }

    /// No per-target rule: the instance's level decides alone.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        !self.any_rules.load(Relaxed)
    }

    /// The level events of `target` are recorded at.
    pub(crate) fn level_for(&self, target: &str) -> Level {
        let r = self.rules.load();
        rule_for(&r.rules, target).unwrap_or(r.global)
    }

    /// Whether an event at `level` in `target` is recorded.
    pub(crate) fn admits(&self, target: &str, level: Level) -> bool {
        level >= self.level_for(target)
    }

    /// Whether events of this call site (id `id`) are recorded; cached per id.
    #[inline]
    pub(crate) fn callsite_enabled(&self, cs: &'static Callsite, id: u32) -> bool {
        if self.is_empty() {
            // The caller checked the floor, which is the level when there are no rules.
            return true;
        }
        let Some(slot) = self.decided.get(id as usize) else {
            return self.admits_uncached(cs);
        };
        let generation = self.generation.load(Acquire);
        let cached = slot.load(Relaxed);
        if cached >> 2 == generation {
            return cached & ON != 0;
        }
        self.decide(cs, slot, generation)
    }

    /// A call site past the decision cache: decided from the rules on every call, out of
    /// line (inlined, the rules' lookup made every `event!` too large to inline).
    #[cold]
    #[inline(never)]
    fn admits_uncached(&self, cs: &'static Callsite) -> bool {
        self.admits(cs.target(), cs.level())
    }

    #[cold]
    #[inline(never)]
    fn decide(&self, cs: &'static Callsite, slot: &AtomicU64, generation: u64) -> bool {
        let on = self.admits(cs.target(), cs.level());
        slot.store(generation << 2 | if on { ON } else { OFF }, Relaxed);
        on
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
        assert_eq!(t.floor(), Level::Debug);
        assert_eq!(t.level_for("engine::book"), Level::Warn);
        assert_eq!(t.level_for("engine::risk::limits"), Level::Debug);
        assert_eq!(t.level_for("engine2"), Level::Info);
        assert!(!t.admits("engine::book", Level::Info));
        assert!(t.admits("engine::risk", Level::Debug));
        let none = TargetLevels::new(Level::Warn, &BTreeMap::new());
        assert!(none.is_empty());
        assert_eq!(none.floor(), Level::Warn);
    }
}
