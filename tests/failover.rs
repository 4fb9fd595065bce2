//! Sink failover (issue 11, point 2): a primary that goes down sends traffic to the
//! secondary, traffic returns once it is back, no record is lost or sent to both, and every
//! switch shows on the failover's health component and as the `tickwatch_sink_condition`
//! alert (firing while on the secondary, resolved on the way back).

#[path = "common/poll.rs"]
mod poll;

#[path = "common/producers.rs"]
mod producers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::alerts::{Severity, SINK_CONDITION};
use tickwatch::health::Status;
use tickwatch::sink::{Batch, Failover, Record, RecordView, Replay, Sink, SinkError};
use tickwatch::Timestamp;
use tickwatch::{Backpressure, Telemetry};

const DEADLINE: Duration = Duration::from_secs(30);
const COMPONENT: &str = "tickwatch.sink.failover";

/// Per series name, the values received in order.
type Received = Arc<Mutex<HashMap<String, Vec<u64>>>>;

/// Records what it takes; refuses whole batches (taking nothing) while `down` is set.
struct Recorder {
    name: &'static str,
    down: Arc<AtomicBool>,
    got: Received,
}

impl Sink for Recorder {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if self.down.load(Relaxed) {
            return Err(SinkError::new(format!("{} is down", self.name)));
        }
        let mut got = self.got.lock().unwrap();
        for r in batch.iter() {
            if let RecordView::Metric { series, value, .. } = r {
                got.entry(series.name().to_owned())
                    .or_default()
                    .push(value as u64);
            }
        }
        Ok(())
    }
    fn name(&self) -> &str {
        self.name
    }
    fn write_records(&mut self, records: &[Record], _: Replay) -> Result<(), SinkError> {
        if self.down.load(Relaxed) {
            return Err(SinkError::new(format!("{} is down", self.name)));
        }
        let mut got = self.got.lock().unwrap();
        for r in records {
            if let Record::Metric { name, value, .. } = r {
                got.entry(name.clone()).or_default().push(*value as u64);
            }
        }
        Ok(())
    }
}

struct Rig {
    tw: Arc<Telemetry>,
    down: Arc<AtomicBool>,
    primary: Received,
    secondary: Received,
}

/// A failover from a primary that is down while `down` is set to a secondary that never is,
/// retrying the primary after 1 ms doubling to `max_retry`.
fn failover(
    down: &Arc<AtomicBool>,
    primary: &Received,
    secondary: &Received,
    max_retry: Duration,
) -> Failover<Recorder, Recorder> {
    Failover::new(
        Recorder {
            name: "primary",
            down: down.clone(),
            got: primary.clone(),
        },
        Recorder {
            name: "secondary",
            down: Arc::new(AtomicBool::new(false)),
            got: secondary.clone(),
        },
    )
    .retry_after(Duration::from_millis(1), max_retry)
}

fn rig() -> Rig {
    let down = Arc::new(AtomicBool::new(false));
    let (primary, secondary) = (Received::default(), Received::default());
    let sink = failover(&down, &primary, &secondary, Duration::from_millis(4));
    let tw = Telemetry::builder()
        .ring_capacity(4 * 1024)
        .backpressure(Backpressure::Block)
        .monitor_tick(Duration::from_millis(10))
        .resource_sampling(None)
        .sink(sink)
        .start()
        .unwrap();
    Rig {
        tw: Arc::new(tw),
        down,
        primary,
        secondary,
    }
}

fn count(r: &Received, series: &str) -> usize {
    r.lock().unwrap().get(series).map_or(0, Vec::len)
}

fn alert_active(tw: &Telemetry) -> Option<tickwatch::alerts::ActiveAlert> {
    tw.active_alerts()
        .into_iter()
        .find(|a| a.name == SINK_CONDITION)
}

