//! `tracing` events through `Telemetry::tracing_layer`: the records they become, their
//! values, filtering, spans, conservation under threads, and the segment log's queries.
#![cfg(feature = "tracing")]

use std::fmt;

use proptest::prelude::*;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::store::{LogQuery, SegmentLog};
use tickwatch::{Backpressure, Level, Telemetry, Value};
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/temp.rs"]
mod temp;

fn instance(mem: &MemorySink) -> Telemetry {
    Telemetry::builder().sink(mem.clone()).start().unwrap()
}

/// Runs `f` with `layer` as the thread's subscriber.
fn with_layer<T>(layer: tickwatch::adapters::TracingLayer, f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f)
}

struct Ev {
    level: Level,
    target: String,
    message: String,
    fields: Vec<(String, Value)>,
    location: Option<(String, u32)>,
    truncated: bool,
}

fn events(mem: &MemorySink) -> Vec<Ev> {
    mem.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event {
                level,
                target,
                message,
                fields,
                location,
                truncated,
                ..
            } => Some(Ev {
                level,
                target,
                message,
                fields,
                location,
                truncated,
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn an_info_event_is_the_record_event_makes_at_the_same_call_site_data() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    let venue = String::from("XNAS");
    let mut line_a = 0;
    with_layer(tw.tracing_layer(), || {
        line_a = line!() + 1;
        tracing::info!(
            order_id = 42u64,
            px = 101.25,
            venue = venue.as_str(),
            "order {} filled",
            42
        );
    });
    let line_b = line!() + 1;
    tickwatch::info!(
        tw,
        "order {} filled",
        42u64,
        order_id = 42u64,
        px = 101.25,
        venue = &venue
    );
    tw.flush().unwrap();
    let ev = events(&mem);
    assert_eq!(ev.len(), 2);
    let (a, b) = (&ev[0], &ev[1]);
    assert_eq!(a.level, b.level);
    assert_eq!(a.target, b.target);
    assert_eq!(a.message, "order 42 filled");
    assert_eq!(a.message, b.message);
    assert_eq!(a.fields, b.fields);
    assert_eq!(
        a.fields,
        vec![
            ("order_id".to_string(), Value::U64(42)),
            ("px".to_string(), Value::F64(101.25)),
            ("venue".to_string(), Value::Str("XNAS".into())),
        ]
    );
    // Both carry their source location (different lines of this file).
    let (fa, la) = a.location.clone().unwrap();
    let (fb, lb) = b.location.clone().unwrap();
    assert_eq!(fa, fb);
    assert!(fa.ends_with("tracing_layer.rs"), "{fa}");
    assert_eq!((la, lb), (line_a, line_b));
    assert!(!a.truncated);
}

#[test]
fn levels_map_by_severity_and_an_event_without_a_message_has_an_empty_one() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    with_layer(tw.tracing_layer(), || {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
        tracing::info!(target: "gateway::fix", seq = 7u64);
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    let got: Vec<(Level, &str)> = ev.iter().map(|e| (e.level, e.message.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Level::Error, "e"),
            (Level::Warn, "w"),
            (Level::Info, "i"),
            (Level::Debug, "d"),
            (Level::Trace, "t"),
            (Level::Info, ""),
        ]
    );
    assert_eq!(ev[5].target, "gateway::fix");
    assert_eq!(ev[5].fields, vec![("seq".to_string(), Value::U64(7))]);
}

#[derive(Debug)]
struct Order {
    id: u64,
    side: &'static str,
}

struct Venue(&'static str);
impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "venue:{}", self.0)
    }
}

#[derive(Debug)]
struct Rejected;
impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("risk limit exceeded")
    }
}
impl std::error::Error for Rejected {}

