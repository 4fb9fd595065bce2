//! [`RuleEngine`]: Prometheus-style evaluation of [`Rule`]s against a [`Snapshot`].
//!
//! Per rule and per matching series, an alert instance moves
//! inactive -> pending (condition true) -> firing (true for `for`) -> resolved (false), and
//! pending -> inactive silently if the condition turns false first. Only pending and firing
//! instances are stored, so memory follows what is wrong, not what is watched.

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

use crate::hash::{fast_hasher, FastMap};

use super::alert::{ActiveAlert, AlertState};
use super::rules::{instance_labels, Expr, GaugeStat, Horizon, LatencyStat, Rule, RuleError};
use super::{AlertId, AlertSource, Notification, Transition};
use crate::metrics::{SeriesSnapshot, SeriesValue, Snapshot};
use crate::time::elapsed;
use crate::Timestamp;

/// Default cap on pending plus firing instances across all rules.
pub const DEFAULT_MAX_INSTANCES: usize = 10_000;

/// Counters of a [`RuleEngine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EngineStats {
    /// Calls to `evaluate`.
    pub evaluations: u64,
    /// Rules loaded.
    pub rules: u64,
    /// Instances pending now.
    pub pending: u64,
    /// Instances firing now.
    pub firing: u64,
    /// Notifications produced (firing plus resolved).
    pub notifications: u64,
    /// New instances not created because `max_instances` were pending or firing; such a
    /// series is evaluated again on the next tick.
    pub instances_refused: u64,
}

/// Evaluates rules against snapshots; owned by the tick (`&mut self`, no locking).
///
/// ```
/// use std::time::Duration;
/// use tickwatch::alerts::{Expr, GaugeStat, Op, Rule, RuleEngine, Selector, Transition};
/// use tickwatch::metrics::Snapshot;
/// use tickwatch::Timestamp;
///
/// let rule = Rule::new("feed_silent", Expr::Absent { selector: Selector::new("ticks") })
///     .for_(Duration::from_secs(5));
/// let mut engine = RuleEngine::new(vec![rule])?;
/// let empty = Snapshot::empty(Timestamp::from_unix_nanos(0));
/// let t = |s: u64| Timestamp::from_unix_nanos(s * 1_000_000_000);
/// assert!(engine.evaluate(&empty, t(0)).is_empty()); // pending
/// let fired = engine.evaluate(&empty, t(5));          // true for 5 s: firing
/// assert_eq!(fired.len(), 1);
/// assert_eq!(fired[0].transition, Transition::Firing);
/// # Ok::<(), tickwatch::alerts::RuleError>(())
/// ```
pub struct RuleEngine {
    rules: Vec<Compiled>,
    /// Series name -> index into `groups`; names no rule reads are not indexed.
    names: FastMap<String, usize>,
    /// Per distinct series name: the indices of the snapshot's series with that name
    /// (rebuilt each evaluation, buffers reused).
    groups: Vec<Vec<u32>>,
    max_instances: usize,
    instances: usize,
    tick: u64,
    evaluations: u64,
    notifications: u64,
    instances_refused: u64,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Compiled {
    rule: Rule,
    group: usize,
    instances: HashTable<Instance>,
}

struct Instance {
    hash: u64,
    /// The series' tags (the selector's tags for `Absent`): the instance's identity.
    tags: Vec<(String, String)>,
    id: AlertId,
    state: AlertState,
    since: Timestamp,
    fired_at: Timestamp,
    last_seen: Timestamp,
    count: u64,
    value: Option<f64>,
    tick: u64,
}

impl RuleEngine {
    /// An engine for `rules`, each validated; the first invalid rule is named in the error.
    pub fn new(rules: Vec<Rule>) -> Result<RuleEngine, RuleError> {
        let mut names: FastMap<String, usize> = FastMap::default();
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, mut rule) in rules.into_iter().enumerate() {
            rule.validate().map_err(|problem| RuleError {
                index,
                rule: rule.name.clone(),
                problem,
            })?;
            rule.normalize();
            let next = names.len();
            let group = *names
                .entry(rule.expr.selector().name.clone())
                .or_insert(next);
            compiled.push(Compiled {
                rule,
                group,
                instances: HashTable::new(),
            });
        }
        Ok(RuleEngine {
            groups: vec![Vec::new(); names.len()],
            rules: compiled,
            names,
            max_instances: DEFAULT_MAX_INSTANCES,
            instances: 0,
            tick: 0,
            evaluations: 0,
            notifications: 0,
            instances_refused: 0,
        })
    }

    /// Caps pending plus firing instances (default [`DEFAULT_MAX_INSTANCES`]; 0 is read as
    /// 1). Past the cap, new instances are not created and are counted in
    /// [`EngineStats::instances_refused`].
    #[must_use]
    pub fn with_max_instances(mut self, max: usize) -> RuleEngine {
        self.max_instances = max.max(1);
        self
    }

