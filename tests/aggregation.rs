//! Aggregation on the collector, seen through `Telemetry::snapshot()`: percentiles against
//! exact ones, counters and gauges exact, window rollover, the series cap, serde, threads.
//!
//! Precision, as checked here: a reported percentile `r` of the `rank`-th smallest sample
//! `x` (rank = ceil(q * n), at least 1) satisfies `x <= r <= x + x / 1000 + 1`: the HDR
//! histogram keeps 3 significant digits, and reports the highest value of the sub-bucket
//! holding `x` (never above the exact maximum).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use tickwatch::metrics::{
    CounterValue, GaugeValue, LatencyValue, SeriesValue, Snapshot, MAX_TRACKABLE_NS,
};
use tickwatch::metrics::{SeriesKind, OVERFLOW_COUNTER, OVERFLOW_METRIC};
use tickwatch::{RegisterError, StartError, Telemetry};

fn start() -> Telemetry {
    Telemetry::builder().start().expect("valid configuration")
}

fn latency<'a>(s: &'a Snapshot, name: &str) -> &'a LatencyValue {
    match s.find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Latency(l)) => l,
        other => panic!("{name}: {other:?}"),
    }
}

fn counter<'a>(s: &'a Snapshot, name: &str, tags: &[(&str, &str)]) -> &'a CounterValue {
    match s.find(name, tags).map(|s| &s.value) {
        Some(SeriesValue::Counter(c)) => c,
        other => panic!("{name}: {other:?}"),
    }
}

fn gauge<'a>(s: &'a Snapshot, name: &str) -> &'a GaugeValue {
    match s.find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Gauge(g)) => g,
        other => panic!("{name}: {other:?}"),
    }
}

/// What the HDR histogram records for a sample: 0 as 1 ns, above 1 h as 1 h.
fn recorded(ns: u64) -> u64 {
    ns.clamp(1, MAX_TRACKABLE_NS)
}

/// Checks count, min, max, sum and p50..p99.9 against the exact values of `samples`: count,
/// min, max and sum exact over the raw samples; a percentile within the HDR precision of the
/// sample at its rank as the histogram holds it (clamped to 1 h), and within min..=max.
fn assert_percentiles(l: &LatencyValue, samples: &[u64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    let t = &l.total;
    assert_eq!(t.count, n);
    assert_eq!(t.min, sorted[0]);
    assert_eq!(t.max, sorted[sorted.len() - 1]);
    let sum: u128 = sorted.iter().map(|&b| u128::from(b)).sum();
    assert_eq!(l.sum_ns, u64::try_from(sum).unwrap_or(u64::MAX));
    assert_eq!(t.mean, sum as f64 / n as f64);
    for (got, q) in [(t.p50, 0.5), (t.p90, 0.9), (t.p99, 0.99), (t.p999, 0.999)] {
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        // Clamping is monotonic, so the rank-th recorded value is that of the rank-th sample.
        // Percentiles never leave min..=max (a lone 0 ns sample reads 0, though recorded as 1).
        let exact = recorded(sorted[rank as usize - 1]).clamp(t.min, t.max);
        assert!(
            exact <= got && got <= exact + exact / 1000 + 1 && got <= t.max,
            "q {q}: reported {got}, exact {exact} (n {n})"
        );
    }
    assert_eq!(
        l.clamped,
        samples.iter().filter(|&&s| s > MAX_TRACKABLE_NS).count() as u64
    );
}

#[test]
fn percentiles_agree_with_exact_ones_from_1ns_to_beyond_an_hour() {
    let tw = start();
    let lat = tw.latency("wide");
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut samples = vec![
        0,
        1,
        2,
        2047,
        2048,
        2049,
        MAX_TRACKABLE_NS,
        MAX_TRACKABLE_NS + 1,
    ];
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Log-uniform over 2^0 .. 2^43 ns (1 ns to ~2.4 h).
        let octave = x % 44;
        samples.push((1u64 << octave) + (x >> 20) % (1u64 << octave));
    }
    for &s in &samples {
        lat.record_nanos(s);
    }
    tw.flush().unwrap();
    assert_percentiles(latency(&tw.snapshot(), "wide"), &samples);
}

