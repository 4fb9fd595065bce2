//! Round trip, property-tested: records of every kind with arbitrary strings (any Unicode,
//! quotes, control characters, long) and arbitrary values (every f64 bit pattern, NaNs with
//! payloads and infinities included) are written, sealed, reopened, read and queried, and
//! come back bit for bit.

use std::time::Duration;

use proptest::prelude::*;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::store::{LogQuery, LogReader, SegmentLog};
use tickwatch::{Audit, Event, FieldRef, Level, Telemetry, Value};

#[derive(Debug, Clone)]
enum Op {
    Metric(String, String, String, u64),
    Counter(String, u64),
    Latency(String, u64),
    Resource(String, u64),
    Dynamic(u8, String, String, Vec<(String, Val)>),
    Audit([String; 6]),
}

#[derive(Debug, Clone)]
enum Val {
    U(u64),
    I(i64),
    F(u64),
    B(bool),
    S(String),
    N,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
        Just("\"quote\\back\u{0}nul\n\t\u{1F600}é".to_string()),
        "[a-z]{300,400}",
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let val = prop_oneof![
        any::<u64>().prop_map(Val::U),
        any::<i64>().prop_map(Val::I),
        any::<u64>().prop_map(Val::F),
        any::<bool>().prop_map(Val::B),
        text().prop_map(Val::S),
        Just(Val::N),
    ];
    prop_oneof![
        (text(), text(), text(), any::<u64>()).prop_map(|(n, k, v, x)| Op::Metric(n, k, v, x)),
        (text(), any::<u64>()).prop_map(|(n, d)| Op::Counter(n, d)),
        (text(), 0..u64::MAX / 2).prop_map(|(n, d)| Op::Latency(n, d)),
        (text(), any::<u64>()).prop_map(|(n, x)| Op::Resource(n, x)),
        (
            0..5u8,
            text(),
            text(),
            proptest::collection::vec((text(), val), 0..6)
        )
            .prop_map(|(l, t, m, f)| Op::Dynamic(l, t, m, f)),
        [text(), text(), text(), text(), text(), text()].prop_map(Op::Audit),
    ]
}

fn apply(tw: &Telemetry, op: &Op) {
    match op {
        Op::Metric(n, k, v, x) => tw.log_metric(n, f64::from_bits(*x), &[(k, v)]),
        Op::Counter(n, d) => tw.counter(n, &[]).add(*d),
        Op::Latency(n, d) => tw.measure_latency(n, Duration::from_nanos(*d)),
        Op::Resource(n, x) => tw.track_resource_usage(n, f64::from_bits(*x)),
        Op::Dynamic(l, t, m, f) => {
            let level = [
                Level::Trace,
                Level::Debug,
                Level::Info,
                Level::Warn,
                Level::Error,
            ][*l as usize];
            let fields: Vec<(&str, FieldRef<'_>)> = f
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Val::U(x) => FieldRef::U64(*x),
                        Val::I(x) => FieldRef::I64(*x),
                        Val::F(x) => FieldRef::F64(f64::from_bits(*x)),
                        Val::B(x) => FieldRef::Bool(*x),
                        Val::S(s) => FieldRef::Str(s),
                        Val::N => FieldRef::None,
                    };
                    (k.as_str(), v)
                })
                .collect();
            tw.log_event(&Event {
                level,
                target: t,
                message: m,
                fields: &fields,
            });
        }
        Op::Audit(p) => tw.audit(&Audit {
            actor: &p[0],
            action: &p[1],
            resource: &p[2],
            outcome: &p[3],
            rule: &p[4],
            detail: &p[5],
        }),
    }
}

/// A record's text with every float written as its bits, so NaN payloads compare too.
fn exact(r: &Record) -> String {
    fn v(x: &Value) -> String {
        match x {
            Value::F64(f) => format!("F64({:#x})", f.to_bits()),
            other => format!("{other:?}"),
        }
    }
    match r {
        Record::Metric {
            name,
            tags,
            value,
            timestamp,
            thread,
            ..
        } => format!(
            "M {name:?} {tags:?} {:#x} {timestamp} {thread}",
            value.to_bits()
        ),
        Record::Resource {
            resource,
            tags,
            usage,
            timestamp,
            thread,
            ..
        } => format!(
            "R {resource:?} {tags:?} {:#x} {timestamp} {thread}",
            usage.to_bits()
        ),
        Record::Event {
            level,
            target,
            message,
            fields,
            location,
            truncated,
            timestamp,
            thread,
            ..
        } => {
            let f: Vec<String> = fields
                .iter()
                .map(|(k, x)| format!("{k:?}={}", v(x)))
                .collect();
            format!("E {level:?} {target:?} {message:?} {f:?} {location:?} {truncated} {timestamp} {thread}")
        }
        other => format!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_kind_round_trips_bit_for_bit(ops in proptest::collection::vec(op(), 1..60), small in any::<bool>()) {
        let dir = std::env::temp_dir().join(format!(
            "tw-roundtrip-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let mem = MemorySink::new();
        let tw = Telemetry::builder()
            .sink(mem.clone())
            .segment_log(
                SegmentLog::options(&dir)
                    .segment_bytes(if small { 4096 } else { 1 << 20 })
                    .open()
                    .unwrap(),
            )
            .resource_sampling(None)
            .max_string_len(512)
            .start()
            .unwrap();
        for (i, op) in ops.iter().enumerate() {
            apply(&tw, op);
            if small && i % 7 == 6 {
                tw.flush().unwrap();
            }
        }
        drop(tw); // sealed
        let want: Vec<String> = mem.records().iter().map(exact).collect();
        let reader = LogReader::open(&dir).unwrap();
        let mut got = Vec::new();
        reader.for_each(|r, _| got.push(exact(r))).unwrap();
        prop_assert_eq!(&got, &want);
        // The same through a query, and after reopening the log for writing (no recovery).
        let log = SegmentLog::options(&dir).open().unwrap();
        prop_assert_eq!(log.recovery().bytes_cut, 0);
        drop(log);
        let mut all = LogQuery::new();
        all.limit = usize::MAX;
        let res = reader.query(&all).unwrap();
        let mut by_time: Vec<(u64, usize, String)> = mem
            .records()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.timestamp().unix_nanos(), i, exact(r)))
            .collect();
        by_time.sort();
        let queried: Vec<String> = res.records.iter().map(exact).collect();
        let model: Vec<String> = by_time.into_iter().map(|t| t.2).collect();
        prop_assert_eq!(queried, model);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
