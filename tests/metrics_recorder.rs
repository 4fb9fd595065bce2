//! The `metrics` recorder (`Telemetry::metrics_recorder`): no allocation on the hot path,
//! conservation through the adapter, the same values as `metrics-util`'s
//! `DebuggingRecorder` fed the same calls, descriptions, and installation.
//!
//! `global_install_once` is the only test here that sets the process's global recorder
//! (it can be set once per process); every other test uses a local recorder.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use proptest::prelude::*;
use tickwatch::metrics::{SeriesValue, Snapshot, Unit};
use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Telemetry};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

const CALLS: u64 = if cfg!(miri) { 200 } else { 200_000 };

fn instance() -> Telemetry {
    Telemetry::builder()
        .ring_capacity(64 * 1024)
        .backpressure(Backpressure::Block)
        .resource_sampling(None)
        .sink(NullSink)
        .start()
        .unwrap()
}

/// Runs `op` twice to warm it up, then `CALLS` times: returns the allocations on this
/// thread during the `CALLS` calls.
fn allocs_after_warm_up(mut op: impl FnMut(u64)) -> u64 {
    op(0);
    op(1);
    let before = allocs();
    for i in 0..CALLS {
        op(black_box(i));
    }
    allocs() - before
}

fn counter_total(snap: &Snapshot, name: &str, tags: &[(&str, &str)]) -> u64 {
    match snap.find(name, tags).map(|s| &s.value) {
        Some(SeriesValue::Counter(c)) => c.total,
        None => 0,
        other => panic!("{name}: not a counter: {other:?}"),
    }
}

/// Samples of a gauge or latency series (0 if it has none).
fn sample_count(snap: &Snapshot, name: &str, tags: &[(&str, &str)]) -> u64 {
    match snap.find(name, tags).map(|s| &s.value) {
        Some(SeriesValue::Gauge(g)) => g.total.count,
        Some(SeriesValue::Latency(l)) => l.total.count,
        None => 0,
        other => panic!("{name}: not a gauge or latency: {other:?}"),
    }
}

#[test]
fn cached_handles_and_by_name_calls_allocate_nothing_after_warm_up() {
    let tw = instance();
    tw.preallocate();
    let rec = tw.metrics_recorder();
    let mut expected = 0;
    rec.with_local(|| {
        let c = metrics::counter!("za_handle");
        let n = allocs_after_warm_up(|_| c.increment(1));
        assert_eq!(
            n, 0,
            "{n} allocations in {CALLS} increments through a cached handle"
        );

        // By name: the macro asks the recorder for the handle on every call.
        let n = allocs_after_warm_up(|_| metrics::counter!("za_by_name").increment(1));
        assert_eq!(
            n, 0,
            "{n} allocations in {CALLS} by-name increments (no labels)"
        );
        let n = allocs_after_warm_up(|_| {
            metrics::counter!("za_by_name_tagged", "venue" => "XNAS").increment(1)
        });
        assert_eq!(
            n, 0,
            "{n} allocations in {CALLS} by-name increments (static labels)"
        );

        let g = metrics::gauge!("za_gauge");
        let n = allocs_after_warm_up(|i| {
            g.set(i as f64);
            g.increment(1.0);
        });
        assert_eq!(n, 0, "{n} allocations in {CALLS} gauge updates");
        let (lat, samples) = (
            metrics::histogram!("za_ack_seconds"),
            metrics::histogram!("za_fill_size"),
        );
        let n = allocs_after_warm_up(|i| {
            lat.record(i as f64 * 1e-9);
            samples.record(i as f64);
        });
        assert_eq!(n, 0, "{n} allocations in {CALLS} histogram records");
        expected = 3 * (CALLS + 2) + 2 * 2 * (CALLS + 2);
    });
    // Nothing was skipped: a call that recorded nothing would allocate nothing either.
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!((st.accepted, st.dropped), (expected, 0), "{st:?}");
    assert_eq!(st.delivered, expected, "{st:?}");
    let snap = tw.snapshot();
    for name in ["za_handle", "za_by_name"] {
        assert_eq!(counter_total(&snap, name, &[]), CALLS + 2, "{name}");
    }
    assert_eq!(
        counter_total(&snap, "za_by_name_tagged", &[("venue", "XNAS")]),
        CALLS + 2
    );
    assert_eq!(sample_count(&snap, "za_gauge", &[]), 2 * (CALLS + 2));
    assert!(matches!(
        snap.find("za_ack_seconds", &[]).map(|s| &s.value),
        Some(SeriesValue::Latency(l)) if l.total.count == CALLS + 2
    ));
    assert_eq!(sample_count(&snap, "za_fill_size", &[]), CALLS + 2);
}

