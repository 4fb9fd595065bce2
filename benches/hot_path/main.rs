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

#[path = "../common/bursts.rs"]
mod bursts;
#[path = "../common/tracing_peer.rs"]
mod tracing_peer;

mod calls;
mod drain;
mod events;

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

criterion_group!(
    benches,
    calls::handle,
    calls::by_name,
    events::event,
    drain::drain,
    drain::json_lines
);
criterion_main!(benches);
