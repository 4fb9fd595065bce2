//! Live reload ([`Telemetry::reload`]): what a reload costs the caller, and what reloads
//! cost the hot path of the threads that keep recording meanwhile (the claim: nothing).
//!
//! ```text
//! cargo bench --bench reload                   # everything (~1 minute on 2 cores)
//! cargo bench --bench reload -- hot_path       # one group
//! ```
//!
//! Groups:
//!
//! * `reload/latency`: one `tw.reload(config)` call, from the call to its return, which is
//!   when every change is in force (`iter_custom`: only the call is timed; cloning the next
//!   configuration and dropping the report are not). Each benchmark alternates between two
//!   configurations, so every call changes something:
//!   * `levels`: `pipeline.level` info / warn, nothing else: the immediate path (atomics on
//!     the calling thread, no wait for the collector).
//!   * `rules`: one `[[rules]]` rule / another, `monitor_tick = "1ms"`: the call waits for the
//!     collector's next monitoring tick to swap the rules in (about a tick, plus the nap
//!     granularity of the wait).
//!   * `unchanged`: the running configuration again: the diff and the audit record only.
//! * `reload/hot_path`: the same operation without (`/quiet`) and with (`/reloading`) a
//!   background thread calling `tw.reload` in a loop (a reload, then ~1 ms of sleep), in the
//!   same run on the same instance, so the claim is a ratio:
//!   * `metric_record`: `Metric::record(f64)` on a handle; the reloads alternate
//!     `pipeline.level` (info / warn) and the rule.
//!   * `event_info`: `info!(&tw, "fill", qty, px)` with two fields; the reloads alternate the
//!     per-target level of an unrelated target (`[pipeline.targets] "some::other"`, warn /
//!     error) and the rule, `level` staying info so the event stays enabled (each reload
//!     still invalidates every call site's cached decision).
//!
//!   As in `benches/hot_path` (`/burst`): timed bursts of [`BURST`] calls (a quarter of
//!   the 1 MiB ring, so a burst never waits for room under `Backpressure::Block`), each
//!   followed by an untimed `flush()`; the collector drains into a `NullSink` on the other
//!   core. The run prints how many reloads each `/reloading` benchmark saw.
//!
//! Criterion prints the mean; the median of each benchmark is in
//! `target/criterion/reload_<group>/<bench>/new/estimates.json`, `/` in a name written `_`
//! (`reload_hot_path/event_info_quiet`): `median.point_estimate`, ns per call.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[path = "common/bursts.rs"]
mod bursts;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tickwatch::sink::NullSink;
use tickwatch::{Config, Telemetry};

/// Ring size: 1 MiB, 32,768 samples.
const RING: usize = 1 << 20;
/// Calls per timed burst (`reload/hot_path`): a quarter of the ring, so a burst never blocks.
const BURST: u64 = 8_192;

const RULE_A: &str = r#"
[[rules]]
name = "spread_wide"
kind = "gauge"
series = "spread"
op = ">"
bound = 0.5
"#;

const RULE_B: &str = r#"
[[rules]]
name = "spread_narrow"
kind = "gauge"
series = "spread"
op = "<"
bound = 0.01
"#;

/// A configuration: the keys fixed at start are the same in every variant, so every reload
/// between two of them is live.
fn variant(level: &str, other_target: &str, rule: &str) -> Config {
    Config::from_toml(&format!(
        "[pipeline]\nring_capacity = {RING}\nbackpressure = \"block\"\nmonitor_tick = \"1ms\"\n\
         level = \"{level}\"\n\n[pipeline.targets]\n\"some::other\" = \"{other_target}\"\n{rule}"
    ))
    .expect("valid configuration")
}

/// An instance started from `config` (so it is reloadable whole) into a `NullSink`.
fn telemetry(config: Config) -> Telemetry {
    let tw = Telemetry::builder()
        .with_config(config)
        .sink(NullSink)
        .start()
        .expect("valid configuration");
    tw.preallocate();
    tw
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
}

