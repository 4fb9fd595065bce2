//! Queries against a naive model: generated records written through an instance (across
//! small segments, with the newest part still in the writer's memory), generated queries run
//! by `query_logs`, and the same queries answered by filtering a `Vec` of the records a
//! `MemorySink` received. 64 datasets x 160 queries = 10,240 cases, every one paged through
//! with cursors in both orders.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tickwatch::sink::{MemorySink, Record, RecordKind};
use tickwatch::store::{CmpOp, Durability, Filter, LogQuery, Order, SegmentLog};
use tickwatch::{event, Audit, Event, FieldRef, Level, Telemetry, Timestamp, Value};

#[derive(Debug, Clone)]
enum Op {
    Metric(usize, f64, usize),
    Counter(u64),
    Latency(u64),
    Static(usize, u64, f64, bool),
    Dynamic(Level, usize, usize, Option<u64>, Option<i64>, usize),
    Audit(usize),
    Flush,
}

const VENUES: [&str; 3] = ["XNAS", "XLON", "42"];
const TARGETS: [&str; 3] = ["risk::limits", "gateway", "risk"];
const MESSAGES: [&str; 3] = ["order rejected", "fill {x}", "heartbeat"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0..2usize,
            prop_oneof![Just(0.5), Just(-3.0), Just(42.0), Just(1.0)],
            0..3usize
        )
            .prop_map(|(n, v, t)| Op::Metric(n, v, t)),
        (0..50u64).prop_map(Op::Counter),
        (0..2000u64).prop_map(Op::Latency),
        (
            0..3usize,
            0..50u64,
            prop_oneof![Just(0.5), Just(1.5), Just(-2.0)],
            any::<bool>()
        )
            .prop_map(|(c, id, px, ok)| Op::Static(c, id, px, ok)),
        (
            prop_oneof![
                Just(Level::Trace),
                Just(Level::Debug),
                Just(Level::Info),
                Just(Level::Warn),
                Just(Level::Error)
            ],
            0..3usize,
            0..3usize,
            proptest::option::of(prop_oneof![Just(42u64), Just(1), Just(7)]),
            proptest::option::of(prop_oneof![Just(-3i64), Just(42), Just(0)]),
            0..3usize
        )
            .prop_map(|(l, t, m, id, neg, v)| Op::Dynamic(l, t, m, id, neg, v)),
        (0..3usize).prop_map(Op::Audit),
        Just(Op::Flush),
    ]
}

fn apply(tw: &Telemetry, op: &Op) {
    match *op {
        Op::Metric(n, v, t) => tw.log_metric(["px", "qty"][n], v, &[("venue", VENUES[t])]),
        Op::Counter(d) => tw.counter("fills", &[]).add(d),
        Op::Latency(n) => tw.measure_latency("rtt", Duration::from_nanos(n)),
        Op::Static(c, id, px, ok) => match c {
            0 => event!(
                tw,
                Level::Warn,
                "order {} rejected",
                id,
                order_id = id,
                px = px
            ),
            1 => event!(
                tw,
                Level::Info,
                "fill",
                order_id = id,
                ok = ok,
                venue = "XNAS"
            ),
            _ => event!(
                tw,
                Level::Error,
                "risk breach",
                px = px,
                missing = None::<u64>
            ),
        },
        Op::Dynamic(level, t, m, id, neg, v) => {
            let mut fields: Vec<(&str, FieldRef<'_>)> = Vec::new();
            if let Some(id) = id {
                fields.push(("order_id", FieldRef::U64(id)));
            }
            if let Some(n) = neg {
                fields.push(("neg", FieldRef::I64(n)));
            }
            fields.push(("venue", FieldRef::Str(VENUES[v])));
            tw.log_event(&Event {
                level,
                target: TARGETS[t],
                message: MESSAGES[m],
                fields: &fields,
            });
        }
        Op::Audit(a) => tw.audit(&Audit {
            actor: ["alice", "bob", "42"][a],
            action: "cancel",
            resource: "order",
            outcome: "allowed",
            rule: "",
            detail: "",
        }),
        Op::Flush => tw.flush().unwrap(),
    }
}

// ---- the model ----

fn kind(r: &Record) -> Option<RecordKind> {
    Some(match r {
        Record::Metric { .. } => RecordKind::Metric,
        Record::Counter { .. } => RecordKind::Counter,
        Record::Latency { .. } => RecordKind::Latency,
        Record::Resource { .. } => RecordKind::Resource,
        Record::Event { .. } => RecordKind::Event,
        Record::Audit { .. } => RecordKind::Audit,
        _ => return None,
    })
}

fn field(r: &Record, name: &str) -> Option<Value> {
    let tag = |tags: &[(String, String)]| {
        tags.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Value::Str(v.clone()))
    };
    match r {
        Record::Event { fields, .. } => fields.iter().find(|(n, _)| n == name).map(|f| f.1.clone()),
        Record::Audit {
            actor,
            action,
            resource,
            outcome,
            rule,
            detail,
            ..
        } => {
            let parts = [actor, action, resource, outcome, rule, detail];
            ["actor", "action", "resource", "outcome", "rule", "detail"]
                .iter()
                .position(|n| *n == name)
                .map(|i| Value::Str(parts[i].clone()))
        }
        Record::Metric { value, tags, .. }
        | Record::Resource {
            usage: value, tags, ..
        } => {
            if name == "value" {
                Some(Value::F64(*value))
            } else {
                tag(tags)
            }
        }
        Record::Counter { delta, tags, .. }
        | Record::Latency {
            nanos: delta, tags, ..
        } => {
            if name == "value" {
                Some(Value::U64(*delta))
            } else {
                tag(tags)
            }
        }
        Record::Dropped { count, .. } => (name == "count").then_some(Value::U64(*count)),
        _ => None,
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::U64(x) => Some(*x as f64),
        Value::I64(x) => Some(*x as f64),
        Value::F64(x) => Some(*x),
        _ => None,
    }
}

