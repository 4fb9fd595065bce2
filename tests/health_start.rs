//! Health right after start: nothing measured yet reads `unknown` (pending), never
//! `healthy`; every built-in component leaves it at the collector's first judgement; and
//! drops made before that judgement are counted in it (the baseline is 0, not the first
//! reading).
//!
//! No timed assertions: the fresh instance's first tick is an hour away; the other waits poll
//! with a generous deadline.

#[path = "common/poll.rs"]
mod poll;

use std::time::Duration;

use tickwatch::health::component::{ALERTS, BUDGET, COLLECTOR, RESOURCES, RINGS, SINKS};
use tickwatch::health::{CollectorPolicy, HealthStatus, Status, PENDING};
use tickwatch::sink::MemorySink;
use tickwatch::{Backpressure, Telemetry};

const DEADLINE: Duration = Duration::from_secs(20);

fn status_of(h: &HealthStatus, name: &str) -> Status {
    h.component(name)
        .unwrap_or_else(|| panic!("no component {name} in {h:#?}"))
        .status
}

const BUILTINS: [&str; 7] = [
    COLLECTOR,
    RINGS,
    SINKS,
    "tickwatch.sink.memory",
    ALERTS,
    RESOURCES,
    BUDGET,
];

#[test]
fn a_fresh_instance_is_pending_not_healthy() {
    let hour = Duration::from_secs(3600);
    let tw = Telemetry::builder()
        // No tick, and so no judgement, during the test; nothing goes stale either.
        .monitor_tick(hour)
        .collector_policy(CollectorPolicy {
            stale_after: 2 * hour,
            ..CollectorPolicy::default()
        })
        .sink(MemorySink::new())
        .start()
        .unwrap();
    let h = tw.get_system_health();
    assert_eq!(h.status, Status::Unknown, "{h:#?}");
    assert!(!h.is_healthy());
    for name in BUILTINS {
        let c = h
            .component(name)
            .unwrap_or_else(|| panic!("{name} missing: {h:#?}"));
        assert_eq!(c.status, Status::Unknown, "{name}: {h:#?}");
        assert_eq!(c.message, PENDING, "{name}");
    }
    assert_eq!(h.components.len(), BUILTINS.len(), "{h:#?}");
    // Serialized as "unknown" (what `/health` returns in its body).
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["status"], "unknown");
    tw.shutdown().unwrap();
}

#[test]
fn every_builtin_component_leaves_pending_at_its_first_judgement() {
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_millis(10))
        .sink(MemorySink::new())
        .start()
        .unwrap();
    let mut last = None;
    let h = poll::poll_every(DEADLINE, Duration::from_millis(1), || {
        let h = tw.get_system_health();
        let judged = BUILTINS.iter().all(|n| status_of(&h, n) != Status::Unknown);
        last = Some(h.clone());
        judged.then_some(h)
    })
    .unwrap_or_else(|| panic!("never judged: {last:#?}"));
    // The resource sampler's baseline is taken at start, so its first sample (at the first
    // tick) already measures the budget: both parts have numbers.
    let budget = &h.component(BUDGET).unwrap().message;
    assert!(
        budget.starts_with("monitoring 0.") && budget.contains(", logging 0."),
        "{budget}"
    );
    tw.shutdown().unwrap();
}

#[test]
fn drops_before_the_first_tick_show_at_the_first_judgement() {
    // The rings are judged at the first resource sample, at the first tick, a second after
    // start (the defaults). Everything is dropped before it: the burst below takes far less.
    let tw = Telemetry::builder()
        .ring_capacity(256)
        .backpressure(Backpressure::Drop)
        .start()
        .unwrap();
    let spread = tw.metric("spread", &[]);
    for i in 0..2_000 {
        spread.record(f64::from(i));
    }
    let dropped = tw.stats().dropped;
    assert!(
        dropped > 1_000,
        "a 256-byte ring holds a few records: {dropped}"
    );
    let before = tw.get_system_health();
    assert_eq!(
        status_of(&before, RINGS),
        Status::Unknown,
        "the burst must land before the first judgement (a second after start): {before:#?}"
    );
    let mut last = None;
    let rings = poll::poll_every(DEADLINE, Duration::from_millis(5), || {
        let h = tw.get_system_health();
        let c = h.component(RINGS)?.clone();
        last = Some(h);
        (c.status != Status::Unknown).then_some(c)
    })
    .unwrap_or_else(|| panic!("the rings were never judged: {last:#?}"));
    // The first judgement counts from 0: every drop since start, not "no drops".
    assert_eq!(rings.status, Status::Degraded, "{rings:#?}");
    assert!(
        rings
            .message
            .starts_with(&format!("{dropped} records dropped")),
        "{rings:#?}"
    );
    tw.shutdown().unwrap();
}
