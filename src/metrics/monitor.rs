//! [`Monitor`]: what the metrics layer plugs into the pipeline's collector. Every valid
//! sample of a batch is folded into the aggregates (one lock per batch), the aggregation
//! interval rolls over on time, and the collector tasks (self-watch, alert rules, your own)
//! run every `monitor_tick`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;

use super::aggregate::{Aggregates, Aggregator};
use super::tick::{CollectorTask, Schedule, TickContext};
use crate::pipeline::hooks::{Fold, Hooks};
use crate::sink::SinkNotice;
use crate::time::Conversion;

/// The collector's hooks for an instance with aggregation and monitoring tasks.
pub(crate) struct Monitor {
    aggregates: Arc<Aggregates>,
    /// `TelemetryBuilder::aggregation(false)` turns the per-batch folding off.
    fold: bool,
    schedule: Schedule,
    tasks: Vec<Box<dyn CollectorTask>>,
    events: CollectorEvents,
}

/// Told the restarts since start and the panic's message.
pub(crate) type OnRestart = Box<dyn Fn(u64, &str) + Send>;

/// The first tick comes at most this long after start, whatever `monitor_tick`: health
/// leaves "unknown" then (a restarted engine reads healthy within ~120 ms, not a whole
/// tick later), and the ticks after it are `monitor_tick` apart.
const FIRST_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// What the layers above hear of the collector's life, on its thread.
pub(crate) struct CollectorEvents {
    /// The collector exits (however it exits).
    pub(crate) on_exit: Box<dyn Fn() + Send>,
    /// Its loop was restarted after a panic: the restarts since start, the panic's message.
    pub(crate) on_restart: OnRestart,
    /// A sink (its position) reported a change in its condition.
    pub(crate) on_sink_notice: Box<dyn Fn(usize, SinkNotice) + Send>,
}

impl Monitor {
    /// Hooks for `aggregates`' instance, running `tasks` every tick and telling `events`.
    pub(crate) fn new(
        aggregates: Arc<Aggregates>,
        tasks: Vec<Box<dyn CollectorTask>>,
        events: CollectorEvents,
    ) -> Monitor {
        let config = &aggregates.shared.config;
        let schedule = Schedule::new(
            config.aggregation_interval,
            config.monitor_tick,
            Instant::now(),
        )
        .first_tick_within(FIRST_TICK);
        Monitor {
            fold: config.aggregation,
            aggregates,
            schedule,
            tasks,
            events,
        }
    }

    fn count_panic(&self) {
        self.aggregates
            .shared
            .progress
            .task_panics
            .fetch_add(1, Relaxed);
    }
}

/// One batch's folding, under the aggregates' lock.
pub(crate) struct BatchFold<'a>(MutexGuard<'a, Aggregator>);

impl Fold for BatchFold<'_> {
    #[inline]
    fn sample(&mut self, kind: u8, flags: u8, id: u32, ticks: u64, value: u64, conv: &Conversion) {
        self.0.fold(kind, flags, id, ticks, value, conv);
    }

    fn end(&mut self) {
        self.0.end_batch();
    }
}

impl Hooks for Monitor {
    type Fold<'a> = BatchFold<'a>;

    fn fold(&self) -> Option<BatchFold<'_>> {
        self.fold
            .then(|| BatchFold(self.aggregates.aggregator.lock()))
    }

    fn next_due(&self) -> Instant {
        self.schedule.next_due()
    }

    /// Rolls the aggregation interval over and runs the tasks, whichever is due.
    fn on_schedule(&mut self, now: Instant) {
        let due = self.schedule.take_due(now);
        let run_tasks = due.tick && !self.tasks.is_empty();
        if !due.rollover && !run_tasks {
            return;
        }
        let owner = &*self.aggregates;
        let mut agg = owner.aggregator.lock();
        if due.rollover {
            agg.rollover(now);
        }
        if !run_tasks {
            return;
        }
        let mut panics = 0u64;
        let mut ctx = TickContext::new(owner, &mut agg, now);
        for task in &mut self.tasks {
            if catch_unwind(AssertUnwindSafe(|| task.tick(&mut ctx))).is_err() {
                panics += 1;
            }
        }
        drop(ctx);
        // Everything that calls out of tickwatch (alert sinks, user callbacks) runs with the
        // aggregates released: such a callback may take a snapshot or render Prometheus.
        drop(agg);
        for task in &mut self.tasks {
            if catch_unwind(AssertUnwindSafe(|| task.after_tick())).is_err() {
                panics += 1;
            }
        }
        for _ in 0..panics {
            self.count_panic();
        }
    }

    fn finish(&mut self) {
        let mut panics = 0u64;
        for task in &mut self.tasks {
            if catch_unwind(AssertUnwindSafe(|| task.finish())).is_err() {
                panics += 1;
            }
        }
        for _ in 0..panics {
            self.count_panic();
        }
    }

    fn on_exit(&self) {
        (self.events.on_exit)();
    }

    fn on_restart(&mut self, restarts: u64, why: &str) {
        (self.events.on_restart)(restarts, why);
    }

    fn on_sink_notice(&mut self, sink: usize, notice: SinkNotice) {
        (self.events.on_sink_notice)(sink, notice);
    }
}
