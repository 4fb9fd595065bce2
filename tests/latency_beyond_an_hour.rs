//! Latencies beyond the HDR histogram's range (1 hour): bucket bounds above it count
//! exactly, and `sum_ns` / `_sum`, `min`, `max` and `mean` are exact over the raw samples.

use std::time::Duration;

use tickwatch::metrics::SeriesValue;
use tickwatch::Telemetry;

#[test]
fn latencies_beyond_an_hour_count_in_bounds_above_it_and_sum_exactly() {
    const SEC: Duration = Duration::from_secs(1);
    const HOUR: Duration = Duration::from_secs(3600);
    let tw = Telemetry::builder()
        .latency_buckets(vec![SEC, HOUR, 2 * HOUR])
        .resource_sampling(None)
        .start()
        .unwrap();
    let op = tw.latency("settlement");
    op.record(HOUR * 3 / 2);
    op.record(3 * HOUR);
    tw.flush().unwrap();

    let snap = tw.snapshot();
    let Some(SeriesValue::Latency(l)) = snap.find("settlement", &[]).map(|s| &s.value) else {
        panic!("no latency series: {snap:?}")
    };
    let cumulative: Vec<u64> = l.buckets.iter().map(|b| b.cumulative).collect();
    assert_eq!(cumulative, vec![0, 0, 1], "{l:?}");
    assert_eq!(l.total.count, 2, "+Inf");
    let h = HOUR.as_nanos() as u64;
    assert_eq!(l.sum_ns, h * 3 / 2 + 3 * h);
    assert_eq!(l.total.max, 3 * h);
    assert_eq!(l.total.min, h * 3 / 2);
    assert_eq!(l.total.mean, (h * 9 / 4) as f64);
    assert_eq!(l.clamped, 2);
    for p in [l.total.p50, l.total.p90, l.total.p99, l.total.p999] {
        assert!(l.total.min <= p && p <= l.total.max, "{:?}", l.total);
    }

    let text = tw.render_prometheus();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(value("settlement_seconds_sum "), 16_200.0);
    assert_eq!(value("settlement_seconds_count "), 2.0);
    // (le, cumulative) of every bucket line, bounds parsed as numbers ("3600" or "3600.0").
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("settlement_seconds_bucket{le=\""))
        .map(|rest| {
            let (le, count) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, count.parse().unwrap())
        })
        .collect();
    assert_eq!(
        buckets,
        vec![
            (1.0, 0.0),
            (3600.0, 0.0),
            (7200.0, 1.0),
            (f64::INFINITY, 2.0)
        ],
        "{text}"
    );
    tw.shutdown().unwrap();
}
