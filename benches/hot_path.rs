//! Hot-path cost of tickwatch against its peers, each comparison in its own criterion group so
//! every claim is a ratio measured in the same run on the same machine.
//!
//! ```text
//! cargo bench --bench hot_path                 # everything (~2-3 minutes on 2 cores)
//! cargo bench --bench hot_path -- handle       # one group
//! ```
//!
//! Every tickwatch call is measured two ways:
//!
//! * `/steady`: back to back, as criterion's `iter` does. Once the 1 MiB ring has filled, this
//!   measures the slower of the calling thread and the collector (`Backpressure::Block`), so
//!   it is a throughput figure for a thread that does nothing but log.
//! * `/burst`: timed bursts of [`BURST`] calls (a quarter of the ring, so a burst never
//!   waits for room), each followed by an untimed `flush()`: the cost on the calling thread,
//!   with the collector draining concurrently on the other core. This is the per-call cost a
//!   trading thread pays between other work.
//!
//! Groups:
//!
//! * `handle`: register-once handles. tickwatch `Metric::record`, `Counter::add`,
//!   `Latency::record` (a `Duration`), `Latency::record_nanos`; peers: a `metrics::Counter`
//!   handle increment (one atomic RMW, built with `Counter::from_arc`), an `hdrhistogram`
//!   `record` (a local array increment: no hand-off to another thread at all), and two bare
//!   hand-offs of a 32-byte record to a consumer thread, measured the same two ways as
//!   tickwatch (`/steady` and `/burst`, the consumer draining between bursts): an `rtrb` SPSC
//!   ring push with an `rdtsc` timestamp (the floor of any per-thread ring design) and a
//!   `crossbeam_queue::ArrayQueue` push (an MPMC queue). Their `/steady` figures depend on
//!   how closely the consumer chases the producer (every slot line moving between cores when
//!   it does): a bimodal figure, which is why the `/burst` rows are the ones to compare.
//! * `by_name`: `tw.log_metric` with two tags against the `metrics::counter!` macro with two
//!   labels through a recorder that looks the key up in a `RwLock<HashMap>` (what the macro
//!   costs when the handle is not kept).
//! * `event`: `event!` with three fields (u64, f64, 4-byte &str) and the dynamic
//!   `tw.log_event` against `tracing::info!` with the same fields through
//!   `tracing_subscriber::fmt()` writing to `tracing_appender::non_blocking(io::sink())`, both
//!   the default (lossy: lines are dropped when its 128,000-line channel is full) and
//!   lossless (the caller waits for the writer thread).
//! * `drain`: records per second from one producer to the sink: [`DRAIN_N`] `Metric::record`
//!   then `flush()` into `NullSink` (aggregation on: every sample folded into its series),
//!   against the same number of 32-byte items through a bare `rtrb` ring and a bare
//!   `ArrayQueue` of the same byte size, each with one consumer thread that only pops.
//!
//! Criterion prints the mean; the median of each benchmark is in
//! `target/criterion/<group>/<bench>/new/estimates.json` (`median.point_estimate`, ns per
//! iteration; divide the drain figures by [`DRAIN_N`]).
//!
//! tickwatch runs with `Backpressure::Block`, 1 MiB rings and a `NullSink` (a `SegmentLog`
//! in the temp directory with `TICKWATCH_BENCH_SINK=segment-log`; a `Spool` over a sink that
//! is always down, so every record is spooled, with `TICKWATCH_BENCH_SINK=spool-down`); its
//! collector drains concurrently on the other core. Each group starts its own instance (and peer
//! threads) and stops them at the end, so no idle thread of one group competes with the next.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[path = "common/bursts.rs"]
mod bursts;
#[path = "common/tracing_peer.rs"]
mod tracing_peer;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use tickwatch::sink::NullSink;
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry};

/// Ring size for the benchmarks: 1 MiB, 32,768 samples.
const RING: usize = 1 << 20;
/// Calls per timed burst (`/burst` benchmarks): a quarter of the ring, so a burst never blocks.
const BURST: u64 = 8_192;
/// Records per iteration of the drain benchmark.
const DRAIN_N: u64 = 1_000_000;

