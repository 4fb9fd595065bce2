//! The whole pipeline on arbitrary input: a sequence of hot-path calls with arbitrary names,
//! tags, strings and floats (NaN, infinities, control characters, huge strings), on an
//! instance with a small ring, an arbitrary backpressure policy, string limit and level filter,
//! from the fuzzing thread and from short-lived threads. Then, after `flush()`:
//!
//! * conservation: `calls == accepted + dropped` and `accepted == delivered`;
//! * the `MemorySink` got exactly `delivered` records plus `Dropped` notices adding up to
//!   `dropped`;
//! * every line the `JsonLinesSink` wrote is valid JSON and says the same thing as the
//!   matching `MemorySink` record (strings escaped losslessly, floats exact, non-finite floats
//!   as "NaN"/"inf"/"-inf").
#![no_main]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use tickwatch::sink::{JsonLinesSink, MemorySink, Record};
use tickwatch::{event, Audit, Backpressure, Event, FieldRef, Level, Telemetry, Value};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Ring of `64 << (ring % 10)` bytes: 64 B to 32 KiB.
    ring: u8,
    drop: bool,
    /// `max_string_len`, modulo 2048.
    max_str: u16,
    /// Level filter, modulo 5.
    level: u8,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Call(Call),
    Flush,
    /// Calls from a thread that exits right after (its lane is retired).
    Thread(Vec<Call>),
}

#[derive(Arbitrary, Debug)]
enum Call {
    Metric(String, Vec<(String, String)>, f64),
    LogMetric(String, Vec<(String, String)>, f64),
    Counter(String, Vec<(String, String)>, u64),
    Latency(String, u64),
    Timer(String),
    MeasureLatency(String, u64),
    Resource(String, f64),
    TrackResource(String, f64),
    Event(u8, u64, f64, String),
    DynEvent(u8, String, String, Vec<(String, Field)>),
    Audit([String; 6]),
}

