//! Every sample kind takes tags, by handle and by name, on an instance and on the global one.

use std::time::Duration;

use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

const XNAS: &[(&str, &str)] = &[("venue", "XNAS")];

fn tags_of(r: &Record) -> Vec<(String, String)> {
    match r {
        Record::Latency { tags, .. } | Record::Resource { tags, .. } => tags.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn latency_and_resource_carry_tags_everywhere() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    tw.measure_latency_with_tags("order_roundtrip", Duration::from_nanos(700), XNAS);
    tw.track_resource_usage_with_tags("order_pool", 0.25, XNAS);
    tw.latency_with_tags("order_roundtrip", XNAS)
        .record_nanos(900);
    tw.resource_with_tags("order_pool", XNAS).record(0.5);
    // The seed's forms keep working, untagged: a series of their own.
    tw.measure_latency("order_roundtrip", Duration::from_nanos(100));
    tw.track_resource_usage("order_pool", 0.75);
    tw.flush().unwrap();

    let recs = mem.take();
    assert_eq!(recs.len(), 6, "{recs:?}");
    let want = vec![("venue".to_owned(), "XNAS".to_owned())];
    for r in &recs[..4] {
        assert_eq!(tags_of(r), want, "{r:?}");
    }
    for r in &recs[4..] {
        assert!(tags_of(r).is_empty(), "{r:?}");
    }
    let snap = tw.snapshot();
    let Some(SeriesValue::Latency(l)) = snap.find("order_roundtrip", XNAS).map(|s| &s.value) else {
        panic!("tagged latency series in the snapshot")
    };
    assert_eq!((l.total.count, l.total.min, l.total.max), (2, 700, 900));
    let Some(SeriesValue::Gauge(g)) = snap.find("order_pool", XNAS).map(|s| &s.value) else {
        panic!("tagged resource series in the snapshot")
    };
    assert_eq!(g.total.count, 2);
    assert!(
        snap.find("order_pool", &[]).is_some(),
        "untagged series apart"
    );
}

#[test]
fn free_functions_take_tags() {
    let mem = MemorySink::new();
    let _guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    tickwatch::measure_latency_with_tags("fill", Duration::from_micros(3), XNAS);
    tickwatch::track_resource_usage_with_tags("order_pool", 0.5, XNAS);
    tickwatch::global().expect("installed").flush().unwrap();
    let recs = mem.take();
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(tags_of(r), vec![("venue".to_owned(), "XNAS".to_owned())]);
    }
}