/// The instance the hot-path groups measure: `NullSink`, or with
/// `TICKWATCH_BENCH_SINK=segment-log` a `SegmentLog` in the temp directory (the calling
/// thread's cost should not change with the sink: it runs on the collector).
fn telemetry() -> Telemetry {
    let b = Telemetry::builder()
        .ring_capacity(RING)
        .backpressure(Backpressure::Block);
    let which = std::env::var("TICKWATCH_BENCH_SINK").unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("tw-hot-path-{}", std::process::id()));
    let b = if which == "segment-log" {
        let _ = std::fs::remove_dir_all(&dir);
        let log = tickwatch::store::SegmentLog::options(&dir)
            .retain_bytes(Some(256 << 20))
            .open()
            .expect("log");
        b.segment_log(log)
    } else if which == "spool-down" {
        let _ = std::fs::remove_dir_all(&dir);
        let spool = tickwatch::recovery::SpoolOptions::new(&dir)
            .max_bytes(256 << 20)
            .when_full(tickwatch::recovery::SpoolFull::DropOldest)
            .open(DownSink)
            .expect("spool");
        b.sink(spool)
    } else {
        b.sink(NullSink)
    };
    let tw = b.start().expect("valid configuration");
    tw.preallocate();
    tw
}

/// A sink that refuses everything (the spool's outage).
struct DownSink;

impl tickwatch::sink::Sink for DownSink {
    fn write(&mut self, _: &tickwatch::sink::Batch<'_>) -> Result<(), tickwatch::sink::SinkError> {
        Err(tickwatch::sink::SinkError::new("down"))
    }
}

/// Prints the instance's counters (so a run shows nothing was dropped) and shuts it down.
fn finish(label: &str, tw: Telemetry) {
    tw.flush().expect("flush");
    let s = tw.stats();
    eprintln!(
        "[{label}] tickwatch stats: accepted {} delivered {} dropped {}",
        s.accepted, s.delivered, s.dropped
    );
    assert_eq!(s.dropped, 0, "Backpressure::Block must not drop");
    assert_eq!(s.accepted, s.delivered);
    tw.shutdown().expect("shutdown");
    // The log or spool directory of `TICKWATCH_BENCH_SINK`, if any.
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("tw-hot-path-{}", std::process::id())),
    );
}

/// A 32-byte record, the size of a tickwatch sample frame.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Rec32 {
    ticks: u64,
    id: u64,
    value: u64,
    kind: u64,
}

impl Rec32 {
    #[inline(always)]
    fn new(i: u64) -> Self {
        Rec32 {
            ticks: i,
            id: 7,
            value: 850,
            kind: 1,
        }
    }
}

/// A bare queue with a consumer thread popping everything; stops when dropped.
struct Drainer<P> {
    producer: P,
    pushed: u64,
    popped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// The producing end of a peer queue.
trait PeerPush {
    fn push(&mut self, r: Rec32);
}

/// `ArrayQueue` (MPMC): both ends share the queue.
struct ArrayQueuePush(Arc<ArrayQueue<Rec32>>);

impl PeerPush for ArrayQueuePush {
    #[inline(always)]
    fn push(&mut self, r: Rec32) {
        let mut r = r;
        while let Err(back) = self.0.push(r) {
            r = back;
            std::hint::spin_loop();
        }
    }
}

/// `rtrb` (SPSC), the record stamped with `rdtsc` as a tickwatch sample is.
struct RtrbPush(rtrb::Producer<Rec32>);

impl PeerPush for RtrbPush {
    #[inline(always)]
    fn push(&mut self, r: Rec32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `rdtsc` has no preconditions on x86-64.
        let ticks = unsafe { core::arch::x86_64::_rdtsc() };
        #[cfg(not(target_arch = "x86_64"))]
        let ticks = r.ticks;
        let mut r = Rec32 { ticks, ..r };
        while let Err(rtrb::PushError::Full(back)) = self.0.push(r) {
            r = back;
            std::hint::spin_loop();
        }
    }
}

/// Spawns the consumer thread: `pop` takes one item or says the queue is empty.
fn spawn_consumer(
    name: &str,
    popped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    mut pop: impl FnMut() -> Option<Rec32> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut n = 0u64;
            let mut sum = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut got = false;
                while let Some(r) = pop() {
                    sum = sum.wrapping_add(r.value ^ r.ticks);
                    n += 1;
                    got = true;
                }
                if got {
                    popped.store(n, Ordering::Release);
                } else {
                    std::hint::spin_loop();
                }
            }
            black_box(sum);
        })
        .expect("spawn consumer")
}

