//! The self-healing collector (issue 11, point 3): a panic in the collector loop outside a
//! sink (injected with the `inject_collector_panic` test hook, after a batch is read and
//! before the sinks get it) restarts the loop at once with every ring intact: nothing
//! accepted is lost, per-thread order holds, and the restart is counted in `Stats`,
//! raised as an alert and visible in health.

#[path = "common/poll.rs"]
mod poll;

#[path = "common/producers.rs"]
mod producers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwatch::alerts::{Severity, COLLECTOR_RESTARTED};
use tickwatch::health::{component, Status};
use tickwatch::sink::{Batch, RecordView, Sink, SinkError};
use tickwatch::{Backpressure, Telemetry};

const DEADLINE: Duration = Duration::from_secs(30);

/// Per series id, the next value expected; anything else is a violation.
#[derive(Default)]
struct Seen {
    next: HashMap<u32, u64>,
    records: u64,
    violations: Vec<String>,
}

struct SeqSink(Arc<Mutex<Seen>>);

impl Sink for SeqSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut seen = self.0.lock().unwrap();
        for r in batch.iter() {
            if let RecordView::Metric { series, value, .. } = r {
                if !series.name().starts_with("seq") {
                    continue;
                }
                seen.records += 1;
                let next = seen.next.entry(series.id()).or_insert(0);
                let v = value as u64;
                if v != *next {
                    let msg = format!("series {}: got {v}, expected {next}", series.name());
                    *next = v + 1;
                    if seen.violations.len() < 10 {
                        seen.violations.push(msg);
                    }
                } else {
                    *next += 1;
                }
            }
        }
        Ok(())
    }
}

fn start(seen: &Arc<Mutex<Seen>>) -> Telemetry {
    Telemetry::builder()
        .ring_capacity(4 * 1024)
        .backpressure(Backpressure::Block)
        .sink(SeqSink(seen.clone()))
        .start()
        .unwrap()
}

#[test]
fn panics_restart_the_collector_and_lose_nothing() {
    const THREADS: usize = 4;
    const PER_THREAD: u64 = if cfg!(miri) { 200 } else { 50_000 };
    const PANICS: u64 = 5;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let tw = Arc::new(start(&seen));
    let producers = producers::start(&tw, THREADS, PER_THREAD);
    // Panics while the producers run: each one waits for the previous restart.
    for k in 1..=PANICS {
        tw.inject_collector_panic(1);
        poll::poll_every(DEADLINE, Duration::from_micros(200), || {
            (tw.stats().collector_restarts >= k).then_some(())
        })
        .unwrap_or_else(|| panic!("restart {k} never came"));
    }
    for p in producers {
        p.join().unwrap();
    }
    tw.flush().unwrap();

    let stats = tw.stats();
    assert_eq!(stats.collector_restarts, PANICS);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.decode_errors, 0);
    assert_eq!(stats.accepted, stats.delivered, "{stats:?}");
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.records, THREADS as u64 * PER_THREAD);
    assert!(seen.next.values().all(|&n| n == PER_THREAD));

    let c = tw
        .get_system_health()
        .component(component::COLLECTOR)
        .cloned()
        .unwrap();
    assert_eq!(c.status, Status::Degraded, "{c:?}");
    assert!(c.message.contains("restart"), "{}", c.message);
    let alert = tw
        .active_alerts()
        .into_iter()
        .find(|a| a.name == COLLECTOR_RESTARTED)
        .expect("a restart alert");
    assert_eq!(alert.severity, Severity::Critical);
    assert!(
        alert.message.contains("inject_collector_panic"),
        "{}",
        alert.message
    );
}

#[test]
fn a_restart_takes_well_under_100_ms() {
    // From the panic to the batch it interrupted reaching the sink: the median of 20.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let tw = start(&seen);
    let m = tw.metric("seq", &[]);
    let mut took = Vec::new();
    for i in 0..20u64 {
        tw.inject_collector_panic(1);
        let t0 = Instant::now();
        m.record(i as f64);
        tw.flush().unwrap();
        took.push(t0.elapsed());
        assert_eq!(tw.stats().collector_restarts, i + 1);
    }
    took.sort();
    let median = took[took.len() / 2];
    assert!(median < Duration::from_millis(100), "{took:?}");
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.records, 20);
}

#[test]
fn a_batch_that_panics_three_times_in_a_row_is_discarded_and_counted() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let tw = start(&seen);
    let m = tw.metric("seq", &[]);
    m.record(0.0);
    tw.flush().unwrap();
    // The next record's batch panics the collector three times: it is thrown away (a
    // poisonous record must not stall every other) and counted; the following one arrives.
    tw.inject_collector_panic(3);
    m.record(1.0);
    tw.flush().unwrap();
    m.record(2.0);
    tw.flush().unwrap();
    let stats = tw.stats();
    assert_eq!(stats.collector_restarts, 3);
    assert_eq!(stats.decode_errors, 1, "{stats:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.records, 2);
    assert_eq!(
        seen.violations,
        ["series seq: got 2, expected 1"],
        "exactly the poisoned record is missing"
    );
}
