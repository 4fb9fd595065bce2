//! The resource sampler's cadence end to end, on the defaults (a sample every second, on a
//! collector ticking every second): 10 s give 10 +- 1 samples and no gap above 1.5 s. Before
//! the fixed-rate cadence, each sample was scheduled one period after the tick that took the
//! previous one, and every tick that came less late than the one before was skipped: gaps of
//! 2 s.
//!
//! Read from the snapshot, not timed by the test: the gauge
//! `tickwatch_resource_sample_interval_seconds` gets one value per sample (the time since the
//! previous one), so its `count` is the number of samples and its `max` the longest gap. In
//! a binary of its own, so no other test loads the collector meanwhile.

use std::time::Duration;

use tickwatch::metrics::SeriesValue;
use tickwatch::Telemetry;

#[test]
fn ten_seconds_of_default_sampling_give_ten_samples_without_gaps() {
    let tw = Telemetry::builder().start().unwrap();
    // Ticks (and samples) at 1, 2, ... 10 s after start.
    std::thread::sleep(Duration::from_millis(10_500));
    let snap = tw.snapshot();
    tw.shutdown().unwrap();
    let interval = snap
        .find("tickwatch_resource_sample_interval_seconds", &[])
        .expect("the sampler publishes its interval");
    let SeriesValue::Gauge(g) = &interval.value else {
        panic!("{interval:?}")
    };
    let (count, max, min) = (g.total.count, g.total.max, g.total.min);
    assert!(
        (9..=11).contains(&count),
        "{count} samples in 10 s (longest gap {max:.3} s)"
    );
    assert!(max <= 1.5, "longest gap between samples {max:.3} s");
    assert!(min > 0.0, "shortest gap {min:.3} s");
    // Every other per-sample gauge was published with each sample.
    let threads = snap.find("tickwatch_process_threads", &[]).unwrap();
    let SeriesValue::Gauge(t) = &threads.value else {
        panic!("{threads:?}")
    };
    assert_eq!(t.total.count, count);
}
