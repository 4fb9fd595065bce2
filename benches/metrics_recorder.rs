//! `metrics::counter!` and friends through tickwatch's recorder against
//! metrics-exporter-prometheus's recorder, in one run.
//!
//! ```text
//! cargo bench --bench metrics_recorder
//! ```
//!
//! Rows (group `metrics_recorder`), each for `tickwatch` (`tw.metrics_recorder()`) and
//! `prometheus` (`PrometheusBuilder::new().build_recorder()`, no HTTP listener), each
//! recorder the thread's local recorder (`metrics::with_local_recorder`) while its rows run:
//!
//! * `counter_by_name`: `metrics::counter!("name").increment(1)`, the macro asking the
//!   recorder for the handle on every call; `counter_by_name_2_labels`: the same with two
//!   static labels.
//! * `counter_handle`: `increment(1)` on a handle kept from one `counter!`.
//! * `gauge_set_handle`, `histogram_record_handle`: `set` and `record` on kept handles
//!   (the histogram a latency series for tickwatch: its name ends with `_seconds`).
//!
//! * `floor/clock_read+atomic_add`: a tick read (tickwatch's) and an atomic add: the least a
//!   counter update that keeps its time can cost, next to the Prometheus handle's atomic add.
//! * `tickwatch/native_Counter::add`: tickwatch's own [`tickwatch::Counter`] handle, the
//!   floor of tickwatch's handle rows (what the `metrics` front end adds is the difference).
//!
//! Every row is timed in bursts of [`BURST`] calls (a quarter of tickwatch's 1 MiB ring, so
//! a burst never waits for the collector); between bursts, untimed, tickwatch's collector
//! drains the ring into a `NullSink` (`flush`) and the Prometheus recorder renders, which
//! drains its histogram buckets (they would otherwise grow for the whole run). So each row
//! is the cost on the calling thread: for tickwatch a timestamped 32-byte record into the
//! thread's ring, for Prometheus an atomic update (and for a histogram a push into a
//! lock-free bucket).

use std::hint::black_box;

#[path = "common/bursts.rs"]
mod bursts;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use metrics_exporter_prometheus::PrometheusBuilder;
use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Telemetry};

/// Calls per timed burst: a quarter of the ring (32-byte records).
const BURST: u64 = 8_192;

/// Times `op` in bursts of [`BURST`], running `between` (untimed) after each.
fn burst(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    between: &dyn Fn(),
    mut op: impl FnMut(),
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| bursts::time_bursts(iters, BURST, &mut op, between))
    });
}

/// The rows for whichever recorder is the thread's local recorder, prefixed `who/`.
fn rows(g: &mut BenchmarkGroup<'_, WallTime>, who: &str, between: &dyn Fn()) {
    burst(g, &format!("{who}/counter_by_name"), between, || {
        metrics::counter!("bench_orders_by_name").increment(black_box(1))
    });
    burst(
        g,
        &format!("{who}/counter_by_name_2_labels"),
        between,
        || {
            metrics::counter!("bench_orders_tagged", "venue" => "XNAS", "side" => "buy")
                .increment(black_box(1))
        },
    );
    let counter = metrics::counter!("bench_orders");
    burst(g, &format!("{who}/counter_handle"), between, || {
        counter.increment(black_box(1))
    });
    let gauge = metrics::gauge!("bench_position");
    burst(g, &format!("{who}/gauge_set_handle"), between, || {
        gauge.set(black_box(1.5))
    });
    let histogram = metrics::histogram!("bench_ack_seconds");
    burst(
        g,
        &format!("{who}/histogram_record_handle"),
        between,
        || histogram.record(black_box(25e-6)),
    );
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics_recorder");
    g.throughput(Throughput::Elements(1));

    let tw = Telemetry::builder()
        .ring_capacity(1 << 20)
        .backpressure(Backpressure::Block)
        .resource_sampling(None)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    tw.preallocate();
    let recorder = tw.metrics_recorder();
    let drain = || tw.flush().expect("flush");
    metrics::with_local_recorder(&recorder, || rows(&mut g, "tickwatch", &drain));
    // The floor of the handle rows: tickwatch's own handle, no `metrics` in between.
    let native = tw.counter("bench_orders_native", &[]);
    burst(&mut g, "tickwatch/native_Counter::add", &drain, || {
        native.add(black_box(1))
    });

    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let render = || {
        black_box(handle.render());
    };
    metrics::with_local_recorder(&prometheus, || rows(&mut g, "prometheus", &render));

    // The least a counter update that keeps its time can cost: a tick read and an atomic add.
    let cell = std::sync::atomic::AtomicU64::new(0);
    burst(&mut g, "floor/clock_read+atomic_add", &|| {}, || {
        black_box(tickwatch::__private::now_ticks());
        cell.fetch_add(black_box(1), std::sync::atomic::Ordering::Relaxed);
    });

    g.finish();
    tw.shutdown().expect("shutdown");
}

criterion_group!(benches, bench);
criterion_main!(benches);
