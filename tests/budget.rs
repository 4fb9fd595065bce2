//! The cost budget: its verdict on fixed samples, and through a running instance, where the
//! time spent inside a sink is the logging cost, not the collector's (monitoring) cost. A
//! sink that burns 20 ms of CPU on every write keeps the collector busy almost all the time;
//! before the split the whole was charged to monitoring (and read "monitoring over
//! budget"), now it shows as logging.
//!
//! No timed assertions: the test waits (polling, generous deadline) for a sample in which
//! the sink's share is large, then checks how the sample and the verdict split it.

#[path = "common/poll.rs"]
mod poll;

use std::time::{Duration, Instant};

use tickwatch::health::component::BUDGET;
use tickwatch::health::{CostBudget, Status};
use tickwatch::metrics::{GaugeStats, SeriesValue, Snapshot};
use tickwatch::resources::ResourceSample;
use tickwatch::sink::{Batch, Sink, SinkError};
use tickwatch::Telemetry;

const DEADLINE: Duration = Duration::from_secs(30);

/// Burns `per_write` of CPU (spinning, not sleeping: CPU time is what the collector thread's
/// counter sees) in every write.
struct BurningSink {
    per_write: Duration,
}

impl Sink for BurningSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < self.per_write {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        Ok(())
    }
}

fn gauge(snap: &Snapshot, name: &str) -> Option<GaugeStats> {
    snap.find(name, &[]).and_then(|s| match &s.value {
        SeriesValue::Gauge(g) => Some(g.total),
        _ => None,
    })
}

#[test]
fn time_in_a_slow_sink_is_charged_to_logging_not_to_monitoring() {
    // A loose monitoring budget, so that only a collector charged for the sink's work could
    // exceed it; a logging budget the burning sink exceeds many times over.
    let budget = CostBudget {
        monitoring_cpu_ratio: 0.5,
        logging_cpu_ratio: 0.05,
        ..CostBudget::default()
    };
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_millis(10))
        .resource_sampling(Some(Duration::from_millis(200)))
        .cost_budget(budget)
        .sink(BurningSink {
            per_write: Duration::from_millis(20),
        })
        .start()
        .unwrap();
    let spread = tw.metric("spread", &[]);
    let mut i = 0.0;
    let mut last = None;
    // Records keep arriving (one per poll, every millisecond), so the collector spends most
    // of its time in 20 ms writes (between them it sleeps as long as the slow rate allows,
    // up to the 10 ms tick): a sample soon shows more than half its time inside the sink.
    // Only full 200 ms samples are looked at: the first one covers the time from start to
    // the first tick (10 ms), too short for a per-thread CPU counter that the kernel updates
    // every few milliseconds.
    let (cpu, own, sink) = poll::poll_every(DEADLINE, Duration::from_millis(1), || {
        i += 1.0;
        spread.record(i);
        let snap = tw.snapshot();
        let interval = gauge(&snap, "tickwatch_resource_sample_interval_seconds")?;
        let got = (
            gauge(&snap, "tickwatch_collector_cpu_ratio")?.last,
            gauge(&snap, "tickwatch_collector_own_cpu_ratio")?.last,
            gauge(&snap, "tickwatch_sink_cpu_ratio")?.last,
        );
        last = Some((interval, got));
        (interval.count >= 3 && interval.last >= 0.15 && got.2 >= 0.5).then_some(got)
    })
    .unwrap_or_else(|| panic!("no full sample with the sink busy: last {last:?}"));
    // One sample's three numbers (written together on one tick): the collector's own work
    // is its CPU minus the sink's, never negative. On Linux the sink's CPU is measured on
    // the thread's CPU clock (sampled batches, scaled up, capped at the thread's CPU);
    // elsewhere it is apportioned by wall time.
    let expected_own = (cpu - sink).max(0.0);
    assert!(
        (own - expected_own).abs() < 1e-6,
        "own {own} != max(0, cpu {cpu} - sink {sink})"
    );
    assert!(own < sink, "own {own}, sink {sink}");

    // The verdict: logging over its budget, monitoring within its own.
    let mut last = None;
    // Judged at least on the second sample by now (a full interval).
    let budget = poll::poll_every(DEADLINE, Duration::from_millis(1), || {
        i += 1.0;
        spread.record(i);
        let h = tw.get_system_health();
        let c = h.component(BUDGET)?.clone();
        last = Some(c.clone());
        c.message.contains("logging").then_some(())?;
        let (_, logging) = c.message.split_once(", logging ")?;
        logging
            .starts_with(|ch: char| ch.is_ascii_digit())
            .then_some(())?;
        let logging_ratio: f64 = logging.split(' ').next()?.parse().ok()?;
        (logging_ratio >= 0.5).then_some(c)
    })
    .unwrap_or_else(|| panic!("the budget never judged a busy sample: {last:#?}"));
    assert_eq!(budget.status, Status::Degraded, "{budget:#?}");
    let (monitoring, logging) = budget.message.split_once(", logging ").unwrap();
    assert!(
        logging.contains("of 0.05 (degraded; CPU in sinks"),
        "logging over budget: {}",
        budget.message
    );
    assert!(
        monitoring.starts_with("monitoring ") && !monitoring.contains("degraded"),
        "the sink's time is not the collector's: {}",
        budget.message
    );
    tw.shutdown().unwrap();
}

