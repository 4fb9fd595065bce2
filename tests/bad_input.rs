//! Bad input is fixed up, refused or carried exactly, and always accounted for: long strings,
//! records too large for the ring, non-finite and odd floats, bad names, too many series,
//! invalid configuration, failing and panicking sinks, calls after shutdown.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::metrics::{EMPTY_NAME, MAX_NAME_LEN, OVERFLOW_COUNTER, OVERFLOW_METRIC};
use tickwatch::sink::{Batch, JsonLinesSink, MemorySink, Record, Sink, SinkError};
use tickwatch::{
    event, Backpressure, Event, FieldRef, FlushError, Level, RegisterError, StartError, Telemetry,
    Value,
};

fn mem_instance(mem: &MemorySink) -> Telemetry {
    Telemetry::builder().sink(mem.clone()).start().unwrap()
}

/// A `Write` into a buffer the test keeps a handle to.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("JSON output is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Strings longer than max_string_len

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

// ---------------------------------------------------------------------------------------------
// Records that can never fit

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

// ---------------------------------------------------------------------------------------------
// Floats

const ODD_FLOATS: [f64; 8] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    5e-324,                     // smallest subnormal
    2.225_073_858_507_201e-308, // largest subnormal
    f64::MAX,
    0.1,
];

fn odd_floats() -> Vec<f64> {
    let mut v = ODD_FLOATS.to_vec();
    // A NaN with a payload and the sign bit set.
    v.push(f64::from_bits(0xfff8_0000_dead_beef));
    v
}

