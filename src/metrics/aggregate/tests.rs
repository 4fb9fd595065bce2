use std::time::{Duration, Instant};

use super::*;

fn agg(t0: Instant) -> Aggregator {
    Aggregator::new(vec![1_000, 10_000, 100_000], t0)
}

fn latency(a: &mut Aggregator, id: u32) -> LatencyValue {
    match a.value(id) {
        Some(SeriesValue::Latency(l)) => l,
        other => panic!("not a latency: {other:?}"),
    }
}

#[test]
fn rollover_moves_the_interval_to_the_window_and_rates_use_its_length() {
    let t0 = Instant::now();
    let mut a = agg(t0);
    a.add_counter(0, 5);
    a.set_gauge(1, 2.0, 10);
    a.record_latency(2, 500);
    // Before the first rollover: no window, rates 0.
    match a.value(0) {
        Some(SeriesValue::Counter(c)) => {
            assert_eq!((c.total, c.window, c.rate_per_sec), (5, None, 0.0))
        }
        other => panic!("{other:?}"),
    }
    a.rollover(t0 + Duration::from_secs(2));
    assert_eq!(a.window_secs(), 2.0);
    a.add_counter(0, 7); // in the next interval: not in the window yet
    match a.value(0) {
        Some(SeriesValue::Counter(c)) => {
            assert_eq!((c.total, c.window, c.rate_per_sec), (12, Some(5), 2.5))
        }
        other => panic!("{other:?}"),
    }
    match a.value(1) {
        Some(SeriesValue::Gauge(g)) => {
            assert_eq!(g.window.map(|w| w.count), Some(1));
            assert_eq!(g.rate_per_sec, 0.5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(latency(&mut a, 2).window.map(|w| w.p50), Some(500));
    // An interval without samples: the gauge and latency windows are empty, the counter's 0
    // (after the 7 above rolled in).
    a.rollover(t0 + Duration::from_secs(3));
    a.rollover(t0 + Duration::from_secs(4));
    assert!(latency(&mut a, 2).window.is_none());
    match a.value(0) {
        Some(SeriesValue::Counter(c)) => assert_eq!(c.window, Some(0)),
        other => panic!("{other:?}"),
    }
    match a.value(1) {
        Some(SeriesValue::Gauge(g)) => assert!(g.window.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gauge_last_is_the_latest_by_timestamp_and_nan_is_never_min_or_max() {
    let mut a = agg(Instant::now());
    a.set_gauge(0, 3.0, 100);
    a.set_gauge(0, f64::NAN, 50); // older, from another thread: not `last`
    a.set_gauge(0, -1.0, 200);
    a.set_gauge(0, 9.0, 150);
    match a.value(0) {
        Some(SeriesValue::Gauge(g)) => {
            assert_eq!(g.total.last, -1.0);
            assert_eq!((g.total.min, g.total.max, g.total.count), (-1.0, 9.0, 4));
            assert!(g.total.sum.is_nan());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn buckets_are_cumulative_exact_and_le_inclusive() {
    let mut a = agg(Instant::now());
    for v in [
        0,
        1,
        999,
        1_000,
        1_001,
        10_000,
        99_999,
        100_000,
        100_001,
        u64::MAX,
    ] {
        a.record_latency(0, v);
    }
    let l = latency(&mut a, 0);
    let got: Vec<(f64, u64)> = l
        .buckets
        .iter()
        .map(|b| (b.le_secs, b.cumulative))
        .collect();
    // 0 is below every bound; u64::MAX is above every bound (and clamped to 1 h in the HDR
    // histogram only, counted).
    assert_eq!(got, vec![(1e-6, 4), (1e-5, 6), (1e-4, 8)]);
    assert_eq!(l.total.count, 10);
    assert_eq!(l.clamped, 1);
    // Min, max and sum over the samples as recorded; the sum saturates past u64::MAX.
    assert_eq!((l.total.min, l.total.max), (0, u64::MAX));
    assert_eq!(l.sum_ns, u64::MAX);
    let exact_sum = 1 + 999 + 1_000 + 1_001 + 10_000 + 99_999 + 100_000 + 100_001;
    assert_eq!(l.total.mean, (u64::MAX as u128 + exact_sum) as f64 / 10.0);
    assert!(l.total.p999 <= l.total.max && l.total.p50 >= l.total.min);
}

#[test]
fn counter_saturates() {
    let mut a = agg(Instant::now());
    a.add_counter(0, u64::MAX - 1);
    a.add_counter(0, 5);
    match a.value(0) {
        Some(SeriesValue::Counter(c)) => assert_eq!(c.total, u64::MAX),
        other => panic!("{other:?}"),
    }
}

#[test]
fn percentiles_are_cached_until_new_samples() {
    let mut a = agg(Instant::now());
    a.record_latency(0, 10);
    assert_eq!(latency(&mut a, 0).total.max, 10);
    a.record_latency(0, 20);
    assert_eq!(latency(&mut a, 0).total.max, 20);
    assert_eq!(latency(&mut a, 0).total.count, 2);
}

#[test]
fn empty_ids_are_not_in_values() {
    let mut a = agg(Instant::now());
    a.add_counter(3, 1);
    let ids = a.values().ids;
    assert_eq!(ids, vec![3]);
}

#[test]
fn bucket_lookup_agrees_with_a_linear_search() {
    let bounds = crate::default_latency_buckets()
        .iter()
        .map(|d| d.as_nanos() as u64)
        .collect::<Vec<_>>();
    let b = Bounds::new(bounds.clone());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> (x % 40)).max(1);
        let want = bounds
            .iter()
            .position(|&bd| bd >= v)
            .unwrap_or(bounds.len());
        assert_eq!(b.index(v, 63 - v.leading_zeros() as usize), want, "v {v}");
    }
    for &bd in &bounds {
        for v in [bd - 1, bd, bd + 1] {
            let want = bounds.iter().position(|&x| x >= v).unwrap_or(bounds.len());
            assert_eq!(b.index(v, 63 - v.leading_zeros() as usize), want);
        }
    }
}

#[test]
fn folded_latencies_wait_for_the_batch_end_but_never_miss_a_snapshot_or_window() {
    let t0 = Instant::now();
    let mut a = agg(t0);
    let conv = crate::time::Clock::global().conversion();
    a.fold(kind::LATENCY, 0, 0, 0, 700, &conv);
    a.fold(kind::LATENCY, 0, 0, 0, 900, &conv);
    // Not yet recorded, but `values` (every snapshot) records pending samples first.
    assert_eq!(a.pending.len(), 2);
    assert!(a.value(0).is_none());
    let ids = a.values().ids;
    assert_eq!(ids, vec![0]);
    assert_eq!(latency(&mut a, 0).total.max, 900);
    // And a rollover puts them in the window they were folded in.
    a.fold(kind::LATENCY, 0, 0, 0, 300, &conv);
    a.rollover(t0 + Duration::from_secs(1));
    let l = latency(&mut a, 0);
    assert_eq!(l.window.map(|w| (w.count, w.min)), Some((3, 300)));
    a.fold(kind::COUNTER, 0, 1, 0, 4, &conv);
    a.end_batch();
    assert!(a.pending.is_empty());
}

#[test]
fn samples_past_the_hdr_range_count_exactly_in_bounds_above_it_and_in_the_sum() {
    const S: u64 = 1_000_000_000;
    const H: u64 = 3_600 * S;
    let mut a = Aggregator::new(vec![S, H, 2 * H], Instant::now());
    a.record_latency(0, 3 * H / 2);
    a.record_latency(0, 3 * H);
    let l = latency(&mut a, 0);
    let got: Vec<u64> = l.buckets.iter().map(|b| b.cumulative).collect();
    // 1.5 h is above 1 h (not counted at the 1 h bound although the histogram holds it as
    // 1 h) and below 2 h; 3 h is above every bound.
    assert_eq!(got, vec![0, 0, 1]);
    assert_eq!(l.total.count, 2);
    assert_eq!(l.sum_ns, 9 * H / 2);
    assert_eq!((l.total.min, l.total.max), (3 * H / 2, 3 * H));
    assert_eq!(l.total.mean, (9 * H / 4) as f64);
    assert_eq!(l.clamped, 2);
    // The percentiles see the histogram's clamp, raised to the exact min: never outside it.
    let t = l.total;
    for p in [t.p50, t.p90, t.p99, t.p999] {
        assert!(t.min <= p && p <= t.max, "{t:?}");
    }
    // The window keeps the raw values too.
    a.rollover(Instant::now() + Duration::from_secs(1));
    let w = latency(&mut a, 0).window.unwrap();
    assert_eq!(
        (w.min, w.max, w.mean),
        (3 * H / 2, 3 * H, (9 * H / 4) as f64)
    );
}