impl Drainer<ArrayQueuePush> {
    fn array_queue(capacity: usize) -> Self {
        let queue = Arc::new(ArrayQueue::<Rec32>::new(capacity));
        let q = queue.clone();
        Drainer::with(ArrayQueuePush(queue), "arrayqueue-consumer", move || {
            q.pop()
        })
    }
}

impl Drainer<RtrbPush> {
    fn rtrb(capacity: usize) -> Self {
        let (producer, mut consumer) = rtrb::RingBuffer::<Rec32>::new(capacity);
        Drainer::with(RtrbPush(producer), "rtrb-consumer", move || {
            consumer.pop().ok()
        })
    }
}

impl<P: PeerPush> Drainer<P> {
    fn with(producer: P, name: &str, pop: impl FnMut() -> Option<Rec32> + Send + 'static) -> Self {
        let popped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn_consumer(name, popped.clone(), stop.clone(), pop);
        Drainer {
            producer,
            pushed: 0,
            popped,
            stop,
            handle: Some(handle),
        }
    }

    #[inline(always)]
    fn push(&mut self, r: Rec32) {
        self.producer.push(r);
        self.pushed += 1;
    }

    /// Waits until the consumer has popped everything pushed so far.
    fn wait_drained(&self) {
        while self.popped.load(Ordering::Acquire) < self.pushed {
            std::hint::spin_loop();
        }
    }
}

impl<P> Drop for Drainer<P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Benchmarks a peer queue's push the two ways tickwatch is measured (see [`both`]).
fn peer_both<P: PeerPush>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, q: &mut Drainer<P>) {
    let mut i = 0u64;
    g.bench_function(format!("{name}/steady"), |b| {
        b.iter(|| {
            i += 1;
            q.push(Rec32::new(black_box(i)))
        })
    });
    q.wait_drained();
    g.bench_function(format!("{name}/burst"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST);
                let t = Instant::now();
                for _ in 0..n {
                    i += 1;
                    q.push(Rec32::new(black_box(i)));
                }
                total += t.elapsed();
                left -= n;
                q.wait_drained();
            }
            total
        })
    });
}

/// A `metrics` counter backend: one atomic add, what a real recorder's handle does.
#[derive(Default)]
struct AtomicCounter(AtomicU64);