#[test]
fn traffic_moves_to_the_secondary_and_back_with_health_and_alerts() {
    let r = rig();
    let m = r.tw.metric("px", &[]);
    m.record(0.0);
    r.tw.flush().unwrap();
    assert_eq!(count(&r.primary, "px"), 1);

    // Primary down: the next records go to the secondary, the component degrades and the
    // alert fires.
    r.down.store(true, Relaxed);
    for i in 1..=10 {
        m.record(i as f64);
    }
    r.tw.flush().unwrap();
    assert_eq!(count(&r.secondary, "px"), 10);
    let alert = alert_active(&r.tw).expect("the failover alert fires");
    assert_eq!(alert.severity, Severity::Warning);
    assert!(alert.labels.contains(&("sink".into(), COMPONENT.into())));
    assert!(
        alert.message.contains("primary is down"),
        "{}",
        alert.message
    );
    let c = poll::poll_every(DEADLINE, Duration::from_millis(1), || {
        let h = r.tw.get_system_health();
        let c = h.component(COMPONENT)?.clone();
        (c.status == Status::Degraded).then_some(c)
    })
    .expect("the failover's component degrades");
    assert!(c.message.contains("writing to secondary"), "{}", c.message);

    // Primary back: after the backoff the next batch goes to it, the alert resolves and the
    // component heals.
    r.down.store(false, Relaxed);
    std::thread::sleep(Duration::from_millis(10));
    m.record(11.0);
    r.tw.flush().unwrap();
    assert_eq!(r.primary.lock().unwrap()["px"], [0, 11]);
    assert!(alert_active(&r.tw).is_none(), "resolved on the way back");
    poll::poll_every(DEADLINE, Duration::from_millis(1), || {
        let h = r.tw.get_system_health();
        (h.component(COMPONENT)?.status == Status::Healthy).then_some(())
    })
    .expect("the failover's component heals");
}

#[test]
fn no_record_is_lost_or_sent_twice_while_the_primary_flaps() {
    const THREADS: usize = 3;
    const PER_THREAD: u64 = 30_000;
    let r = rig();
    let producers = producers::start(&r.tw, THREADS, PER_THREAD);
    // Flap the primary while they write.
    let mut flips = 0;
    while producers.iter().any(|p| !p.is_finished()) {
        r.down.store(flips % 2 == 0, Relaxed);
        flips += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    for p in producers {
        p.join().unwrap();
    }
    r.down.store(false, Relaxed);
    r.tw.flush().unwrap();
    let stats = r.tw.stats();
    assert_eq!(stats.sink_errors, 0, "one of the two always took the batch");
    assert_eq!(stats.accepted, stats.delivered);
    let (primary, secondary) = (r.primary.lock().unwrap(), r.secondary.lock().unwrap());
    for t in 0..THREADS {
        let name = format!("seq{t}");
        let (a, b) = (
            primary.get(&name).cloned().unwrap_or_default(),
            secondary.get(&name).cloned().unwrap_or_default(),
        );
        // Each sink saw its share in order; together, every record exactly once (this
        // primary refuses whole batches, so there is no in-flight duplicate).
        assert!(a.windows(2).all(|w| w[0] < w[1]), "primary out of order");
        assert!(b.windows(2).all(|w| w[0] < w[1]), "secondary out of order");
        let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..PER_THREAD).collect::<Vec<_>>(), "{name}");
        if flips > 4 {
            assert!(!b.is_empty(), "the secondary took nothing in {flips} flips");
        }
    }
}

#[test]
fn replayed_records_fail_over_like_batches() {
    // A spool over a failover replays through it: records go to the primary, to the
    // secondary while the primary fails, and back.
    let down = Arc::new(AtomicBool::new(true));
    let (primary, secondary) = (Received::default(), Received::default());
    let mut f = failover(&down, &primary, &secondary, Duration::from_millis(1));
    let records = |from: u64| -> Vec<Record> {
        (from..from + 3)
            .map(|i| Record::Metric {
                name: "px".into(),
                tags: Vec::new(),
                value: i as f64,
                timestamp: Timestamp::from_unix_nanos(i),
                thread: 0,
            })
            .collect()
    };
    f.write_records(&records(0), Replay::default()).unwrap();
    assert!(f.on_secondary());
    assert_eq!(count(&secondary, "px"), 3);
    let notice = f.take_notice().expect("the switch is reported");
    assert!(notice.degraded);
    down.store(false, Relaxed);
    std::thread::sleep(Duration::from_millis(5));
    f.write_records(&records(3), Replay::default()).unwrap();
    assert!(!f.on_secondary());
    assert_eq!(primary.lock().unwrap()["px"], [3, 4, 5]);
    assert!(!f.take_notice().expect("and the way back").degraded);
}
