//! The collector's periodic tick: interval rollover and the collector-side tasks (resource
//! sampling, alert rules, health checks) that plug into it.
//!
//! The collector checks the schedule on every pass and caps its idle sleep at the time left
//! until the next due instant, so a rollover or a tick runs on time (within the OS's timer
//! slack) whether records are flowing or not. Everything here runs on the collector thread,
//! never on the hot path. A task must not push into a ring of its own instance (with
//! `Backpressure::Block` the collector would wait for itself): it sets gauges directly with
//! [`TickContext::set_gauge`].

use std::time::{Duration, Instant};

use super::aggregate::{assemble, Aggregates, Aggregator};
use super::Snapshot;
use crate::pipeline::Shared;
use crate::series::{SeriesKind, OWN_PREFIX};
use crate::time::{now_ticks, Clock};
use crate::Timestamp;

/// A job the collector runs at most every `monitor_tick` (see
/// [`crate::TelemetryBuilder::monitor_tick`]), registered with
/// `TelemetryBuilder::collector_task`.
///
/// Runs on the collector thread with the aggregates locked: keep it short (a snapshot caller
/// waits meanwhile, and records are not drained), and read them through
/// [`TickContext::snapshot`], never `Telemetry::snapshot` (which would wait for the lock the
/// task runs under). A panic is caught and counted; the task is called again at the next
/// tick.
pub(crate) trait CollectorTask: Send + 'static {
    /// One tick. `ctx` gives the time, a snapshot built at most once per tick and shared by
    /// every task, and direct gauge writes.
    fn tick(&mut self, ctx: &mut TickContext<'_>);

    /// Called after each [`CollectorTask::tick`], once the collector has released the
    /// aggregates: the place for anything that calls out of tickwatch (alert sinks, user
    /// callbacks), which may then ask the instance for a snapshot. Runs on the collector
    /// thread, so it must still be short and must not wait for the collector (no `flush()`).
    fn after_tick(&mut self) {}

    /// Called once at shutdown, after the final drain (deliver what is queued).
    fn finish(&mut self) {}
}

/// A gauge series a task writes with [`TickContext::set_gauge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GaugeId(u32);

/// What a [`CollectorTask`] sees during one tick.
pub(crate) struct TickContext<'a> {
    now: Timestamp,
    instant: Instant,
    owner: &'a Aggregates,
    aggregates: &'a mut Aggregator,
    snapshot: Option<Snapshot>,
}

impl<'a> TickContext<'a> {
    pub(crate) fn new(
        owner: &'a Aggregates,
        aggregates: &'a mut Aggregator,
        instant: Instant,
    ) -> Self {
        TickContext {
            now: wall_now(),
            instant,
            owner,
            aggregates,
            snapshot: None,
        }
    }

    /// Wall-clock time of this tick.
    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }

    /// Monotonic time of this tick (for `for` durations and rates).
    pub(crate) fn instant(&self) -> Instant {
        self.instant
    }

    /// The instance (its `stats()`, configuration and series registry).
    pub(crate) fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// Every series as of this tick. Built on first use and reused by the later tasks of the
    /// same tick (a [`TickContext::set_gauge`] discards it, so the next call sees the write).
    pub(crate) fn snapshot(&mut self) -> &Snapshot {
        let (owner, aggregates, instant, now) =
            (self.owner, &mut *self.aggregates, self.instant, self.now);
        self.snapshot.get_or_insert_with(|| {
            let values = aggregates.values();
            let (window, uptime) = (aggregates.window_secs(), aggregates.uptime(instant));
            assemble(values, window, uptime, owner, now)
        })
    }

    /// Registers (once; later calls find it) a gauge series of `kind` `Resource` or `Metric`
    /// for [`TickContext::set_gauge`]. Any other kind is registered as a `Resource`.
    ///
    /// A name starting with `tickwatch_` (tickwatch's own gauges, such as the self-watch's)
    /// is reserved: not counted against `max_series` and never refused, so an application
    /// that filled the cap still sees them. Tasks register a bounded set of such keys. Any
    /// other name counts against the cap like an application's series (past it, the
    /// overflow series).
    pub(crate) fn gauge(&self, kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> GaugeId {
        let kind = match kind {
            SeriesKind::Metric => SeriesKind::Metric,
            _ => SeriesKind::Resource,
        };
        let series = &self.owner.shared.series;
        let info = if name.starts_with(OWN_PREFIX) {
            series.register_own(kind, name, tags)
        } else {
            series.register(kind, name, tags)
        };
        GaugeId(info.id())
    }

    /// Sets a gauge as a sample taken now: straight into the aggregates, not through a ring,
    /// so sinks do not see it; snapshots (and so exposition and alert rules) do.
    pub(crate) fn set_gauge(&mut self, gauge: GaugeId, value: f64) {
        self.aggregates.set_gauge(gauge.0, value, now_ticks());
        self.snapshot = None;
    }
}

