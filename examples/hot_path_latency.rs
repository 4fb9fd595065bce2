//! Per-call latency distributions of tickwatch's hot-path calls and of `tracing::info!`, in
//! one run, measured with the time-stamp counter.
//!
//! ```text
//! cargo run --release --example hot_path_latency            # 200,000 samples per row
//! cargo run --release --example hot_path_latency -- --quick # 20,000 (a few seconds; CI)
//! TICKWATCH_QUICK=1 cargo run --release --example hot_path_latency
//! cargo run --release --example hot_path_latency -- --samples 1000000
//! cargo run --release --example hot_path_latency -- --ring 65536   # ring size in bytes
//! ```
//!
//! Two methods per operation:
//!
//! * `single`: `rdtsc` right before and right after one call. Includes the timer's own cost;
//!   the `(empty)` row measures that overhead alone.
//! * `burst/20`: one burst of 20 calls timed together and divided by 20 (Quill's method). The
//!   timer's cost is spread over 20 calls; a burst's slow call is averaged with its fast ones.
//!
//! Samples are spaced by a short spin ([`GAP_NS`]) so the collector keeps up; the ring is
//! 256 KiB with `Backpressure::Block`, so a call does not wait for room (the stats printed at
//! the end show `dropped == 0` and the ring's high-water mark). Rows are steady state: the ring
//! has been written through once before they are measured. One extra row measures the first
//! lap through a new ring (after `preallocate()`), where the first write to each page can
//! fault. Percentiles are exact (the samples are sorted; nearest rank). Ticks are converted
//! to nanoseconds with a rate calibrated against `Instant` over ~100 ms at start. Off x86-64
//! the timer is `Instant`.
//!
//! The `tracing` row goes through `tracing_subscriber::fmt()` writing to
//! `tracing_appender::non_blocking(io::sink())` (its default: lossy, 128,000 buffered
//! lines; with samples spaced this way its writer thread keeps up, so nothing is lost).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tickwatch::sink::NullSink;
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry};

/// Calls per timed burst.
const BURST: u64 = 20;
/// Spin between two samples, so the collector keeps up and samples are independent.
const GAP_NS: f64 = 1_000.0;
/// Ring per thread: 256 KiB unless `--ring BYTES` says otherwise. Large enough that the
/// spaced samples never fill it; small enough to stay within few TLB entries: with a 4 MiB
/// ring (1,024 small pages) single-call p99.9 measured 200-360 ns here against ~100-140 ns.
const RING: usize = 1 << 18;

/// A timestamp in ticks: `rdtsc` fenced on both sides so the timed call neither starts
/// before nor finishes after the reading (`lfence` waits for earlier instructions to finish
/// and keeps later ones from starting).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: `lfence` and `rdtsc` have no preconditions on x86-64 (both are baseline SSE2 /
    // base-ISA instructions present on every x86-64 CPU); they only read the counter.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Fallback timer: nanoseconds of `Instant` since the first call.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn ticks() -> u64 {
    use std::sync::OnceLock;
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Nanoseconds per tick, measured against `Instant` over about 100 ms.
fn calibrate() -> f64 {
    if cfg!(not(target_arch = "x86_64")) {
        return 1.0;
    }
    let (i0, t0) = (Instant::now(), ticks());
    while i0.elapsed() < Duration::from_millis(100) {
        std::hint::spin_loop();
    }
    let (t1, i1) = (ticks(), Instant::now());
    i1.duration_since(i0).as_nanos() as f64 / t1.wrapping_sub(t0).max(1) as f64
}

/// Spins until `ticks() >= until`.
#[inline(always)]
fn spin_until(until: u64) {
    while ticks() < until {
        std::hint::spin_loop();
    }
}

struct Bench {
    samples: usize,
    ns_per_tick: f64,
    gap_ticks: u64,
    rows: Vec<Row>,
}

struct Row {
    op: &'static str,
    method: &'static str,
    /// Sorted, in nanoseconds.
    ns: Vec<f64>,
}

