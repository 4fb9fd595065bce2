//! The global instance under concurrency: threads keep calling the free functions and the
//! global macros while the main thread installs, shuts down and installs again. Nothing
//! panics, nothing is lost silently: every call is accepted or dropped by one of the
//! instances, or counted as made with no instance installed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tickwatch::sink::NullSink;
use tickwatch::{Backpressure, Telemetry};

const THREADS: u64 = 4;
const INSTALLS: usize = if cfg!(miri) { 2 } else { 20 };

#[test]
fn every_call_is_accounted_for_across_installs() {
    let base = tickwatch::calls_without_instance();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (stop, calls) = (stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Relaxed) {
                    match i % 3 {
                        0 => tickwatch::log_metric("spread", i as f64, &[("t", "x")]),
                        1 => tickwatch::info!("tick {}", i, thread = t),
                        _ => tickwatch::measure_latency("op", Duration::from_nanos(i)),
                    }
                    i += 1;
                }
                calls.fetch_add(i, Relaxed);
            })
        })
        .collect();

    // Install and shut down over and over while they run; keep each instance to read its
    // final counts (an instance stays allocated after shutdown).
    let mut instances: Vec<&'static Telemetry> = Vec::new();
    for n in 0..INSTALLS {
        let builder = Telemetry::builder()
            .sink(NullSink)
            .resource_sampling(None)
            .backpressure(if n % 2 == 0 {
                Backpressure::Block
            } else {
                Backpressure::Drop
            });
        let guard = tickwatch::install(builder).expect("nothing else is installed");
        instances.push(tickwatch::global().expect("just installed"));
        std::thread::sleep(Duration::from_millis(5));
        guard.shutdown().expect("shutdown");
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Relaxed);
    for w in workers {
        w.join().expect("a worker panicked");
    }

    let mut accepted = 0;
    let mut dropped = 0;
    for tw in &instances {
        let st = tw.stats();
        assert_eq!(
            st.accepted, st.delivered,
            "delivered after shutdown: {st:?}"
        );
        accepted += st.accepted;
        dropped += st.dropped;
    }
    let without = tickwatch::calls_without_instance() - base;
    let total = calls.load(Relaxed);
    assert_eq!(
        accepted + dropped + without,
        total,
        "accepted {accepted} + dropped {dropped} + without an instance {without} != calls {total}"
    );
    assert!(accepted > 0, "the instances recorded something");
    assert!(without > 0, "calls between installs were counted");
    assert!(tickwatch::global().is_none());
}