#[test]
fn debug_display_error_128_bit_and_missing_values_arrive_as_text_or_null() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    let order = Order { id: 7, side: "buy" };
    assert_eq!((order.id, order.side), (7, "buy"));
    let err = Rejected;
    with_layer(tw.tracing_layer(), || {
        tracing::warn!(
            ?order,
            venue = %Venue("XNAS"),
            error = &err as &(dyn std::error::Error + 'static),
            small = 5i128,
            big = u128::MAX,
            neg = i128::MIN,
            empty = tracing::field::Empty,
            "rejected"
        );
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    assert_eq!(
        ev[0].fields,
        vec![
            ("order".to_string(), Value::Str(format!("{order:?}"))),
            ("venue".to_string(), Value::Str("venue:XNAS".into())),
            (
                "error".to_string(),
                Value::Str("risk limit exceeded".into())
            ),
            ("small".to_string(), Value::I64(5)),
            ("big".to_string(), Value::Str(u128::MAX.to_string())),
            ("neg".to_string(), Value::Str(i128::MIN.to_string())),
            ("empty".to_string(), Value::None),
        ]
    );
}

#[test]
fn a_message_given_after_the_fields_still_leads_and_every_value_keeps_its_place() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    with_layer(tw.tracing_layer(), || {
        // `message` declared last: visited after the fields, recorded first.
        tracing::info!(a = 1u64, b = "two", message = "explicit", c = 3.5);
        tracing::info!(a = 1u64, b = tracing::field::Empty, message = "gap");
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    assert_eq!(ev[0].message, "explicit");
    assert_eq!(
        ev[0].fields,
        vec![
            ("a".to_string(), Value::U64(1)),
            ("b".to_string(), Value::Str("two".into())),
            ("c".to_string(), Value::F64(3.5)),
        ]
    );
    assert_eq!(ev[1].message, "gap");
    assert_eq!(
        ev[1].fields,
        vec![
            ("a".to_string(), Value::U64(1)),
            ("b".to_string(), Value::None)
        ]
    );
}

/// A `Debug` that writes `n` bytes.
struct Long(usize);
impl fmt::Debug for Long {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.0 / 8 {
            f.write_str("abcdefgh")?;
        }
        Ok(())
    }
}

#[test]
fn long_strings_and_renderings_are_cut_at_the_instance_limit_and_counted() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .max_string_len(64)
        .sink(mem.clone())
        .start()
        .unwrap();
    let long = "é".repeat(100); // 200 bytes, 2-byte characters
    with_layer(tw.tracing_layer(), || {
        tracing::info!(text = long.as_str(), dbg = ?Long(1 << 20), "cut");
        tracing::info!(text = "short", "whole");
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    assert!(ev[0].truncated);
    assert!(!ev[1].truncated);
    let Value::Str(text) = &ev[0].fields[0].1 else {
        panic!()
    };
    assert_eq!(text.as_str(), &long[..64]);
    let Value::Str(dbg) = &ev[0].fields[1].1 else {
        panic!()
    };
    assert_eq!(dbg.as_str(), &"abcdefgh".repeat(8)[..]);
    assert_eq!(tw.stats().truncated, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 64 }))]

    /// Every value tracing hands over arrives exactly (strings of any Unicode, NaN and
    /// infinities bit for bit).
    #[test]
    fn every_field_type_arrives_with_its_exact_value(
        u in any::<u64>(),
        i in any::<i64>(),
        f in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)],
        b in any::<bool>(),
        s in ".{0,200}",
        wide in any::<i128>(),
        msg in "[^{}]{0,40}",
    ) {
        let mem = MemorySink::new();
        let tw = instance(&mem);
        with_layer(tw.tracing_layer(), || {
            tracing::info!(u, i, f, b, s = s.as_str(), wide, "{}", msg);
        });
        tw.flush().unwrap();
        let ev = events(&mem);
        prop_assert_eq!(ev.len(), 1);
        let e = &ev[0];
        prop_assert_eq!(&e.message, &msg);
        let wide_value = match i64::try_from(wide) {
            Ok(v) => Value::I64(v),
            Err(_) => Value::Str(wide.to_string()),
        };
        prop_assert_eq!(&e.fields[0], &("u".to_string(), Value::U64(u)));
        prop_assert_eq!(&e.fields[1], &("i".to_string(), Value::I64(i)));
        match &e.fields[2].1 {
            Value::F64(got) => prop_assert_eq!(got.to_bits(), f.to_bits()),
            other => prop_assert!(false, "f64 arrived as {:?}", other),
        }
        prop_assert_eq!(&e.fields[3], &("b".to_string(), Value::Bool(b)));
        prop_assert_eq!(&e.fields[4], &("s".to_string(), Value::Str(s.clone())));
        prop_assert_eq!(&e.fields[5], &("wide".to_string(), wide_value));
        prop_assert!(!e.truncated);
    }
}

#[test]
fn the_instance_level_applies_to_the_layer_too() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .level(Level::Warn)
        .sink(mem.clone())
        .start()
        .unwrap();
    with_layer(tw.tracing_layer(), || {
        tracing::info!("dropped by the instance's level");
        tracing::warn!("kept");
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].message, "kept");
}

#[test]
fn opted_in_spans_record_their_duration_as_a_latency_under_their_name() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    let layer = tw.tracing_layer().span_latency("order_roundtrip");
    let probe = layer.clone();
    with_layer(layer, || {
        for _ in 0..10 {
            let span = tracing::info_span!("order_roundtrip", order_id = 1u64);
            let _e = span.enter();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let other = tracing::info_span!("not_timed");
        drop(other);
    });
    tw.flush().unwrap();
    assert_eq!(probe.stats().spans_timed, 10);
    let lat: Vec<u64> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Latency {
                operation, nanos, ..
            } if operation == "order_roundtrip" => Some(nanos),
            _ => None,
        })
        .collect();
    assert_eq!(lat.len(), 10);
    assert!(lat.iter().all(|&n| n >= 1_000_000), "{lat:?}");
    let snap = tw.snapshot();
    assert!(snap.series.iter().any(|s| s.name == "order_roundtrip"));
    assert!(!snap.series.iter().any(|s| s.name == "not_timed"));
}

