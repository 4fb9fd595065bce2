//! Per-call latency distributions of tickwatch's hot-path calls, next to a bare ring push +
//! `rdtsc` (the floor of any per-thread ring design), a no-op call and `tracing::info!`, in
//! one run, measured with the time-stamp counter; optionally in several fresh processes.
//!
//! ```text
//! cargo run --release --example hot_path_latency                 # one process
//! cargo run --release --example hot_path_latency -- --processes 10
//! cargo run --release --example hot_path_latency -- --quick      # fewer samples (CI)
//! cargo run --release --example hot_path_latency -- --samples 1000000 --bursts 5000
//! cargo run --release --example hot_path_latency -- --ring 65536  # ring size in bytes
//! cargo run --release --example hot_path_latency -- --no-pin      # let the OS place threads
//! cargo run --release --example hot_path_latency -- --spin-us 500 # low-latency collector
//! cargo run --release --example hot_path_latency -- --only 'event!,floor'  # some rows
//! cargo run --release --example hot_path_latency -- --reload-ms 1  # + rows while reloading
//! ```
//!
//! `--reload-ms N` adds, for `Metric::record` and `event!`, a row measured while a thread on
//! the consumers' CPU reloads the instance's configuration every N ms (`Telemetry::reload`,
//! alternating the level and an alert rule; `monitor_tick` 1 ms so each reload is
//! in force within a millisecond): the cost of live reload on the calling thread, in the
//! same process as the quiet rows.
//!
//! Two methods per operation:
//!
//! * `single`: `rdtsc` right before and right after one call, samples 1 µs apart. Includes
//!   the timer's own cost; the `(empty)` row measures that overhead alone.
//! * `burst/20`: Quill's call-site method: a burst of 20 calls timed together and divided by
//!   20, bursts separated by an idle spin (`--idle-us`, default 2,000 µs), so every burst
//!   meets a consumer that has gone idle, as a trading thread's bursts of orders do.
//!
//! With two CPUs or more, the measuring thread is pinned to CPU 0 and the consumers
//! (tickwatch's collector, the floor's consumer) to CPU 1 (`--no-pin` to let the OS place
//! them). `--processes N` runs the whole measurement in N fresh child processes, one after
//! the other, and prints each operation's p50 per process, then the median of each
//! percentile across processes and the spread of the p50 (slowest / fastest process): a
//! figure from one process alone can be off by 2x on a virtual machine.
//!
//! The rings (tickwatch's and the floor's) are 256 KiB with `Backpressure::Block`, so a call
//! never waits for room (the stats printed at the end show `dropped == 0`). Rows are steady
//! state: each ring has been written through once before. Percentiles are exact (samples
//! sorted; nearest rank). Ticks are converted to nanoseconds with a rate calibrated against
//! `Instant` over ~100 ms at start. Off x86-64 the timer is `Instant`.

mod floor;
mod table;
mod timer;

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use tickwatch::sink::NullSink;
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry, ThreadPlacement};

use table::{Row, Summary};
use timer::{calibrate, cpu_model, spin_until, ticks, utc_now};

/// Calls per timed burst.
const BURST: u64 = 20;
/// Spin between two single-call samples.
const GAP_NS: f64 = 1_000.0;
/// Ring per thread: 256 KiB unless `--ring BYTES` says otherwise (tickwatch's default).
const RING: usize = 1 << 18;
/// The CPUs of the measuring thread and of the consumers, when pinned.
const PRODUCER_CPU: usize = 0;
const CONSUMER_CPU: usize = 1;