#[test]
fn conservation_through_the_recorder_with_a_small_dropping_ring() {
    const THREADS: usize = 4;
    const PER_THREAD: u64 = if cfg!(miri) { 100 } else { 50_000 };
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .backpressure(Backpressure::Drop)
        .resource_sampling(None)
        .sink(NullSink)
        .start()
        .unwrap();
    let rec = tw.metrics_recorder();
    let go = Arc::new(Barrier::new(THREADS));
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (rec, go) = (rec.clone(), go.clone());
            std::thread::spawn(move || {
                // A local recorder is per thread: each producer sets it for itself.
                rec.with_local(|| {
                    let handle = metrics::counter!("cons_handle", "thread" => t.to_string());
                    go.wait();
                    for i in 0..PER_THREAD {
                        metrics::counter!("cons_orders", "venue" => "XNAS").increment(1);
                        metrics::gauge!("cons_depth").set(i as f64);
                        metrics::histogram!("cons_ack_seconds").record(1e-6);
                        handle.increment(1);
                    }
                })
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let calls = THREADS as u64 * PER_THREAD * 4;
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, calls, "{st:?}");
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, calls, "{st:?}");
    assert_eq!(st.accepted, st.delivered, "{st:?}");
    // Every accepted record reached its series' aggregate, and nothing else did.
    let snap = tw.snapshot();
    let handles: u64 = (0..THREADS)
        .map(|t| counter_total(&snap, "cons_handle", &[("thread", &t.to_string())]))
        .sum();
    let aggregated = counter_total(&snap, "cons_orders", &[("venue", "XNAS")])
        + sample_count(&snap, "cons_depth", &[])
        + sample_count(&snap, "cons_ack_seconds", &[])
        + handles;
    assert_eq!(aggregated, st.accepted, "{st:?}");
    eprintln!(
        "conservation: {calls} calls, {} accepted, {} dropped",
        st.accepted, st.dropped
    );
}

/// One call of the differential test.
#[derive(Debug, Clone)]
enum Op {
    Increment(usize, u64),
    Absolute(usize, u64),
    Set(usize, f64),
    GaugeUp(usize, f64),
    GaugeDown(usize, f64),
    Record(usize, f64),
}

/// Counter keys taking increments; `absolute` goes to keys of its own (see `apply`).
const COUNTERS: [(&str, &[(&str, &str)]); 3] = [
    ("orders", &[("venue", "XNAS")]),
    ("orders", &[("venue", "BATS")]),
    ("rejects", &[]),
];
const ABSOLUTE: [(&str, &[(&str, &str)]); 2] = [("seq_no", &[("session", "a")]), ("bytes_in", &[])];
const GAUGES: [(&str, &[(&str, &str)]); 3] = [
    ("position", &[("venue", "XNAS"), ("book", "main")]),
    ("position", &[("venue", "BATS"), ("book", "main")]),
    ("queue", &[]),
];
/// A latency by suffix, one by description (milliseconds), and a sample series.
const HISTOGRAMS: [(&str, &[(&str, &str)]); 4] = [
    ("ack_seconds", &[("venue", "XNAS")]),
    ("ack_seconds", &[("venue", "BATS")]),
    ("fill_latency", &[]),
    ("fill_size", &[("side", "buy")]),
];

fn labels(tags: &[(&'static str, &'static str)]) -> Vec<metrics::Label> {
    tags.iter()
        .map(|&(k, v)| metrics::Label::new(k, v))
        .collect()
}