fn equals(v: &Value, want: &str) -> bool {
    match v {
        Value::Str(s) => s == want,
        Value::Bool(b) => want == b.to_string(),
        Value::None => want == "null",
        Value::U64(x) => match want.parse::<i128>() {
            Ok(w) => i128::from(*x) == w,
            Err(_) => want.parse::<f64>().is_ok_and(|w| *x as f64 == w),
        },
        Value::I64(x) => match want.parse::<i128>() {
            Ok(w) => i128::from(*x) == w,
            Err(_) => want.parse::<f64>().is_ok_and(|w| *x as f64 == w),
        },
        Value::F64(x) => want.parse::<f64>().is_ok_and(|w| *x == w),
    }
}

fn model_filter(f: &Filter, r: &Record) -> bool {
    match f {
        Filter::Eq(n, w) => field(r, n).is_some_and(|v| equals(&v, w)),
        Filter::Ne(n, w) => field(r, n).is_some_and(|v| !equals(&v, w)),
        Filter::Cmp(n, op, x) => field(r, n)
            .as_ref()
            .and_then(num)
            .is_some_and(|v| match op {
                CmpOp::Lt => v < *x,
                CmpOp::Le => v <= *x,
                CmpOp::Gt => v > *x,
                CmpOp::Ge => v >= *x,
            }),
        Filter::Has(n) => field(r, n).is_some(),
        Filter::And(all) => all.iter().all(|c| model_filter(c, r)),
        Filter::Or(any) => any.iter().any(|c| model_filter(c, r)),
        Filter::Not(c) => !model_filter(c, r),
    }
}

fn model_matches(q: &LogQuery, r: &Record) -> bool {
    let ts = r.timestamp();
    if q.since.is_some_and(|s| ts < s) || q.until.is_some_and(|u| ts >= u) {
        return false;
    }
    let k = kind(r);
    if !q.kinds.is_empty() && !k.is_some_and(|k| q.kinds.contains(&k)) {
        return false;
    }
    let event_only =
        q.min_level.is_some() || q.max_level.is_some() || q.target.is_some() || q.message.is_some();
    let is_sample = matches!(
        k,
        Some(RecordKind::Metric | RecordKind::Counter | RecordKind::Latency | RecordKind::Resource)
    );
    if event_only {
        let Record::Event {
            level,
            target,
            message,
            ..
        } = r
        else {
            return false;
        };
        if q.min_level.is_some_and(|m| *level < m) || q.max_level.is_some_and(|m| *level > m) {
            return false;
        }
        if q.target
            .as_ref()
            .is_some_and(|t| !target.contains(t.as_str()))
        {
            return false;
        }
        if q.message
            .as_ref()
            .is_some_and(|m| !message.contains(m.as_str()))
        {
            return false;
        }
    }
    if let Some(s) = &q.series {
        let name = match r {
            Record::Metric { name, .. } | Record::Counter { name, .. } => name,
            Record::Latency { operation, .. } => operation,
            Record::Resource { resource, .. } => resource,
            _ => return false,
        };
        if !is_sample || name != s {
            return false;
        }
    }
    q.filter.as_ref().is_none_or(|f| model_filter(f, r))
}

fn model(q: &LogQuery, records: &[Record]) -> Vec<Record> {
    let mut m: Vec<(Timestamp, usize)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| model_matches(q, r))
        .map(|(i, r)| (r.timestamp(), i))
        .collect();
    m.sort();
    if q.order == Order::NewestFirst {
        m.reverse();
    }
    m.into_iter().map(|(_, i)| records[i].clone()).collect()
}

// ---- generated queries ----

