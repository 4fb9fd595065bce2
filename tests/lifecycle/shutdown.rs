//! Shutdown and drop.

use super::*;

fn drains_at_end(end: impl FnOnce(Telemetry)) {
    let sink = OrderSink::default();
    let dir = TempDir::new("drain");
    let path = dir.0.join("out.jsonl");
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .sink(sink.clone())
        .sink(JsonLinesSink::create(&path).unwrap())
        .start()
        .unwrap();
    let per = if cfg!(miri) { 50 } else { 5_000 };
    std::thread::scope(|s| {
        s.spawn(|| {
            let c = tw.counter("other_thread", &[]);
            for i in 0..per {
                c.add(i);
            }
        });
    });
    let m = tw.metric("m", &[]);
    for i in 0..per {
        m.record(i as f64);
    }
    event!(tw, Level::Info, "last words", n = per);
    // No flush: shutdown (or drop) alone must deliver all of it.
    end(tw);
    let total = 2 * per + 1;
    assert_eq!(sink.records.load(Relaxed), total);
    let calls = sink.calls.lock().unwrap();
    assert_eq!(
        calls.last(),
        Some(&"flush"),
        "sinks flushed after the last write"
    );
    let lines = read_lines(&path);
    assert_eq!(lines.len() as u64, total, "JSON buffer flushed to the file");
    assert!(lines.last().unwrap().contains("last words"));
}

#[test]
#[cfg_attr(miri, ignore = "needs the file system (isolation)")]
fn shutdown_drains_everything_and_flushes_sinks() {
    drains_at_end(|tw| tw.shutdown().unwrap());
}

#[test]
#[cfg_attr(miri, ignore = "needs the file system (isolation)")]
fn dropping_the_instance_drains_everything_and_flushes_sinks() {
    drains_at_end(drop);
}

#[test]
fn shutdown_while_other_threads_keep_logging_accounts_for_everything() {
    let sink = OrderSink::default();
    let tw = Arc::new(
        Telemetry::builder()
            .ring_capacity(1024)
            .sink(sink.clone())
            .start()
            .unwrap(),
    );
    let c = tw.counter("c", &[]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (c, stop, calls) = (c.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    c.add(1);
                    calls.fetch_add(1, Relaxed);
                }
                // A few more after the instance stopped.
                for _ in 0..10 {
                    c.add(1);
                    calls.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    while calls.load(Relaxed) < 10_000 {
        std::thread::yield_now();
    }
    // Every add counted so far returned before shutdown began: it must be delivered. Adds
    // racing with or following shutdown may be delivered or dropped, never duplicated.
    let tw = Arc::try_unwrap(tw).unwrap();
    tw.shutdown().unwrap();
    stop.store(true, Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let delivered = sink.records.load(Relaxed);
    assert!(delivered >= 10_000, "delivered {delivered}");
    assert!(delivered <= calls.load(Relaxed));
    assert_eq!(sink.calls.lock().unwrap().last(), Some(&"flush"));
}