/// Command-line options.
#[derive(Clone)]
struct Opts {
    samples: usize,
    bursts: usize,
    idle_us: u64,
    ring: usize,
    pin: bool,
    spin_us: u64,
    processes: usize,
    child: bool,
    tracing: bool,
    /// Only the rows whose name contains one of these (`--only event!,floor`); all if empty.
    only: Vec<String>,
    /// Each row measured this many times in a row (`--repeat N`), to tell a process's own
    /// variation from the variation between processes.
    repeat: usize,
    /// Reload the configuration every this many ms while measuring extra rows
    /// (`--reload-ms N`); off when `None`.
    reload_ms: Option<u64>,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("TICKWATCH_QUICK").is_ok_and(|v| v == "1");
        let value = |name: &str| -> Option<u64> {
            let i = args.iter().position(|a| a == name)?;
            let v = args.get(i + 1).and_then(|v| v.parse().ok());
            Some(v.unwrap_or_else(|| panic!("{name} takes a non-negative integer")))
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ring = value("--ring").map_or(RING, |r| r as usize);
        assert!(
            ring.is_power_of_two(),
            "--ring takes a power of two (bytes)"
        );
        Opts {
            samples: value("--samples")
                .map_or(if quick { 20_000 } else { 200_000 }, |v| v as usize)
                .max(1),
            bursts: value("--bursts")
                .map_or(if quick { 300 } else { 2_000 }, |v| v as usize)
                .max(1),
            idle_us: value("--idle-us").unwrap_or(2_000),
            ring,
            pin: cpus >= 2 && !args.iter().any(|a| a == "--no-pin"),
            spin_us: value("--spin-us").unwrap_or(0),
            processes: value("--processes").map_or(1, |v| v as usize).max(1),
            child: args.iter().any(|a| a == "--child"),
            tracing: !args.iter().any(|a| a == "--no-tracing"),
            repeat: value("--repeat").map_or(1, |v| v as usize).max(1),
            reload_ms: value("--reload-ms"),
            only: args
                .iter()
                .position(|a| a == "--only")
                .and_then(|i| args.get(i + 1))
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }
}

/// Measures `$op` in row `$name` with both methods (single calls spaced by the gap, then
/// bursts of [`BURST`]) after a short warm-up.
///
/// A macro, not a method taking a closure: the operation is expanded into the timing loops
/// themselves, as a logging macro sits inline in its caller's code (and as the C++ loggers'
/// benchmark calls them). Behind `impl FnMut` the compiler inlined the small rows (the floor)
/// but called the larger ones (`event!`) through a function with its register saves, so the
/// rows were not measured alike.
macro_rules! measure {
    ($b:expr, $name:expr, $op:expr) => {{
        let name: &str = $name;
        if $b.wants(name) {
            for rep in 1..=$b.opts.repeat {
                let label = $b.label(name, rep);
                for _ in 0..$b.warmups() {
                    $op;
                    spin_until(ticks() + $b.gap_ticks / 4);
                }
                let mut single = Vec::with_capacity($b.opts.samples);
                let mut next = ticks();
                for _ in 0..$b.opts.samples {
                    spin_until(next);
                    let t0 = ticks();
                    $op;
                    let t1 = ticks();
                    single.push(t1.wrapping_sub(t0));
                    next = t1 + $b.gap_ticks;
                }
                $b.push(&label, "single", single, 1);
                let mut burst = Vec::with_capacity($b.opts.bursts);
                let mut next = ticks();
                for _ in 0..$b.opts.bursts {
                    spin_until(next);
                    let t0 = ticks();
                    for _ in 0..BURST {
                        $op;
                    }
                    let t1 = ticks();
                    burst.push(t1.wrapping_sub(t0));
                    next = t1 + $b.idle_ticks;
                }
                $b.push(&label, "burst/20", burst, BURST);
            }
        }
    }};
}

struct Bench {
    opts: Opts,
    ns_per_tick: f64,
    gap_ticks: u64,
    idle_ticks: u64,
    rows: Vec<Row>,
}

impl Bench {
    /// Whether the row named `name` is to be measured (`--only`).
    fn wants(&self, name: &str) -> bool {
        self.opts.only.is_empty() || self.opts.only.iter().any(|o| name.contains(o.as_str()))
    }

    /// The row's label in repetition `rep` (`--repeat`).
    fn label(&self, name: &str, rep: usize) -> String {
        if self.opts.repeat == 1 {
            name.to_owned()
        } else {
            format!("{name} ({rep})")
        }
    }

    /// Calls before a row is timed.
    fn warmups(&self) -> usize {
        (self.opts.samples / 10).max(1_000)
    }

