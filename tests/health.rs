//! Health: aggregation (the worst component wins), checks (including one that panics),
//! pushed statuses going stale on an injected clock, a stalled collector, the built-in
//! evaluators, and the serde form.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tickwatch::health::{
    Bound, CollectorInput, CollectorPolicy, ComponentCheck, Health, HealthStatus,
    RegisterHealthError, ResourceThresholds, RingInput, RingPolicy, SinkHealth, SinkPolicy,
    Staleness, Status, PENDING,
};

use tickwatch::resources::ResourceSample;
use tickwatch::{ManualClock, Timestamp};

const ALL: [Status; 4] = [
    Status::Healthy,
    Status::Unknown,
    Status::Degraded,
    Status::Unhealthy,
];

fn clock_at(secs: u64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_unix_nanos(
        secs * 1_000_000_000,
    )))
}

/// Every permutation of `items` (n <= 3 here).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

#[test]
fn status_is_ordered_worst_last() {
    // Not measured sorts above healthy (it must keep the whole from reading healthy) and
    // below every measured problem (which it must not hide).
    assert!(Status::Healthy < Status::Unknown);
    assert!(Status::Unknown < Status::Degraded);
    assert!(Status::Degraded < Status::Unhealthy);
    for a in ALL {
        for b in ALL {
            assert_eq!(a.worst(b), if a > b { a } else { b });
        }
    }
}

#[test]
fn no_component_is_healthy() {
    let h = Health::new().get_system_health();
    assert_eq!(h.status, Status::Healthy);
    assert!(h.components.is_empty());
}

#[test]
fn worst_component_wins_in_every_order_and_every_mix() {
    // Every multiset of 1..=3 statuses, registered in every order, half as checks and half
    // pushed: the overall status is the worst, whatever the order or the kind.
    let mut mixes: Vec<Vec<Status>> = Vec::new();
    for a in ALL {
        mixes.push(vec![a]);
        for b in ALL {
            mixes.push(vec![a, b]);
            for c in ALL {
                mixes.push(vec![a, b, c]);
            }
        }
    }
    for mix in mixes {
        let expected = *mix.iter().max().unwrap();
        for order in permutations(&mix) {
            for pushed_first in [false, true] {
                let health = Health::new();
                for (i, st) in order.iter().copied().enumerate() {
                    let name = format!("c{i}");
                    if (i % 2 == 0) == pushed_first {
                        health
                            .register_pushed(&name, None)
                            .unwrap()
                            .set(st, "pushed");
                    } else {
                        health
                            .register_check(&name, move || (st, "checked".to_string()))
                            .unwrap();
                    }
                }
                let h = health.get_system_health();
                assert_eq!(h.status, expected, "order {order:?}");
                assert_eq!(health.status(), expected);
                let got: Vec<Status> = h.components.iter().map(|c| c.status).collect();
                assert_eq!(got, order, "components in registration order");
            }
        }
    }
}

#[test]
fn checks_run_on_every_call() {
    let health = Health::new();
    let state = Arc::new(AtomicU8::new(0));
    let s = state.clone();
    health
        .register_check("flaky", move || match s.load(Ordering::SeqCst) {
            0 => ComponentCheck::healthy("fine"),
            _ => ComponentCheck::new(Status::Degraded, "slow"),
        })
        .unwrap();
    assert_eq!(health.status(), Status::Healthy);
    state.store(1, Ordering::SeqCst);
    let h = health.get_system_health();
    assert_eq!(h.status, Status::Degraded);
    assert_eq!(h.component("flaky").unwrap().message, "slow");
}

#[test]
fn panicking_check_is_reported_unhealthy_and_others_still_run() {
    let health = Health::new();
    health
        .register_check("ok", || (Status::Healthy, "fine"))
        .unwrap();
    health
        .register_check("boom", || -> ComponentCheck {
            panic!("database handle gone")
        })
        .unwrap();
    health
        .register_check("after", || (Status::Degraded, "late"))
        .unwrap();
    let h = health.get_system_health();
    assert_eq!(h.status, Status::Unhealthy);
    let boom = h.component("boom").unwrap();
    assert_eq!(boom.status, Status::Unhealthy);
    assert!(
        boom.message.contains("database handle gone"),
        "{}",
        boom.message
    );
    assert_eq!(h.component("after").unwrap().status, Status::Degraded);
    // The registry survives the panic.
    assert_eq!(health.get_system_health().components.len(), 3);
}

