//! Handles and by-name calls, each against its peer.

use super::*;

pub(crate) fn handle(c: &mut Criterion) {
    let tw = telemetry();
    let metric = tw.metric("position", &[("venue", "XNAS")]);
    let counter = tw.counter("orders_sent", &[("venue", "XNAS")]);
    let latency = tw.latency("order_roundtrip");

    let mut g = c.benchmark_group("handle");
    config(&mut g);
    g.throughput(Throughput::Elements(1));
    both(&mut g, &tw, "tickwatch/Metric::record", || {
        metric.record(black_box(1.5))
    });
    both(&mut g, &tw, "tickwatch/Counter::add", || {
        counter.add(black_box(1))
    });
    both(&mut g, &tw, "tickwatch/Latency::record", || {
        latency.record(black_box(Duration::from_nanos(850)))
    });
    both(&mut g, &tw, "tickwatch/Latency::record_nanos", || {
        latency.record_nanos(black_box(850))
    });
    finish("handle", tw);

    let mc = metrics::Counter::from_arc(Arc::new(AtomicCounter::default()));
    g.bench_function("metrics/Counter::increment", |b| {
        b.iter(|| mc.increment(black_box(1)))
    });
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("histogram bounds");
    g.bench_function("hdrhistogram/record", |b| {
        b.iter(|| h.record(black_box(850)).expect("in range"))
    });
    black_box(h.len());
    // Same byte size as the tickwatch ring: 32,768 records of 32 bytes.
    peer_both(
        &mut g,
        "rtrb/push(32B)+rdtsc",
        &mut Drainer::rtrb(RING / 32),
    );
    peer_both(
        &mut g,
        "crossbeam/ArrayQueue::push(32B)",
        &mut Drainer::array_queue(RING / 32),
    );
    g.finish();
}

pub(crate) fn by_name(c: &mut Criterion) {
    let tw = telemetry();
    let mut g = c.benchmark_group("by_name");
    config(&mut g);
    g.throughput(Throughput::Elements(1));
    both(&mut g, &tw, "tickwatch/log_metric(2 tags)", || {
        tw.log_metric(
            black_box("spread"),
            black_box(0.01),
            black_box(&[("venue", "XNAS"), ("side", "buy")]),
        )
    });
    finish("by_name", tw);

    let recorder = MapRecorder::default();
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics/counter!(2 labels)", |b| {
            b.iter(|| {
                metrics::counter!("orders_sent", "venue" => "XNAS", "side" => "buy")
                    .increment(black_box(1))
            })
        });
    });
    g.finish();
}
