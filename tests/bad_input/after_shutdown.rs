//! After shutdown (the only way to keep a stopped instance to look at is the global one; this
//! is the one test in this binary that installs it).

use super::*;

#[test]
fn calls_after_shutdown_are_dropped_not_accepted() {
    let mem = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    let tw = tickwatch::global().unwrap();
    let m = tw.metric("m", &[]);
    let l = tw.latency("l");
    m.record(1.0);
    tickwatch::log_metric("by_name", 1.0, &[]);
    tw.flush().unwrap();
    guard.shutdown().unwrap();
    assert_eq!(mem.len(), 2);
    let before = tw.stats();
    assert_eq!(
        (before.accepted, before.delivered, before.dropped),
        (2, 2, 0)
    );
    // Through surviving handles, by name, events, on this thread and on another.
    m.record(2.0);
    l.record_nanos(5);
    {
        let _t = l.start();
    }
    // The global instance is uninstalled: a free function reaches nobody (counted apart).
    let without = tickwatch::calls_without_instance();
    tickwatch::log_metric("by_name", 2.0, &[]);
    assert_eq!(tickwatch::calls_without_instance(), without + 1);
    tw.track_resource_usage("r", 1.0);
    event!(tw, Level::Error, "late", x = 1u64);
    std::thread::spawn(move || m.record(3.0)).join().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted, 2, "{st:?}");
    assert_eq!(st.dropped, 6, "{st:?}");
    assert_eq!(st.delivered, 2);
    assert_eq!(tw.flush(), Err(FlushError::Stopped));
    assert!(FlushError::Stopped.to_string().contains("stopped"));
    assert_eq!(mem.len(), 2, "nothing delivered after shutdown");
}
