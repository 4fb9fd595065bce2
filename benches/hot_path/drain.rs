//! The collector's drain and the JSON-lines sink, against bare-queue consumers.

use super::*;

pub(crate) fn drain(c: &mut Criterion) {
    let tw = telemetry();
    let metric = tw.metric("position", &[("venue", "XNAS")]);
    let mut g = c.benchmark_group("drain");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(DRAIN_N));
    g.bench_function("tickwatch/1M Metric::record+flush->NullSink", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for i in 0..DRAIN_N {
                    metric.record(i as f64);
                }
                tw.flush().expect("flush");
            }
            t.elapsed()
        })
    });
    finish("drain", tw);

    drain_peer(
        &mut g,
        "rtrb/1M push(32B)->consumer thread",
        Drainer::rtrb(RING / 32),
    );
    drain_peer(
        &mut g,
        "crossbeam/1M ArrayQueue<32B> push->consumer thread",
        Drainer::array_queue(RING / 32),
    );
    g.finish();
}

/// Records per second through a bare queue: `DRAIN_N` pushes, then wait for the consumer.
fn drain_peer<P: PeerPush>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, mut q: Drainer<P>) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for i in 0..DRAIN_N {
                    q.push(Rec32::new(i));
                }
                q.wait_drained();
            }
            t.elapsed()
        })
    });
}

/// Records per iteration of the JSON-lines benchmark.
const JSON_N: u64 = 100_000;

/// What the JSON-lines sink costs the collector per line, against `serde_json` writing the
/// same lines from a derived struct (formatting only: no ring, no decoding, no hand-off).
pub(crate) fn json_lines(c: &mut Criterion) {
    use tickwatch::sink::JsonLinesSink;
    let mut g = c.benchmark_group("json_lines");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(JSON_N));
    let tw = Telemetry::builder()
        .ring_capacity(RING * 4)
        .backpressure(Backpressure::Block)
        .sink(JsonLinesSink::new(std::io::sink()))
        .start()
        .expect("valid configuration");
    tw.preallocate();
    g.bench_function(
        "tickwatch/100k event!(3 fields)+flush->JsonLinesSink(io::sink)",
        |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for i in 0..JSON_N {
                        event!(
                            tw,
                            Level::Info,
                            "order filled",
                            order_id = i,
                            px = 100.25,
                            venue = "XNAS"
                        );
                    }
                    tw.flush().expect("flush");
                }
                t.elapsed()
            })
        },
    );
    finish("json_lines", tw);

    #[derive(serde::Serialize)]
    struct Fields<'a> {
        order_id: u64,
        px: f64,
        venue: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Line<'a> {
        ts: String,
        thread: u32,
        kind: &'a str,
        level: &'a str,
        target: &'a str,
        message: &'a str,
        fields: Fields<'a>,
        file: &'a str,
        line: u32,
    }
    g.bench_function("serde_json/100k lines of the same shape->io::sink", |b| {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::sink());
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for i in 0..JSON_N {
                    let line = Line {
                        ts: tickwatch::Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + i)
                            .to_string(),
                        thread: 0,
                        kind: "event",
                        level: "INFO",
                        target: "hot_path",
                        message: "order filled",
                        fields: Fields {
                            order_id: i,
                            px: 100.25,
                            venue: "XNAS",
                        },
                        file: "benches/hot_path/drain.rs",
                        line: 520,
                    };
                    serde_json::to_writer(&mut out, &line).expect("write");
                    std::io::Write::write_all(&mut out, b"\n").expect("write");
                }
                std::io::Write::flush(&mut out).expect("flush");
            }
            t.elapsed()
        })
    });
    g.finish();
}