    /// Swaps in a new rule set (a reloaded file) at `now`. A rule present in both sets,
    /// identical in every field, keeps its pending and firing instances; every firing
    /// instance of a rule that is gone or changed is resolved, and those resolve
    /// notifications are returned for the sinks. On error nothing changes.
    pub fn replace_rules(
        &mut self,
        rules: Vec<Rule>,
        now: Timestamp,
    ) -> Result<Vec<Notification>, RuleError> {
        let mut next = RuleEngine::new(rules)?;
        next.max_instances = self.max_instances;
        next.tick = self.tick;
        next.evaluations = self.evaluations;
        next.notifications = self.notifications;
        next.instances_refused = self.instances_refused;
        let mut out = Vec::new();
        for old in std::mem::take(&mut self.rules) {
            let heir = next
                .rules
                .iter_mut()
                .find(|c| c.instances.is_empty() && c.rule == old.rule);
            match heir {
                Some(c) => {
                    next.instances += old.instances.len();
                    c.instances = old.instances;
                }
                None => out.extend(
                    old.instances
                        .iter()
                        .filter(|i| i.state == AlertState::Firing)
                        .map(|i| resolved(&old.rule, i, now)),
                ),
            }
        }
        next.notifications += out.len() as u64;
        *self = next;
        Ok(out)
    }

    /// The rules, normalized (labels sorted), in load order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    /// Evaluates every rule at `now` and returns the transitions (firing, resolved).
    pub fn evaluate(&mut self, snapshot: &Snapshot, now: Timestamp) -> Vec<Notification> {
        let mut out = Vec::new();
        self.evaluate_into(snapshot, now, &mut out);
        out
    }

    /// [`RuleEngine::evaluate`] appending to a reused buffer.
    pub fn evaluate_into(
        &mut self,
        snapshot: &Snapshot,
        now: Timestamp,
        out: &mut Vec<Notification>,
    ) {
        let before = out.len();
        self.tick += 1;
        self.evaluations += 1;
        let tick = self.tick;
        // Index the snapshot once: one hash lookup per series, not one scan per rule.
        for g in &mut self.groups {
            g.clear();
        }
        for (i, s) in snapshot.series.iter().enumerate() {
            if let Some(&g) = self.names.get(s.name.as_str()) {
                self.groups[g].push(i as u32);
            }
        }
        let windowed = snapshot.window_secs > 0.0;
        let mut ctx = Step {
            now,
            tick,
            out,
            instances: &mut self.instances,
            max_instances: self.max_instances,
            refused: &mut self.instances_refused,
        };
        for c in &mut self.rules {
            let members = &self.groups[c.group];
            match &c.rule.expr {
                Expr::Absent { selector } => {
                    let present = members.iter().any(|&i| {
                        let s = &snapshot.series[i as usize];
                        selector.matches(&s.tags) && has_data(s, windowed)
                    });
                    if !present {
                        ctx.step(&c.rule, &mut c.instances, &selector.tags, None);
                    }
                }
                expr => {
                    for &i in members {
                        let s = &snapshot.series[i as usize];
                        if !expr.selector().matches(&s.tags) {
                            continue;
                        }
                        // No data (or another kind of series of the same name) counts as
                        // false: not stepped, so the sweep below ends its instance if any.
                        match value(expr, &s.value) {
                            Some(v) if holds(expr, v) => {
                                ctx.step(&c.rule, &mut c.instances, &s.tags, Some(v));
                            }
                            _ => {}
                        }
                    }
                }
            }
            if !c.instances.is_empty() {
                // Instances not stepped this tick: condition false, no data, or series gone.
                let rule = &c.rule;
                let Step { out, instances, .. } = &mut ctx;
                c.instances.retain(|inst| {
                    if inst.tick == tick {
                        return true;
                    }
                    **instances -= 1;
                    if inst.state == AlertState::Firing {
                        out.push(resolved(rule, inst, now));
                    }
                    false
                });
            }
        }
        self.notifications += (ctx.out.len() - before) as u64;
    }

    /// Every pending and firing instance, by rule then start time.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let mut out = Vec::with_capacity(self.instances);
        for c in &self.rules {
            let start = out.len();
            out.extend(c.instances.iter().map(|i| ActiveAlert {
                id: i.id,
                name: c.rule.name.clone(),
                severity: c.rule.severity,
                message: c.rule.message.clone(),
                labels: instance_labels(&i.tags, &c.rule.labels),
                state: i.state,
                since: i.since,
                last_seen: i.last_seen,
                count: i.count,
                source: AlertSource::Rule,
            }));
            out[start..].sort_by_key(|a| (a.since, a.id));
        }
        out
    }

    /// Counters, with the pending and firing instances counted now.
    pub fn stats(&self) -> EngineStats {
        let (mut pending, mut firing) = (0, 0);
        for i in self.rules.iter().flat_map(|c| c.instances.iter()) {
            match i.state {
                AlertState::Pending => pending += 1,
                AlertState::Firing => firing += 1,
            }
        }
        EngineStats {
            evaluations: self.evaluations,
            rules: self.rules.len() as u64,
            pending,
            firing,
            notifications: self.notifications,
            instances_refused: self.instances_refused,
        }
    }
}

