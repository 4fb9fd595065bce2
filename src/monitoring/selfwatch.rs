//! tickwatch watching itself, on the collector's tick: the resource sampler (published as
//! `tickwatch_*` gauges) and the built-in health components (collector, rings, sinks,
//! resources, budget).

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::{Duration, Instant};

use super::tick::{CollectorTask, GaugeId, TickContext};
use super::{
    CollectorInput, CollectorPolicy, CostBudget, HealthHandle, PipelineCounters, ResourceSampler,
    ResourceThresholds, RingInput, RingPolicy, SinkHealth, SinkPolicy, Status,
};
use crate::performance::SeriesKind;

/// The built-in components' handles, registered at start.
pub(crate) struct SelfWatch {
    pub(crate) collector: HealthHandle,
    pub(crate) rings: HealthHandle,
    pub(crate) sinks: HealthHandle,
    /// One component per sink (`tickwatch.sink.<name>`), in the order the sinks were added.
    pub(crate) each_sink: Vec<HealthHandle>,
    pub(crate) resources: Option<HealthHandle>,
    pub(crate) budget: Option<HealthHandle>,
}

impl SelfWatch {
    pub(crate) fn into_task(
        self,
        resource_interval: Option<Duration>,
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
        SelfWatchTask {
            each_sink,
            handles: self,
            sampler: resource_interval.map(|every| (ResourceSampler::new(), every)),
            next_sample: None,
            gauges: Vec::new(),
            collector_policy,
            ring_policy,
            sink_health: SinkHealth::new(sink_policy),
            thresholds,
            budget,
            prev_sink_errors: 0,
            prev_dropped: None,
            sampler_error: false,
        }
    }
}

pub(crate) struct SelfWatchTask {
    handles: SelfWatch,
    sampler: Option<(ResourceSampler, Duration)>,
    next_sample: Option<Instant>,
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
    prev_dropped: Option<u64>,
    sampler_error: bool,
}

impl SelfWatchTask {
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
                if !self.sampler_error {
                    self.sampler_error = true;
                    if let Some(h) = &self.handles.resources {
                        h.set(Status::Degraded, &format!("resource sampling failed: {e}"));
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
        self.handles
            .collector
            .set_check(&self.collector_policy.evaluate(&CollectorInput { lag }));
        // Sinks: errors since the last tick.
        let errors = shared.progress.sink_errors.load(Relaxed);
        let check = self
            .sink_health
            .observe(errors.saturating_sub(self.prev_sink_errors));
        self.prev_sink_errors = errors;
        self.handles.sinks.set_check(&check);
        for ((health, prev), (handle, errors)) in self.each_sink.iter_mut().zip(
            self.handles
                .each_sink
                .iter()
                .zip(&shared.monitor.sink_errors),
        ) {
            let errors = errors.load(Relaxed);
            handle.set_check(&health.observe(errors.saturating_sub(*prev)));
            *prev = errors;
        }

        let due = match (self.sampler.as_ref(), self.next_sample) {
            (None, _) => true, // no sampler: rings judged every tick
            (Some(_), None) => true,
            (Some(_), Some(at)) => ctx.instant() >= at,
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
        if let Some((_, every)) = &self.sampler {
            self.next_sample = Some(ctx.instant() + *every);
        }
        let mut counters = PipelineCounters {
            delivered: shared.progress.delivered.load(Acquire),
            dropped: shared.dropped_total(),
            ..PipelineCounters::default()
        };
        for lane in &shared.lanes.lock().live {
            counters.add_lane(lane.high_water.load(Relaxed), lane.capacity as u64);
        }
        // Rings: drops since the last judgement.
        let dropped = counters
            .dropped
            .saturating_sub(self.prev_dropped.unwrap_or(counters.dropped));
        self.prev_dropped = Some(counters.dropped);
        self.handles
            .rings
            .set_check(&self.ring_policy.evaluate(&RingInput { dropped }));
        self.sample(ctx, &counters);
    }
}
