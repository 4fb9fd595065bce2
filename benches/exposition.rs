//! Rendering 10,000 series in the Prometheus text format: 1,000 latency histograms of 20
//! buckets plus 4,500 counters and 4,500 gauges, two labels each.
//!
//! Peer, in the same run: the `prometheus` crate's `TextEncoder` on a registry with the same
//! families, series, labels and buckets (`gather` + `encode_utf8`: its equivalent of
//! handing a snapshot to a renderer).
//!
//! ```text
//! cargo bench --bench exposition -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tickwatch::export::{render_prometheus, PrometheusRenderer};
use tickwatch::metrics::SeriesKind;
use tickwatch::metrics::{
    Bucket, CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot,
    SeriesValue, Snapshot,
};
use tickwatch::Timestamp;

const FAMILIES: usize = 50; // per kind
const COUNTERS: usize = 4_500;
const GAUGES: usize = 4_500;
const HISTOGRAMS: usize = 1_000;
const BUCKETS: usize = 20;

fn bounds() -> Vec<f64> {
    (0..BUCKETS).map(|k| 1e-6 * (1u64 << k) as f64).collect()
}

fn labels(i: usize) -> (String, String) {
    (format!("XN{}", i % 7), format!("book-{i}"))
}

fn snapshot() -> Snapshot {
    let mut series = Vec::with_capacity(COUNTERS + GAUGES + HISTOGRAMS);
    let tags = |i: usize| {
        let (v, b) = labels(i);
        vec![("venue".to_string(), v), ("book".to_string(), b)]
    };
    for i in 0..COUNTERS {
        series.push(SeriesSnapshot {
            name: format!("orders_{}", i % FAMILIES),
            tags: tags(i),
            kind: SeriesKind::Counter,
            value: SeriesValue::Counter(CounterValue {
                total: 1_000 + i as u64,
                window: None,
                rate_per_sec: 0.0,
            }),
        });
    }
    for i in 0..GAUGES {
        let v = i as f64 * 0.37;
        let stats = GaugeStats {
            last: v,
            min: v,
            max: v,
            sum: v,
            count: 1,
        };
        series.push(SeriesSnapshot {
            name: format!("position_{}", i % FAMILIES),
            tags: tags(i),
            kind: SeriesKind::Metric,
            value: SeriesValue::Gauge(GaugeValue {
                total: stats,
                window: None,
                rate_per_sec: 0.0,
            }),
        });
    }
    for i in 0..HISTOGRAMS {
        let buckets = bounds()
            .into_iter()
            .enumerate()
            .map(|(k, le)| Bucket {
                le_secs: le,
                cumulative: (k as u64 + 1) * 10,
            })
            .collect();
        let count = BUCKETS as u64 * 10 + 5;
        series.push(SeriesSnapshot {
            name: format!("rtt_{}", i % FAMILIES),
            tags: tags(i),
            kind: SeriesKind::Latency,
            value: SeriesValue::Latency(LatencyValue {
                total: Percentiles {
                    count,
                    min: 1,
                    p50: 2,
                    p90: 3,
                    p99: 4,
                    p999: 5,
                    max: 6,
                    mean: 2.5,
                },
                window: None,
                sum_ns: 123_456_789 + i as u64,
                rate_per_sec: 0.0,
                clamped: 0,
                buckets,
            }),
        });
    }
    let mut s = Snapshot::empty(Timestamp::from_unix_nanos(0));
    s.uptime_secs = 1.0;
    s.window_secs = 1.0;
    s.series = series;
    s.refused_series = 0;
    s
}

fn registry() -> Registry {
    let r = Registry::new();
    let names = ["venue", "book"];
    let counters: Vec<_> = (0..FAMILIES)
        .map(|f| {
            let c = IntCounterVec::new(Opts::new(format!("orders_{f}_total"), "orders"), &names)
                .unwrap();
            r.register(Box::new(c.clone())).unwrap();
            c
        })
        .collect();
    let gauges: Vec<_> = (0..FAMILIES)
        .map(|f| {
            let g = GaugeVec::new(Opts::new(format!("position_{f}"), "position"), &names).unwrap();
            r.register(Box::new(g.clone())).unwrap();
            g
        })
        .collect();
    let hists: Vec<_> = (0..FAMILIES)
        .map(|f| {
            let opts = HistogramOpts::new(format!("rtt_{f}_seconds"), "rtt").buckets(bounds());
            let h = HistogramVec::new(opts, &names).unwrap();
            r.register(Box::new(h.clone())).unwrap();
            h
        })
        .collect();
    for i in 0..COUNTERS {
        let (v, b) = labels(i);
        counters[i % FAMILIES]
            .with_label_values(&[&v, &b])
            .inc_by(1_000 + i as u64);
    }
    for i in 0..GAUGES {
        let (v, b) = labels(i);
        gauges[i % FAMILIES]
            .with_label_values(&[&v, &b])
            .set(i as f64 * 0.37);
    }
    for i in 0..HISTOGRAMS {
        let (v, b) = labels(i);
        let h = hists[i % FAMILIES].with_label_values(&[&v, &b]);
        for le in bounds() {
            h.observe(le);
        }
    }
    r
}

fn bench(c: &mut Criterion) {
    let snap = snapshot();
    let reg = registry();
    let mut g = c.benchmark_group("render_10k_series");
    let mut renderer = PrometheusRenderer::new();
    let mut out = String::new();
    g.bench_function("tickwatch_reused_renderer", |b| {
        b.iter(|| {
            out.clear();
            renderer.render(black_box(&snap), &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("tickwatch_render_prometheus_fresh", |b| {
        b.iter(|| {
            let mut out = String::new();
            render_prometheus(black_box(&snap), &mut out);
            black_box(out.len())
        })
    });
    let encoder = TextEncoder::new();
    let mut buf = String::new();
    g.bench_function("prometheus_crate_gather_encode", |b| {
        b.iter(|| {
            buf.clear();
            encoder
                .encode_utf8(&black_box(&reg).gather(), &mut buf)
                .unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
    // Sizes, for the report: both texts hold the same samples.
    let mut mine = String::new();
    render_prometheus(&snap, &mut mine);
    let mut theirs = String::new();
    encoder.encode_utf8(&reg.gather(), &mut theirs).unwrap();
    eprintln!(
        "output: tickwatch {} lines / {} bytes, prometheus crate {} lines / {} bytes",
        mine.lines().count(),
        mine.len(),
        theirs.lines().count(),
        theirs.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
