//! The series cap (`max_series`) and what tickwatch keeps past it: its own `tickwatch_*`
//! series are reserved (never refused, not counted), and refused series of each kind go to
//! an overflow series of their own (so exposition keeps all four).
//!
//! The by-name cache's memory with the cap full is in `series_cap_memory.rs` (it needs a
//! global allocator of its own).

use std::time::Duration;

#[path = "common/poll.rs"]
mod poll;

use tickwatch::export::CONFLICTS_METRIC;
use tickwatch::metrics::{
    SeriesKind, OVERFLOW_COUNTER, OVERFLOW_LATENCY, OVERFLOW_METRIC, OVERFLOW_RESOURCE,
};
use tickwatch::metrics::{SeriesValue, Snapshot};
use tickwatch::resources::ResourceSample;
use tickwatch::{RegisterError, Telemetry};

/// Every gauge the self-watch publishes: those of a sample with every optional reading
/// present (the list is the crate's own, so a renamed gauge is followed here).
fn own_gauge_names() -> Vec<&'static str> {
    let full = ResourceSample {
        process_cpu_ratio: Some(0.5),
        process_cpu_ratio_all_cores: Some(0.25),
        collector_cpu_secs: Some(1.0),
        collector_cpu_ratio: Some(0.01),
        records_per_second: Some(10.0),
        ..ResourceSample::default()
    };
    let names: Vec<&'static str> = full.gauges().into_iter().map(|(n, _)| n).collect();
    assert!(names.len() >= 5, "{names:?}");
    names
}

fn has_every(snap: &Snapshot, names: &[&str]) -> bool {
    names.iter().all(|n| snap.find(n, &[]).is_some())
}

#[test]
fn own_gauges_are_reserved_when_the_application_fills_the_cap_first() {
    const CAP: usize = 4;
    let tick = Duration::from_millis(50);
    let tw = Telemetry::builder()
        .max_series(CAP)
        .monitor_tick(tick)
        .resource_sampling(Some(tick))
        .start()
        .unwrap();
    // Straight after start, before the first monitor tick (50 ms later) registers anything:
    // the application takes the whole cap. Whichever comes first, every one of its series
    // must be granted (tickwatch's own series take no slot) ...
    let handles: Vec<_> = (0..CAP)
        .map(|i| {
            tw.try_metric(&format!("app_{i}"), &[])
                .expect("a slot of the cap")
        })
        .collect();
    // ... and the cap must then be full for the application.
    assert_eq!(
        tw.try_metric("app_one_too_many", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: CAP }
    );
    for h in &handles {
        h.record(1.0);
    }
    let names = own_gauge_names();
    let snap = poll::poll_every(Duration::from_secs(60), Duration::from_millis(20), || {
        Some(tw.snapshot()).filter(|s| has_every(s, &names))
    });
    let snap = snap.unwrap_or_else(|| {
        let s = tw.snapshot();
        let have: Vec<&str> = s.series.iter().map(|x| x.name.as_str()).collect();
        panic!("own gauges missing after 60 s; want {names:?}, have {have:?}")
    });
    for n in &names {
        let s = snap.find(n, &[]).unwrap();
        assert_eq!(s.kind, SeriesKind::Resource, "{n}");
        assert!(matches!(s.value, SeriesValue::Gauge(_)), "{n}");
    }
    // Nothing of tickwatch's went to an overflow series, nor was counted as refused.
    assert!(snap.find(OVERFLOW_RESOURCE, &[]).is_none());
    assert_eq!(
        snap.refused_series, 0,
        "try_* refusals are errors, not overflow"
    );
    for i in 0..CAP {
        assert!(snap.find(&format!("app_{i}"), &[]).is_some());
    }
    // Own series stay reserved later too: the cap is still the application's alone.
    assert!(tw.try_metric("app_late", &[]).is_err());
    tw.shutdown().unwrap();
}

#[test]
fn refused_series_of_each_kind_get_their_own_overflow_series_and_render_without_conflict() {
    let tw = Telemetry::builder()
        .max_series(1)
        .resource_sampling(None)
        .start()
        .unwrap();
    let kept = tw.counter("kept", &[]);
    // The cap is full: one refused series of each kind.
    let m = tw.metric("refused_metric", &[("venue", "XNAS")]);
    let c = tw.counter("refused_counter", &[]);
    let l = tw.latency("refused_latency");
    let r = tw.resource("refused_resource");
    kept.add(1);
    m.record(2.5);
    c.add(7);
    l.record_nanos(1_500);
    r.record(0.75);
    tw.flush().unwrap();

    // Exposition first (the defect was there): four series, none left out as a conflict.
    let text = tw.render_prometheus();
    let sample = |prefix: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
            .to_owned()
    };
    assert_eq!(sample(CONFLICTS_METRIC), "0", "{text}");
    assert_eq!(sample("tickwatch_overflow_metric"), "2.5");
    assert_eq!(sample("tickwatch_overflow_total"), "7");
    assert_eq!(sample("tickwatch_overflow_latency_seconds_count"), "1");
    assert_eq!(sample("tickwatch_overflow_resource"), "0.75");
    assert_eq!(sample("kept_total"), "1");

    let names = [
        (
            &m.info().name().to_owned(),
            OVERFLOW_METRIC,
            SeriesKind::Metric,
        ),
        (
            &c.info().name().to_owned(),
            OVERFLOW_COUNTER,
            SeriesKind::Counter,
        ),
        (
            &l.info().name().to_owned(),
            OVERFLOW_LATENCY,
            SeriesKind::Latency,
        ),
        (
            &r.info().name().to_owned(),
            OVERFLOW_RESOURCE,
            SeriesKind::Resource,
        ),
    ];
    for (got, want, kind) in names {
        assert_eq!(got, want);
        assert_eq!(kind.overflow_name(), want);
    }
    let snap = tw.snapshot();
    assert_eq!(snap.refused_series, 4);
    assert_eq!(tw.stats().overflowed_series, 4);
    let value = |name: &str| &snap.find(name, &[]).expect(name).value;
    assert!(matches!(value(OVERFLOW_METRIC), SeriesValue::Gauge(g) if g.total.last == 2.5));
    assert!(matches!(value(OVERFLOW_COUNTER), SeriesValue::Counter(c) if c.total == 7));
    assert!(matches!(value(OVERFLOW_LATENCY), SeriesValue::Latency(l) if l.sum_ns == 1_500));
    assert!(matches!(value(OVERFLOW_RESOURCE), SeriesValue::Gauge(g) if g.total.last == 0.75));

    tw.shutdown().unwrap();
}
