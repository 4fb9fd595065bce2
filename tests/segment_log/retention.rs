//! Retention by bytes and age, never the newest segment.

use super::*;

#[test]
fn retention_deletes_the_oldest_sealed_segments() {
    let dir = TempDir::new("retention");
    let log = SegmentLog::options(dir.path())
        .segment_bytes(8 * 1024)
        .retain_bytes(Some(64 * 1024))
        .open()
        .unwrap();
    // Small rings: a collector pass (which a segment never splits) stays small beside the
    // segment size, so the log's size is bounded by the limit plus about two segments.
    let tw = Telemetry::builder()
        .segment_log(log)
        .ring_capacity(8 * 1024)
        .backpressure(Backpressure::Block)
        .start()
        .unwrap();
    for i in 0..20_000u64 {
        tw.log_metric("m", i as f64, &[]);
    }
    tw.flush().unwrap();
    drop(tw);
    let total: u64 = segments(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(total <= 64 * 1024 + 16 * 1024, "{total}");
    let r = LogReader::open(dir.path()).unwrap();
    let res = r
        .query(&LogQuery::new().order(Order::NewestFirst).limit(1))
        .unwrap();
    match &res.records[0] {
        Record::Metric { value, .. } => assert_eq!(*value, 19_999.0),
        other => panic!("{other:?}"),
    }
    let _ = Filter::Has(String::new());
}

#[test]
fn retention_never_deletes_the_newest_segment() {
    // Limits no segment can meet: every older segment goes, the newest stays (sealed at
    // shutdown, it used to be deleted too, leaving an empty log).
    let dir = TempDir::new("retention-newest");
    let log = SegmentLog::options(dir.path())
        .segment_bytes(4 * 1024)
        .retain_bytes(Some(1))
        .retain_age(Some(Duration::from_nanos(1)))
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    for round in 0..5u64 {
        for i in 0..500u64 {
            tw.log_metric("m", (round * 500 + i) as f64, &[]);
        }
        tw.flush().unwrap();
    }
    drop(tw);
    assert_eq!(segments(dir.path()).len(), 1, "only the newest is left");
    let r = LogReader::open(dir.path()).unwrap();
    let res = r
        .query(&LogQuery::new().order(Order::NewestFirst).limit(1))
        .unwrap();
    match res.records.first() {
        Some(Record::Metric { value, .. }) => assert_eq!(*value, 2_499.0),
        other => panic!("the newest record is gone: {other:?}"),
    }
}