impl Row {
    /// Nearest-rank percentile of the sorted samples.
    fn pct(&self, p: f64) -> f64 {
        let n = self.ns.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.ns[rank.clamp(1, n) - 1]
    }
}

impl Bench {
    /// Times `n` single calls of `op`, spaced by the gap.
    fn singles(&self, n: usize, mut op: impl FnMut()) -> Vec<u64> {
        let mut single = Vec::with_capacity(n);
        let mut next = ticks();
        for _ in 0..n {
            spin_until(next);
            let t0 = ticks();
            op();
            let t1 = ticks();
            single.push(t1.wrapping_sub(t0));
            next = t1 + self.gap_ticks;
        }
        single
    }

    /// Measures `op` with both methods, `samples` samples each, after a short warm-up.
    fn measure(&mut self, name: &'static str, mut op: impl FnMut()) {
        for _ in 0..(self.samples / 10).max(1_000) {
            op();
            spin_until(ticks() + self.gap_ticks / 4);
        }
        let single = self.singles(self.samples, &mut op);
        self.push(name, "single", single, 1);
        let mut next = ticks();

        let mut burst = Vec::with_capacity(self.samples);
        for _ in 0..self.samples {
            spin_until(next);
            let t0 = ticks();
            for _ in 0..BURST {
                op();
            }
            let t1 = ticks();
            burst.push(t1.wrapping_sub(t0));
            next = t1 + self.gap_ticks * BURST;
        }
        self.push(name, "burst/20", burst, BURST);
    }

    fn push(&mut self, op: &'static str, method: &'static str, ticks: Vec<u64>, per: u64) {
        let k = self.ns_per_tick / per as f64;
        let mut ns: Vec<f64> = ticks.into_iter().map(|t| t as f64 * k).collect();
        ns.sort_by(f64::total_cmp);
        self.rows.push(Row { op, method, ns });
    }

    fn print(&self) {
        println!(
            "| {:<40} | {:<8} | {:>7} | {:>7} | {:>7} | {:>7} | {:>9} |",
            "operation", "method", "p50", "p90", "p99", "p99.9", "max"
        );
        println!(
            "|{:-<42}|{:-<10}|{:->9}|{:->9}|{:->9}|{:->9}|{:->11}|",
            "", "", ":", ":", ":", ":", ":"
        );
        for r in &self.rows {
            println!(
                "| {:<40} | {:<8} | {:>7.1} | {:>7.1} | {:>7.1} | {:>7.1} | {:>9.1} |",
                r.op,
                r.method,
                r.pct(50.0),
                r.pct(90.0),
                r.pct(99.0),
                r.pct(99.9),
                r.ns[r.ns.len() - 1],
            );
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("TICKWATCH_QUICK").is_ok_and(|v| v == "1");
    let mut samples = if quick { 20_000 } else { 200_000 };
    if let Some(i) = args.iter().position(|a| a == "--samples") {
        samples = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .expect("--samples takes a positive integer");
    }

    let ring = match args.iter().position(|a| a == "--ring") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| n.is_power_of_two())
            .expect("--ring takes a power of two (bytes)"),
        None => RING,
    };

    let ns_per_tick = calibrate();
    println!("tickwatch hot_path_latency, {}", utc_now());
    println!(
        "CPU: {} ({} logical CPUs), timer: {} at {:.3} GHz, resolution {:.2} ns (the step the \
         counter was seen to advance by: {:.2} ns per tick x {:.0}; its own cost is the empty row)",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(target_arch = "x86_64") {
            "lfence+rdtsc+lfence"
        } else {
            "Instant"
        },
        1.0 / ns_per_tick,
        tickwatch::clock_info().resolution_ns,
        ns_per_tick,
        (tickwatch::clock_info().resolution_ns / tickwatch::clock_info().tick_ns).round(),
    );
    println!(
        "{samples} samples per row, {GAP_NS} ns spin between samples; tickwatch: {} KiB ring, \
         Backpressure::Block, NullSink; nanoseconds per call\n",
        ring >> 10
    );