/// Applies `ops` to the current recorder. A counter key takes either increments or absolute
/// values, never both: `metrics`' own atomic counters treat `absolute` as "at least this
/// total", tickwatch as "this source's own running total" (see `MetricsRecorder`), and the
/// two agree only when a key is fed one way.
fn apply(ops: &[Op]) {
    metrics::describe_histogram!("fill_latency", metrics::Unit::Milliseconds, "fill latency");
    for op in ops {
        match *op {
            Op::Increment(k, n) => {
                let (name, tags) = COUNTERS[k];
                metrics::counter!(name, labels(tags)).increment(n);
            }
            Op::Absolute(k, v) => {
                let (name, tags) = ABSOLUTE[k];
                metrics::counter!(name, labels(tags)).absolute(v);
            }
            Op::Set(k, v) | Op::GaugeUp(k, v) | Op::GaugeDown(k, v) => {
                let (name, tags) = GAUGES[k];
                let g = metrics::gauge!(name, labels(tags));
                match op {
                    Op::Set(..) => g.set(v),
                    Op::GaugeUp(..) => g.increment(v),
                    _ => g.decrement(v),
                }
            }
            Op::Record(k, v) => {
                let (name, tags) = HISTOGRAMS[k];
                metrics::histogram!(name, labels(tags)).record(v);
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![
        -1e3..1e3f64,
        Just(0.0),
        Just(-0.0),
        Just(0.25),
        Just(f64::NAN),
        Just(f64::INFINITY)
    ];
    let finite = prop_oneof![-1e6..1e6f64, Just(0.0), Just(-0.5), Just(1e-3)];
    prop_oneof![
        (0..COUNTERS.len(), 0..1_000u64).prop_map(|(k, n)| Op::Increment(k, n)),
        (0..ABSOLUTE.len(), 0..10_000u64).prop_map(|(k, v)| Op::Absolute(k, v)),
        (0..GAUGES.len(), finite.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        (0..GAUGES.len(), finite.clone()).prop_map(|(k, v)| Op::GaugeUp(k, v)),
        (0..GAUGES.len(), finite).prop_map(|(k, v)| Op::GaugeDown(k, v)),
        (0..HISTOGRAMS.len(), value).prop_map(|(k, v)| Op::Record(k, v)),
    ]
}

/// The values of the `DebuggingRecorder` fed `ops`, by (name, sorted tags).
type Key = (String, Vec<(String, String)>);
fn oracle(ops: &[Op]) -> HashMap<Key, DebugValue> {
    let debugging = DebuggingRecorder::new();
    let snapshotter = debugging.snapshotter();
    metrics::with_local_recorder(&debugging, || apply(ops));
    let key = |k: &metrics::Key| {
        let tags = k
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()));
        (k.name().to_owned(), tags.collect())
    };
    let values = snapshotter.snapshot().into_vec().into_iter();
    values.map(|(ck, _, _, v)| (key(ck.key()), v)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 48 }))]

    /// The same calls into tickwatch's recorder and metrics-util's `DebuggingRecorder` give
    /// the same counter totals, gauge values and histogram counts.
    #[test]
    fn same_values_as_the_debugging_recorder(ops in prop::collection::vec(op(), 1..200)) {
        let expected = oracle(&ops);
        let tw = instance();
        let rec = tw.metrics_recorder();
        rec.with_local(|| apply(&ops));
        tw.flush().unwrap();
        let snap = tw.snapshot();
        for ((name, tags), want) in &expected {
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let found = snap.find(name, &tags).map(|s| &s.value);
            match (want, found) {
                (DebugValue::Counter(n), _) => {
                    prop_assert_eq!(counter_total(&snap, name, &tags), *n, "{} {:?}", name, tags)
                }
                (DebugValue::Gauge(v), Some(SeriesValue::Gauge(g))) => prop_assert_eq!(
                    g.total.last.to_bits(), v.0.to_bits(), "{} {:?}: {} vs {}", name, tags, g.total.last, v.0
                ),
                (DebugValue::Histogram(vs), _) => {
                    prop_assert_eq!(sample_count(&snap, name, &tags), vs.len() as u64, "{} {:?}", name, tags)
                }
                (want, found) => prop_assert!(false, "{} {:?}: {:?} vs {:?}", name, tags, want, found),
            }
        }
        // Every series the calls made is one the oracle knows (no stray or split series).
        for s in snap.series.iter().filter(|s| !s.name.starts_with("tickwatch_")) {
            prop_assert!(expected.contains_key(&(s.name.clone(), s.tags.clone())), "stray {:?}", s);
        }
        // Latencies the values could not be were counted, not lost.
        let invalid = ops.iter().filter(|op| matches!(op,
            Op::Record(k, v) if *k < 3 && !(*v >= 0.0 && v.is_finite()))).count();
        prop_assert_eq!(rec.clamped_latencies(), invalid as u64);
    }
}

