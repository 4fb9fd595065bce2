use std::time::Duration;
use tickwatch::{
    event,
    sink::{MemorySink, Record},
    Backpressure, Level, Telemetry, Value,
};

#[test]
fn every_operation_reaches_the_sink() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(64 * 1024)
        .backpressure(Backpressure::Block)
        .sink(mem.clone())
        .start()
        .unwrap();
    let m = tw.metric("position", &[("venue", "XNAS")]);
    m.record(1.5);
    let c = tw.counter("orders_sent", &[("venue", "XNAS")]);
    c.add(1);
    let lat = tw.latency("order_roundtrip");
    lat.record(Duration::from_nanos(850));
    lat.record_nanos(851);
    {
        let _t = lat.start();
    }
    tw.log_metric("position", 2.5, &[("venue", "XNAS")]);
    tw.measure_latency("order_roundtrip", Duration::from_nanos(852));
    tw.track_resource_usage("order_book_depth", 0.42);
    event!(
        tw,
        Level::Info,
        "order filled",
        order_id = 42u64,
        px = 101.25,
        venue = "XNAS"
    );
    tw.flush().unwrap();
    let s = tw.stats();
    assert_eq!((s.accepted, s.delivered, s.dropped), (9, 9, 0));
    let recs = mem.records();
    assert_eq!(recs.len(), 9);
    match &recs[0] {
        Record::Metric {
            name, tags, value, ..
        } => {
            assert_eq!(name, "position");
            assert_eq!(tags, &vec![("venue".to_string(), "XNAS".to_string())]);
            assert_eq!(*value, 1.5);
        }
        r => panic!("{r:?}"),
    }
    match &recs[8] {
        Record::Event {
            level,
            message,
            fields,
            ..
        } => {
            assert_eq!(*level, Level::Info);
            assert_eq!(message, "order filled");
            assert_eq!(fields[0], ("order_id".to_string(), Value::U64(42)));
            assert_eq!(fields[1], ("px".to_string(), Value::F64(101.25)));
            assert_eq!(fields[2], ("venue".to_string(), Value::Str("XNAS".into())));
        }
        r => panic!("{r:?}"),
    }
    tw.shutdown().unwrap();
}