#[test]
fn counters_and_gauges_are_exact() {
    let tw = start();
    let c = tw.counter("orders_sent", &[("venue", "XNAS")]);
    let m = tw.metric("position", &[]);
    for i in 0..1000u64 {
        c.add(i);
        m.record((i as f64 - 300.0) * 0.25);
    }
    tw.log_metric("spread", 0.5, &[]);
    tw.log_metric("spread", 0.25, &[]);
    tw.track_resource_usage("book_depth", 0.75);
    tw.flush().unwrap();
    let s = tw.snapshot();
    assert_eq!(
        counter(&s, "orders_sent", &[("venue", "XNAS")]).total,
        499_500
    );
    let p = gauge(&s, "position").total;
    let sum: f64 = (0..1000).map(|i| (i as f64 - 300.0) * 0.25).sum();
    assert_eq!(
        (p.last, p.min, p.max, p.sum, p.count),
        (174.75, -75.0, 174.75, sum, 1000)
    );
    let sp = gauge(&s, "spread").total;
    assert_eq!((sp.last, sp.min, sp.max, sp.count), (0.25, 0.25, 0.5, 2));
    let book = s.find("book_depth", &[]).unwrap();
    assert_eq!(book.kind, SeriesKind::Resource);
    assert!(matches!(&book.value, SeriesValue::Gauge(g) if g.total.last == 0.75));
    // Before the first rollover (10 s default): no window, rates 0.
    assert!(gauge(&s, "position").window.is_none());
    assert_eq!(
        counter(&s, "orders_sent", &[("venue", "XNAS")]).rate_per_sec,
        0.0
    );
}

#[test]
fn a_series_appears_once_it_has_a_sample() {
    let tw = start();
    let _quiet = tw.counter("never_incremented", &[]);
    tw.counter("incremented", &[]).add(0);
    tw.flush().unwrap();
    let s = tw.snapshot();
    assert!(s.find("never_incremented", &[]).is_none());
    assert_eq!(counter(&s, "incremented", &[]).total, 0);
}

#[test]
fn intervals_roll_over_into_the_window_with_rates_over_its_length() {
    let tw = Telemetry::builder()
        .aggregation_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    // One record per series: each lands whole in one interval.
    tw.counter("fills", &[]).add(5);
    tw.metric("px", &[]).record(101.5);
    tw.latency("rt").record_nanos(7_000);
    tw.flush().unwrap();
    let (mut counter_seen, mut gauge_seen, mut latency_seen) = (false, false, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(counter_seen && gauge_seen && latency_seen) {
        assert!(Instant::now() < deadline, "no window showed the samples");
        std::thread::sleep(Duration::from_millis(2));
        let s = tw.snapshot();
        if s.window_secs == 0.0 {
            continue;
        }
        let c = counter(&s, "fills", &[]);
        if c.window == Some(5) {
            assert_eq!(c.rate_per_sec, 5.0 / s.window_secs);
            counter_seen = true;
        }
        if let Some(w) = gauge(&s, "px").window {
            assert_eq!(
                (w.count, w.last, w.min, w.max, w.sum),
                (1, 101.5, 101.5, 101.5, 101.5)
            );
            assert_eq!(gauge(&s, "px").rate_per_sec, 1.0 / s.window_secs);
            gauge_seen = true;
        }
        let l = latency(&s, "rt");
        if let Some(w) = l.window {
            assert_eq!((w.count, w.min, w.max, w.p50), (1, 7_000, 7_000, 7_000));
            latency_seen = true;
        }
        // Totals never move with the window.
        assert_eq!(c.total, 5);
        assert_eq!(l.total.count, 1);
    }
    // The samples leave the window at a later rollover; the totals stay.
    loop {
        assert!(Instant::now() < deadline, "the window never moved on");
        std::thread::sleep(Duration::from_millis(2));
        let s = tw.snapshot();
        if counter(&s, "fills", &[]).window == Some(0) {
            assert!(latency(&s, "rt").window.is_none());
            assert!(gauge(&s, "px").window.is_none());
            assert_eq!(counter(&s, "fills", &[]).total, 5);
            break;
        }
    }
}

#[test]
fn snapshot_round_trips_through_serde_json() {
    let tw = start();
    tw.counter("c", &[("k", "v \"quoted\"")]).add(3);
    tw.metric("g", &[]).record(-2.5);
    let l = tw.latency("l");
    for v in [1u64, 10, 100, 1_000_000] {
        l.record_nanos(v);
    }
    tw.flush().unwrap();
    let s = tw.snapshot();
    let json = serde_json::to_string(&s).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.series.len(), 3);
}

