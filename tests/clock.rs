//! Timestamps: integer conversion (distinct, monotonic nanoseconds for distinct ticks) at the
//! conversion and end to end, and the slope refined while the collector is busy.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tickwatch::__private::{clock_refinements, convert, now_ticks, unix_nanos};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::{Backpressure, Telemetry};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

proptest! {
    /// Any slope from 0.1 to 4 ns per tick, any anchor in this century, any two readings:
    /// the conversion is within 1 ns of the exact rational value, never decreases, and gives
    /// distinct nanoseconds to readings at least one nanosecond's worth of ticks apart.
    #[test]
    fn conversion_is_exact_monotonic_and_distinct(
        mult in (1u64 << 32) / 10..(4u64 << 32),
        at_ticks in any::<u32>().prop_map(|t| u64::from(t) << 16),
        at_ns in 1_600_000_000_000_000_000u64..2_000_000_000_000_000_000,
        a in 0u64..1 << 40,
        gap in 0u64..1 << 20,
    ) {
        let (ta, tb) = (at_ticks + a, at_ticks + a + gap);
        let (na, nb) = (convert(at_ticks, at_ns, mult, ta), convert(at_ticks, at_ns, mult, tb));
        let exact = |d: u64| at_ns as u128 + ((d as u128 * mult as u128) >> 32);
        prop_assert!((na as u128).abs_diff(exact(a)) <= 1);
        prop_assert!(nb >= na);
        // One nanosecond's worth of ticks: ceil(2^32 / mult).
        let ticks_per_ns = (1u64 << 32).div_ceil(mult);
        if gap >= ticks_per_ns {
            prop_assert!(nb > na, "{ta} -> {na}, {tb} -> {nb}");
        }
    }
}

#[test]
fn consecutive_ticks_give_distinct_increasing_times() {
    let mut last_ticks = now_ticks();
    let mut last_ns = unix_nanos(last_ticks);
    let mut distinct = 0;
    for _ in 0..100_000 {
        let t = now_ticks();
        let ns = unix_nanos(t);
        assert!(ns >= last_ns, "time went back: {last_ns} -> {ns}");
        if t > last_ticks + 3 {
            // Three or more ticks apart is at least a nanosecond on any TSC up to 3 GHz.
            assert!(ns > last_ns, "ticks {last_ticks} and {t} share {ns}");
            distinct += 1;
        }
        (last_ticks, last_ns) = (t, ns);
    }
    assert!(distinct > 50_000, "readings were apart: {distinct}");
}

#[test]
fn consecutive_records_carry_distinct_timestamps() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(1 << 20)
        .backpressure(Backpressure::Block)
        .sink(mem.clone())
        .start()
        .unwrap();
    let m = tw.metric("px", &[]);
    for i in 0..10_000 {
        m.record(i as f64);
    }
    tw.flush().unwrap();
    let times: Vec<u64> = mem
        .take()
        .iter()
        .filter(|r| matches!(r, Record::Metric { .. }))
        .map(|r| r.timestamp().unix_nanos())
        .collect();
    assert_eq!(times.len(), 10_000);
    // Back-to-back records are ~10 ns apart, many ticks: every one has its own nanosecond.
    let equal = times.windows(2).filter(|w| w[1] == w[0]).count();
    let back = times.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!((equal, back), (0, 0), "equal or backwards neighbours");
    // Whole nanoseconds, not a coarser grid: an f64 of absolute Unix nanoseconds has a
    // 256 ns step today, which would leave every time a multiple of 256.
    let residues: std::collections::HashSet<u64> = times.iter().map(|t| t % 256).collect();
    assert!(residues.len() > 100, "times on a grid: {:?}", &times[..8]);
}

#[test]
fn slope_is_refined_while_the_collector_is_busy() {
    let tw = Arc::new(
        Telemetry::builder()
            .ring_capacity(1 << 16)
            .backpressure(Backpressure::Drop)
            .sink(tickwatch::sink::NullSink)
            .start()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Continuous load: the collector always has records to drain, so it never idles.
    let producer = {
        let (tw, stop) = (tw.clone(), stop.clone());
        std::thread::spawn(move || {
            let m = tw.metric("load", &[]);
            while !stop.load(Relaxed) {
                for i in 0..64 {
                    m.record(f64::from(i));
                }
            }
        })
    };
    let before = clock_refinements();
    let start = Instant::now();
    let mut worst = 0i128;
    while start.elapsed() < Duration::from_millis(3_500) {
        std::thread::sleep(Duration::from_millis(50));
        let (t, wall) = (now_ticks(), unix_now());
        worst = worst.max((i128::from(unix_nanos(t)) - i128::from(wall)).abs());
    }
    stop.store(true, Relaxed);
    producer.join().unwrap();
    let refined = clock_refinements() - before;
    assert!(
        refined >= 2,
        "3.5 s of continuous load refined the slope {refined} times"
    );
    // The converted time tracks the system clock: within 2 ms (the start-up calibration
    // alone may be off by a few hundred ppm; refinement takes that away).
    assert!(worst < 2_000_000, "converted time off by {worst} ns");
    eprintln!("refinements {refined}, worst offset {worst} ns");
}