#[derive(Arbitrary, Debug)]
enum Field {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

fn level(l: u8) -> Level {
    [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ][l as usize % 5]
}

fn tags(t: &[(String, String)]) -> Vec<(&str, &str)> {
    t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Makes one call; returns how many calls count (events below the level filter do not).
fn call(tw: &Telemetry, c: &Call) -> u64 {
    match c {
        Call::Metric(n, t, v) => tw.metric(n, &tags(t)).record(*v),
        Call::LogMetric(n, t, v) => tw.log_metric(n, *v, &tags(t)),
        Call::Counter(n, t, d) => tw.counter(n, &tags(t)).add(*d),
        Call::Latency(n, ns) => tw.latency(n).record_nanos(*ns),
        Call::Timer(n) => {
            let l = tw.latency(n);
            let _t = l.start();
        }
        Call::MeasureLatency(n, ns) => tw.measure_latency(n, Duration::from_nanos(*ns)),
        Call::Resource(n, u) => tw.resource(n).record(*u),
        Call::TrackResource(n, u) => tw.track_resource_usage(n, *u),
        Call::Audit([actor, action, resource, outcome, rule, detail]) => tw.audit(&Audit {
            actor,
            action,
            resource,
            outcome,
            rule,
            detail,
        }),
        Call::Event(l, a, b, s) => {
            // `event!` needs a constant level: one call site per level.
            match l % 5 {
                0 => event!(tw, Level::Trace, "fuzz", a = *a, b = *b, s = s),
                1 => event!(tw, Level::Debug, "fuzz", a = *a, b = *b, s = s),
                2 => event!(tw, Level::Info, "fuzz", a = *a, b = *b, s = s),
                3 => event!(tw, Level::Warn, "fuzz", a = *a, b = *b, s = s),
                _ => event!(tw, Level::Error, "fuzz", a = *a, b = *b, s = s),
            }
            return tw.enabled(level(*l)) as u64;
        }
        Call::DynEvent(l, target, message, fields) => {
            let fields: Vec<(&str, FieldRef<'_>)> = fields
                .iter()
                .map(|(n, f)| {
                    let v = match f {
                        Field::U64(v) => FieldRef::U64(*v),
                        Field::I64(v) => FieldRef::I64(*v),
                        Field::F64(v) => FieldRef::F64(*v),
                        Field::Bool(v) => FieldRef::Bool(*v),
                        Field::Str(s) => FieldRef::Str(s),
                    };
                    (n.as_str(), v)
                })
                .collect();
            let ev = Event {
                level: level(*l),
                target,
                message,
                fields: &fields,
            };
            tw.log_event(&ev);
            return tw.enabled(ev.level) as u64;
        }
    }
    1
}

/// A `Write` the test can read back after the sink has flushed.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn same_f64(json: &Json, v: f64) -> bool {
    if v.is_nan() {
        json == "NaN"
    } else if v.is_infinite() {
        json == if v > 0.0 { "inf" } else { "-inf" }
    } else {
        json.as_f64() == Some(v)
    }
}

fn same_tags(json: &Json, tags: &[(String, String)]) -> bool {
    let Some(obj) = json.as_object() else {
        return false;
    };
    // A JSON object keeps one value per key; tickwatch writes tags in order, duplicates and
    // all, so compare against the last value of each key.
    let mut last = std::collections::BTreeMap::new();
    for (k, v) in tags {
        last.insert(k.as_str(), v.as_str());
    }
    obj.len() == last.len()
        && last
            .iter()
            .all(|(k, v)| obj.get(*k).and_then(Json::as_str) == Some(*v))
}

fn same_value(json: &Json, v: &Value) -> bool {
    match v {
        Value::U64(x) => json.as_u64() == Some(*x),
        Value::I64(x) => json.as_i64() == Some(*x),
        Value::F64(x) => same_f64(json, *x),
        Value::Bool(x) => json.as_bool() == Some(*x),
        Value::Str(s) => json.as_str() == Some(s.as_str()),
        Value::None => json.is_null(),
    }
}

/// Checks one JSON line against the record the `MemorySink` got at the same position.
fn check_line(line: &str, rec: &Record) {
    let j: Json =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON line ({e}): {line:?}"));
    let ok = j["ts"]
        .as_str()
        .and_then(|t| t.parse::<tickwatch::Timestamp>().ok())
        == Some(rec.timestamp())
        && j["thread"].as_u64() == Some(rec.thread() as u64)
        && match rec {
            Record::Metric {
                name, tags, value, ..
            } => {
                j["kind"] == "metric"
                    && j["name"] == name.as_str()
                    && same_tags(&j["tags"], tags)
                    && same_f64(&j["value"], *value)
            }
            Record::Counter {
                name, tags, delta, ..
            } => {
                j["kind"] == "counter"
                    && j["name"] == name.as_str()
                    && same_tags(&j["tags"], tags)
                    && j["delta"].as_u64() == Some(*delta)
            }
            Record::Latency {
                operation,
                tags,
                nanos,
                ..
            } => {
                j["kind"] == "latency"
                    && j["name"] == operation.as_str()
                    && same_tags(&j["tags"], tags)
                    && j["nanos"].as_u64() == Some(*nanos)
            }
            Record::Resource {
                resource,
                tags,
                usage,
                ..
            } => {
                j["kind"] == "resource"
                    && j["name"] == resource.as_str()
                    && same_tags(&j["tags"], tags)
                    && same_f64(&j["value"], *usage)
            }
            Record::Event {
                level,
                target,
                message,
                fields,
                truncated,
                ..
            } => {
                let jf = j["fields"].as_object();
                // Dynamic events may repeat a field name; JSON keeps the last one.
                let mut last = std::collections::BTreeMap::new();
                for (n, v) in fields {
                    last.insert(n.as_str(), v);
                }
                j["kind"] == "event"
                    && j["level"] == level.as_str()
                    && j["target"] == target.as_str()
                    && j["message"] == message.as_str()
                    && (j["truncated"] == true) == *truncated
                    && jf.is_some_and(|o| {
                        o.len() == last.len()
                            && last
                                .iter()
                                .all(|(n, v)| o.get(*n).is_some_and(|jv| same_value(jv, v)))
                    })
            }
            Record::Audit {
                actor,
                action,
                resource,
                outcome,
                rule,
                detail,
                truncated,
                ..
            } => {
                j["kind"] == "audit"
                    && j["actor"] == actor.as_str()
                    && j["action"] == action.as_str()
                    && j["resource"] == resource.as_str()
                    && j["outcome"] == outcome.as_str()
                    && j["rule"] == rule.as_str()
                    && j["detail"] == detail.as_str()
                    && (j["truncated"] == true) == *truncated
            }
            Record::Dropped { count, .. } => {
                j["kind"] == "dropped" && j["count"].as_u64() == Some(*count)
            }
            // A kind this target does not know yet: make the fuzzer say so.
            _ => false,
        };
    assert!(ok, "JSON line does not match the record\n{line}\n{rec:?}");
}

fuzz_target!(|input: Input| {
    let mem = MemorySink::new();
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .ring_capacity(64 << (input.ring % 10))
        .backpressure(if input.drop {
            Backpressure::Drop
        } else {
            Backpressure::Block
        })
        .max_string_len(input.max_str as usize % 2048)
        .level(level(input.level))
        .idle_interval(Duration::from_micros(50))
        .sink(mem.clone())
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .expect("valid configuration");

    let mut calls = 0u64;
    for step in &input.steps {
        match step {
            Step::Call(c) => calls += call(&tw, c),
            Step::Flush => tw.flush().expect("flush"),
            Step::Thread(cs) => {
                calls += std::thread::scope(|s| {
                    s.spawn(|| cs.iter().map(|c| call(&tw, c)).sum::<u64>())
                        .join()
                        .expect("producer thread")
                })
            }
        }
    }
    tw.flush().expect("flush");
    let stats = tw.stats();
    assert_eq!(stats.accepted, stats.delivered, "{stats:?}");
    assert_eq!(calls, stats.accepted + stats.dropped, "{stats:?}");
    assert_eq!(stats.decode_errors, 0, "{stats:?}");
    assert_eq!(stats.sink_errors, 0, "{stats:?}");

    let recs = mem.take();
    let notices: u64 = recs
        .iter()
        .map(|r| match r {
            Record::Dropped { count, .. } => *count,
            _ => 0,
        })
        .sum();
    let data = recs
        .iter()
        .filter(|r| !matches!(r, Record::Dropped { .. }))
        .count() as u64;
    assert_eq!(data, stats.delivered, "{stats:?}");
    assert_eq!(notices, stats.dropped, "{stats:?}");

    let out = std::mem::take(&mut *buf.0.lock().unwrap());
    let text = std::str::from_utf8(&out).expect("JSON output is UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), recs.len(), "one JSON line per record");
    assert!(text.is_empty() || text.ends_with('\n'));
    for (line, rec) in lines.iter().zip(&recs) {
        check_line(line, rec);
    }
    tw.shutdown().expect("shutdown");
});