    fn push(&mut self, op: &str, method: &str, ticks: Vec<u64>, per: u64) {
        let k = self.ns_per_tick / per as f64;
        let mut ns: Vec<f64> = ticks.into_iter().map(|t| t as f64 * k).collect();
        ns.sort_by(f64::total_cmp);
        self.rows.push(Row {
            op: op.to_owned(),
            method: method.to_owned(),
            ns,
        });
    }
}

/// Runs `measure` while a thread placed on the consumers' CPU reloads `tw` every `every`,
/// alternating two configurations that keep info events enabled (the level and an alert
/// rule differ); returns how many reloads applied.
fn reloading(
    tw: &Telemetry,
    placement: &ThreadPlacement,
    every: Duration,
    measure: impl FnOnce(),
) -> u64 {
    let base = tw.config();
    // No per-target level in either (the quiet rows have none: the same event path), so the
    // rows differ by the reloads alone; benches/reload.rs measures reloads with one.
    let mut other = base.clone();
    other.pipeline.level = Level::Debug;
    other.rules = tickwatch::Config::from_toml(
        "[[rules]]\nname = \"wide\"\nkind = \"gauge\"\nseries = \"position\"\nop = \">\"\nbound = 1e9\n",
    )
    .expect("a valid rule")
    .rules;
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reloader = s.spawn(|| {
            if !placement.cpus.is_empty() {
                let _ = tickwatch::pin_current_thread(&placement.cpus);
            }
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let next = if n & 1 == 0 { &other } else { &base };
                tw.reload(next.clone())
                    .expect("both configurations are live");
                n += 1;
                std::thread::sleep(every);
            }
            tw.reload(base.clone()).expect("back to the start");
            n
        });
        measure();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reloader.join().expect("the reloader")
    })
}

/// A call the compiler cannot remove or inline: the cost of calling anything at all.
#[inline(never)]
fn noop(x: u64) -> u64 {
    black_box(x)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Opts::parse(&args);
    if opts.processes > 1 && !opts.child {
        return parent(&opts, &args);
    }
    let ok = measure(&opts);
    if !ok {
        std::process::exit(1);
    }
}

/// Runs the measurement in `opts.processes` fresh children and prints their tables.
fn parent(opts: &Opts, args: &[String]) {
    let exe = std::env::current_exe().expect("the example's own path");
    let mut procs: Vec<Vec<Summary>> = Vec::new();
    let mut failed = false;
    for i in 1..=opts.processes {
        let out = Command::new(&exe)
            .args(args)
            .arg("--child")
            .output()
            .expect("run a child process");
        let text = String::from_utf8_lossy(&out.stdout);
        if i == 1 {
            // The machine and settings, once.
            for line in text.lines().take_while(|l| !l.starts_with('|')) {
                println!("{line}");
            }
        }
        let rows: Vec<Summary> = text.lines().filter_map(Summary::parse).collect();
        let verdict = text
            .lines()
            .find(|l| l.starts_with("dropped == 0"))
            .unwrap_or("no verdict");
        eprintln!(
            "process {i}/{}: {} rows; {verdict}",
            opts.processes,
            rows.len()
        );
        failed |= !out.status.success() || rows.is_empty();
        procs.push(rows);
    }
    table::print_processes(&procs);
    if failed {
        eprintln!("a child process failed (see its verdict above)");
        std::process::exit(1);
    }
}

