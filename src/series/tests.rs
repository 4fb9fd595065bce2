use super::*;

#[test]
fn same_key_same_id_different_kind_different_id() {
    let r = Registry::new(100);
    let a = r.register(SeriesKind::Metric, "px", &[("venue", "XNAS")]);
    let b = r.register(SeriesKind::Metric, "px", &[("venue", "XNAS")]);
    let c = r.register(SeriesKind::Counter, "px", &[("venue", "XNAS")]);
    let d = r.register(SeriesKind::Metric, "px", &[("venue", "XLON")]);
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, c.id);
    assert_ne!(a.id, d.id);
    assert_eq!(r.len(), 3);
}

#[test]
fn bad_names_fixed_the_documented_way_and_counted() {
    let r = Registry::new(100);
    let long = "é".repeat(200); // 400 bytes
    let a = r.register(SeriesKind::Metric, "", &[("", &long)]);
    assert_eq!(a.name(), EMPTY_NAME);
    assert_eq!(a.tags()[0].0, EMPTY_NAME);
    assert_eq!(a.tags()[0].1.len(), MAX_NAME_LEN);
    assert_eq!(r.invalid_names.load(Relaxed), 3); // name, tag key, tag value
    assert_eq!(
        r.try_register(SeriesKind::Metric, "", &[]),
        Err(RegisterError::EmptyName)
    );
    assert_eq!(
        r.try_register(SeriesKind::Metric, &long, &[]),
        Err(RegisterError::NameTooLong { len: 400 })
    );
    // Empty tag values are fine.
    assert!(r
        .try_register(SeriesKind::Metric, "x", &[("k", "")])
        .is_ok());
}

#[test]
fn cap_refuses_strictly_and_overflows_leniently() {
    let r = Registry::new(2);
    r.register(SeriesKind::Metric, "a", &[]);
    r.register(SeriesKind::Metric, "b", &[]);
    assert_eq!(
        r.try_register(SeriesKind::Metric, "c", &[]),
        Err(RegisterError::TooManySeries { max: 2 })
    );
    let c = r.register(SeriesKind::Metric, "c", &[]);
    let d = r.register(SeriesKind::Metric, "d", &[]);
    assert_eq!(c.name(), OVERFLOW_METRIC);
    assert_eq!(c.id, d.id);
    assert_eq!(r.overflowed.load(Relaxed), 2);
    // Existing series still resolve.
    assert_eq!(r.register(SeriesKind::Metric, "a", &[]).name(), "a");
}

#[test]
fn each_kind_overflows_into_its_own_series_registered_once() {
    let r = Registry::new(1);
    r.register(SeriesKind::Counter, "a", &[]);
    let kinds = [
        SeriesKind::Metric,
        SeriesKind::Counter,
        SeriesKind::Latency,
        SeriesKind::Resource,
    ];
    let mut ids = Vec::new();
    for kind in kinds {
        let x = r.register(kind, "x", &[("k", "v")]);
        let y = r.register(kind, "y", &[]);
        assert_eq!(
            (x.name(), x.kind(), x.id),
            (kind.overflow_name(), kind, y.id)
        );
        assert!(x.tags().is_empty());
        ids.push(x.id);
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 4);
    let names: std::collections::HashSet<_> = kinds.map(SeriesKind::overflow_name).into();
    assert_eq!(names.len(), 4, "four distinct names");
    assert_eq!(r.len(), 5);
    assert_eq!(r.overflowed.load(Relaxed), 8);
}

#[test]
fn own_series_are_not_counted_and_never_refused() {
    let r = Registry::new(2);
    // Own series first: the application still gets both slots.
    let own = r.register_own(SeriesKind::Resource, "tickwatch_threads", &[]);
    assert_eq!(own.name(), "tickwatch_threads");
    r.try_register(SeriesKind::Metric, "a", &[]).unwrap();
    r.try_register(SeriesKind::Metric, "b", &[]).unwrap();
    assert!(r.try_register(SeriesKind::Metric, "c", &[]).is_err());
    // Own series after the cap filled: registered, not refused, not counted.
    let late = r.register_own(SeriesKind::Resource, "tickwatch_fds", &[("sink", "x")]);
    assert_eq!((late.name(), late.tags().len()), ("tickwatch_fds", 1));
    assert_eq!(r.overflowed.load(Relaxed), 0);
    assert_eq!(
        r.register_own(SeriesKind::Resource, "tickwatch_threads", &[])
            .id,
        own.id
    );
    // The application's own use of an own name is an ordinary, counted, series: refused
    // here, since the cap is full.
    let app = r.register(SeriesKind::Metric, "tickwatch_threads", &[]);
    assert_eq!(app.name(), OVERFLOW_METRIC);
    assert_eq!(r.len(), 5);
}

#[test]
fn resolve_finds_borrowed_keys_and_says_which_were_refused() {
    let r = Registry::new(2);
    let a = r.resolve(SeriesKind::Metric, "a", &[("k", "v")], None);
    assert!(!a.refused);
    let again = r.resolve(SeriesKind::Metric, "a", &[("k", "v")], None);
    assert_eq!((again.info.id, again.refused), (a.info.id, false));
    // Keys that differ only in where the bytes split, or in the kind, are different.
    let b = r.resolve(SeriesKind::Metric, "a", &[("kv", "")], None);
    assert_ne!(b.info.id, a.info.id);
    let c = r.resolve(SeriesKind::Counter, "a", &[("k", "v")], None);
    assert!(c.refused);
    assert_eq!(c.info.name(), OVERFLOW_COUNTER);
    // A bad key is fixed first, then found as the fixed key.
    let fixed = r.resolve(SeriesKind::Metric, "", &[], None);
    assert!(fixed.refused, "the fixed key is new, and the cap is full");
    assert_eq!(r.invalid_names.load(Relaxed), 1);
    let long = "x".repeat(MAX_NAME_LEN + 10);
    let d = r.resolve(SeriesKind::Metric, "a", &[("k", &long)], None);
    assert!(d.refused);
}