fn filter() -> impl Strategy<Value = Filter> {
    let names = prop_oneof![
        Just("order_id"),
        Just("px"),
        Just("venue"),
        Just("ok"),
        Just("neg"),
        Just("missing"),
        Just("value"),
        Just("actor"),
        Just("nope")
    ];
    let values = prop_oneof![
        Just("42"),
        Just("1"),
        Just("-3"),
        Just("XNAS"),
        Just("true"),
        Just("null"),
        Just("0.5"),
        Just("alice"),
        Just("XN"),
        Just("4")
    ];
    let leaf = prop_oneof![
        (names.clone(), values.clone()).prop_map(|(n, v)| Filter::Eq(n.into(), v.into())),
        (names.clone(), values).prop_map(|(n, v)| Filter::Ne(n.into(), v.into())),
        (
            names.clone(),
            prop_oneof![
                Just(CmpOp::Lt),
                Just(CmpOp::Le),
                Just(CmpOp::Gt),
                Just(CmpOp::Ge)
            ],
            prop_oneof![Just(0.5), Just(1.0), Just(42.0), Just(-3.0), Just(1000.0)]
        )
            .prop_map(|(n, op, x)| Filter::Cmp(n.into(), op, x)),
        names.prop_map(|n| Filter::Has(n.into())),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn query(first: u64, last: u64) -> impl Strategy<Value = LogQuery> {
    let level = proptest::option::of(prop_oneof![
        Just(Level::Debug),
        Just(Level::Info),
        Just(Level::Warn),
        Just(Level::Error)
    ]);
    let at = move |f: u64| {
        Timestamp::from_unix_nanos(first + ((last - first) as u128 * f as u128 / 1000) as u64)
    };
    (
        (
            proptest::option::of(0..=1000u64),
            proptest::option::of(0..=1000u64),
        ),
        (level.clone(), level),
        proptest::option::of(prop_oneof![Just("risk"), Just("gateway"), Just("xyz")]),
        proptest::option::of(prop_oneof![
            Just("order"),
            Just("rejected"),
            Just("{"),
            Just("zz")
        ]),
        proptest::option::of(filter()),
        proptest::collection::vec(
            prop_oneof![
                Just(RecordKind::Metric),
                Just(RecordKind::Counter),
                Just(RecordKind::Latency),
                Just(RecordKind::Event),
                Just(RecordKind::Audit)
            ],
            0..3,
        ),
        proptest::option::of(prop_oneof![
            Just("px"),
            Just("rtt"),
            Just("fills"),
            Just("nope")
        ]),
        (any::<bool>(), 1..40usize),
    )
        .prop_map(
            move |((s, u), (lo, hi), target, message, filter, kinds, series, (newest, limit))| {
                let mut q = LogQuery::new().kinds(kinds).limit(limit);
                q.since = s.map(at);
                q.until = u.map(at);
                q.min_level = lo;
                q.max_level = hi;
                q.target = target.map(String::from);
                q.message = message.map(String::from);
                q.filter = filter;
                q.series = series.map(String::from);
                if newest {
                    q.order = Order::NewestFirst;
                }
                q
            },
        )
}

/// Runs `q` page by page; returns the pages' records in order.
fn paged(tw: &Telemetry, q: &LogQuery, want: &[Record]) -> Result<(), TestCaseError> {
    let mut q = q.clone();
    let mut got: Vec<Record> = Vec::new();
    for _ in 0..=want.len() + 1 {
        let res = tw.query_logs(&q).unwrap();
        let remaining = want.len() - got.len();
        prop_assert_eq!(res.matched as usize, remaining, "matched after the cursor");
        prop_assert_eq!(res.limited, remaining > q.limit);
        prop_assert_eq!(res.records.len(), remaining.min(q.limit));
        got.extend(res.records);
        match res.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]

    #[test]
    fn query_logs_agrees_with_a_naive_model(ops in proptest::collection::vec(op(), 10..150)) {
        let dir = std::env::temp_dir().join(format!(
            "tw-model-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let mem = MemorySink::new();
        let log = SegmentLog::options(&dir)
            .segment_bytes(4096)
            .durability(Durability::Buffered)
            .open()
            .unwrap();
        let tw = Telemetry::builder()
            .sink(mem.clone())
            .segment_log(log)
            .resource_sampling(None)
            .flush_interval(Duration::from_secs(3600))
            .start()
            .unwrap();
        for op in &ops {
            apply(&tw, op);
        }
        // Delivered, but (buffered, no flush since the last `Op::Flush`) partly only in the
        // writer's memory: the live window.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tw.stats().delivered < tw.stats().accepted && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let records = mem.records();
        prop_assert_eq!(records.len() as u64, tw.stats().delivered);
        let first = records.iter().map(|r| r.timestamp().unix_nanos()).min().unwrap_or(0);
        let last = records.iter().map(|r| r.timestamp().unix_nanos()).max().unwrap_or(0).max(first + 1);
        let mut runner = TestRunner::new(Config { cases: 160, failure_persistence: None, ..Config::default() });
        let result = runner.run(&query(first, last), |q| {
            let want = model(&q, &records);
            paged(&tw, &q, &want)
        });
        drop(tw);
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = result {
            prop_assert!(false, "{}", e);
        }
    }
}