    let start = || {
        Telemetry::builder()
            .ring_capacity(ring)
            .backpressure(Backpressure::Block)
            .sink(NullSink)
            .start()
            .expect("valid configuration")
    };
    let mut b = Bench {
        samples,
        ns_per_tick,
        gap_ticks: (GAP_NS / ns_per_tick) as u64,
        rows: Vec::new(),
    };
    b.measure("(empty: timer overhead)", || {});

    // The first lap through a new ring, after `preallocate()`: what the first ring-full of
    // samples of a thread cost (`preallocate()` has touched every page, so no page faults).
    let per_lap = ring / 32;
    {
        let cold = start();
        cold.preallocate();
        let metric = cold.metric("position", &[("venue", "XNAS")]);
        let first = b.singles(per_lap.min(samples), || metric.record(black_box(1.5)));
        b.push("tickwatch Metric::record, 1st ring lap", "single", first, 1);
        cold.shutdown().expect("shutdown");
    }

    let tw = start();
    tw.preallocate();
    let metric = tw.metric("position", &[("venue", "XNAS")]);
    let counter = tw.counter("orders_sent", &[("venue", "XNAS")]);
    let latency = tw.latency("order_roundtrip");
    // Steady state from here on: one full lap so every page of the ring has been written.
    // Spaced like the samples, so the warm-up itself does not fill the ring.
    for _ in 0..per_lap {
        metric.record(black_box(0.0));
        spin_until(ticks() + b.gap_ticks / 4);
    }
    tw.flush().expect("flush");
    b.measure("tickwatch Metric::record", || metric.record(black_box(1.5)));
    b.measure("tickwatch Counter::add", || counter.add(black_box(1)));
    b.measure("tickwatch Latency::record(Duration)", || {
        latency.record(black_box(Duration::from_nanos(850)))
    });
    b.measure("tickwatch Latency::record_nanos", || {
        latency.record_nanos(black_box(850))
    });
    b.measure("tickwatch log_metric (2 tags)", || {
        tw.log_metric(
            black_box("spread"),
            black_box(0.01),
            black_box(&[("venue", "XNAS"), ("side", "buy")]),
        )
    });
    b.measure("tickwatch event! (u64, f64, &str)", || {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    b.measure("tickwatch log_event (u64, f64, &str)", || {
        tw.log_event(black_box(&Event {
            level: Level::Info,
            target: "hot_path_latency",
            message: "order filled",
            fields: &[
                ("order_id", FieldRef::U64(black_box(42))),
                ("px", FieldRef::F64(black_box(101.25))),
                ("venue", FieldRef::Str(black_box("XNAS"))),
            ],
        }))
    });
    tw.flush().expect("flush");
    let stats = tw.stats();

    {
        let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        b.measure("tracing info! + fmt + non_blocking", || {
            tracing::info!(
                order_id = black_box(42u64),
                px = black_box(101.25),
                venue = black_box("XNAS"),
                "order filled"
            )
        });
        drop(_default);
        drop(guard);
    }

    b.print();

    println!(
        "\ntickwatch stats: accepted {} delivered {} dropped {} oversized {} truncated {} \
         sink_errors {} decode_errors {}",
        stats.accepted,
        stats.delivered,
        stats.dropped,
        stats.oversized,
        stats.truncated,
        stats.sink_errors,
        stats.decode_errors
    );
    for t in &stats.threads {
        println!(
            "  lane {} ({}): accepted {} dropped {} high-water {} of {} bytes",
            t.thread.index,
            t.thread.name.as_deref().unwrap_or("unnamed"),
            t.accepted,
            t.dropped,
            t.high_water,
            t.capacity
        );
    }
    let ok = stats.dropped == 0 && stats.accepted == stats.delivered;
    println!(
        "dropped == 0 and accepted == delivered: {}",
        if ok { "yes" } else { "NO" }
    );
    tw.shutdown().expect("shutdown");
    if !ok {
        std::process::exit(1);
    }
}