#[test]
fn conservation_holds_through_the_layer_with_four_threads_and_a_ring_that_fills() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .backpressure(Backpressure::Drop)
        .sink(mem.clone())
        .start()
        .unwrap();
    let per_thread: u64 = if cfg!(miri) { 50 } else { 20_000 };
    let layer = tw.tracing_layer();
    let subscriber = tracing_subscriber::registry().with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let before = tw.stats();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let dispatch = dispatch.clone();
            s.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..per_thread {
                        tracing::info!(t, i, venue = "XNAS", "tick");
                    }
                })
            });
        }
    });
    tw.flush().unwrap();
    let st = tw.stats();
    // calls == accepted + dropped: every one of the 4 x per_thread calls is one or the other.
    let calls = 4 * per_thread;
    assert_eq!(
        st.accepted + st.dropped - before.accepted - before.dropped,
        calls,
        "{st:?}"
    );
    assert!(st.dropped > 0, "the 4 KiB rings never filled: {st:?}");
    assert_eq!(st.accepted, st.delivered, "{st:?}");
    let delivered = events(&mem).len() as u64;
    assert_eq!(delivered, st.accepted - before.accepted);
}

#[test]
fn tracing_events_are_in_the_segment_log_and_query_logs_finds_them() {
    let dir = temp::temp_dir("tracing-query");
    let tw = Telemetry::builder()
        .segment_log(SegmentLog::options(&dir).open().unwrap())
        .start()
        .unwrap();
    with_layer(tw.tracing_layer(), || {
        for id in 0..50u64 {
            tracing::info!(target: "engine::risk", order_id = id, "order {} checked", id);
        }
        tracing::warn!(target: "engine::risk", order_id = 42u64, reason = "limit", "order {} rejected", 42);
    });
    tw.flush().unwrap();
    let q: LogQuery = r#"level>=warn order_id=42 "rejected""#.parse().unwrap();
    let found = tw.query_logs(&q).unwrap();
    assert_eq!(found.records.len(), 1);
    let all = tw
        .query_logs(&LogQuery::default().target("engine::risk"))
        .unwrap();
    assert_eq!(all.records.len(), 51);
    let text = format!("{:?}", found.records[0]);
    assert!(text.contains("order 42 rejected"), "{text}");
    drop(tw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn span_fields_are_attached_to_events_only_when_asked() {
    for on in [true, false] {
        let mem = MemorySink::new();
        let tw = instance(&mem);
        with_layer(tw.tracing_layer().span_fields(on), || {
            let order =
                tracing::info_span!("order", order_id = 42u64, venue = tracing::field::Empty);
            let _o = order.enter();
            order.record("venue", "ARCX");
            let check = tracing::info_span!("check", rule = "limit");
            let _c = check.enter();
            tracing::warn!(qty = 5u64, "order {} rejected", 42);
        });
        tw.flush().unwrap();
        let ev = events(&mem);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].message, "order 42 rejected");
        assert_eq!(ev[0].level, Level::Warn);
        let mut want = vec![("qty".to_string(), Value::U64(5))];
        if on {
            want.extend([
                ("order_id".to_string(), Value::U64(42)),
                ("venue".to_string(), Value::Str("ARCX".into())),
                ("rule".to_string(), Value::Str("limit".into())),
            ]);
        }
        assert_eq!(ev[0].fields, want, "span_fields({on})");
    }
}

/// Two instances in one subscriber, each with its own level: as for any plain layer, the
/// per-layer level goes through `with_filter` (a layer's own `.level` would be global).
#[test]
fn two_instances_each_get_their_events_and_a_closed_one_counts_them_as_dropped() {
    use tracing_subscriber::Layer as _;
    let (a_mem, b_mem) = (MemorySink::new(), MemorySink::new());
    let (a, b) = (instance(&a_mem), instance(&b_mem));
    let subscriber = tracing_subscriber::registry().with(a.tracing_layer()).with(
        b.tracing_layer()
            .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(n = 1u64, "to a only");
        tracing::warn!(n = 2u64, "to both");
        a.close().unwrap();
        tracing::warn!(n = 3u64, "after a closed");
    });
    b.flush().unwrap();
    assert_eq!(events(&a_mem).len(), 2);
    let to_b: Vec<String> = events(&b_mem).into_iter().map(|e| e.message).collect();
    assert_eq!(to_b, ["to both", "after a closed"]);
    let st = a.stats();
    assert_eq!((st.accepted, st.dropped), (2, 1), "{st:?}");
}

#[test]
fn the_layer_works_behind_a_per_layer_filter_beside_another_layer() {
    use tracing_subscriber::Layer as _;
    let mem = MemorySink::new();
    let tw = instance(&mem);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let subscriber = tracing_subscriber::registry()
        .with(
            tw.tracing_layer()
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        )
        .with(Count(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("only the other layer");
        tracing::warn!("both");
    });
    tw.flush().unwrap();
    let ev = events(&mem);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].message, "both");
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2);
}
