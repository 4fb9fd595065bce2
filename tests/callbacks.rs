//! No bug in a sink or an alert callback can stop the engine: an alert callback may read the
//! instance (snapshot, Prometheus, health) without deadlocking the collector, and a collector
//! stuck in a sink makes `Backpressure::Block` producers give up after `block_timeout`,
//! counted, instead of waiting for ever.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tickwatch::alerts::{Alert, CallbackSink, Severity, SeverityFilter};
use tickwatch::sink::{Batch, Sink, SinkError};
use tickwatch::{Audit, Backpressure, FlushError, Telemetry};

#[path = "common/poll.rs"]
mod poll;

#[test]
fn an_alert_callback_may_read_the_instance() {
    // The callback is built before the instance exists: it finds it through this cell.
    let cell: Arc<OnceLock<Weak<Telemetry>>> = Arc::new(OnceLock::new());
    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (cell.clone(), seen.clone());
    let callback = CallbackSink::new(move |n| {
        let Some(tw) = c.get().and_then(Weak::upgrade) else {
            return;
        };
        // Each of these needs the aggregates the collector holds while it ticks.
        let snap = tw.snapshot();
        let text = tw.render_prometheus();
        let health = tw.get_system_health();
        // flush() cannot be served by the collector that runs this callback: refused at once.
        let flush = tw.flush();
        s.lock().unwrap().push(format!(
            "{} series={} prom={} components={} flush={:?}",
            n.name,
            snap.series.len(),
            text.contains("orders_sent_total"),
            health.components.len(),
            flush
        ));
    });
    let tw = Arc::new(
        Telemetry::builder()
            .monitor_tick(Duration::from_millis(10))
            .alert_route("reader", SeverityFilter::all(), callback)
            .start()
            .unwrap(),
    );
    cell.set(Arc::downgrade(&tw)).unwrap();
    tw.counter("orders_sent", &[]).add(1);
    tw.flush().unwrap();
    let _ = tw.send_alert(Alert::new(
        "feed_gap",
        Severity::Warning,
        "no quotes for 2 s",
    ));
    let got = poll::poll_every(Duration::from_secs(20), Duration::from_millis(10), || {
        let v = seen.lock().unwrap();
        (!v.is_empty()).then(|| v[0].clone())
    })
    .expect("the callback never finished: the collector deadlocked");
    assert!(got.starts_with("feed_gap series="), "{got}");
    assert!(got.contains("prom=true"), "{got}");
    assert!(
        got.contains(&format!(
            "flush={:?}",
            Err::<(), _>(FlushError::OnCollectorThread)
        )),
        "{got}"
    );
    // The collector is still alive: records still flow and flush() works from here.
    tw.counter("orders_sent", &[]).add(1);
    tw.flush().unwrap();
    assert_eq!(tw.stats().delivered, 2);
}

/// A sink that blocks until released: a collector stuck in a sink.
#[derive(Clone)]
struct Stuck {
    release: Arc<(Mutex<bool>, std::sync::Condvar)>,
    entered: Arc<AtomicU64>,
}

impl Stuck {
    fn new() -> Stuck {
        Stuck {
            release: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            entered: Arc::new(AtomicU64::new(0)),
        }
    }
    fn release(&self) {
        *self.release.0.lock().unwrap() = true;
        self.release.1.notify_all();
    }
}

impl Sink for Stuck {
    fn write(&mut self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        self.entered.fetch_add(1, Relaxed);
        let mut go = self.release.0.lock().unwrap();
        while !*go {
            go = self.release.1.wait(go).unwrap();
        }
        Ok(())
    }
}

#[test]
fn block_gives_up_after_block_timeout_when_the_collector_is_stuck() {
    let sink = Stuck::new();
    let tw = Telemetry::builder()
        .ring_capacity(1024) // 32 samples
        .backpressure(Backpressure::Block)
        .block_timeout(Duration::from_millis(20))
        .resource_sampling(None)
        .sink(sink.clone())
        .start()
        .unwrap();
    let c = tw.counter("c", &[]);
    c.add(1);
    // Wait until the collector is inside the sink, stuck.
    poll::poll_every(Duration::from_secs(20), Duration::from_millis(1), || {
        (sink.entered.load(Relaxed) > 0).then_some(())
    })
    .expect("the collector never called the sink");
    // The ring fills; each call past that waits at most block_timeout, then drops.
    let calls = 100u64;
    for _ in 0..calls {
        c.add(1);
    }
    // An audit record waits the same bounded time.
    tw.audit(&Audit {
        actor: "alice",
        action: "cancel",
        ..Default::default()
    });
    let st = tw.stats();
    assert!(st.block_timeouts > 0, "{st:?}");
    assert_eq!(st.audit_dropped, 1, "{st:?}");
    assert_eq!(st.accepted + st.dropped, calls + 2, "{st:?}");
    assert!(st.block_timeouts <= st.dropped, "{st:?}");
    // Released, the collector delivers everything accepted.
    sink.release();
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted, st.delivered, "{st:?}");
    tw.shutdown().unwrap();
}