/// Benchmarks `tw.reload`, alternating `a` and `b` (the instance runs `a` at the start).
fn alternate(
    g: &mut BenchmarkGroup<'_, WallTime>,
    tw: &Telemetry,
    name: &str,
    [a, b]: [&Config; 2],
) {
    let mut to_b = true;
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let next = if to_b { b.clone() } else { a.clone() };
                to_b = !to_b;
                let t = Instant::now();
                let report = tw.reload(next);
                total += t.elapsed();
                let report = report.expect("a live reload");
                assert!(report.in_force, "{report:?}");
            }
            total
        })
    });
}

fn latency(c: &mut Criterion) {
    let a = variant("info", "warn", RULE_A);
    let levels = variant("warn", "warn", RULE_A);
    let rules = variant("info", "warn", RULE_B);
    let tw = telemetry(a.clone());
    // Each pair differs in what its name says, and nothing else.
    for (next, key) in [(&levels, "pipeline.level"), (&rules, "rules")] {
        assert_eq!(tw.reload(next.clone()).expect("live").changed, [key]);
        assert_eq!(tw.reload(a.clone()).expect("live").changed, [key]);
    }

    let mut g = c.benchmark_group("reload/latency");
    g.sample_size(50);
    alternate(&mut g, &tw, "levels", [&a, &levels]);
    alternate(&mut g, &tw, "rules", [&a, &rules]);
    let running = tw.config();
    assert!(tw.reload(running.clone()).expect("live").changed.is_empty());
    alternate(&mut g, &tw, "unchanged", [&running, &running]);
    g.finish();
    finish("reload/latency", tw);
}

/// Times `BURST`-call bursts of `op`; waits (untimed) for the collector between bursts.
fn bursts(tw: &Telemetry, iters: u64, op: impl FnMut()) -> Duration {
    bursts::time_bursts(iters, BURST, op, || tw.flush().expect("flush"))
}

/// Sets the flag when dropped: the reloading thread stops however the benchmark ends (a
/// panic too), so the scope can join it.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Benchmarks `op` on a quiet instance (`/quiet`), then while a thread reloads it,
/// alternating `variants`, every ~1 ms (`/reloading`). The instance runs `variants[0]` before
/// and after.
fn quiet_and_reloading(
    g: &mut BenchmarkGroup<'_, WallTime>,
    tw: &Telemetry,
    name: &str,
    variants: &[Config; 2],
    mut op: impl FnMut(),
) {
    g.bench_function(format!("{name}/quiet"), |b| {
        b.iter_custom(|iters| bursts(tw, iters, &mut op))
    });
    let stop = AtomicBool::new(false);
    let reloads = AtomicU64::new(0);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| {
            let mut n = 0;
            while !stop.load(Relaxed) {
                n += 1;
                let report = tw.reload(variants[n % 2].clone()).expect("a live reload");
                assert!(report.in_force, "{report:?}");
                reloads.fetch_add(1, Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
            tw.reload(variants[0].clone()).expect("a live reload");
        });
        g.bench_function(format!("{name}/reloading"), |b| {
            b.iter_custom(|iters| bursts(tw, iters, &mut op))
        });
    });
    eprintln!("[{name}/reloading] {} reloads", reloads.load(Relaxed));
}

fn hot_path(c: &mut Criterion) {
    let a = variant("info", "warn", RULE_A);
    let tw = telemetry(a.clone());
    let metric = tw.metric("px", &[]);
    let mut g = c.benchmark_group("reload/hot_path");
    g.sample_size(50);
    g.throughput(Throughput::Elements(1));
    let levels_and_rules = [a.clone(), variant("warn", "warn", RULE_B)];
    quiet_and_reloading(&mut g, &tw, "metric_record", &levels_and_rules, || {
        metric.record(black_box(2.5))
    });
    assert!(tw.enabled(tickwatch::Level::Info));
    let targets_and_rules = [a.clone(), variant("info", "error", RULE_B)];
    quiet_and_reloading(&mut g, &tw, "event_info", &targets_and_rules, || {
        tickwatch::info!(&tw, "fill", qty = black_box(1u64), px = black_box(2.5f64))
    });
    g.finish();
    finish("reload/hot_path", tw);
}

criterion_group!(benches, latency, hot_path);
criterion_main!(benches);
