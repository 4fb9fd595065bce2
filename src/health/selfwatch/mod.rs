//! tickwatch watching itself, on the collector's tick: the resource sampler (published as
//! `tickwatch_*` gauges) and the built-in health components (collector, rings, sinks,
//! resources, budget).
//!
//! Every component starts [`Status::Unknown`] and leaves it at its first judgement: the
//! collector and the sinks at the first tick, the rings, resources and budget at the first
//! resource sample (every tick when sampling is off). Nothing is judged against a baseline
//! taken after the fact: drops are counted from 0, and the sampler's baseline is taken at
//! start, before the collector thread exists, so the first sample (at the first tick)
//! already has rates over the time since start.
//!
//! Samples follow a fixed rate ([`Cadence`]): due times anchored at the first sample, one
//! period apart, each taken by the first tick that comes no earlier than half a tick before
//! it, so the collector's timer jitter neither skips a period nor makes the rate drift.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use super::{
    CollectorInput, CollectorPolicy, ComponentCheck, CostBudget, HealthHandle, ResourceThresholds,
    RingInput, RingPolicy, SinkHealth, SinkPolicy, Status,
};
use crate::metrics::{wall_now, CollectorTask, GaugeId, TickContext};
use crate::resources::{PipelineCounters, ResourceSampler};
use crate::series::SeriesKind;

/// Per sink (by position), the degraded condition it last reported through
/// `Sink::take_notice`, if any: set on the collector thread as notices arrive, shown on the
/// sink's component at every tick.
#[derive(Clone, Default)]
pub(crate) struct SinkConditions(Arc<Mutex<Vec<Option<String>>>>);

impl SinkConditions {
    pub(crate) fn set(&self, sink: usize, condition: Option<String>) {
        let mut all = self.0.lock();
        if all.len() <= sink {
            all.resize(sink + 1, None);
        }
        all[sink] = condition;
    }
}

/// The built-in components' handles, registered at start.
pub(crate) struct SelfWatch {
    pub(crate) collector: HealthHandle,
    pub(crate) rings: HealthHandle,
    pub(crate) sinks: HealthHandle,
    /// One component per sink (`tickwatch.sink.<name>`), in the order the sinks were added.
    pub(crate) each_sink: Vec<HealthHandle>,
    pub(crate) resources: Option<HealthHandle>,
    pub(crate) budget: Option<HealthHandle>,
    pub(crate) conditions: SinkConditions,
}

impl SelfWatch {
    /// The task. With sampling on, the sampler's baseline is taken here, on the starting
    /// thread: call it before the collector is spawned (see
    /// [`ResourceSampler::baseline_before_spawn`]).
    #[allow(clippy::too_many_arguments)] // one per builder option, passed through once
    pub(crate) fn into_task(
        self,
        resource_interval: Option<Duration>,
        monitor_tick: Duration,
        collector_policy: CollectorPolicy,
        ring_policy: RingPolicy,
        sink_policy: SinkPolicy,
        thresholds: ResourceThresholds,
        budget: CostBudget,
    ) -> SelfWatchTask {
        let each_sink = self
            .each_sink
            .iter()
            .map(|_| (SinkHealth::new(sink_policy), 0))
            .collect();
        let sampler = resource_interval.map(|every| {
            let mut sampler = ResourceSampler::new();
            // Every pipeline counter is 0 at start. Without procfs there is no baseline, and
            // the first sample fails as well (reported by the resources component).
            let _ = sampler.baseline_before_spawn(wall_now(), &PipelineCounters::default());
            (sampler, Cadence::new(every, monitor_tick))
        });
        SelfWatchTask {
            each_sink,
            handles: self,
            sampler,
            gauges: Vec::new(),
            collector_policy,
            ring_policy,
            sink_health: SinkHealth::new(sink_policy),
            thresholds,
            budget,
            prev_sink_errors: 0,
            restarts: (0, None),
            prev_dropped: 0,
            sampler_error: false,
        }
    }
}