#[test]
fn nan_infinities_negative_zero_and_subnormals_are_carried_bit_exact() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    let m = tw.metric("m", &[]);
    let r = tw.resource("r");
    let vals = odd_floats();
    for &v in &vals {
        m.record(v);
        r.record(v);
        tw.log_metric("lm", v, &[]);
        tw.track_resource_usage("tr", v);
        event!(tw, Level::Info, "f", v = v);
        tw.log_event(&Event {
            level: Level::Info,
            target: "t",
            message: "dyn",
            fields: &[("v", FieldRef::F64(v))],
        });
    }
    tw.flush().unwrap();
    let recs = mem.records();
    assert_eq!(recs.len(), vals.len() * 6);
    for (i, &v) in vals.iter().enumerate() {
        let chunk = &recs[i * 6..i * 6 + 6];
        let got: Vec<u64> = chunk
            .iter()
            .map(|r| match r {
                Record::Metric { value, .. } => value.to_bits(),
                Record::Resource { usage, .. } => usage.to_bits(),
                Record::Event { fields, .. } => match &fields[0].1 {
                    Value::F64(x) => x.to_bits(),
                    other => panic!("{other:?}"),
                },
                r => panic!("{r:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![v.to_bits(); 6],
            "value {v:e} ({:#x})",
            v.to_bits()
        );
    }
    tw.shutdown().unwrap();
}

#[test]
fn json_writes_non_finite_floats_as_strings_and_finite_ones_exactly() {
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .unwrap();
    let m = tw.metric("m", &[]);
    let vals = odd_floats();
    for &v in &vals {
        m.record(v);
        tw.track_resource_usage("r", v);
        event!(tw, Level::Info, "f", v = v);
    }
    tw.flush().unwrap();
    let lines = buf.lines();
    assert_eq!(lines.len(), vals.len() * 3);
    for (i, &v) in vals.iter().enumerate() {
        let objs: Vec<serde_json::Value> = lines[i * 3..i * 3 + 3]
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let got = [
            &objs[0]["value"],
            &objs[1]["value"],
            &objs[2]["fields"]["v"],
        ];
        for g in got {
            if v.is_nan() {
                assert_eq!(g, "NaN", "{lines:?}");
            } else if v == f64::INFINITY {
                assert_eq!(g, "inf");
            } else if v == f64::NEG_INFINITY {
                assert_eq!(g, "-inf");
            } else {
                let x = g.as_f64().unwrap_or_else(|| panic!("{v:e} written as {g}"));
                assert_eq!(x.to_bits(), v.to_bits(), "{v:e} written as {g}");
            }
        }
    }
    tw.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Names

#[test]
fn empty_names_become_unnamed_and_are_counted() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    assert_eq!(tw.metric("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.counter("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.latency("").info().name(), EMPTY_NAME);
    assert_eq!(tw.latency_with_tags("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.resource("").info().name(), EMPTY_NAME);
    assert_eq!(tw.stats().invalid_names, 5);
    // Empty tag key: fixed; empty tag value: allowed, not counted.
    let m = tw.metric("px", &[("", "XNAS"), ("venue", "")]);
    assert_eq!(
        m.info().tags(),
        &[
            (EMPTY_NAME.to_owned(), "XNAS".to_owned()),
            ("venue".to_owned(), String::new())
        ]
    );
    assert_eq!(tw.stats().invalid_names, 6);
    // By name: fixed and counted once per key (at its registration), delivered under EMPTY_NAME.
    tw.log_metric("", 1.0, &[]);
    tw.log_metric("", 2.0, &[]);
    tw.measure_latency("", Duration::from_nanos(5));
    tw.track_resource_usage("", 0.5);
    tw.log_metric("spread", 0.1, &[("", "v")]);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.invalid_names, 10, "{st:?}");
    assert_eq!(st.delivered, 5);
    let recs = mem.records();
    match &recs[0] {
        Record::Metric { name, value, .. } => {
            assert_eq!((name.as_str(), *value), (EMPTY_NAME, 1.0));
        }
        r => panic!("{r:?}"),
    }
    match &recs[1] {
        Record::Metric { name, value, .. } => {
            assert_eq!((name.as_str(), *value), (EMPTY_NAME, 2.0));
        }
        r => panic!("{r:?}"),
    }
    match &recs[2] {
        Record::Latency {
            operation, nanos, ..
        } => assert_eq!((operation.as_str(), *nanos), (EMPTY_NAME, 5)),
        r => panic!("{r:?}"),
    }
    match &recs[3] {
        Record::Resource { resource, .. } => assert_eq!(resource, EMPTY_NAME),
        r => panic!("{r:?}"),
    }
    match &recs[4] {
        Record::Metric { name, tags, .. } => {
            assert_eq!(name, "spread");
            assert_eq!(tags, &[(EMPTY_NAME.to_owned(), "v".to_owned())]);
        }
        r => panic!("{r:?}"),
    }
    tw.shutdown().unwrap();
}

#[test]
fn long_names_are_cut_at_a_char_boundary_and_counted() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    let long = "€".repeat(100); // 300 bytes; 256 is inside a '€', so 85 are kept (255 bytes)
    let cut = "€".repeat(85);
    assert_eq!(cut.len(), 255);
    assert!(cut.len() <= MAX_NAME_LEN);
    let m = tw.metric(&long, &[]);
    assert_eq!(m.info().name(), cut);
    assert_eq!(tw.stats().invalid_names, 1);
    let c = tw.counter("c", &[(&long, &long)]);
    assert_eq!(c.info().tags(), &[(cut.clone(), cut.clone())]);
    assert_eq!(tw.stats().invalid_names, 3);
    // Exactly MAX_NAME_LEN bytes is fine.
    let exact = "a".repeat(MAX_NAME_LEN);
    assert_eq!(tw.latency(&exact).info().name(), exact);
    assert_eq!(tw.stats().invalid_names, 3);
    tw.measure_latency(&long, Duration::from_nanos(1));
    tw.track_resource_usage(&long, 1.0);
    tw.log_metric(&long, 1.0, &[]);
    tw.flush().unwrap();
    assert_eq!(tw.stats().invalid_names, 6);
    let names: Vec<String> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Latency { operation, .. } => operation.clone(),
            Record::Resource { resource, .. } => resource.clone(),
            Record::Metric { name, .. } => name.clone(),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(names, vec![cut.clone(), cut.clone(), cut]);
    // The handle registered with the long name and the by-name call share the cut series.
    tw.shutdown().unwrap();
}

#[test]
fn try_registration_refuses_bad_names() {
    let tw = Telemetry::builder().start().unwrap();
    let long = "é".repeat(129); // 258 bytes
    assert_eq!(
        tw.try_metric("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_counter("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_latency("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_metric("ok", &[("", "v")]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_metric(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_counter(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_latency(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_counter("ok", &[("k", &long)]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_latency("ok", &[(&long, "v")]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    let msg = RegisterError::NameTooLong { len: 258 }.to_string();
    assert!(msg.contains("258") && msg.contains("256"), "{msg}");
    assert!(RegisterError::EmptyName.to_string().contains("empty"));
    // Empty tag values are allowed; at the limit is allowed.
    let ok = tw
        .try_metric(&"a".repeat(MAX_NAME_LEN), &[("venue", "")])
        .unwrap();
    assert_eq!(ok.info().name().len(), MAX_NAME_LEN);
    let st = tw.stats();
    assert_eq!(st.invalid_names, 0, "refusals are not fix-ups");
    assert_eq!(st.series, 1, "nothing registered by the refusals");
    tw.shutdown().unwrap();
}

#[test]
fn series_cap_refuses_try_and_overflows_the_rest() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .max_series(3)
        .sink(mem.clone())
        .start()
        .unwrap();
    let a = tw.try_metric("a", &[]).unwrap();
    let _b = tw.try_counter("b", &[]).unwrap();
    let _c = tw.try_latency("c", &[]).unwrap();
    assert_eq!(
        tw.try_metric("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert_eq!(
        tw.try_counter("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert_eq!(
        tw.try_latency("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert!(RegisterError::TooManySeries { max: 3 }
        .to_string()
        .contains("max_series"));
    // An existing key is still found at the cap.
    assert_eq!(tw.try_metric("a", &[]).unwrap().info().id(), a.info().id());
    assert_eq!(tw.metric("a", &[]).info().id(), a.info().id());
    assert_eq!(tw.stats().overflowed_series, 0);
    // The never-failing calls go to the kind's overflow series, counted per registration.
    let d = tw.metric("d", &[("k", "v")]);
    assert_eq!(d.info().name(), OVERFLOW_METRIC);
    assert!(d.info().tags().is_empty());
    let e = tw.metric("e", &[]);
    assert_eq!(e.info().id(), d.info().id(), "one overflow series per kind");
    let f = tw.counter("f", &[]);
    assert_eq!(f.info().name(), OVERFLOW_COUNTER);
    assert_ne!(f.info().id(), d.info().id());
    let st = tw.stats();
    assert_eq!(st.overflowed_series, 3, "{st:?}");
    assert_eq!(st.series, 5, "3 + one overflow series per kind used");
    d.record(1.0);
    e.record(2.0);
    tw.log_metric("g", 3.0, &[]);
    a.record(4.0);
    tw.flush().unwrap();
    assert_eq!(tw.stats().overflowed_series, 4);
    let got: Vec<(String, f64)> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Metric { name, value, .. } => (name.clone(), *value),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (OVERFLOW_METRIC.to_owned(), 1.0),
            (OVERFLOW_METRIC.to_owned(), 2.0),
            (OVERFLOW_METRIC.to_owned(), 3.0),
            ("a".to_owned(), 4.0),
        ]
    );
    tw.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn invalid_configuration_is_refused_with_the_matching_error() {
    let cases: [(usize, &str); 5] = [
        (0, "0"),
        (1000, "1000"),
        (32, "32"),
        (63, "63"),
        ((1 << 30) * 2, "2147483648"),
    ];
    for (cap, shown) in cases {
        match Telemetry::builder().ring_capacity(cap).start() {
            Err(e @ StartError::RingCapacity { requested }) => {
                assert_eq!(requested, cap);
                let msg = e.to_string();
                assert!(msg.contains("ring_capacity"), "{msg}");
                assert!(msg.contains(shown), "{msg}");
                assert!(msg.contains("power of two"), "{msg}");
            }
            other => panic!("ring_capacity({cap}): {other:?}"),
        }
    }
    match Telemetry::builder().max_string_len(65_536).start() {
        Err(e @ StartError::MaxStringLen { requested: 65_536 }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("max_string_len") && msg.contains("65536"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    match Telemetry::builder().max_series(0).start() {
        Err(e @ StartError::MaxSeries { requested: 0 }) => {
            let msg = e.to_string();
            assert!(msg.contains("max_series") && msg.contains('0'), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    // The edges of each range are accepted.
    for b in [
        Telemetry::builder().ring_capacity(128),
        Telemetry::builder().ring_capacity(1 << 30),
        Telemetry::builder().max_string_len(65_535),
        Telemetry::builder().max_string_len(0),
        Telemetry::builder().max_series(1),
    ] {
        b.start().unwrap().shutdown().unwrap();
    }
}

#[test]
fn smallest_ring_still_carries_samples() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(128)
        .sink(mem.clone())
        .start()
        .unwrap();
    let n = if cfg!(miri) { 20 } else { 2_000 };
    let c = tw.counter("c", &[]);
    for i in 0..n {
        c.add(i);
    }
    // A field-less event is smaller than a sample; an event with a number is a little larger
    // than the 24 bytes a 64-byte ring takes: delivered, or refused and counted as oversized.
    event!(tw, Level::Info, "tiny");
    event!(tw, Level::Info, "small", x = 1u8);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, n + 2, "{st:?}");
    assert_eq!(st.dropped, st.oversized, "{st:?}");
    assert!(st.accepted > n, "{st:?}");
    assert_eq!(st.delivered, st.accepted);
    let recs = mem.records();
    for (i, r) in recs[..n as usize].iter().enumerate() {
        assert!(
            matches!(r, Record::Counter { delta, .. } if *delta == i as u64),
            "{r:?}"
        );
    }
    assert!(matches!(&recs[n as usize], Record::Event { message, .. } if message == "tiny"));
    tw.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Failing sinks

/// Fails every call; counts them.
struct ErrSink(Arc<AtomicU64>);

impl Sink for ErrSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        self.0.fetch_add(1, Relaxed);
        Err(SinkError::new("disk full"))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.fetch_add(1, Relaxed);
        Err(std::io::Error::other("still full").into())
    }
}

/// Panics in every call; counts them.
struct PanicSink(Arc<AtomicU64>);

impl Sink for PanicSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        self.0.fetch_add(1, Relaxed);
        panic!("sink bug (expected by the test)");
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.0.fetch_add(1, Relaxed);
        panic!("sink flush bug (expected by the test)");
    }
}

#[test]
fn failing_and_panicking_sinks_do_not_stop_the_others() {
    let first = MemorySink::new();
    let last = MemorySink::new();
    let errs = Arc::new(AtomicU64::new(0));
    let panics = Arc::new(AtomicU64::new(0));
    let tw = Telemetry::builder()
        .sink(first.clone())
        .sink(ErrSink(errs.clone()))
        .sink(PanicSink(panics.clone()))
        .sink(last.clone())
        .start()
        .unwrap();
    let c = tw.counter("c", &[]);
    for round in 0..3u64 {
        for i in 0..10 {
            c.add(round * 10 + i);
        }
        std::thread::scope(|s| {
            s.spawn(|| c.add(1000 + round));
        });
        tw.flush().expect("flush works whatever the sinks do");
    }
    let st = tw.stats();
    assert_eq!((st.accepted, st.delivered, st.dropped), (33, 33, 0));
    let calls = errs.load(Relaxed) + panics.load(Relaxed);
    assert!(errs.load(Relaxed) >= 6, "3 flushes + >= 3 writes");
    assert!(panics.load(Relaxed) >= 6);
    assert_eq!(
        st.sink_errors, calls,
        "every failed or panicked call counted"
    );
    for mem in [&first, &last] {
        let mut deltas: Vec<u64> = mem
            .records()
            .iter()
            .map(|r| match r {
                Record::Counter { delta, .. } => *delta,
                r => panic!("{r:?}"),
            })
            .collect();
        deltas.sort_unstable();
        let mut want: Vec<u64> = (0..30).chain(1000..1003).collect();
        want.sort_unstable();
        assert_eq!(deltas, want);
    }
    tw.shutdown()
        .expect("a panicking sink does not kill the collector");
}

// ---------------------------------------------------------------------------------------------
// After shutdown (the only way to keep a stopped instance to look at is the global one; this
// is the one test in this binary that installs it)

#[test]
fn calls_after_shutdown_are_dropped_not_accepted() {
    let mem = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    let tw = tickwatch::global().unwrap();
    let m = tw.metric("m", &[]);
    let l = tw.latency("l");
    m.record(1.0);
    tickwatch::log_metric("by_name", 1.0, &[]);
    tw.flush().unwrap();
    guard.shutdown().unwrap();
    assert_eq!(mem.len(), 2);
    let before = tw.stats();
    assert_eq!(
        (before.accepted, before.delivered, before.dropped),
        (2, 2, 0)
    );
    // Through surviving handles, by name, events, on this thread and on another.
    m.record(2.0);
    l.record_nanos(5);
    {
        let _t = l.start();
    }
    // The global instance is uninstalled: a free function reaches nobody (counted apart).
    let without = tickwatch::calls_without_instance();
    tickwatch::log_metric("by_name", 2.0, &[]);
    assert_eq!(tickwatch::calls_without_instance(), without + 1);
    tw.track_resource_usage("r", 1.0);
    event!(tw, Level::Error, "late", x = 1u64);
    std::thread::spawn(move || m.record(3.0)).join().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted, 2, "{st:?}");
    assert_eq!(st.dropped, 6, "{st:?}");
    assert_eq!(st.delivered, 2);
    assert_eq!(tw.flush(), Err(FlushError::Stopped));
    assert!(FlushError::Stopped.to_string().contains("stopped"));
    assert_eq!(mem.len(), 2, "nothing delivered after shutdown");
}