#[test]
fn cost_budget_judges_the_collector_and_the_sinks_apart() {
    let b = CostBudget::default();
    let within = ResourceSample {
        collector_cpu_ratio: Some(0.02),
        collector_own_cpu_ratio: Some(0.015),
        sink_cpu_ratio: Some(0.005),
        records_per_second: Some(100_000.0),
        ..ResourceSample::default()
    };
    let c = b.evaluate(&within);
    assert_eq!(c.status, Status::Healthy, "{}", c.message);
    assert!(
        c.message.contains(
            "monitoring 0.0150 of 0.05 (collector CPU 0.0200 less the sinks' share; 150 ns/record)"
        ),
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("logging 0.0050 of 0.02 (CPU in sinks; 50 ns/record)"),
        "{}",
        c.message
    );
    // The hot-path estimate (100k records/s at 20 ns: 0.2 %) is shown, never judged.
    assert!(
        c.message
            .contains("hot path ~0.0020 (estimate at 20 ns/record; not judged)"),
        "{}",
        c.message
    );
    let chatty = ResourceSample {
        records_per_second: Some(10_000_000.0), // 20 % of a core at 20 ns: not judged
        ..within.clone()
    };
    assert_eq!(b.evaluate(&chatty).status, Status::Healthy);

    // The collector itself over budget: monitoring degraded, logging not.
    let collector_hot = ResourceSample {
        collector_cpu_ratio: Some(0.065),
        collector_own_cpu_ratio: Some(0.06),
        ..within.clone()
    };
    let c = b.evaluate(&collector_hot);
    assert_eq!(c.status, Status::Degraded);
    assert!(
        c.message.contains("monitoring 0.0600 of 0.05 (degraded;"),
        "{}",
        c.message
    );
    assert!(
        c.message.contains("logging 0.0050 of 0.02 (CPU in sinks"),
        "{}",
        c.message
    );

    // Busy sinks: a collector at 30 % of a core of which 28 % inside the sinks is over the
    // logging budget and within the monitoring one.
    let busy_sinks = ResourceSample {
        collector_cpu_ratio: Some(0.30),
        collector_own_cpu_ratio: Some(0.02),
        sink_cpu_ratio: Some(0.28),
        ..within.clone()
    };
    let c = b.evaluate(&busy_sinks);
    assert_eq!(c.status, Status::Degraded);
    assert!(
        c.message
            .contains("monitoring 0.0200 of 0.05 (collector CPU 0.3000"),
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("logging 0.2800 of 0.02 (degraded; CPU in sinks; 2800 ns/record)"),
        "{}",
        c.message
    );

    // Nothing measured yet: unknown, not healthy; and one part unknown is enough.
    let c = b.evaluate(&ResourceSample::default());
    assert_eq!(c.status, Status::Unknown, "{}", c.message);
    assert!(c.message.contains("monitoring unknown"), "{}", c.message);
    let no_thread_cpu = ResourceSample {
        collector_cpu_ratio: None,
        collector_own_cpu_ratio: None,
        ..within
    };
    assert_eq!(b.evaluate(&no_thread_cpu).status, Status::Unknown);
}