pub(crate) struct SelfWatchTask {
    handles: SelfWatch,
    sampler: Option<(ResourceSampler, Cadence)>,
    /// Gauge series by name, registered on first publication.
    gauges: Vec<(&'static str, GaugeId)>,
    collector_policy: CollectorPolicy,
    ring_policy: RingPolicy,
    sink_health: SinkHealth,
    /// Per sink: its judgement and its error count at the last tick.
    each_sink: Vec<(SinkHealth, u64)>,
    thresholds: ResourceThresholds,
    budget: CostBudget,
    prev_sink_errors: u64,
    /// Collector restarts at the last tick, and the tick that first saw the latest one.
    restarts: (u64, Option<Instant>),
    /// `Stats::dropped` at the last judgement of the rings: 0 at start, so the first
    /// judgement counts every drop since start.
    prev_dropped: u64,
    sampler_error: bool,
}

impl SelfWatchTask {
    /// New thresholds from a configuration reload, judged from this tick on. The judgements'
    /// running state (a sink's failing intervals, the drops already counted) is kept.
    pub(crate) fn set_policies(
        &mut self,
        collector: CollectorPolicy,
        rings: RingPolicy,
        sinks: SinkPolicy,
        thresholds: ResourceThresholds,
        budget: CostBudget,
    ) {
        self.collector_policy = collector;
        self.ring_policy = rings;
        self.sink_health.policy = sinks;
        for (each, _) in &mut self.each_sink {
            each.policy = sinks;
        }
        self.thresholds = thresholds;
        self.budget = budget;
    }

    fn gauge(&mut self, ctx: &TickContext<'_>, name: &'static str) -> GaugeId {
        if let Some((_, id)) = self.gauges.iter().find(|(n, _)| *n == name) {
            return *id;
        }
        let id = ctx.gauge(SeriesKind::Resource, name, &[]);
        self.gauges.push((name, id));
        id
    }

