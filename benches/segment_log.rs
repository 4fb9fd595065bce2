//! What the segment log costs the collector, against the JSON-lines sink on the same records
//! and against no sink at all, in one run: records per second from one producer through the
//! collector into each sink, files in the system temp directory (the page cache).
//!
//! ```text
//! cargo bench --bench segment_log
//! ```
//!
//! Groups: `segment_write_samples` (100,000 `Metric::record` then `flush()`: 32-byte frames in
//! the ring) and `segment_write_events` (100,000 `event!` with three fields then `flush()`).
//! Each has four rows: `NullSink` (the pipeline alone: the floor), `SegmentLog` (the default
//! durability: one `write(2)` per collector pass), `JsonLinesSink` (every record a line,
//! written in 64 KiB blocks) and `Spool(sink down)` (a `recovery::Spool` whose sink refuses
//! everything, so every record is spooled). Aggregation is off, so the rows differ by the
//! sink alone. Group `spool_replay`: 100,000 spooled samples replayed into a sink that takes
//! them, against reading the same spool directory with `LogReader::for_each` (the segment
//! log's own read).
//! The query, size and recovery figures are printed by `cargo run --release --example
//! log_bench`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tickwatch::recovery::{SpoolFull, SpoolOptions};
use tickwatch::sink::{Batch, JsonLinesSink, NullSink, Record, Replay, Sink, SinkError};
use tickwatch::store::{LogReader, SegmentLog};
use tickwatch::{event, Backpressure, Level, Telemetry};

const N: u64 = 100_000;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tw-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn instance(sink: Box<dyn Sink>) -> Telemetry {
    let tw = Telemetry::builder()
        .ring_capacity(1 << 22)
        .backpressure(Backpressure::Block)
        .aggregation(false)
        .resource_sampling(None)
        .boxed_sink(sink)
        .start()
        .expect("valid configuration");
    tw.preallocate();
    tw
}

fn sinks(tag: &str) -> Vec<(&'static str, Box<dyn Sink>, PathBuf)> {
    let d = dir(tag);
    let log = SegmentLog::options(d.join("log"))
        // Bounded disk use whatever criterion's iteration count.
        .retain_bytes(Some(512 << 20))
        .open()
        .expect("log");
    let json = JsonLinesSink::create(d.join("lines.jsonl"))
        .expect("file")
        .samples(true);
    let spool = SpoolOptions::new(d.join("spool"))
        .max_bytes(512 << 20)
        .when_full(SpoolFull::DropOldest)
        .open(Switch::down())
        .expect("spool");
    vec![
        ("NullSink", Box::new(NullSink), d.clone()),
        ("SegmentLog", Box::new(log), d.clone()),
        ("JsonLinesSink(file)", Box::new(json), d.clone()),
        ("Spool(sink down)", Box::new(spool), d),
    ]
}

/// A sink that is up or down, counting the replayed records it takes.
#[derive(Clone)]
struct Switch {
    up: Arc<AtomicBool>,
    replayed: Arc<AtomicU64>,
}

impl Switch {
    fn down() -> Switch {
        Switch {
            up: Arc::new(AtomicBool::new(false)),
            replayed: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Sink for Switch {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        match self.up.load(Relaxed) {
            true => Ok(()),
            false => Err(SinkError::new("down")),
        }
    }
    fn write_records(&mut self, records: &[Record], _: Replay) -> Result<(), SinkError> {
        match self.up.load(Relaxed) {
            true => {
                self.replayed.fetch_add(records.len() as u64, Relaxed);
                Ok(())
            }
            false => Err(SinkError::new("down")),
        }
    }
}

/// Spools `N` samples into a fresh spool in `d` with the sink down; returns the instance,
/// the switch and the spool's counters.
fn spooled(d: &std::path::Path) -> (Telemetry, Switch, tickwatch::recovery::SpoolHandle) {
    let _ = std::fs::remove_dir_all(d);
    let switch = Switch::down();
    let spool = SpoolOptions::new(d)
        .retry_after(Duration::from_millis(1), Duration::from_millis(1))
        .open(switch.clone())
        .expect("spool");
    let handle = spool.handle();
    let tw = instance(Box::new(spool));
    let m = tw.metric("px", &[("venue", "XNAS")]);
    for i in 0..N {
        m.record(i as f64);
    }
    tw.flush().expect("flush");
    assert_eq!(handle.stats().records, N);
    (tw, switch, handle)
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("spool_replay");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    let d = dir("replay");
    g.bench_function("100k spooled samples replayed->sink", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let (tw, switch, handle) = spooled(&d.join("spool"));
                switch.up.store(true, Relaxed);
                let t = Instant::now();
                while handle.stats().records > 0 {
                    tw.flush().expect("flush");
                }
                took += t.elapsed();
                assert_eq!(switch.replayed.load(Relaxed), N);
            }
            took
        })
    });
    // The peer: the same directory read back by the segment log's own reader.
    let (tw, _, _) = spooled(&d.join("spool"));
    drop(tw);
    let reader = LogReader::open(d.join("spool")).expect("reader");
    g.bench_function("100k spooled samples read by LogReader::for_each", |b| {
        b.iter(|| {
            let mut n = 0u64;
            reader.for_each(|_, _| n += 1).expect("read");
            assert_eq!(n, N);
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&d);
}

fn samples(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment_write_samples");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (name, sink, d) in sinks("samples") {
        let tw = instance(sink);
        let m = tw.metric("px", &[("venue", "XNAS")]);
        g.bench_function(format!("100k Metric::record+flush->{name}"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for i in 0..N {
                        m.record(i as f64);
                    }
                    tw.flush().expect("flush");
                }
                t.elapsed()
            })
        });
        let s = tw.stats();
        assert_eq!((s.dropped, s.sink_errors), (0, 0));
        drop(tw);
        // The JSON file is not bounded: remove it before the next row writes its own.
        let _ = std::fs::remove_file(d.join("lines.jsonl"));
    }
    g.finish();
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment_write_events");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    for (name, sink, d) in sinks("events") {
        let tw = instance(sink);
        g.bench_function(format!("100k event!(3 fields)+flush->{name}"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for i in 0..N {
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
        });
        let s = tw.stats();
        assert_eq!((s.dropped, s.sink_errors), (0, 0));
        drop(tw);
        let _ = std::fs::remove_file(d.join("lines.jsonl"));
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir("events"));
    let _ = std::fs::remove_dir_all(dir("samples"));
}

criterion_group!(benches, samples, events, replay);
criterion_main!(benches);
