//! Records that can never fit.

use super::*;

fn oversized(policy: Backpressure) {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(256)
        .max_string_len(4096)
        .backpressure(policy)
        .sink(mem.clone())
        .start()
        .unwrap();
    let big = "z".repeat(1000);
    let c = tw.counter("before", &[]);
    c.add(1);
    tw.flush().unwrap();
    // Would block forever under Block if it were treated as "full".
    event!(tw, Level::Info, "huge", s = big.as_str());
    c.add(2);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.oversized, 1, "{st:?}");
    assert_eq!(st.dropped, 1, "{st:?}");
    assert_eq!(st.accepted, 2, "{st:?}");
    assert_eq!(st.delivered, 2, "{st:?}");
    let recs = mem.records();
    let notices: Vec<u64> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Dropped { count, .. } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(notices, vec![1], "{recs:?}");
    let deltas: Vec<u64> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Counter { delta, .. } => Some(*delta),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, vec![1, 2]);
    assert!(!recs.iter().any(|r| matches!(r, Record::Event { .. })));
    tw.shutdown().unwrap();
}

#[test]
fn record_larger_than_half_the_ring_is_refused_and_counted_block() {
    oversized(Backpressure::Block);
}

#[test]
fn record_larger_than_half_the_ring_is_refused_and_counted_drop() {
    oversized(Backpressure::Drop);
}

#[test]
fn dynamic_event_with_more_fields_than_the_format_holds_is_refused() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(1 << 22)
        .sink(mem.clone())
        .start()
        .unwrap();
    let fields: Vec<(&str, FieldRef<'_>)> = vec![("f", FieldRef::Bool(true)); 65_536];
    tw.log_event(&Event {
        level: Level::Info,
        target: "t",
        message: "too many fields",
        fields: &fields,
    });
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!((st.accepted, st.dropped, st.oversized), (0, 1, 1), "{st:?}");
    assert!(matches!(
        mem.records().as_slice(),
        [Record::Dropped { count: 1, .. }]
    ));
    tw.shutdown().unwrap();
}
