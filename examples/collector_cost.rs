//! What the collector thread costs, as CPU of one core, next to the record rate that caused
//! it, with a bare queue consumer as the peer in the same run.
//!
//! ```text
//! cargo run --release --example collector_cost             # 5 s per scenario
//! cargo run --release --example collector_cost -- --quick  # 2 s per scenario
//! ```
//!
//! One producer thread records `Metric` samples in bursts (a burst every 1 ms or every
//! 10 ms, sized for the target rate), or not at all (idle). The collector's CPU time is read
//! from `/proc/self/task/<tid>/schedstat` (nanoseconds on CPU) before and after each
//! scenario, so the figure is what the kernel charged that thread, wake-ups included.
//!
//! The peer: a crossbeam `ArrayQueue` of 32-byte items drained by a consumer thread that
//! sleeps 1 ms (`park_timeout`) whenever the queue is empty — the floor of any polling
//! consumer at this wake rate, doing no work per item beyond the pop. Linux only (procfs).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tickwatch::sink::NullSink;
use tickwatch::Telemetry;

/// A scenario: `burst` records every `period` (no records when `burst` is 0).
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    period: Duration,
    burst: u64,
}

impl Scenario {
    fn rate(&self) -> f64 {
        self.burst as f64 / self.period.as_secs_f64()
    }
}

/// CPU time of the thread whose name starts with `prefix` (comm is cut to 15 bytes).
fn thread_cpu_ns(prefix: &str) -> Option<u64> {
    let prefix = &prefix[..prefix.len().min(15)];
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix) {
            let sched = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            return sched.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

/// Runs the producer's bursts for `secs`; `push` records one item.
fn produce(s: Scenario, secs: Duration, mut push: impl FnMut(u64)) -> u64 {
    let start = Instant::now();
    let mut next = start;
    let mut n = 0u64;
    while start.elapsed() < secs {
        for _ in 0..s.burst {
            push(n);
            n += 1;
        }
        next += s.period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now; // fell behind: do not try to catch up in one go
        }
    }
    n
}

/// The collector's CPU over one scenario, fraction of one core, and the records produced.
fn tickwatch_cost(s: Scenario, secs: Duration) -> (f64, u64) {
    let tw = Telemetry::builder()
        .sink(NullSink)
        .resource_sampling(None)
        .start()
        .expect("default configuration");
    let m = tw.metric("px", &[("venue", "XNAS")]);
    tw.preallocate();
    std::thread::sleep(Duration::from_millis(50)); // let the collector settle into idle
    let name = "tickwatch-collector";
    let before = thread_cpu_ns(name).expect("collector thread in /proc/self/task");
    let t0 = Instant::now();
    let n = produce(s, secs, |i| m.record(i as f64));
    let wall = t0.elapsed();
    let after = thread_cpu_ns(name).expect("collector thread");
    tw.shutdown().expect("clean shutdown");
    ((after - before) as f64 / wall.as_nanos() as f64, n)
}

/// The peer's consumer CPU over the same scenario.
fn peer_cost(s: Scenario, secs: Duration) -> (f64, u64) {
    let q: Arc<ArrayQueue<[u64; 4]>> = Arc::new(ArrayQueue::new(2048));
    let stop = Arc::new(AtomicBool::new(false));
    let (qc, sc) = (q.clone(), stop.clone());
    let consumer = std::thread::Builder::new()
        .name("peer-consumer".into())
        .spawn(move || {
            let mut sum = 0u64;
            while !sc.load(Relaxed) {
                while let Some(x) = qc.pop() {
                    sum = sum.wrapping_add(x[0]);
                }
                std::thread::park_timeout(Duration::from_millis(1));
            }
            black_box(sum);
        })
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(50));
    let before = thread_cpu_ns("peer-consumer").expect("peer thread");
    let t0 = Instant::now();
    let n = produce(s, secs, |i| {
        let mut item = [i, 0, 0, 0];
        // A full queue waits, as `Backpressure::Block` does.
        while let Err(back) = q.push(item) {
            item = back;
            consumer.thread().unpark();
            std::hint::spin_loop();
        }
    });
    let wall = t0.elapsed();
    let after = thread_cpu_ns("peer-consumer").expect("peer thread");
    stop.store(true, Relaxed);
    consumer.thread().unpark();
    consumer.join().expect("join");
    ((after - before) as f64 / wall.as_nanos() as f64, n)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = Duration::from_secs(if quick { 2 } else { 5 });
    let ms = Duration::from_millis;
    let scenarios = [
        Scenario {
            name: "idle",
            period: ms(1),
            burst: 0,
        },
        Scenario {
            name: "100 k/s, 1 ms bursts",
            period: ms(1),
            burst: 100,
        },
        Scenario {
            name: "1 M/s, 1 ms bursts",
            period: ms(1),
            burst: 1_000,
        },
        Scenario {
            name: "1 M/s, 10 ms bursts",
            period: ms(10),
            burst: 10_000,
        },
    ];
    println!(
        "collector CPU (fraction of one core, from /proc schedstat), {} s per scenario, default builder (256 KiB rings, Block), NullSink",
        secs.as_secs()
    );
    println!(
        "{:<22} {:>12} {:>16} {:>18} {:>8}",
        "scenario", "records/s", "tickwatch", "peer (ArrayQueue)", "ratio"
    );
    for s in scenarios {
        let (tw, n) = tickwatch_cost(s, secs);
        let (peer, _) = peer_cost(s, secs);
        let ratio = if peer > 0.0 {
            format!("{:.2}x", tw / peer)
        } else {
            "-".into()
        };
        println!(
            "{:<22} {:>12.0} {:>15.2}% {:>17.2}% {:>8}",
            s.name,
            n as f64 / secs.as_secs_f64(),
            tw * 100.0,
            peer * 100.0,
            ratio
        );
        let _ = s.rate();
    }
}
