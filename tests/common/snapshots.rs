//! Hand-built snapshots for the alert tests and benches (`#[path]`-included).
#![allow(dead_code)]

use tickwatch::metrics::SeriesKind;
use tickwatch::metrics::{
    CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot, SeriesValue,
    Snapshot,
};
use tickwatch::Timestamp;

/// `secs` seconds after an arbitrary epoch.
pub fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + secs * 1_000_000_000)
}

fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
    t.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn stats(values: &[f64]) -> GaugeStats {
    GaugeStats {
        last: *values.last().unwrap(),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sum: values.iter().sum(),
        count: values.len() as u64,
    }
}

/// A gauge whose last completed window held `window` (empty: no sample in the window) and
/// whose most recent sample is the window's last (or `last` if the window is empty).
pub fn gauge(name: &str, t: &[(&str, &str)], last: f64, window: &[f64]) -> SeriesSnapshot {
    let total = if window.is_empty() {
        stats(&[last])
    } else {
        stats(window)
    };
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind: SeriesKind::Metric,
        value: SeriesValue::Gauge(GaugeValue {
            total,
            window: (!window.is_empty()).then(|| stats(window)),
            rate_per_sec: window.len() as f64,
        }),
    }
}

/// A counter that grew by `window` over a 1 s window (`None`: before the first rollover).
pub fn counter(name: &str, t: &[(&str, &str)], window: Option<u64>) -> SeriesSnapshot {
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind: SeriesKind::Counter,
        value: SeriesValue::Counter(CounterValue {
            total: 1_000 + window.unwrap_or(0),
            window,
            rate_per_sec: window.unwrap_or(0) as f64,
        }),
    }
}

fn pct(count: u64, p: u64) -> Percentiles {
    Percentiles {
        count,
        min: p / 4,
        p50: p / 2,
        p90: p * 9 / 10,
        p99: p,
        p999: p * 2,
        max: p * 3,
        mean: p as f64 / 2.0,
    }
}

/// A latency series whose window p99 is `window_p99_ns` (`None`: no sample in the window)
/// and whose total p99 is `total_p99_ns`; other percentiles derive from p99.
pub fn latency(
    name: &str,
    t: &[(&str, &str)],
    window_p99_ns: Option<u64>,
    total_p99_ns: u64,
) -> SeriesSnapshot {
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind: SeriesKind::Latency,
        value: SeriesValue::Latency(LatencyValue {
            total: pct(100, total_p99_ns),
            window: window_p99_ns.map(|p| pct(10, p)),
            sum_ns: 0,
            rate_per_sec: 10.0,
            clamped: 0,
            buckets: vec![],
        }),
    }
}

/// A snapshot after the first rollover (1 s window).
pub fn snapshot(series: Vec<SeriesSnapshot>) -> Snapshot {
    let mut s = Snapshot::empty(t(0));
    s.uptime_secs = 10.0;
    s.window_secs = 1.0;
    s.series = series;
    s.refused_series = 0;
    s
}

/// A snapshot before the first rollover.
pub fn early_snapshot(series: Vec<SeriesSnapshot>) -> Snapshot {
    let mut s = snapshot(series);
    s.window_secs = 0.0;
    s
}
