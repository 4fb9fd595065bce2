//! The global instance behind the free functions. One test: one `install` at a time, a new
//! one after the guard is gone, and `calls_without_instance` is process-wide.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tickwatch::sink::{MemorySink, Record};
use tickwatch::{Event, FieldRef, InstallError, Level, StartError, Telemetry, Value};

static EVALUATED: AtomicU64 = AtomicU64::new(0);

fn side_effect(v: u64) -> u64 {
    EVALUATED.fetch_add(1, Relaxed);
    v
}

fn all_free_functions(i: u64) {
    tickwatch::log_metric("spread", i as f64, &[("venue", "XNAS")]);
    tickwatch::measure_latency("order_roundtrip", Duration::from_nanos(i));
    tickwatch::track_resource_usage("cpu", i as f64 / 100.0);
    tickwatch::log_event(&Event {
        level: Level::Warn,
        target: "risk",
        message: "limit breached",
        fields: &[("i", FieldRef::U64(i))],
    });
    tickwatch::event!(
        Level::Info,
        "order filled",
        order_id = side_effect(i),
        venue = "XNAS"
    );
}

#[test]
fn global_instance_lifecycle() {
    // Before install: nothing recorded, the calls counted (the global event! too), event!
    // arguments not evaluated.
    assert!(tickwatch::global().is_none());
    let base = tickwatch::calls_without_instance();
    all_free_functions(0);
    assert_eq!(tickwatch::calls_without_instance() - base, 5);
    assert_eq!(EVALUATED.load(Relaxed), 0);

    // A refused configuration does not install anything.
    match tickwatch::install(Telemetry::builder().ring_capacity(100)) {
        Err(e @ InstallError::Start(StartError::RingCapacity { requested: 100 })) => {
            assert!(e.to_string().contains("ring_capacity"), "{e}");
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(tickwatch::global().is_none());

    let mem = MemorySink::new();
    let guard = tickwatch::install(
        Telemetry::builder()
            .level(Level::Info)
            .ring_capacity(4096)
            .sink(mem.clone()),
    )
    .unwrap();
    let tw = tickwatch::global().expect("installed");

    // A second install is refused, whatever its configuration.
    for b in [Telemetry::builder(), Telemetry::builder().ring_capacity(3)] {
        match tickwatch::install(b) {
            Err(e @ InstallError::AlreadyInstalled) => {
                assert!(e.to_string().contains("already installed"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    all_free_functions(1);
    std::thread::spawn(|| all_free_functions(2)).join().unwrap();
    // The global event! form honours the level, without evaluating the arguments.
    tickwatch::event!(Level::Debug, "filtered", x = side_effect(99));
    tickwatch::event!(Level::Error, "kept", x = side_effect(100),);
    assert_eq!(EVALUATED.load(Relaxed), 3);
    tw.flush().unwrap();
    assert_eq!(
        tickwatch::calls_without_instance() - base,
        5,
        "calls with an instance are not counted as without"
    );
    let st = tw.stats();
    assert_eq!(
        (st.accepted, st.delivered, st.dropped),
        (11, 11, 0),
        "{st:?}"
    );
    let recs = mem.take();
    assert_eq!(recs.len(), 11);
    // Order is kept per thread (not across threads): look at each thread's records.
    let by_thread: Vec<Vec<Record>> = (0..2u32)
        .map(|t| recs.iter().filter(|r| r.thread() == t).cloned().collect())
        .collect();
    assert_eq!((by_thread[0].len(), by_thread[1].len()), (6, 5), "{recs:?}");
    for (t, chunk) in by_thread.iter().enumerate() {
        let i = t as u64 + 1;
        match &chunk[0] {
            Record::Metric {
                name, tags, value, ..
            } => {
                assert_eq!(name, "spread");
                assert_eq!(tags, &[("venue".to_owned(), "XNAS".to_owned())]);
                assert_eq!(*value, i as f64);
            }
            r => panic!("{r:?}"),
        }
        assert!(
            matches!(&chunk[1], Record::Latency { operation, nanos, .. } if operation == "order_roundtrip" && *nanos == i),
            "{:?}",
            chunk[1]
        );
        assert!(
            matches!(&chunk[2], Record::Resource { resource, usage, .. } if resource == "cpu" && *usage == i as f64 / 100.0),
            "{:?}",
            chunk[2]
        );
        match &chunk[3] {
            Record::Event {
                level,
                target,
                message,
                fields,
                ..
            } => {
                assert_eq!(*level, Level::Warn);
                assert_eq!(
                    (target.as_str(), message.as_str()),
                    ("risk", "limit breached")
                );
                assert_eq!(fields, &[("i".to_owned(), Value::U64(i))]);
            }
            r => panic!("{r:?}"),
        }
        match &chunk[4] {
            Record::Event {
                level,
                message,
                fields,
                location,
                ..
            } => {
                assert_eq!(*level, Level::Info);
                assert_eq!(message, "order filled");
                assert_eq!(
                    fields,
                    &[
                        ("order_id".to_owned(), Value::U64(i)),
                        ("venue".to_owned(), Value::Str("XNAS".into()))
                    ]
                );
                assert!(location.as_ref().unwrap().0.ends_with("global.rs"));
            }
            r => panic!("{r:?}"),
        }
    }
    assert!(
        matches!(&by_thread[0][5], Record::Event { level: Level::Error, message, .. } if message == "kept")
    );

    // GlobalGuard::shutdown drains: no flush before it.
    let n = if cfg!(miri) { 20 } else { 2_000 };
    for i in 0..n {
        tickwatch::log_metric("last", i as f64, &[]);
    }
    guard.shutdown().unwrap();
    let recs = mem.take();
    assert_eq!(recs.len() as u64, n);
    assert!(recs
        .iter()
        .enumerate()
        .all(|(i, r)| matches!(r, Record::Metric { value, .. } if *value == i as f64)));

    // After shutdown the instance is uninstalled: calls count as "without instance" and
    // reach nobody, the old instance keeps its final counts, and a new install works.
    assert!(tickwatch::global().is_none());
    tickwatch::log_metric("late", 1.0, &[]);
    assert_eq!(tickwatch::calls_without_instance() - base, 6);
    let st = tw.stats();
    assert_eq!(st.accepted, 11 + n);
    assert_eq!(st.dropped, 0);
    assert!(mem.is_empty());

    let again = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(again.clone())).unwrap();
    let tw2 = tickwatch::global().expect("installed again");
    assert!(!std::ptr::eq(tw, tw2));
    tickwatch::log_metric("again", 2.0, &[]);
    tickwatch::info!("installed again", n = 2u64);
    tw2.flush().unwrap();
    assert_eq!(again.records().len(), 2);
    assert!(mem.is_empty());
    assert_eq!(tickwatch::calls_without_instance() - base, 6);
    drop(guard);
    assert!(tickwatch::global().is_none());

    // As often as the process likes (this binary has used 2 installs so far): each cycle
    // records and delivers through the new instance.
    let n = if cfg!(miri) { 3 } else { 150 };
    for i in 0..n {
        let mem = MemorySink::new();
        let guard = tickwatch::install(Telemetry::builder().sink(mem.clone()))
            .unwrap_or_else(|e| panic!("install #{i}: {e}"));
        tickwatch::log_metric("cycle", i as f64, &[]);
        guard.shutdown().unwrap();
        assert_eq!(mem.records().len(), 1, "install #{i}");
    }

    // An installed instance closed without its guard takes no records: it may be replaced,
    // and the old guard's drop then leaves the new instance installed.
    let old = tickwatch::install(Telemetry::builder()).unwrap();
    tickwatch::global().unwrap().close().unwrap();
    let mem = MemorySink::new();
    let new = tickwatch::install(Telemetry::builder().sink(mem.clone()))
        .expect("a closed instance is replaced");
    drop(old);
    tickwatch::log_metric("after", 1.0, &[]);
    tickwatch::global()
        .expect("still the new one")
        .flush()
        .unwrap();
    assert_eq!(mem.records().len(), 1);
    assert!(matches!(
        tickwatch::install(Telemetry::builder()),
        Err(InstallError::AlreadyInstalled)
    ));
    drop(new);
    assert!(tickwatch::global().is_none());
}