#[test]
fn pushed_status_records_when_it_was_updated() {
    let clock = clock_at(100);
    let health = Health::with_clock(clock.clone());
    let feed = health.register_pushed("feed", None).unwrap();
    let h = health.get_system_health();
    assert_eq!(h.component("feed").unwrap().status, Status::Unknown);
    assert_eq!(h.component("feed").unwrap().message, PENDING);
    assert_eq!(
        h.component("feed").unwrap().updated_at,
        clock_at(100).now_ts()
    );
    clock.advance(Duration::from_secs(7));
    feed.set(Status::Degraded, "lagging");
    clock.advance(Duration::from_secs(1));
    let h = health.get_system_health();
    let c = h.component("feed").unwrap();
    assert_eq!(c.updated_at, clock_at(107).now_ts());
    assert_eq!(c.status, Status::Degraded);
    assert_eq!(c.message, "lagging");
    assert_eq!(h.checked_at, clock_at(108).now_ts());
}

#[test]
fn a_pushed_component_is_unknown_until_its_first_update() {
    let clock = clock_at(50);
    let health = Health::with_clock(clock.clone());
    health
        .register_check("db", || (Status::Healthy, "connected"))
        .unwrap();
    let feed = health
        .register_pushed(
            "feed",
            Some(Staleness::degraded_after(Duration::from_secs(5))),
        )
        .unwrap();
    // Registered is not measured: the whole is not healthy while a part is pending.
    let h = health.get_system_health();
    assert_eq!(h.status, Status::Unknown, "{h:#?}");
    assert!(!h.is_healthy());
    assert_eq!(feed.last(), ComponentCheck::new(Status::Unknown, PENDING));
    // A measured problem elsewhere is not hidden behind the pending part.
    let risk = health.register_pushed("risk", None).unwrap();
    risk.set(Status::Degraded, "limits stale");
    assert_eq!(health.status(), Status::Degraded);
    risk.set(Status::Healthy, "limits fresh");
    // The first update leaves unknown.
    feed.set(Status::Healthy, "quotes flowing");
    assert_eq!(health.status(), Status::Healthy);
    // A component that never reports goes stale like any other.
    let _silent = health
        .register_pushed(
            "silent",
            Some(Staleness::degraded_after(Duration::from_secs(5))),
        )
        .unwrap();
    feed.touch();
    assert_eq!(health.status(), Status::Unknown);
    clock.advance(Duration::from_secs(6));
    feed.touch();
    let h = health.get_system_health();
    assert_eq!(h.component("silent").unwrap().status, Status::Degraded);
    assert!(h.component("silent").unwrap().message.contains(PENDING));
}

trait NowTs {
    fn now_ts(&self) -> Timestamp;
}
impl NowTs for Arc<ManualClock> {
    fn now_ts(&self) -> Timestamp {
        tickwatch::WallClock::now(&**self)
    }
}

#[test]
fn stale_pushed_status_turns_unhealthy_then_recovers_on_update() {
    let clock = clock_at(1_000);
    let health = Health::with_clock(clock.clone());
    let h = health
        .register_pushed(
            "feed",
            Some(Staleness::unhealthy_after(Duration::from_secs(5))),
        )
        .unwrap();
    h.set(Status::Healthy, "quotes flowing");
    clock.advance(Duration::from_secs(5));
    assert_eq!(health.status(), Status::Healthy, "exactly at the limit");
    clock.advance(Duration::from_millis(1));
    let got = health.get_system_health();
    let c = got.component("feed").unwrap();
    assert_eq!(c.status, Status::Unhealthy);
    assert!(c.message.starts_with("stale"), "{}", c.message);
    assert!(c.message.contains("quotes flowing"), "{}", c.message);
    assert_eq!(got.status, Status::Unhealthy);
    h.touch();
    assert_eq!(health.status(), Status::Healthy);
}

#[test]
fn stale_degraded_never_improves_a_worse_status() {
    let clock = clock_at(0);
    let health = Health::with_clock(clock.clone());
    let h = health
        .register_pushed("x", Some(Staleness::degraded_after(Duration::from_secs(1))))
        .unwrap();
    h.set(Status::Healthy, "");
    clock.advance(Duration::from_secs(2));
    assert_eq!(health.status(), Status::Degraded);
    h.set(Status::Unhealthy, "down");
    clock.advance(Duration::from_secs(2));
    assert_eq!(health.status(), Status::Unhealthy);
}