#[test]
fn histograms_become_latencies_by_unit_or_suffix_and_samples_otherwise() {
    let tw = instance();
    let rec = tw.metrics_recorder();
    rec.with_local(|| {
        metrics::describe_histogram!("ack_latency", metrics::Unit::Milliseconds, "order ack");
        metrics::histogram!("ack_latency").record(1.5);
        metrics::histogram!("wire_seconds").record(2e-6);
        metrics::histogram!("wire_ns").record(750.0);
        metrics::histogram!("wire_nanoseconds").record(f64::NAN);
        metrics::histogram!("fill_qty").record(-3.5);
        // Registered before being described: stays a sample series, values as given.
        metrics::histogram!("late_ms").record(4.0);
        metrics::describe_histogram!("late_ms", metrics::Unit::Milliseconds, "late");
        metrics::histogram!("late_ms").record(5.0);
    });
    tw.flush().unwrap();
    let snap = tw.snapshot();
    let latency = |name: &str| match snap.find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Latency(l)) => (l.total.count, l.total.min, l.total.max),
        other => panic!("{name}: not a latency: {other:?}"),
    };
    assert_eq!(latency("ack_latency"), (1, 1_500_000, 1_500_000));
    assert_eq!(latency("wire_seconds"), (1, 2_000, 2_000));
    assert_eq!(latency("wire_ns"), (1, 750, 750));
    assert_eq!(latency("wire_nanoseconds"), (1, 0, 0));
    assert_eq!(rec.clamped_latencies(), 1);
    let gauge = |name: &str| match snap.find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Gauge(g)) => (g.total.count, g.total.min, g.total.max),
        other => panic!("{name}: not a gauge: {other:?}"),
    };
    assert_eq!(gauge("fill_qty"), (1, -3.5, -3.5));
    assert_eq!(gauge("late_ms"), (2, 4.0, 5.0));
    let late = snap.description("late_ms").expect("described");
    assert_eq!(
        (late.help.as_str(), late.unit),
        ("late (unit: milliseconds)", None)
    );
}

#[test]
fn descriptions_reach_help_and_the_snapshot() {
    let tw = instance();
    let rec = tw.metrics_recorder();
    rec.with_local(|| {
        metrics::describe_counter!("md_orders", metrics::Unit::Count, "orders sent");
        metrics::describe_gauge!("md_queue", metrics::Unit::Bytes, "bytes queued");
        metrics::describe_gauge!("md_cpu", metrics::Unit::Percent, "CPU busy");
        metrics::describe_histogram!("md_ack", metrics::Unit::Microseconds, "ack time");
        metrics::counter!("md_orders", "venue" => "XNAS").increment(3);
        metrics::gauge!("md_queue").set(512.0);
        metrics::gauge!("md_cpu").set(42.0);
        metrics::histogram!("md_ack").record(12.0);
    });
    tw.flush().unwrap();
    let snap = tw.snapshot();
    let described = |name: &str| {
        let d = snap
            .description(name)
            .unwrap_or_else(|| panic!("{name}: not described"));
        (d.help.clone(), d.unit)
    };
    assert_eq!(
        described("md_orders"),
        ("orders sent".into(), Some(Unit::Count))
    );
    assert_eq!(
        described("md_queue"),
        ("bytes queued".into(), Some(Unit::Bytes))
    );
    assert_eq!(
        described("md_cpu"),
        ("CPU busy (unit: percent)".into(), None)
    );
    assert_eq!(
        described("md_ack"),
        ("ack time".into(), Some(Unit::Seconds))
    );
    assert!(matches!(
        snap.find("md_ack", &[]).map(|s| &s.value),
        Some(SeriesValue::Latency(l)) if l.total.max == 12_000
    ));
    // Matched by family and text rather than whole lines: whether a counter's HELP names
    // the family with `_total`, and how a whole float is written, is the renderer's call.
    let text = tw.render_prometheus();
    let has = |start: &str, end: &str| {
        text.lines()
            .any(|l| l.starts_with(start) && l.ends_with(end))
    };
    for (start, end) in [
        ("# HELP md_orders", " orders sent"),
        ("md_orders_total{venue=\"XNAS\"} 3", "3"),
        ("# HELP md_queue_bytes ", "bytes queued"),
        ("md_queue_bytes 512", ""),
        ("# HELP md_cpu ", "CPU busy (unit: percent)"),
        ("# HELP md_ack_seconds ", "ack time"),
        ("md_ack_seconds_count 1", "1"),
    ] {
        assert!(has(start, end), "no {start:?}...{end:?} line in\n{text}");
    }
}

