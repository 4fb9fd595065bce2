//! What monitoring costs, each claim against a peer measured in the same run.
//!
//! ```text
//! cargo bench --bench monitoring -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! * `drain_aggregation`: records per second from one producer through the collector into a
//!   `NullSink`, with aggregation off (the foundation's plain drain) and on, for a mixed load
//!   (a third each counters, gauges and latencies over 96 series) and for latencies alone
//!   (the most expensive kind to aggregate: two HDR histograms, a coarse index and a bucket
//!   per sample). Target: on / off < 2. Same method as `benches/hot_path`'s `drain`:
//!   [`DRAIN_N`] records then `flush()`, `Backpressure::Block`, 1 MiB rings.
//! * `snapshot`: `Telemetry::snapshot()` of 10,000 series (1,000 latency series with 1,000
//!   samples each, 1 µs to 5 ms log-uniform with a 0.1 % tail to 50 ms; 4,500 counters;
//!   3,000 metric and 1,500 resource gauges; each with two tags), both with every percentile
//!   cached (`clean`) and after one new sample in every latency series (`all latencies
//!   changed`, the case of a scrape every second under load). Peer: `hdrhistogram`'s own
//!   single-pass `value_at_quantiles` (p50, p90, p99, p99.9) over 1,000 histograms holding
//!   the same samples, which is what the coarse index replaces. Target: snapshot plus
//!   Prometheus render <= 10 ms.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hdrhistogram::Histogram;
use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Counter, Latency, Metric, Telemetry};

const RING: usize = 1 << 20;

type Tags<'a> = &'a [(&'a str, &'a str)];
const DRAIN_N: u64 = 1_000_000;

fn telemetry(aggregation: bool) -> Telemetry {
    let tw = Telemetry::builder()
        .ring_capacity(RING)
        .backpressure(Backpressure::Block)
        .aggregation(aggregation)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    tw.preallocate();
    tw
}

/// Deterministic latencies: 1 µs to 5 ms log-uniform, one in a thousand up to 50 ms.
fn latencies(n: usize) -> Vec<u64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let ns = 1_000.0 * 5_000f64.powf(u);
            if i % 1000 == 999 {
                (ns * 10.0) as u64
            } else {
                ns as u64
            }
        })
        .collect()
}

struct Mix {
    counters: Vec<Counter>,
    metrics: Vec<Metric>,
    latencies: Vec<Latency>,
    values: Vec<u64>,
}

impl Mix {
    fn new(tw: &Telemetry) -> Mix {
        let tag = |i: usize| format!("S{i}");
        Mix {
            counters: (0..32)
                .map(|i| tw.counter("orders", &[("symbol", &tag(i))]))
                .collect(),
            metrics: (0..32)
                .map(|i| tw.metric("position", &[("symbol", &tag(i))]))
                .collect(),
            latencies: (0..32)
                .map(|i| tw.latency_with_tags("roundtrip", &[("symbol", &tag(i))]))
                .collect(),
            values: latencies(4096),
        }
    }

    #[inline(always)]
    fn mixed(&self, i: u64) {
        let s = (i as usize / 3) & 31;
        let v = self.values[i as usize & 4095];
        match i % 3 {
            0 => self.counters[s].add(1),
            1 => self.metrics[s].record(v as f64),
            _ => self.latencies[s].record_nanos(v),
        }
    }

    #[inline(always)]
    fn latency_only(&self, i: u64) {
        self.latencies[i as usize & 31].record_nanos(self.values[i as usize & 4095]);
    }
}

fn drain_aggregation(c: &mut Criterion) {
    let mut g = c.benchmark_group("drain_aggregation");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(DRAIN_N));
    type Load = fn(&Mix, u64);
    let loads: [(&str, Load); 2] = [("mixed", Mix::mixed), ("latency", Mix::latency_only)];
    for (load, f) in loads {
        for aggregation in [false, true] {
            let tw = telemetry(aggregation);
            let mix = Mix::new(&tw);
            let name = format!(
                "{load}/aggregation {}",
                if aggregation { "on" } else { "off" }
            );
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        for i in 0..DRAIN_N {
                            f(&mix, i);
                        }
                        tw.flush().expect("flush");
                    }
                    t.elapsed()
                })
            });
            let s = tw.stats();
            assert_eq!(s.dropped, 0, "Backpressure::Block must not drop");
            assert_eq!(s.accepted, s.delivered);
            if aggregation {
                let snap = tw.snapshot();
                eprintln!("[{load}] aggregated series: {}", snap.series.len());
            }
            tw.shutdown().expect("shutdown");
        }
    }
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let tw = Telemetry::builder()
        .ring_capacity(RING)
        .max_series(20_000)
        // Exactly the 10,000 series below: no tickwatch_* resource gauges.
        .resource_sampling(None)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    let samples = latencies(1_000_000);
    let venues = ["XNAS", "XNYS", "BATS", "IEXG", "ARCX"];
    let with_tags = |i: usize, f: &mut dyn FnMut(Tags)| {
        let symbol = format!("SYM{i:05}");
        f(&[("venue", venues[i % 5]), ("symbol", &symbol)]);
    };
    let mut lats: Vec<Latency> = Vec::with_capacity(1_000);
    for i in 0..1_000 {
        with_tags(i, &mut |t| {
            lats.push(tw.latency_with_tags("order_roundtrip", t))
        });
    }
    let mut plain: Vec<Histogram<u64>> = Vec::with_capacity(1_000);
    for (i, l) in lats.iter().enumerate() {
        let mut h = Histogram::<u64>::new(3).expect("sigfig 3");
        for &v in &samples[i * 1_000..(i + 1) * 1_000] {
            l.record_nanos(v);
            h.record(v).expect("auto-resize");
        }
        plain.push(h);
    }
    for i in 0..4_500 {
        with_tags(i, &mut |t| tw.counter("orders_sent", t).add(i as u64));
    }
    for i in 0..3_000 {
        with_tags(i, &mut |t| tw.metric("position", t).record(i as f64));
    }
    for i in 0..1_500 {
        tw.track_resource_usage(&format!("pool_{i}_used"), 0.5);
    }
    tw.flush().expect("flush");
    assert_eq!(tw.snapshot().series.len(), 10_000);

    let mut g = c.benchmark_group("snapshot");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.bench_function("tickwatch/10k series, clean", |b| {
        b.iter(|| black_box(tw.snapshot()))
    });
    // The issue's budget: snapshot plus Prometheus rendering of 10,000 series <= 10 ms.
    g.bench_function("tickwatch/10k series, snapshot + render_prometheus", |b| {
        b.iter(|| black_box(tw.render_prometheus()))
    });
    let mut next = 0usize;
    g.bench_function("tickwatch/10k series, all latencies changed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for l in &lats {
                    l.record_nanos(samples[next % samples.len()]);
                    next += 1;
                }
                tw.flush().expect("flush");
                let t = Instant::now();
                black_box(tw.snapshot());
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function(
        "hdrhistogram/value_at_quantiles x4 of 1,000 histograms",
        |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for h in &plain {
                    sum += h.value_at_quantiles([0.5, 0.9, 0.99, 0.999]).sum::<u64>();
                }
                black_box(sum)
            })
        },
    );
    g.finish();
    tw.shutdown().expect("shutdown");
}

criterion_group!(benches, drain_aggregation, snapshot);
criterion_main!(benches);
