//! Many short-lived threads: every record of every thread delivered, every lane retired after
//! its thread exits, and the memory of the rings given back (RSS stays flat).
//!
//! Rings are 256 KiB and every thread writes more than a ring's worth of bytes through its
//! ring, so all of its pages are touched: 1,000 rings never reclaimed would add ~256 MiB of
//! resident memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::sink::{Batch, RecordView, Sink, SinkError};
use tickwatch::{event, Backpressure, Level, Stats, Telemetry};

const RING: usize = 256 * 1024;

/// RSS is process-wide: the tests of this binary take turns so that one's rings do not show
/// up in another's measurement.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A string near the largest a 256 KiB ring takes; five of them wrap the ring.
fn big_string() -> String {
    "x".repeat(60_000)
}

/// Per thread index: records, big events, and the thread's name.
#[derive(Default)]
struct PerThread {
    records: u64,
    big: u64,
    name: Option<String>,
}

#[derive(Default)]
struct CountSink {
    seen: Arc<Mutex<HashMap<u32, PerThread>>>,
}

impl Sink for CountSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap();
        let e = seen.entry(batch.thread().index).or_default();
        e.name.clone_from(&batch.thread().name);
        for r in batch.iter() {
            e.records += 1;
            if let RecordView::Event(ev) = &r {
                if ev
                    .fields()
                    .any(|(n, v)| n == "blob" && v.to_string().len() == 60_000)
                {
                    e.big += 1;
                }
            }
        }
        Ok(())
    }
}

/// Resident set size in bytes, from /proc/self/status (Linux only).
fn rss() -> Option<u64> {
    if cfg!(miri) {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Flushes until `done(stats)` holds; a bounded loop (retirement happens when the collector
/// notices that a thread exited), not a timing assertion.
fn flush_until(tw: &Telemetry, done: impl Fn(&Stats) -> bool) -> Stats {
    for _ in 0..500 {
        tw.flush().unwrap();
        let st = tw.stats();
        if done(&st) {
            return st;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tw.stats()
}

#[test]
fn a_thousand_short_lived_threads_all_delivered_all_retired_memory_flat() {
    let _serial = serial();
    let (threads, wave, samples) = if cfg!(miri) {
        (8usize, 4usize, 10u64)
    } else {
        (1000, 50, 100)
    };
    let big_events = if cfg!(miri) { 0u64 } else { 5 };
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let tw = Telemetry::builder()
        .ring_capacity(RING)
        .max_string_len(65_535)
        .backpressure(Backpressure::Block)
        .sink(CountSink { seen: seen.clone() })
        .start()
        .unwrap();
    let blob = big_string();
    let mut rss_after_first_wave = None;
    for w in 0..threads / wave {
        std::thread::scope(|s| {
            for t in 0..wave {
                let n = w * wave + t;
                let (tw, blob) = (&tw, &blob);
                std::thread::Builder::new()
                    .name(format!("worker-{n}"))
                    .spawn_scoped(s, move || {
                        let c = tw.counter("work", &[("wave", "any")]);
                        for i in 0..samples {
                            c.add(i);
                        }
                        for _ in 0..big_events {
                            event!(tw, Level::Info, "big", blob = blob.as_str());
                        }
                    })
                    .unwrap();
            }
        });
        if w == 0 {
            let st = flush_until(&tw, |st| st.retired_threads == wave as u64);
            assert_eq!(st.retired_threads, wave as u64, "{st:?}");
            rss_after_first_wave = rss();
        }
    }
    let per_thread = samples + big_events;
    let total = per_thread * threads as u64;
    let st = flush_until(&tw, |st| {
        st.retired_threads == threads as u64 && st.threads.is_empty()
    });
    assert_eq!(st.retired_threads, threads as u64, "{st:?}");
    assert!(st.threads.is_empty(), "no live lane should remain: {st:?}");
    assert_eq!(st.accepted, total);
    assert_eq!(st.delivered, total);
    assert_eq!(st.dropped, 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), threads, "one lane per thread");
    let mut names: Vec<&str> = Vec::new();
    for idx in 0..threads as u32 {
        let e = seen
            .get(&idx)
            .unwrap_or_else(|| panic!("no records from thread index {idx}"));
        assert_eq!(e.records, per_thread, "thread index {idx}");
        assert_eq!(e.big, big_events, "thread index {idx}");
        names.push(e.name.as_deref().expect("threads were named"));
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), threads, "each lane names its own thread");
    drop(seen);
    if let (Some(first), Some(last)) = (rss_after_first_wave, rss()) {
        let growth = last.saturating_sub(first);
        assert!(
            growth < 32 << 20,
            "RSS grew by {} MiB over {} threads (first wave {} MiB, end {} MiB): rings not reclaimed?",
            growth >> 20,
            threads - wave,
            first >> 20,
            last >> 20
        );
    }
    tw.shutdown().unwrap();
}

/// A long-lived thread logging to one instance after another: the rings of the instances that
/// were shut down must be given back.
#[test]
fn rings_of_shut_down_instances_are_reclaimed() {
    let _serial = serial();
    let instances = if cfg!(miri) { 3 } else { 300 };
    let big = if cfg!(miri) { 0 } else { 5 };
    let blob = big_string();
    let mut rss_baseline = None;
    // Run on a fresh thread so that lanes left by other tests on the harness thread do not
    // matter.
    std::thread::spawn(move || {
        for i in 0..instances {
            let tw = Telemetry::builder()
                .ring_capacity(RING)
                .max_string_len(65_535)
                .sink(tickwatch::sink::NullSink)
                .start()
                .unwrap();
            tw.log_metric("x", 1.0, &[]);
            for _ in 0..big {
                event!(tw, Level::Info, "big", blob = blob.as_str());
            }
            tw.flush().unwrap();
            let st = tw.stats();
            assert_eq!(st.accepted, 1 + big as u64);
            assert_eq!(st.delivered, 1 + big as u64);
            tw.shutdown().unwrap();
            if i == 10 {
                rss_baseline = rss();
            }
        }
        if let (Some(first), Some(last)) = (rss_baseline, rss()) {
            let growth = last.saturating_sub(first);
            assert!(
                growth < 32 << 20,
                "RSS grew by {} MiB over {} instances: rings of stopped instances kept?",
                growth >> 20,
                instances - 11
            );
        }
    })
    .join()
    .unwrap();
}

/// Threads whose first call on an instance comes after it was shut down: the calls are counted
/// as dropped, and once those threads have exited no lane of theirs is left listed as live (nor
/// holds a ring). Uses the global instance, the only stopped instance whose `stats()` can still
/// be read; the one test in this binary that installs it.
#[test]
fn first_calls_after_shutdown_leave_no_lane_behind() {
    let _serial = serial();
    let threads = if cfg!(miri) { 4 } else { 100 };
    let guard = tickwatch::install(
        Telemetry::builder()
            .ring_capacity(RING)
            .sink(tickwatch::sink::NullSink),
    )
    .unwrap();
    let tw = tickwatch::global().unwrap();
    let m = tw.metric("late", &[]);
    guard.shutdown().unwrap();
    for _ in 0..threads {
        let m = m.clone();
        std::thread::spawn(move || m.record(1.0)).join().unwrap();
    }
    let st = tw.stats();
    assert_eq!(st.accepted, 0, "{st:?}");
    assert_eq!(
        st.dropped, threads as u64,
        "every late call counted as dropped"
    );
    assert!(
        st.threads.is_empty(),
        "{} lanes of exited threads still listed as live (each with a {} KiB ring)",
        st.threads.len(),
        RING / 1024
    );
}