#[test]
fn series_past_the_cap_are_refused_counted_and_overflow() {
    let tw = Telemetry::builder().max_series(3).start().unwrap();
    let a = tw.metric("a", &[]);
    let b = tw.counter("b", &[]);
    let c = tw.latency("c");
    assert_eq!(
        tw.try_metric("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    let e = tw.metric("e", &[]); // refused: writes to the metric overflow series
    tw.log_metric("f", 2.0, &[]); // refused too
    let g = tw.counter("g", &[]); // refused: the counter overflow series
    a.record(1.0);
    b.add(1);
    c.record_nanos(5);
    e.record(4.0);
    g.add(7);
    tw.flush().unwrap();
    let s = tw.snapshot();
    assert_eq!(s.refused_series, 3);
    assert_eq!(tw.stats().overflowed_series, 3);
    let ov: Vec<_> = s
        .series
        .iter()
        .filter(|x| x.name.starts_with("tickwatch_overflow"))
        .collect();
    assert_eq!(ov.len(), 2);
    let metric_ov = s.find(OVERFLOW_METRIC, &[]).unwrap();
    assert_eq!(metric_ov.kind, SeriesKind::Metric);
    assert!(
        matches!(&metric_ov.value, SeriesValue::Gauge(g) if g.total.count == 2 && g.total.sum == 6.0)
    );
    let counter_ov = s.find(OVERFLOW_COUNTER, &[]).unwrap();
    assert_eq!(counter_ov.kind, SeriesKind::Counter);
    assert!(matches!(&counter_ov.value, SeriesValue::Counter(c) if c.total == 7));
    // The series registered in time are untouched.
    assert_eq!(gauge(&s, "a").total.sum, 1.0);
    assert!(s.find("e", &[]).is_none() && s.find("f", &[]).is_none());
}

#[test]
fn snapshot_after_flush_sees_every_record_of_every_thread() {
    const THREADS: u64 = 4;
    const N: u64 = 20_000;
    let tw = start();
    std::thread::scope(|sc| {
        for t in 0..THREADS {
            let tw = &tw;
            sc.spawn(move || {
                let c = tw.counter("events", &[]);
                let l = tw.latency("op");
                for i in 0..N {
                    c.add(t + 1);
                    l.record_nanos(1 + i % 5000);
                    tw.log_metric("per_thread", i as f64, &[("t", &t.to_string())]);
                }
            });
        }
    });
    tw.flush().unwrap();
    let s = tw.snapshot();
    assert_eq!(counter(&s, "events", &[]).total, N * (1 + 2 + 3 + 4));
    assert_eq!(latency(&s, "op").total.count, N * THREADS);
    for t in 0..THREADS {
        let g = match &s
            .find("per_thread", &[("t", &t.to_string())])
            .unwrap()
            .value
        {
            SeriesValue::Gauge(g) => g.total,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (g.count, g.max, g.last),
            (N, (N - 1) as f64, (N - 1) as f64)
        );
    }
    assert_eq!(tw.stats().delivered, tw.stats().accepted);
}

#[test]
fn aggregation_off_keeps_snapshots_empty_but_delivers() {
    let tw = Telemetry::builder().aggregation(false).start().unwrap();
    tw.counter("c", &[]).add(1);
    tw.flush().unwrap();
    assert!(tw.snapshot().series.is_empty());
    assert_eq!(tw.stats().delivered, 1);
}

#[test]
fn bad_monitoring_options_are_refused_with_the_fix() {
    let err = |b: tickwatch::TelemetryBuilder| b.start().unwrap_err();
    let us = Duration::from_micros;
    for (bounds, want) in [
        (vec![], (0, None)),
        (vec![us(1); 65], (65, None)),
        (vec![us(1), us(1)], (2, Some(1))),
        (vec![us(5), us(2)], (2, Some(1))),
        (vec![Duration::ZERO, us(2)], (2, Some(0))),
        (vec![us(1), Duration::MAX], (2, Some(1))),
    ] {
        match err(Telemetry::builder().latency_buckets(bounds)) {
            StartError::LatencyBuckets { count, index } => assert_eq!((count, index), want),
            other => panic!("{other}"),
        }
    }
    let e = err(Telemetry::builder().aggregation_interval(Duration::ZERO));
    assert!(matches!(
        e,
        StartError::Interval {
            option: "aggregation_interval",
            ..
        }
    ));
    assert!(e.to_string().contains("aggregation_interval"));
    let e = err(Telemetry::builder().monitor_tick(Duration::from_secs(2 * 86_400)));
    assert!(matches!(
        e,
        StartError::Interval {
            option: "monitor_tick",
            ..
        }
    ));
    // Custom bounds show up as the snapshot's buckets.
    let tw = Telemetry::builder()
        .latency_buckets(vec![us(1), us(10)])
        .start()
        .unwrap();
    tw.latency("x").record(us(5));
    tw.flush().unwrap();
    let les: Vec<(f64, u64)> = latency(&tw.snapshot(), "x")
        .buckets
        .iter()
        .map(|b| (b.le_secs, b.cumulative))
        .collect();
    assert_eq!(les, vec![(1e-6, 0), (1e-5, 1)]);
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, u64),
    Set(usize, f64),
    Lat(usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..1_000_000u64).prop_map(|(s, v)| Op::Add(s, v)),
        (0..3usize, -1e6..1e6f64).prop_map(|(s, v)| Op::Set(s, v)),
        (0..3usize, 0..44u32, any::<u64>()).prop_map(|(s, o, r)| Op::Lat(s, r >> (63 - o))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the sequence, the snapshot equals a naive model: sums, last/min/max and
    /// percentiles of the sorted samples.
    #[test]
    fn aggregation_matches_a_naive_model(ops in proptest::collection::vec(op(), 1..400)) {
        let tw = start();
        let mut counters = [None::<u64>; 3];
        let mut gauges: [Vec<f64>; 3] = Default::default();
        let mut lats: [Vec<u64>; 3] = Default::default();
        for op in &ops {
            match *op {
                Op::Add(s, v) => {
                    tw.counter(&format!("c{s}"), &[]).add(v);
                    *counters[s].get_or_insert(0) += v;
                }
                Op::Set(s, v) => {
                    tw.metric(&format!("g{s}"), &[]).record(v);
                    gauges[s].push(v);
                }
                Op::Lat(s, v) => {
                    tw.latency(&format!("l{s}")).record_nanos(v);
                    lats[s].push(v);
                }
            }
        }
        tw.flush().unwrap();
        let snap = tw.snapshot();
        for s in 0..3 {
            let name = format!("c{s}");
            match counters[s] {
                Some(total) => prop_assert_eq!(counter(&snap, &name, &[]).total, total),
                None => prop_assert!(snap.find(&name, &[]).is_none()),
            }
            if let Some(&last) = gauges[s].last() {
                let g = gauge(&snap, &format!("g{s}")).total;
                let min = gauges[s].iter().copied().fold(f64::INFINITY, f64::min);
                let max = gauges[s].iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = gauges[s].iter().sum();
                prop_assert_eq!((g.last, g.min, g.max, g.sum, g.count), (last, min, max, sum, gauges[s].len() as u64));
            }
            if !lats[s].is_empty() {
                assert_percentiles(latency(&snap, &format!("l{s}")), &lats[s]);
            }
        }
    }
}