    /// Samples the process and publishes; once per resource interval.
    fn sample(&mut self, ctx: &mut TickContext<'_>, counters: &PipelineCounters) {
        let Some((sampler, _)) = self.sampler.as_mut() else {
            return;
        };
        match sampler.sample(ctx.now(), counters) {
            Ok(s) => {
                self.sampler_error = false;
                if let Some(ns) = sampler.last_thread_cpu_ns() {
                    ctx.shared().progress.collector_cpu_ns.store(ns, Relaxed);
                }
                for (name, value) in s.gauges() {
                    let id = self.gauge(ctx, name);
                    ctx.set_gauge(id, value);
                }
                if let Some(h) = &self.handles.resources {
                    h.set_check(&self.thresholds.evaluate(&s));
                }
                if let Some(h) = &self.handles.budget {
                    h.set_check(&self.budget.evaluate(&s));
                }
            }
            Err(e) => {
                let (resources, budget) = (&self.handles.resources, &self.handles.budget);
                if !self.sampler_error {
                    self.sampler_error = true;
                    if let Some(h) = resources {
                        h.set(Status::Degraded, &format!("resource sampling failed: {e}"));
                    }
                    if let Some(h) = budget {
                        h.set(
                            Status::Unknown,
                            "no measurement: resource sampling failed (see tickwatch.resources)",
                        );
                    }
                } else {
                    // The same failure again: still judged, not stale.
                    for h in [resources, budget].into_iter().flatten() {
                        h.touch();
                    }
                }
            }
        }
    }
}

impl CollectorTask for SelfWatchTask {
    fn tick(&mut self, ctx: &mut TickContext<'_>) {
        let shared = ctx.shared();
        // The collector: alive (this push; staleness covers a stall) and its lag.
        let lag = Duration::from_nanos(shared.progress.max_lag_ns.swap(0, Relaxed));
        let restarts = shared.progress.collector_restarts.load(Relaxed);
        if restarts != self.restarts.0 {
            // Seen on the first tick after it: the restart is at most a tick older.
            self.restarts = (restarts, Some(ctx.instant()));
        }
        let input = CollectorInput {
            lag,
            restarts,
            since_restart: self.restarts.1.map(|at| ctx.instant().duration_since(at)),
        };
        self.handles
            .collector
            .set_check(&self.collector_policy.evaluate(&input));
        // Sinks: errors since the last tick.
        let errors = shared.progress.sink_errors.load(Relaxed);
        let check = self
            .sink_health
            .observe(errors.saturating_sub(self.prev_sink_errors));
        self.prev_sink_errors = errors;
        self.handles.sinks.set_check(&check);
        let conditions = self.handles.conditions.0.lock().clone();
        for (i, ((health, prev), (handle, errors))) in self
            .each_sink
            .iter_mut()
            .zip(
                self.handles
                    .each_sink
                    .iter()
                    .zip(shared.progress.each_sink_errors.iter()),
            )
            .enumerate()
        {
            let errors = errors.load(Relaxed);
            let mut check = health.observe(errors.saturating_sub(*prev));
            *prev = errors;
            // A condition the sink reported (on its secondary, ...) degrades it while it lasts.
            if let Some(Some(condition)) = conditions.get(i) {
                check = match check.status {
                    Status::Healthy | Status::Unknown => {
                        ComponentCheck::new(Status::Degraded, condition.clone())
                    }
                    _ => {
                        ComponentCheck::new(check.status, format!("{}; {condition}", check.message))
                    }
                };
            }
            handle.set_check(&check);
        }

        let due = match self.sampler.as_mut() {
            None => true, // no sampler: rings judged every tick
            Some((_, cadence)) => cadence.due(ctx.instant()),
        };
        if !due {
            // Judged once per sample, but alive on every tick: without this they went
            // stale (degraded) between samples whenever `stale_after` was shorter than the
            // sampling interval.
            let h = &self.handles;
            for handle in [Some(&h.rings), h.resources.as_ref(), h.budget.as_ref()]
                .into_iter()
                .flatten()
            {
                handle.touch();
            }
            return;
        }
        let mut counters = PipelineCounters {
            delivered: shared.progress.delivered.load(Acquire),
            dropped: shared.dropped_total(),
            sink_ns: shared.progress.sink_ns.load(Relaxed),
            sleep_ns: shared.progress.sleep_ns.load(Relaxed),
            sink_cpu_ns: shared
                .progress
                .sink_cpu_known
                .load(Relaxed)
                .then(|| shared.progress.sink_cpu_ns.load(Relaxed)),
            ..PipelineCounters::default()
        };
        for lane in &shared.lanes.lock().live {
            counters.add_lane(lane.high_water.load(Relaxed), lane.capacity as u64);
        }
        // Rings: drops since the last judgement (since start on the first).
        let dropped = counters.dropped.saturating_sub(self.prev_dropped);
        self.prev_dropped = counters.dropped;
        self.handles
            .rings
            .set_check(&self.ring_policy.evaluate(&RingInput { dropped }));
        self.sample(ctx, &counters);
    }
}

/// When the resource sampler is due, on the collector's ticks: a fixed rate, anchored at the
/// first sample, that neither drifts nor skips a period because of the ticks' jitter.
///
/// Due times are `anchor + k * every`. A tick samples when it falls at or after a due time
/// minus `tolerance` (half the tick, or half of `every` if shorter), and the next due time is
/// then the following one on the same grid: a tick a little late or a little early moves
/// that one sample, never the ones after it. (Scheduling the next sample one period after the
/// tick that took the last, as before, drifted by each tick's lateness and skipped a whole
/// period whenever a tick came less late than the one before: 2 s gaps with 1 s ticks.)
///
/// A tick so late that the next due time's window has opened too means at least one period
/// went by without a tick (the collector stalled): that tick samples once, the missed periods
/// are skipped rather than caught up, and the grid is re-anchored at it, so that it follows
/// the collector's ticks, which are re-anchored after a stall as well. With `every` shorter
/// than the tick, every tick samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cadence {
    every: Duration,
    tolerance: Duration,
    next: Option<Instant>,
}

impl Cadence {
    /// A sample every `every` on ticks every `tick`.
    pub(crate) fn new(every: Duration, tick: Duration) -> Cadence {
        Cadence {
            every,
            tolerance: every.min(tick) / 2,
            next: None,
        }
    }

    /// Whether the tick at `now` takes a sample; if so, schedules the next one.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        let Some(next) = self.next else {
            self.next = Some(now + self.every);
            return true;
        };
        if now + self.tolerance < next {
            return false;
        }
        let following = next + self.every;
        self.next = Some(if now + self.tolerance < following {
            following
        } else {
            now + self.every
        });
        true
    }
}

#[cfg(test)]
mod tests;
