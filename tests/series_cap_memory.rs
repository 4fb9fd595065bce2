//! With the series cap full, distinct refused keys used by name (`log_metric`,
//! `measure_latency`, `track_resource_usage`) must not grow the calling thread's memory
//! without bound: its by-name cache keeps at most `REFUSED_CACHE_MAX` refused keys, and past
//! that a refused key is looked up in the registry without allocating.
//!
//! A global allocator counts the bytes each thread has live (allocated minus freed on that
//! thread), so the collector's own allocations and the other tests' do not disturb the
//! measurement. Before the bound, 200,000 distinct refused keys grew the cache by ~40 MiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

#[path = "common/poll.rs"]
mod poll;

use tickwatch::export::CONFLICTS_METRIC;
use tickwatch::metrics::{SeriesValue, Snapshot};
use tickwatch::metrics::{
    OVERFLOW_COUNTER, OVERFLOW_LATENCY, OVERFLOW_METRIC, OVERFLOW_RESOURCE, REFUSED_CACHE_MAX,
};
use tickwatch::resources::ResourceSample;
use tickwatch::Telemetry;

struct LiveBytes;

thread_local! {
    // `const` init and no destructor: touching them never allocates.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    // `try_with`: the slots may already be gone while the thread is being torn down.
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as i64);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: LiveBytes = LiveBytes;

/// Bytes live on this thread now, and starts a new peak from here.
fn live_and_reset_peak() -> i64 {
    let now = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(now));
    now
}

fn peak() -> i64 {
    PEAK.with(Cell::get)
}

/// The bound on what the churn may leave live (and peak at) on the calling thread. The
/// cache keeps at most `REFUSED_CACHE_MAX` (1,024) refused keys: a table slot of ~50 bytes
/// (with the table at most half empty after growth, ~100) plus the key's boxed strings and
/// tag pair (~60 bytes for these keys): ~160 KiB. 1 MiB leaves room for the allocator's
/// rounding and a later change of entry layout, and is 40 times below the ~40 MiB that
/// 200,000 cached keys took.
const BOUND: i64 = 1 << 20;

const KEYS: u64 = 200_000;

/// `prefix` followed by `i`, written into `buf` (no allocation).
fn key<'a>(buf: &'a mut [u8; 48], prefix: &str, i: u64) -> &'a str {
    let mut c = std::io::Cursor::new(&mut buf[..]);
    write!(c, "{prefix}{i}").unwrap();
    let n = c.position() as usize;
    std::str::from_utf8(&buf[..n]).unwrap()
}

fn own_gauge_names() -> Vec<&'static str> {
    let full = ResourceSample {
        process_cpu_ratio: Some(0.5),
        process_cpu_ratio_all_cores: Some(0.25),
        collector_cpu_secs: Some(1.0),
        collector_cpu_ratio: Some(0.01),
        records_per_second: Some(10.0),
        ..ResourceSample::default()
    };
    full.gauges().into_iter().map(|(n, _)| n).collect()
}

fn count(snap: &Snapshot, name: &str) -> u64 {
    match &snap
        .find(name, &[])
        .unwrap_or_else(|| panic!("no {name}"))
        .value
    {
        SeriesValue::Gauge(g) => g.total.count,
        SeriesValue::Latency(l) => l.total.count,
        SeriesValue::Counter(c) => c.total,
        other => panic!("{name}: {other:?}"),
    }
}

/// Fills the cap with `cap` by-name keys (cached: they are registered series), warms the
/// refused path of each kind up (the overflow series are registered once), and returns.
fn fill(tw: &Telemetry, cap: usize) {
    tw.preallocate();
    let mut buf = [0u8; 48];
    for i in 0..cap as u64 {
        tw.log_metric(key(&mut buf, "app_", i), 1.0, &[]);
    }
    tw.log_metric("warm_refused", 1.0, &[("venue", "XNAS")]);
    tw.measure_latency("warm_refused", Duration::from_nanos(1));
    tw.track_resource_usage("warm_refused", 1.0);
}