/// What one evaluation threads through every instance update.
struct Step<'a> {
    now: Timestamp,
    tick: u64,
    out: &'a mut Vec<Notification>,
    instances: &'a mut usize,
    max_instances: usize,
    refused: &'a mut u64,
}

impl Step<'_> {
    /// One instance whose condition is true this tick: created (pending, or firing at once
    /// with no `for`), kept pending, or promoted to firing once true for `for`. Instances
    /// not stepped in a tick are resolved by the sweep, so a false condition costs no
    /// lookup at all.
    fn step(
        &mut self,
        rule: &Rule,
        table: &mut HashTable<Instance>,
        tags: &[(String, String)],
        value: Option<f64>,
    ) {
        let hash = hash_tags(tags);
        match table.find_entry(hash, |i| i.tags == tags) {
            Ok(mut entry) => {
                let inst = entry.get_mut();
                inst.tick = self.tick;
                inst.count += 1;
                inst.last_seen = self.now;
                inst.value = value;
                if inst.state == AlertState::Pending && elapsed(inst.since, self.now) >= rule.for_ {
                    inst.state = AlertState::Firing;
                    inst.fired_at = self.now;
                    self.out.push(firing(rule, inst));
                }
            }
            Err(_) => {
                if *self.instances >= self.max_instances {
                    *self.refused += 1;
                    return;
                }
                let mut inst = Instance {
                    hash,
                    tags: tags.to_vec(),
                    id: AlertId::next(),
                    state: AlertState::Pending,
                    since: self.now,
                    fired_at: self.now,
                    last_seen: self.now,
                    count: 1,
                    value,
                    tick: self.tick,
                };
                if rule.for_.is_zero() {
                    inst.state = AlertState::Firing;
                    self.out.push(firing(rule, &inst));
                }
                table.insert_unique(hash, inst, |i| i.hash);
                *self.instances += 1;
            }
        }
    }
}

fn firing(rule: &Rule, inst: &Instance) -> Notification {
    Notification {
        id: inst.id,
        name: rule.name.clone(),
        severity: rule.severity,
        transition: Transition::Firing,
        message: rule.message.clone(),
        labels: instance_labels(&inst.tags, &rule.labels),
        annotations: rule.annotations.clone(),
        starts_at: inst.fired_at,
        ends_at: None,
        value: inst.value,
        source: AlertSource::Rule,
    }
}

fn resolved(rule: &Rule, inst: &Instance, now: Timestamp) -> Notification {
    Notification {
        transition: Transition::Resolved,
        ends_at: Some(now),
        ..firing(rule, inst)
    }
}

/// The value a condition compares, or `None` when the series has no data for it.
fn value(expr: &Expr, v: &SeriesValue) -> Option<f64> {
    match (expr, v) {
        (Expr::Gauge { stat, .. }, SeriesValue::Gauge(g)) => match stat {
            GaugeStat::Last => Some(g.total.last),
            GaugeStat::Min => g.window.map(|w| w.min),
            GaugeStat::Max => g.window.map(|w| w.max),
            GaugeStat::Mean => g
                .window
                .filter(|w| w.count > 0)
                .map(|w| w.sum / w.count as f64),
        },
        (Expr::CounterRate { .. }, SeriesValue::Counter(c)) => c.window.map(|_| c.rate_per_sec),
        (Expr::Latency { stat, horizon, .. }, SeriesValue::Latency(l)) => {
            let p = match horizon {
                Horizon::Window => l.window?,
                Horizon::Total => l.total,
            };
            if p.count == 0 {
                return None;
            }
            let ns = match stat {
                LatencyStat::P50 => p.p50,
                LatencyStat::P90 => p.p90,
                LatencyStat::P99 => p.p99,
                LatencyStat::P999 => p.p999,
                LatencyStat::Max => p.max,
            };
            Some(ns as f64)
        }
        _ => None,
    }
}

/// Whether the condition holds for `v` (NaN never holds).
fn holds(expr: &Expr, v: f64) -> bool {
    match expr {
        Expr::Gauge { op, bound, .. } | Expr::CounterRate { op, bound, .. } => op.holds(v, *bound),
        Expr::Latency { above, .. } => v > above.as_nanos() as f64,
        Expr::Absent { .. } => false,
    }
}

/// Whether a series counts as present for `Absent`: before the first completed window,
/// existing is enough; after it, it needs a sample in the window.
fn has_data(s: &SeriesSnapshot, windowed: bool) -> bool {
    if !windowed {
        return true;
    }
    match &s.value {
        SeriesValue::Counter(c) => c.window.is_some_and(|w| w > 0),
        SeriesValue::Gauge(g) => g.window.is_some_and(|w| w.count > 0),
        SeriesValue::Latency(l) => l.window.is_some_and(|w| w.count > 0),
    }
}

fn hash_tags(tags: &[(String, String)]) -> u64 {
    let mut h = fast_hasher();
    tags.hash(&mut h);
    h.finish()
}