#[test]
fn stalled_collector_shows_from_another_thread() {
    // The collector pushes on every tick; when it stops ticking nothing of it runs, yet a
    // health call from any thread must see it.
    let clock = clock_at(10_000);
    let health = Health::with_clock(clock.clone());
    let policy = CollectorPolicy::default();
    let collector = health
        .register_pushed("collector", Some(policy.staleness()))
        .unwrap();
    let mut lag = Duration::ZERO;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1));
        collector.set_check(&policy.evaluate(&CollectorInput {
            lag,
            ..Default::default()
        }));
        lag += Duration::from_millis(10);
    }
    let h2 = health.clone();
    let from_other = std::thread::spawn(move || h2.get_system_health())
        .join()
        .unwrap();
    assert_eq!(from_other.status, Status::Healthy);

    // Stalled: the clock moves, nothing pushes.
    clock.advance(Duration::from_secs(3600));
    let h2 = health.clone();
    let from_other = std::thread::spawn(move || h2.get_system_health())
        .join()
        .unwrap();
    assert_eq!(from_other.status, Status::Unhealthy);
    let c = from_other.component("collector").unwrap();
    assert_eq!(c.status, Status::Unhealthy);
    assert_eq!(c.updated_at, clock_at(10_003).now_ts());
}

#[test]
fn collector_lag_thresholds() {
    let p = CollectorPolicy::default();
    let eval = |ms| {
        p.evaluate(&CollectorInput {
            lag: Duration::from_millis(ms),
            ..Default::default()
        })
        .status
    };
    assert_eq!(eval(0), Status::Healthy);
    assert_eq!(eval(99), Status::Healthy);
    assert_eq!(eval(100), Status::Degraded);
    assert_eq!(eval(999), Status::Degraded);
    assert_eq!(eval(1_000), Status::Unhealthy);
}

#[test]
fn a_restart_degrades_the_collector_for_a_while() {
    let p = CollectorPolicy::default();
    let eval = |lag_ms, ago: Option<u64>| {
        p.evaluate(&CollectorInput {
            lag: Duration::from_millis(lag_ms),
            restarts: ago.map_or(0, |_| 2),
            since_restart: ago.map(Duration::from_secs),
        })
    };
    assert_eq!(eval(0, None).status, Status::Healthy);
    let c = eval(0, Some(5));
    assert_eq!(c.status, Status::Degraded);
    assert!(c.message.contains("restarted 5.0 s ago") && c.message.contains("2 restarts"));
    assert_eq!(eval(0, Some(59)).status, Status::Degraded);
    assert_eq!(
        eval(0, Some(60)).status,
        Status::Healthy,
        "60 s later it has healed"
    );
    assert_eq!(
        eval(1_000, Some(5)).status,
        Status::Unhealthy,
        "lag still counts"
    );
}

#[test]
fn ring_drops() {
    let p = RingPolicy::default();
    assert_eq!(
        p.evaluate(&RingInput { dropped: 0 }).status,
        Status::Healthy
    );
    assert_eq!(
        p.evaluate(&RingInput { dropped: 1 }).status,
        Status::Degraded
    );
    assert_eq!(
        p.evaluate(&RingInput { dropped: u64::MAX }).status,
        Status::Degraded
    );
    let strict = RingPolicy {
        degraded_drops: 10,
        unhealthy_drops: Some(1_000),
    };
    assert_eq!(
        strict.evaluate(&RingInput { dropped: 9 }).status,
        Status::Healthy
    );
    assert_eq!(
        strict.evaluate(&RingInput { dropped: 10 }).status,
        Status::Degraded
    );
    assert_eq!(
        strict.evaluate(&RingInput { dropped: 1_000 }).status,
        Status::Unhealthy
    );
}

#[test]
fn failing_sink_shows_degraded_then_unhealthy_when_it_persists() {
    let health = Health::new();
    let handle = health.register_pushed("sink:json", None).unwrap();
    let mut sink = SinkHealth::new(SinkPolicy::default());
    // The deltas of the sink's error counter over successive ticks.
    let mut seen = Vec::new();
    for delta in [0, 2, 0, 1, 1, 1, 0] {
        handle.set_check(&sink.observe(delta));
        seen.push(health.status());
    }
    use Status::*;
    assert_eq!(
        seen,
        [Healthy, Degraded, Healthy, Degraded, Degraded, Unhealthy, Healthy]
    );
    let burst = SinkPolicy {
        unhealthy_errors: Some(100),
        ..SinkPolicy::default()
    };
    assert_eq!(SinkHealth::new(burst).observe(100).status, Unhealthy);
}