/// The current wall-clock time, on the same clock as record timestamps.
pub(crate) fn wall_now() -> Timestamp {
    Clock::global().conversion().timestamp(now_ticks())
}

/// When the next rollover and the next task tick are due.
pub(crate) struct Schedule {
    interval: Duration,
    tick: Duration,
    next_rollover: Instant,
    next_tick: Instant,
}

/// What is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) rollover: bool,
    pub(crate) tick: bool,
}

impl Schedule {
    pub(crate) fn new(interval: Duration, tick: Duration, start: Instant) -> Schedule {
        Schedule {
            interval,
            tick,
            next_rollover: start + interval,
            next_tick: start + tick,
        }
    }

    /// Brings the first tick forward to at most `d` after the start (the ticks after it keep
    /// their period).
    pub(crate) fn first_tick_within(mut self, d: Duration) -> Schedule {
        if let Some(start) = self.next_tick.checked_sub(self.tick) {
            self.next_tick = self.next_tick.min(start + d);
        }
        self
    }

    /// The earliest instant something is due.
    pub(crate) fn next_due(&self) -> Instant {
        self.next_rollover.min(self.next_tick)
    }

    /// What is due at `now`, advancing past it. A missed period (a stalled collector) is
    /// skipped, not replayed: the next one is a full period after `now`.
    pub(crate) fn take_due(&mut self, now: Instant) -> Due {
        fn advance(next: &mut Instant, period: Duration, now: Instant) -> bool {
            if now < *next {
                return false;
            }
            *next += period;
            if *next <= now {
                *next = now + period;
            }
            true
        }
        Due {
            rollover: advance(&mut self.next_rollover, self.interval, now),
            tick: advance(&mut self.next_tick, self.tick, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tick_can_come_early_and_the_period_stays() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule::new(ms(10_000), ms(1_000), t0).first_tick_within(ms(100));
        assert_eq!(s.next_due(), t0 + ms(100));
        assert!(s.take_due(t0 + ms(100)).tick);
        assert_eq!(s.next_due(), t0 + ms(1_100));
        // A tick shorter than the bound is left alone.
        let s = Schedule::new(ms(10_000), ms(30), t0).first_tick_within(ms(100));
        assert_eq!(s.next_due(), t0 + ms(30));
    }

    #[test]
    fn schedule_fires_each_period_once_and_skips_missed_ones() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule::new(ms(100), ms(30), t0);
        assert_eq!(s.next_due(), t0 + ms(30));
        assert_eq!(
            s.take_due(t0 + ms(10)),
            Due {
                rollover: false,
                tick: false
            }
        );
        assert_eq!(
            s.take_due(t0 + ms(30)),
            Due {
                rollover: false,
                tick: true
            }
        );
        assert_eq!(s.next_due(), t0 + ms(60));
        // A stall of 500 ms: each fires once, then resumes a period later.
        assert_eq!(
            s.take_due(t0 + ms(600)),
            Due {
                rollover: true,
                tick: true
            }
        );
        assert_eq!(s.next_due(), t0 + ms(630));
        assert!(!s.take_due(t0 + ms(629)).tick);
    }
}