#[test]
fn local_recorder_records_only_inside_its_scope_and_handles_outlive_it() {
    let tw = instance();
    let rec = tw.metrics_recorder();
    let handle = rec.with_local(|| {
        metrics::counter!("scoped", "venue" => "XNAS").increment(1);
        metrics::counter!("scoped", "venue" => "XNAS").increment(1);
        metrics::counter!("scoped")
    });
    // Outside the scope the macros go to the global recorder (or none), not to this one.
    metrics::counter!("scoped", "venue" => "XNAS").increment(100);
    handle.increment(5);
    // A clone shares the recorder's handles and state.
    let clone = rec.clone();
    metrics::with_local_recorder(&clone, || metrics::gauge!("shared_gauge").increment(2.0));
    rec.with_local(|| metrics::gauge!("shared_gauge").increment(3.0));
    tw.flush().unwrap();
    let snap = tw.snapshot();
    assert_eq!(counter_total(&snap, "scoped", &[("venue", "XNAS")]), 2);
    assert_eq!(counter_total(&snap, "scoped", &[]), 5);
    assert!(matches!(
        snap.find("shared_gauge", &[]).map(|s| &s.value),
        Some(SeriesValue::Gauge(g)) if g.total.last == 5.0 && g.total.count == 2
    ));
    assert!(format!("{rec:?}").starts_with("MetricsRecorder"));
}

#[test]
fn label_order_does_not_split_a_series() {
    let tw = instance();
    tw.metrics_recorder().with_local(|| {
        metrics::counter!("ordered", "a" => "1", "b" => "2").increment(1);
        metrics::counter!("ordered", "b" => "2", "a" => "1").increment(1);
    });
    tw.flush().unwrap();
    let snap = tw.snapshot();
    let ordered: Vec<_> = snap.series.iter().filter(|s| s.name == "ordered").collect();
    assert_eq!(ordered.len(), 1, "{ordered:?}");
    assert_eq!(
        counter_total(&snap, "ordered", &[("a", "1"), ("b", "2")]),
        2
    );
}

#[test]
fn global_install_once() {
    let tw = instance();
    tw.metrics_recorder()
        .install()
        .expect("first global install");
    let err = tw
        .metrics_recorder()
        .install()
        .expect_err("a second global install must be refused");
    let msg = err.to_string();
    assert!(msg.contains("already set"), "{msg}");
    assert!(msg.contains("with_local_recorder"), "{msg}");
    let _: &dyn std::error::Error = &err;
    // The global recorder serves every thread.
    std::thread::spawn(|| metrics::counter!("global_orders", "venue" => "XNAS").increment(7))
        .join()
        .unwrap();
    tw.flush().unwrap();
    let snap = tw.snapshot();
    assert_eq!(
        counter_total(&snap, "global_orders", &[("venue", "XNAS")]),
        7
    );
}
