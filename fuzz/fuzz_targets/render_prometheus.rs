//! The Prometheus renderer on arbitrary snapshots: names, tags and label values of any bytes
//! (control characters, quotes, backslashes, newlines, empty strings), any floats (NaN,
//! infinities) and inconsistent buckets (unsorted, NaN bounds, counts above the total). It
//! must never panic, and its output must keep the format's line structure: every line is a
//! `# HELP`/`# TYPE` line or a sample `name[{...}] value`, with no raw newline inside a
//! label value (each quoted value is closed on its own line).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tickwatch::export::PrometheusRenderer;
use tickwatch::metrics::SeriesKind;
use tickwatch::metrics::{
    Bucket, CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot,
    SeriesValue, Snapshot,
};
use tickwatch::Timestamp;

#[derive(Arbitrary, Debug)]
struct Series {
    name: String,
    tags: Vec<(String, String)>,
    kind: u8,
    total: u64,
    last: f64,
    sum_ns: u64,
    buckets: Vec<(f64, u64)>,
}

fuzz_target!(|input: (Vec<Series>, u64)| {
    let series = input
        .0
        .into_iter()
        .map(|s| {
            let (kind, value) = match s.kind % 3 {
                0 => (
                    SeriesKind::Counter,
                    SeriesValue::Counter(CounterValue {
                        total: s.total,
                        window: None,
                        rate_per_sec: 0.0,
                    }),
                ),
                1 => {
                    let g = GaugeStats {
                        last: s.last,
                        min: s.last,
                        max: s.last,
                        sum: s.last,
                        count: 1,
                    };
                    (
                        SeriesKind::Metric,
                        SeriesValue::Gauge(GaugeValue {
                            total: g,
                            window: None,
                            rate_per_sec: 0.0,
                        }),
                    )
                }
                _ => {
                    let total = Percentiles {
                        count: s.total,
                        min: 0,
                        p50: 0,
                        p90: 0,
                        p99: 0,
                        p999: 0,
                        max: 0,
                        mean: 0.0,
                    };
                    let buckets = s
                        .buckets
                        .iter()
                        .map(|&(le_secs, cumulative)| Bucket {
                            le_secs,
                            cumulative,
                        })
                        .collect();
                    (
                        SeriesKind::Latency,
                        SeriesValue::Latency(LatencyValue {
                            total,
                            window: None,
                            sum_ns: s.sum_ns,
                            rate_per_sec: 0.0,
                            clamped: 0,
                            buckets,
                        }),
                    )
                }
            };
            SeriesSnapshot {
                name: s.name,
                tags: s.tags,
                kind,
                value,
            }
        })
        .collect();
    let mut snapshot = Snapshot::empty(Timestamp::from_unix_nanos(0));
    snapshot.uptime_secs = 0.0;
    snapshot.window_secs = 0.0;
    snapshot.series = series;
    snapshot.refused_series = input.1;
    let mut out = String::new();
    let summary = PrometheusRenderer::new().render(&snapshot, &mut out);
    assert!(summary.series <= snapshot.series.len());
    assert!(out.ends_with('\n'));
    for line in out.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample has a value");
        assert!(
            line[..name_end]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line:?}"
        );
        let value = line.rsplit(' ').next().unwrap();
        assert!(!value.is_empty() && !value.contains('"'), "{line:?}");
        // Quotes balance once escaped quotes are removed: no value runs onto the next line.
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line:?}");
    }
});