impl metrics::CounterFn for AtomicCounter {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// A recorder that finds (or creates) a counter by key on every `counter!` call, as
/// registry-backed exporters do.
#[derive(Default)]
struct MapRecorder {
    counters: RwLock<HashMap<metrics::Key, Arc<AtomicCounter>>>,
}

impl metrics::Recorder for MapRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if let Some(c) = self.counters.read().expect("lock").get(key) {
            return metrics::Counter::from_arc(c.clone());
        }
        let c = self
            .counters
            .write()
            .expect("lock")
            .entry(key.clone())
            .or_default()
            .clone();
        metrics::Counter::from_arc(c)
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn config(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(50);
}

/// Times `BURST`-call bursts of `op`; waits (untimed) for the collector between bursts.
fn bursts(tw: &Telemetry, iters: u64, op: impl FnMut()) -> Duration {
    bursts::time_bursts(iters, BURST, op, || tw.flush().expect("flush"))
}

/// Benchmarks `op` twice: back to back (`/steady`) and in bursts (`/burst`).
fn both(g: &mut BenchmarkGroup<'_, WallTime>, tw: &Telemetry, name: &str, mut op: impl FnMut()) {
    g.bench_function(format!("{name}/steady"), |b| b.iter(&mut op));
    g.bench_function(format!("{name}/burst"), |b| {
        b.iter_custom(|iters| bursts(tw, iters, &mut op))
    });
}

fn handle(c: &mut Criterion) {
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

fn by_name(c: &mut Criterion) {
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

fn event(c: &mut Criterion) {
    let tw = telemetry();
    let mut g = c.benchmark_group("event");
    config(&mut g);
    g.throughput(Throughput::Elements(1));
    // Three numbers ("int, int, double", the C++ loggers' benchmark): the packed form, a
    // 48-byte frame written as five words; its floor is the bare ring below.
    both(&mut g, &tw, "tickwatch/event!(u64, u64, f64)", || {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            qty = black_box(7u64),
            px = black_box(101.25)
        )
    });
    both(&mut g, &tw, "tickwatch/event!(3 fields)", || {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    both(&mut g, &tw, "tickwatch/info!(3 fields)", || {
        tickwatch::info!(
            tw,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    both(
        &mut g,
        &tw,
        "tickwatch/event!(format string, 3 args)",
        || {
            event!(
                tw,
                Level::Info,
                "order {} filled at {} on {}",
                black_box(42u64),
                black_box(101.25),
                black_box("XNAS")
            )
        },
    );
    let level = black_box(Level::Info);
    both(
        &mut g,
        &tw,
        "tickwatch/event!(level in a variable, 3 fields)",
        || {
            event!(
                tw,
                level,
                "order filled",
                order_id = black_box(42u64),
                px = black_box(101.25),
                venue = black_box("XNAS")
            )
        },
    );
    both(&mut g, &tw, "tickwatch/log_event(3 fields)", || {
        tw.log_event(black_box(&Event {
            level: Level::Info,
            target: "hot_path",
            message: "order filled",
            fields: &[
                ("order_id", FieldRef::U64(black_box(42))),
                ("px", FieldRef::F64(black_box(101.25))),
                ("venue", FieldRef::Str(black_box("XNAS"))),
            ],
        }))
    });
    finish("event", tw);
    // The floor in the same group: a timestamp and three values through a bare SPSC ring.
    peer_both(
        &mut g,
        "rtrb/push(ticks, u64, u64, f64)",
        &mut Drainer::rtrb(RING / 32),
    );

    // A level filtered out: a load and a branch; nothing evaluated, nothing recorded.
    let quiet = Telemetry::builder()
        .level(Level::Info)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    g.bench_function("tickwatch/debug!(disabled)", |b| {
        b.iter(|| tickwatch::debug!(quiet, "order filled", order_id = black_box(42u64)))
    });
    let debug = black_box(Level::Debug);
    g.bench_function("tickwatch/event!(disabled, level in a variable)", |b| {
        b.iter(|| event!(quiet, debug, "order filled", order_id = black_box(42u64)))
    });
    assert_eq!(quiet.stats().accepted, 0);
    drop(quiet);

    for (name, lossy) in [
        ("tracing/info!+fmt+non_blocking(default, lossy)", true),
        ("tracing/info!+fmt+non_blocking(lossless)", false),
    ] {
        let peer = tracing_peer::fmt_non_blocking(lossy);
        g.bench_function(name, |b| {
            b.iter(|| {
                tracing::info!(
                    order_id = black_box(42u64),
                    px = black_box(101.25),
                    venue = black_box("XNAS"),
                    "order filled"
                )
            })
        });
        if !lossy {
            g.bench_function(
                "tracing/info!(format string, 3 args)+fmt+non_blocking(lossless)",
                |b| {
                    b.iter(|| {
                        tracing::info!(
                            "order {} filled at {} on {}",
                            black_box(42u64),
                            black_box(101.25),
                            black_box("XNAS")
                        )
                    })
                },
            );
            // A level filtered out: tracing's own fast path (the fmt subscriber's max level
            // is INFO by default).
            g.bench_function("tracing/debug!(disabled)", |b| {
                b.iter(|| tracing::debug!(order_id = black_box(42u64), "order filled"))
            });
        }
        drop(peer); // flushes and joins the writer thread
    }
    g.finish();
}

fn drain(c: &mut Criterion) {
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
fn json_lines(c: &mut Criterion) {
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
                        file: "benches/hot_path.rs",
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

criterion_group!(benches, handle, by_name, event, drain, json_lines);
criterion_main!(benches);
