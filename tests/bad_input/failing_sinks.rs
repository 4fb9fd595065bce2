//! Failing sinks.

use super::*;
use tickwatch::{FlushError, ShutdownError};

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
        // Every record is delivered to every sink whatever the others do, and the flush
        // says that two sinks failed theirs.
        assert_eq!(tw.flush(), Err(FlushError::SinkFailed { failed: 2 }));
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
    // A panicking sink does not kill the collector; the final flush's failures are reported.
    assert_eq!(tw.shutdown(), Err(ShutdownError::SinkFailed { failed: 2 }));
}
