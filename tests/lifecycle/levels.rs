//! Levels.

use super::*;

static EVALUATED: AtomicU64 = AtomicU64::new(0);

fn side_effect(v: u64) -> u64 {
    EVALUATED.fetch_add(1, Relaxed);
    v
}

#[test]
fn events_below_the_level_are_not_recorded_counted_or_evaluated() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .level(Level::Warn)
        .sink(mem.clone())
        .start()
        .unwrap();
    assert!(!tw.enabled(Level::Trace));
    assert!(!tw.enabled(Level::Info));
    assert!(tw.enabled(Level::Warn));
    assert!(tw.enabled(Level::Error));
    event!(tw, Level::Trace, "no", v = side_effect(1));
    event!(tw, Level::Debug, "no", v = side_effect(2));
    event!(tw, Level::Info, "no", v = side_effect(3));
    assert_eq!(EVALUATED.load(Relaxed), 0, "filtered arguments evaluated");
    event!(tw, Level::Warn, "yes", v = side_effect(4));
    event!(tw, Level::Error, "yes", v = side_effect(5));
    assert_eq!(EVALUATED.load(Relaxed), 2);
    let dyn_ev = |level| Event {
        level,
        target: "t",
        message: "dyn",
        fields: &[],
    };
    tw.log_event(&dyn_ev(Level::Info));
    tw.log_event(&dyn_ev(Level::Warn));
    // Samples are not events: no level applies.
    tw.log_metric("m", 1.0, &[]);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!((st.accepted, st.dropped, st.delivered), (4, 0, 4), "{st:?}");
    let levels: Vec<Option<Level>> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Event { level, .. } => Some(*level),
            _ => None,
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            Some(Level::Warn),
            Some(Level::Error),
            Some(Level::Warn),
            None
        ]
    );
    tw.shutdown().unwrap();
}
