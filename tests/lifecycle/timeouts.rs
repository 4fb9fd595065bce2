//! Timeouts.

use super::*;

/// Blocks in `write` until the test opens the gate.
struct GateSink {
    open: Arc<std::sync::atomic::AtomicBool>,
    written: Arc<AtomicU64>,
}

impl Sink for GateSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        while !self.open.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.written.fetch_add(batch.len() as u64, Relaxed);
        Ok(())
    }
}

#[test]
fn flush_times_out_on_a_stuck_sink_and_recovers_when_it_moves() {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let tw = Telemetry::builder()
        .flush_timeout(Duration::from_millis(50))
        .sink(GateSink {
            open: open.clone(),
            written: written.clone(),
        })
        .start()
        .unwrap();
    tw.log_metric("m", 1.0, &[]);
    // The sink cannot finish: the flush gives up after its timeout, whatever the machine speed.
    assert_eq!(tw.flush(), Err(tickwatch::FlushError::Timeout));
    assert!(tickwatch::FlushError::Timeout
        .to_string()
        .contains("flush_timeout"));
    open.store(true, Relaxed);
    tw.log_metric("m", 2.0, &[]);
    tw.flush().unwrap();
    assert_eq!(written.load(Relaxed), 2);
    let st = tw.stats();
    assert_eq!((st.accepted, st.delivered), (2, 2));
    tw.shutdown().unwrap();
}

#[test]
fn shutdown_times_out_on_a_stuck_sink() {
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let tw = Telemetry::builder()
        .shutdown_timeout(Duration::from_millis(50))
        .sink(GateSink {
            open: open.clone(),
            written: written.clone(),
        })
        .start()
        .unwrap();
    tw.log_metric("m", 1.0, &[]);
    assert_eq!(tw.shutdown(), Err(tickwatch::ShutdownError::Timeout));
    // Let the detached collector finish its work.
    open.store(true, Relaxed);
}

#[test]
fn instances_and_handles_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send_sync::<Telemetry>();
    send_sync_clone::<tickwatch::Metric>();
    send_sync_clone::<tickwatch::Counter>();
    send_sync_clone::<tickwatch::Latency>();
    send_sync_clone::<tickwatch::Resource>();
    send_sync_clone::<MemorySink>();
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let c = tw.counter("c", &[]);
    let c2 = c.clone();
    assert_eq!(c.info(), c2.info());
    std::thread::spawn(move || c2.add(5)).join().unwrap();
    c.add(6);
    tw.flush().unwrap();
    let mut d: Vec<u64> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Counter { delta, .. } => *delta,
            r => panic!("{r:?}"),
        })
        .collect();
    d.sort_unstable();
    assert_eq!(d, [5, 6]);
    tw.shutdown().unwrap();
}
