//! Audit records: delivered intact, in order, and never dropped for lack of room, even under
//! `Backpressure::Drop` with a ring that is full most of the time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::sink::{Batch, JsonLinesSink, MemorySink, Record, RecordView, Sink, SinkError};
use tickwatch::{Audit, Backpressure, Telemetry};

/// Slows the collector down so that the ring fills.
struct Slow;

impl Sink for Slow {
    fn write(&mut self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        std::thread::sleep(Duration::from_micros(200));
        Ok(())
    }
}

#[test]
fn audit_records_wait_for_room_under_drop_policy() {
    let n: u64 = if cfg!(miri) { 50 } else { 1_000 };
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(512)
        .backpressure(Backpressure::Drop)
        .sink(Slow)
        .sink(mem.clone())
        .start()
        .unwrap();
    let m = tw.metric("filler", &[]);
    for i in 0..n {
        // Samples fill the ring and are dropped; the audit record must still get through.
        for _ in 0..8 {
            m.record(i as f64);
        }
        let resource = format!("orders/{i}");
        tw.audit(&Audit {
            actor: "alice",
            action: "cancel_order",
            resource: &resource,
            outcome: "allowed",
            rule: "trader",
            detail: "",
        });
    }
    tw.flush().unwrap();
    let st = tw.stats();
    assert!(st.dropped > 0, "the test must fill the ring: {st:?}");
    assert_eq!(st.accepted, st.delivered);
    assert_eq!(st.accepted + st.dropped, n * 9);
    let audits: Vec<String> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit { resource, .. } => Some(resource),
            _ => None,
        })
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("orders/{i}")).collect();
    assert_eq!(audits, want, "every audit record, once, in order");
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn audit_fields_round_trip_and_long_strings_are_flagged() {
    let mem = MemorySink::new();
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .max_string_len(8)
        .sink(mem.clone())
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .unwrap();
    tw.audit(&Audit {
        actor: "bob",
        action: "login",
        resource: "session",
        outcome: "denied",
        rule: "",
        detail: "wrong \"password\"",
    });
    tw.flush().unwrap();
    match &mem.records()[0] {
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
            assert_eq!(
                (
                    actor.as_str(),
                    action.as_str(),
                    resource.as_str(),
                    outcome.as_str()
                ),
                ("bob", "login", "session", "denied")
            );
            assert_eq!(rule, "");
            assert_eq!(detail, "wrong \"p", "cut to max_string_len");
            assert!(*truncated);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(tw.stats().truncated, 1);
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["kind"], "audit");
    assert_eq!(v["actor"], "bob");
    assert_eq!(v["detail"], "wrong \"p");
    assert_eq!(v["truncated"], true);
}

#[test]
fn audit_views_reach_custom_sinks() {
    struct Count(Arc<Mutex<u64>>);
    impl Sink for Count {
        fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
            for r in batch.iter() {
                if let RecordView::Audit { audit, .. } = r {
                    assert_eq!(audit.outcome, "allowed");
                    *self.0.lock().unwrap() += 1;
                }
            }
            Ok(())
        }
    }
    let seen = Arc::new(Mutex::new(0));
    let tw = Telemetry::builder()
        .sink(Count(seen.clone()))
        .start()
        .unwrap();
    for _ in 0..3 {
        tw.audit(&Audit {
            outcome: "allowed",
            ..Audit::default()
        });
    }
    tw.flush().unwrap();
    assert_eq!(*seen.lock().unwrap(), 3);
}

/// An audit record always fits: on a 4 KiB ring (2 KiB records at most) a decision on long
/// strings is cut, flagged truncated, and delivered, never refused as oversized.
#[test]
fn an_audit_record_on_long_strings_fits_a_small_ring() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .sink(mem.clone())
        .start()
        .unwrap();
    let long = "x".repeat(1000);
    let resource = format!("orders/XNAS/{}", "9".repeat(900));
    tw.audit(&Audit {
        actor: &long,
        action: "cancel_order",
        resource: &resource,
        outcome: "denied",
        rule: &long,
        detail: &long,
    });
    // A short one on the same ring is kept whole.
    tw.audit(&Audit {
        actor: "bob",
        action: "cancel_order",
        resource: "orders/XNAS/1",
        outcome: "allowed",
        rule: "trader",
        detail: "",
    });
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!((st.oversized, st.dropped), (0, 0), "{st:?}");
    assert_eq!(st.delivered, 2, "{st:?}");
    let recs = mem.records();
    match &recs[0] {
        Record::Audit {
            actor,
            action,
            outcome,
            resource: r,
            truncated,
            ..
        } => {
            assert!(*truncated);
            // Short fields survive whole; long ones are cut, from the same limit.
            assert_eq!(
                (action.as_str(), outcome.as_str()),
                ("cancel_order", "denied")
            );
            assert!(actor.len() < 1000 && !actor.is_empty(), "{}", actor.len());
            assert!(resource.starts_with(r.as_str()) && r.len() < resource.len());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&recs[1], Record::Audit { actor, truncated: false, .. } if actor == "bob"));
    tw.shutdown().unwrap();
}