#[test]
fn distinct_refused_keys_by_name_cost_no_memory_past_the_cache_bound() {
    const CAP: usize = 16;
    let tw = Telemetry::builder()
        .max_series(CAP)
        .resource_sampling(None)
        .start()
        .unwrap();
    fill(&tw, CAP);
    let refused_before = tw.stats().overflowed_series;
    assert_eq!(refused_before, 3);

    let before = live_and_reset_peak();
    let mut buf = [0u8; 48];
    for i in 0..KEYS {
        let name = key(&mut buf, "refused_", i);
        tw.log_metric(black_box(name), i as f64, &[("venue", "XNAS")]);
    }
    let grown = LIVE.with(Cell::get) - before;
    let peak = peak() - before;
    eprintln!(
        "{KEYS} distinct refused keys on one thread: {grown} bytes still live, peak +{peak} bytes \
         (cache bound {REFUSED_CACHE_MAX} refused keys)"
    );
    assert!(grown < BOUND, "{grown} bytes live after the churn");
    assert!(peak < BOUND, "peak of {peak} bytes during the churn");

    tw.flush().unwrap();
    let snap = tw.snapshot();
    // Every sample landed in the metric overflow series (the warm-up's one included), none
    // was lost or given a series of its own.
    assert_eq!(count(&snap, OVERFLOW_METRIC), KEYS + 1);
    assert!(snap.find("refused_0", &[("venue", "XNAS")]).is_none());
    assert_eq!(snap.series.len(), CAP + 3, "the app's + 3 overflow series");
    // One refusal per distinct key here (each was used once).
    assert_eq!(snap.refused_series, refused_before + KEYS);
    let st = tw.stats();
    assert_eq!(st.dropped, 0, "{st:?}");
    tw.shutdown().unwrap();
}

#[test]
fn mixed_kinds_past_the_bound_keep_memory_bounded_and_own_series_and_exposition_intact() {
    const CAP: usize = 8;
    const PER_KIND: u64 = 60_000;
    let tick = Duration::from_millis(20);
    let tw = Telemetry::builder()
        .max_series(CAP)
        .monitor_tick(tick)
        .resource_sampling(Some(tick))
        .start()
        .unwrap();
    fill(&tw, CAP);
    // A refused counter handle: the fourth kind (counters have no by-name call).
    let counter = tw.counter("refused_counter", &[]);
    assert_eq!(counter.info().name(), OVERFLOW_COUNTER);
    counter.add(5);

    let before = live_and_reset_peak();
    let mut buf = [0u8; 48];
    for i in 0..PER_KIND {
        tw.log_metric(key(&mut buf, "m_", i), 1.0, &[("venue", "XNAS")]);
        tw.measure_latency(key(&mut buf, "l_", i), Duration::from_micros(i));
        tw.track_resource_usage(key(&mut buf, "r_", i), 0.5);
    }
    let grown = LIVE.with(Cell::get) - before;
    let peak = peak() - before;
    eprintln!(
        "{} distinct refused keys of three kinds: {grown} bytes still live, peak +{peak} bytes",
        3 * PER_KIND
    );
    assert!(grown < BOUND, "{grown} bytes live after the churn");
    assert!(peak < BOUND, "peak of {peak} bytes during the churn");

    tw.flush().unwrap();
    let snap = tw.snapshot();
    assert_eq!(count(&snap, OVERFLOW_METRIC), PER_KIND + 1);
    assert_eq!(count(&snap, OVERFLOW_LATENCY), PER_KIND + 1);
    assert_eq!(count(&snap, OVERFLOW_RESOURCE), PER_KIND + 1);
    assert_eq!(count(&snap, OVERFLOW_COUNTER), 5);

    // tickwatch's own gauges are there although the application filled the cap first.
    let names = own_gauge_names();
    let snap = poll::poll_every(Duration::from_secs(60), Duration::from_millis(20), || {
        Some(tw.snapshot()).filter(|s| names.iter().all(|n| s.find(n, &[]).is_some()))
    })
    .unwrap_or_else(|| panic!("own gauges {names:?} missing: {:?}", tw.snapshot()));
    assert_eq!(
        snap.refused_series,
        3 * PER_KIND + 4,
        "one per distinct key"
    );

    // And the exposition keeps all four overflow families and every own gauge.
    let text = tw.render_prometheus();
    for family in [
        "tickwatch_overflow_metric ",
        "tickwatch_overflow_total ",
        "tickwatch_overflow_latency_seconds_count ",
        "tickwatch_overflow_resource ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family}in\n{text}"
        );
    }
    for n in &names {
        // A prefix: exposition may add a type suffix (`_total`) to a cumulative one.
        assert!(text.lines().any(|l| l.starts_with(n)), "{n}");
    }
    assert!(
        text.lines().any(|l| l == format!("{CONFLICTS_METRIC} 0")),
        "{text}"
    );
    tw.shutdown().unwrap();
}
