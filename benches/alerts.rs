//! Alert costs: one evaluation tick of 1,000 rules over a 10,000-series snapshot (target
//! <= 1 ms), against the per-rule scan it replaces; `send_alert` accepted and deduplicated,
//! against a bare mutex-plus-hash-map lookup (the floor of any locked dedup).

#[path = "../tests/common/snapshots.rs"]
mod snapshots;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use parking_lot::Mutex;
use snapshots::*;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use tickwatch::alerts::*;
use tickwatch::metrics::{SeriesValue, Snapshot};
use tickwatch::Timestamp;

const VENUES: [&str; 10] = [
    "XNAS", "XNYS", "XLON", "XPAR", "XETR", "XTKS", "XHKG", "XASX", "XTSE", "XSWX",
];

/// 10,000 series: 250 names x 10 venues for each of gauges, counters and latencies, plus
/// 2,500 gauges of one name with one instrument tag each.
fn big_snapshot() -> Snapshot {
    let mut series = Vec::with_capacity(10_000);
    for i in 0..250 {
        for (v, venue) in VENUES.iter().enumerate() {
            let x = (i * 10 + v) as f64;
            series.push(gauge(
                &format!("gauge_{i}"),
                &[("venue", venue)],
                x,
                &[x / 2.0, x],
            ));
            series.push(counter(
                &format!("counter_{i}"),
                &[("venue", venue)],
                Some((i + v) as u64),
            ));
            series.push(latency(
                &format!("latency_{i}"),
                &[("venue", venue)],
                Some(1_000 * x as u64),
                1_000,
            ));
        }
    }
    for i in 0..2_500 {
        series.push(gauge(
            "position",
            &[("instrument", &format!("I{i}"))],
            i as f64,
            &[i as f64],
        ));
    }
    snapshot(series)
}

/// 1,000 rules: 400 gauge (half with a venue matcher), 300 counter-rate, 200 latency, 99
/// absent, and one rule over all 2,500 `position` series. Bounds make about a tenth of the
/// watched series true, with a long `for`, so instances stay pending and are looked up
/// every tick.
fn rules() -> Vec<Rule> {
    let mut rules = Vec::with_capacity(1_000);
    for i in 0..400 {
        let mut selector = Selector::new(format!("gauge_{}", i % 250));
        if i % 2 == 0 {
            selector = selector.tag("venue", VENUES[i % 10]);
        }
        let bound = ((i % 250) * 10 + 8) as f64;
        rules.push(Rule::new(
            format!("g{i}"),
            Expr::Gauge {
                selector,
                stat: GaugeStat::Last,
                op: Op::Gt,
                bound,
            },
        ));
    }
    for i in 0..300 {
        rules.push(Rule::new(
            format!("c{i}"),
            Expr::CounterRate {
                selector: Selector::new(format!("counter_{}", i % 250)),
                op: Op::Gt,
                bound: (i % 250 + 8) as f64,
            },
        ));
    }
    for i in 0..200 {
        rules.push(Rule::new(
            format!("l{i}"),
            Expr::Latency {
                selector: Selector::new(format!("latency_{}", i % 250)),
                stat: LatencyStat::P99,
                horizon: Horizon::Window,
                above: Duration::from_micros(((i % 250) * 10 + 8) as u64),
            },
        ));
    }
    for i in 0..99 {
        rules.push(Rule::new(
            format!("a{i}"),
            Expr::Absent {
                selector: Selector::new(format!("missing_{i}")),
            },
        ));
    }
    rules.push(Rule::new(
        "position_large",
        Expr::Gauge {
            selector: Selector::new("position"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 2_250.0,
        },
    ));
    rules
        .into_iter()
        .map(|r| r.for_(Duration::from_secs(3_600)))
        .collect()
}

/// The peer: what each rule would cost scanning the whole snapshot for its series.
fn scan_per_rule(rules: &[Rule], snap: &Snapshot) -> usize {
    let mut matched = 0;
    for r in rules {
        let sel = r.expr.selector();
        for s in &snap.series {
            if s.name == sel.name
                && sel
                    .tags
                    .iter()
                    .all(|(k, v)| s.tags.iter().any(|(sk, sv)| sk == k && sv == v))
            {
                if let SeriesValue::Gauge(g) = &s.value {
                    matched += usize::from(g.total.last > 0.0);
                } else {
                    matched += 1;
                }
            }
        }
    }
    matched
}

fn evaluation(c: &mut Criterion) {
    let snap = big_snapshot();
    assert_eq!(snap.series.len(), 10_000);
    let rules = rules();
    let mut engine = RuleEngine::new(rules.clone()).unwrap();
    // Settle: the first tick creates the pending instances.
    let first = engine.evaluate(&snap, t(0));
    assert!(first.iter().all(|n| n.transition == Transition::Firing) && first.is_empty());
    let pending = engine.stats().pending;
    // One true series per gauge (name-only), counter and latency rule, 99 absences and
    // 249 large positions.
    assert_eq!(pending, 1_048);
    let mut g = c.benchmark_group("alerts_eval");
    g.measurement_time(Duration::from_secs(3));
    let mut tick = 1;
    let mut out = Vec::new();
    g.bench_function("1000_rules_10000_series/engine", |b| {
        b.iter(|| {
            tick += 1;
            out.clear();
            engine.evaluate_into(black_box(&snap), t(tick % 1_000), &mut out);
            black_box(out.len())
        })
    });
    g.sample_size(10);
    g.bench_function("1000_rules_10000_series/scan_per_rule_peer", |b| {
        b.iter(|| black_box(scan_per_rule(black_box(&rules), black_box(&snap))))
    });
    g.finish();
    assert_eq!(
        engine.stats().pending,
        pending,
        "steady state: nothing fired or cleared"
    );
}

fn unlimited(clock: Arc<ManualClock>) -> Alerts {
    Alerts::new(
        AlertsConfig {
            per_name: None,
            global: None,
            max_active: 1_000_000,
            outbox_capacity: 1_000_000,
            ..AlertsConfig::default()
        },
        clock,
    )
}

fn send(c: &mut Criterion) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_nanos(0)));
    let alert = Alert::new("feed_stale", Severity::Critical, "no ticks")
        .label("venue", "XNAS")
        .label("desk", "eq");
    let mut g = c.benchmark_group("alerts_send");
    g.measurement_time(Duration::from_secs(3));

    let dedup = unlimited(clock.clone());
    let _ = dedup.send_alert(alert.clone());
    g.bench_function("send_alert/deduplicated", |b| {
        b.iter_batched(
            || alert.clone(),
            |a| black_box(dedup.send_alert(a)),
            BatchSize::SmallInput,
        )
    });

    const N: usize = 1_000;
    let fresh: Vec<Alert> = (0..N)
        .map(|i| alert.clone().label("order", i.to_string()))
        .collect();
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("send_alert/accepted_x1000", |b| {
        b.iter_batched(
            || (unlimited(clock.clone()), fresh.clone()),
            |(m, alerts)| {
                for a in alerts {
                    let _ = black_box(m.send_alert(a));
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(1));

    // The floor: lock an uncontended mutex and look an owned key up in a hash map.
    let key = (alert.name.clone(), alert.labels.clone());
    let map = Mutex::new(HashMap::from([(key.clone(), 1u64)]));
    g.bench_function("floor/mutex_hashmap_lookup", |b| {
        b.iter_batched(
            || key.clone(),
            |k| {
                let mut m = map.lock();
                if let Some(c) = m.get_mut(&k) {
                    *c += 1;
                }
                black_box(k)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, evaluation, send);
criterion_main!(benches);