/// One process's measurement; `false` if tickwatch lost or dropped a record.
fn measure(opts: &Opts) -> bool {
    let ns_per_tick = calibrate();
    let info = tickwatch::clock_info();
    println!("tickwatch hot_path_latency, {}", utc_now());
    println!(
        "CPU: {} ({} logical CPUs); timer: {} at {:.3} GHz, resolution {:.2} ns (the smallest step \
         seen), its own cost the (empty) row",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(target_arch = "x86_64") {
            "lfence+rdtsc+lfence"
        } else {
            "Instant"
        },
        1.0 / ns_per_tick,
        info.resolution_ns,
    );
    println!(
        "single: {} samples {GAP_NS} ns apart; burst/20: {} bursts {} µs apart; rings {} KiB, \
         Backpressure::Block, NullSink; {}; collector spin {} µs; ns per call",
        opts.samples,
        opts.bursts,
        opts.idle_us,
        opts.ring >> 10,
        if opts.pin {
            format!("measuring thread on CPU {PRODUCER_CPU}, consumers on CPU {CONSUMER_CPU}")
        } else {
            "threads placed by the OS".to_owned()
        },
        opts.spin_us,
    );
    println!();
    if opts.pin {
        tickwatch::pin_current_thread(&[PRODUCER_CPU]).expect("pin the measuring thread");
    }
    let mut b = Bench {
        opts: opts.clone(),
        ns_per_tick,
        gap_ticks: (GAP_NS / ns_per_tick) as u64,
        idle_ticks: (opts.idle_us as f64 * 1_000.0 / ns_per_tick) as u64,
        rows: Vec::new(),
    };
    let consumer = if opts.pin {
        ThreadPlacement::new().cpus([CONSUMER_CPU])
    } else {
        ThreadPlacement::new()
    };

    measure!(b, "(empty: timer overhead)", {});
    measure!(b, "no-op call", {
        noop(black_box(1));
    });
    {
        let mut ring = floor::Floor::start(opts.ring, &consumer);
        ring.warm();
        measure!(b, "floor: rtrb push (u64, u64, f64) + rdtsc", {
            ring.push(black_box(42), black_box(7), black_box(101.25))
        });
        let (pushed, popped) = ring.stop();
        assert_eq!(pushed, popped, "the floor's consumer got every message");
    }

    let mut builder = Telemetry::builder()
        .ring_capacity(opts.ring)
        .backpressure(Backpressure::Block)
        .collector_placement(consumer.clone())
        .collector_spin(Duration::from_micros(opts.spin_us))
        .sink(NullSink);
    if opts.reload_ms.is_some() {
        // Rules in force within a millisecond of a reload (the quiet rows run with it too).
        builder = builder.monitor_tick(Duration::from_millis(1));
    }
    let tw = builder.start().expect("valid configuration");
    tw.preallocate();
    let metric = tw.metric("position", &[("venue", "XNAS")]);
    let counter = tw.counter("orders_sent", &[("venue", "XNAS")]);
    let latency = tw.latency("order_roundtrip");
    // Steady state from here on: one full lap so every page of the ring has been written.
    for _ in 0..opts.ring / 32 {
        metric.record(black_box(0.0));
        spin_until(ticks() + b.gap_ticks / 4);
    }
    tw.flush().expect("flush");
    measure!(b, "tickwatch Metric::record", metric.record(black_box(1.5)));
    measure!(b, "tickwatch Counter::add", counter.add(black_box(1)));
    measure!(b, "tickwatch Latency::record_nanos", {
        latency.record_nanos(black_box(850))
    });
    measure!(b, "tickwatch log_metric (2 tags)", {
        tw.log_metric(
            black_box("spread"),
            black_box(0.01),
            black_box(&[("venue", "XNAS"), ("side", "buy")]),
        )
    });
    measure!(b, "tickwatch event! (u64, u64, f64)", {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            qty = black_box(7u64),
            px = black_box(101.25)
        )
    });
    measure!(b, "tickwatch event! (u64, f64, &str)", {
        event!(
            tw,
            Level::Info,
            "order filled",
            order_id = black_box(42u64),
            px = black_box(101.25),
            venue = black_box("XNAS")
        )
    });
    measure!(b, "tickwatch log_event (u64, f64, &str)", {
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
    if let Some(every) = opts.reload_ms {
        let reloads = reloading(&tw, &consumer, Duration::from_millis(every), || {
            measure!(b, "tickwatch Metric::record (reloading)", {
                metric.record(black_box(1.5))
            });
            measure!(b, "tickwatch event! (u64, u64, f64) (reloading)", {
                event!(
                    tw,
                    Level::Info,
                    "order filled",
                    order_id = black_box(42u64),
                    qty = black_box(7u64),
                    px = black_box(101.25)
                )
            });
        });
        println!("reloads while measuring the (reloading) rows: {reloads}");
    }
    tw.flush().expect("flush");
    let stats = tw.stats();

    if opts.tracing {
        let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
        let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        measure!(b, "tracing info! + fmt + non_blocking", {
            tracing::info!(
                order_id = black_box(42u64),
                qty = black_box(7u64),
                px = black_box(101.25),
                "order filled"
            )
        });
        drop(_default);
        drop(guard);
    }

    table::print_rows(&b.rows);
    if opts.child {
        for line in table::row_lines(&b.rows) {
            println!("{line}");
        }
    }
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
    ok
}
