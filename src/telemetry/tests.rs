//! The layers composed: collector tasks plugged into an instance through the metrics layer's
//! hooks (the tick's own tests live here because they need a whole instance).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Telemetry;
use crate::metrics::{CollectorTask, GaugeId, SeriesValue, TickContext};
use crate::series::SeriesKind;

/// Counts its ticks and publishes the count as a gauge, as the resource sampler will.
struct Probe {
    ticks: Arc<AtomicU64>,
    gauge: Option<GaugeId>,
    saw_itself: Arc<AtomicU64>,
}

impl CollectorTask for Probe {
    fn tick(&mut self, ctx: &mut TickContext<'_>) {
        let n = self.ticks.fetch_add(1, Relaxed) + 1;
        let g = *self
            .gauge
            .get_or_insert_with(|| ctx.gauge(SeriesKind::Resource, "probe_ticks", &[]));
        ctx.set_gauge(g, n as f64);
        if ctx.snapshot().find("probe_ticks", &[]).is_some() {
            self.saw_itself.fetch_add(1, Relaxed);
        }
    }
}

struct Panicky;

impl CollectorTask for Panicky {
    fn tick(&mut self, _: &mut TickContext<'_>) {
        panic!("a task's bug must not stop the collector");
    }
}

#[test]
fn tasks_tick_while_idle_and_their_gauges_reach_snapshots() {
    let ticks = Arc::new(AtomicU64::new(0));
    let saw = Arc::new(AtomicU64::new(0));
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_millis(5))
        .collector_task(Box::new(Panicky))
        .collector_task(Box::new(Probe {
            ticks: ticks.clone(),
            gauge: None,
            saw_itself: saw.clone(),
        }))
        .start()
        .unwrap();
    // No record is ever pushed: the ticks come from the schedule alone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ticks.load(Relaxed) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ticks.load(Relaxed) >= 3, "ticks: {}", ticks.load(Relaxed));
    assert!(tw.shared().progress.task_panics.load(Relaxed) >= 3);
    let snap = tw.snapshot();
    let s = snap
        .find("probe_ticks", &[])
        .expect("gauge set by the task");
    assert_eq!(s.kind, SeriesKind::Resource);
    match &s.value {
        SeriesValue::Gauge(g) => assert!(g.total.count >= 3 && g.total.last >= 3.0),
        other => panic!("{other:?}"),
    }
    // Compared once the collector has stopped: a tick between the two loads made this
    // flaky on a loaded machine.
    tw.shutdown().unwrap();
    assert_eq!(saw.load(Relaxed), ticks.load(Relaxed));
}