#[test]
fn resource_thresholds_take_the_worst_bound() {
    let t = ResourceThresholds {
        resident_bytes: Bound::new(1e9, 4e9),
        open_fds: Bound::new(1_000.0, 10_000.0),
        cpu_ratio: Bound {
            degraded: Some(0.9),
            unhealthy: None,
        },
        ..ResourceThresholds::default()
    };
    let base = ResourceSample {
        resident_bytes: 500_000_000,
        open_fds: 10,
        process_cpu_ratio: Some(0.2),
        ..ResourceSample::default()
    };
    assert_eq!(t.evaluate(&base).status, Status::Healthy);
    let fat = ResourceSample {
        resident_bytes: 2_000_000_000,
        ..base.clone()
    };
    assert_eq!(t.evaluate(&fat).status, Status::Degraded);
    let leaking = ResourceSample {
        open_fds: 20_000,
        ..fat.clone()
    };
    let c = t.evaluate(&leaking);
    assert_eq!(c.status, Status::Unhealthy);
    assert!(
        c.message.contains("open_fds 20000 (unhealthy)"),
        "{}",
        c.message
    );
    assert!(
        c.message.contains("resident_bytes 2000000000 (degraded)"),
        "{}",
        c.message
    );
    let busy = ResourceSample {
        process_cpu_ratio: Some(50.0),
        ..base
    };
    assert_eq!(
        t.evaluate(&busy).status,
        Status::Degraded,
        "no unhealthy bound"
    );
    assert_eq!(
        ResourceThresholds::default().evaluate(&leaking).status,
        Status::Healthy,
        "every bound off by default"
    );
}

#[test]
fn registration_errors() {
    let health = Health::new();
    health
        .register_check("a", || (Status::Healthy, ""))
        .unwrap();
    assert_eq!(
        health.register_pushed("a", None).unwrap_err(),
        RegisterHealthError::Duplicate("a".into())
    );
    assert_eq!(
        health
            .register_check("", || (Status::Healthy, ""))
            .unwrap_err(),
        RegisterHealthError::EmptyName
    );
    assert!(health.unregister("a"));
    assert!(!health.unregister("a"));
    let h = health.register_pushed("a", None).unwrap();
    h.set(Status::Unhealthy, "x");
    assert_eq!(health.status(), Status::Unhealthy);
    assert!(health.unregister("a"));
    assert_eq!(
        health.status(),
        Status::Healthy,
        "a removed component no longer counts"
    );
}

#[test]
fn serde_round_trip_and_shape() {
    let clock = clock_at(1_700_000_000);
    let health = Health::with_clock(clock);
    health
        .register_check("db", || (Status::Degraded, "slow \"queries\"\n"))
        .unwrap();
    health.register_pushed("feed", None).unwrap();
    let h = health.get_system_health();
    let json = serde_json::to_string(&h).unwrap();
    let back: HealthStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["components"][0]["name"], "db");
    assert_eq!(v["components"][1]["status"], "unknown", "pushed, never set");
    assert_eq!(v["checked_at"], "2023-11-14T22:13:20.000000000Z");
    for s in ALL {
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), s);
    }
}

#[test]
fn handles_and_registry_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Health>();
    assert_send_sync::<tickwatch::health::HealthHandle>();
    let health = Health::new();
    let handles: Vec<_> = (0..4)
        .map(|i| health.register_pushed(&format!("w{i}"), None).unwrap())
        .collect();
    std::thread::scope(|s| {
        for (i, h) in handles.iter().enumerate() {
            s.spawn(move || {
                for _ in 0..1_000 {
                    h.set(Status::Healthy, "spinning");
                }
                h.set(
                    if i == 2 {
                        Status::Degraded
                    } else {
                        Status::Healthy
                    },
                    "done",
                );
            });
        }
        for _ in 0..100 {
            let _ = health.get_system_health();
        }
    });
    assert_eq!(health.status(), Status::Degraded);
}
