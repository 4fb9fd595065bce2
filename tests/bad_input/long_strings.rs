//! Strings longer than `max_string_len`.

use super::*;

#[test]
fn long_string_field_is_cut_at_a_char_boundary_and_flagged() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .max_string_len(16)
        .sink(mem.clone())
        .start()
        .unwrap();
    // 10 x 3-byte '€' = 30 bytes; byte 16 falls inside the 6th '€', so 5 are kept (15 bytes).
    let long = "€".repeat(10);
    let short = "€€€€€"; // exactly 15 bytes: not cut
    event!(tw, Level::Info, "long", s = long.as_str(), n = 7u64);
    event!(tw, Level::Info, "short", s = short, n = 8u64);
    // Exactly at the limit: 16 one-byte chars, kept whole.
    event!(tw, Level::Info, "limit", s = "0123456789abcdef");
    // Two long strings in one record: one truncated record.
    event!(
        tw,
        Level::Info,
        "two",
        a = long.as_str(),
        b = "é".repeat(9).as_str()
    );
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.truncated, 2, "{st:?}");
    assert_eq!(st.accepted, 4);
    assert_eq!(st.dropped, 0);
    let recs = mem.records();
    let fields = |i: usize| match &recs[i] {
        Record::Event {
            fields, truncated, ..
        } => (fields.clone(), *truncated),
        r => panic!("{r:?}"),
    };
    let (f, t) = fields(0);
    assert!(t, "cut record must be flagged");
    assert_eq!(f[0], ("s".to_owned(), Value::Str("€€€€€".to_owned())));
    assert_eq!(f[1], ("n".to_owned(), Value::U64(7)));
    let (f, t) = fields(1);
    assert!(!t);
    assert_eq!(f[0].1, Value::Str(short.to_owned()));
    let (f, t) = fields(2);
    assert!(!t);
    assert_eq!(f[0].1, Value::Str("0123456789abcdef".to_owned()));
    let (f, t) = fields(3);
    assert!(t);
    assert_eq!(f[0].1, Value::Str("€€€€€".to_owned()));
    // 9 x 2-byte 'é' = 18 bytes: cut to 8 of them (16 bytes, a boundary).
    assert_eq!(f[1].1, Value::Str("é".repeat(8)));
    tw.shutdown().unwrap();
}

#[test]
fn long_strings_in_a_dynamic_event_are_cut_and_flagged() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .max_string_len(16)
        .sink(mem.clone())
        .start()
        .unwrap();
    let long = "ü".repeat(20); // 40 bytes
    tw.log_event(&Event {
        level: Level::Warn,
        target: "t",
        message: &long,
        fields: &[("v", FieldRef::Str(&long))],
    });
    tw.log_event(&Event {
        level: Level::Warn,
        target: "t",
        message: "fine",
        fields: &[("v", FieldRef::Str("fine"))],
    });
    tw.flush().unwrap();
    assert_eq!(tw.stats().truncated, 1);
    let recs = mem.records();
    match &recs[0] {
        Record::Event {
            message,
            fields,
            truncated,
            ..
        } => {
            assert!(*truncated);
            assert_eq!(message, &"ü".repeat(8));
            assert_eq!(fields[0].1, Value::Str("ü".repeat(8)));
        }
        r => panic!("{r:?}"),
    }
    match &recs[1] {
        Record::Event { truncated, .. } => assert!(!truncated),
        r => panic!("{r:?}"),
    }
    tw.shutdown().unwrap();
}

#[test]
fn truncated_event_is_flagged_in_json() {
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .max_string_len(4)
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .unwrap();
    event!(tw, Level::Info, "cut", s = "abcdefgh");
    event!(tw, Level::Info, "whole", s = "abcd");
    tw.flush().unwrap();
    let lines = buf.lines();
    assert_eq!(lines.len(), 2);
    let a: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let b: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(a["fields"]["s"], "abcd");
    assert_eq!(a["truncated"], true);
    assert_eq!(b["fields"]["s"], "abcd");
    assert!(b.get("truncated").is_none(), "{}", lines[1]);
    tw.shutdown().unwrap();
}
