//! Names.

use super::*;

#[test]
fn empty_names_become_unnamed_and_are_counted() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    assert_eq!(tw.metric("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.counter("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.latency("").info().name(), EMPTY_NAME);
    assert_eq!(tw.latency_with_tags("", &[]).info().name(), EMPTY_NAME);
    assert_eq!(tw.resource("").info().name(), EMPTY_NAME);
    assert_eq!(tw.stats().invalid_names, 5);
    // Empty tag key: fixed; empty tag value: allowed, not counted.
    let m = tw.metric("px", &[("", "XNAS"), ("venue", "")]);
    assert_eq!(
        m.info().tags(),
        &[
            (EMPTY_NAME.to_owned(), "XNAS".to_owned()),
            ("venue".to_owned(), String::new())
        ]
    );
    assert_eq!(tw.stats().invalid_names, 6);
    // By name: fixed and counted once per key (at its registration), delivered under EMPTY_NAME.
    tw.log_metric("", 1.0, &[]);
    tw.log_metric("", 2.0, &[]);
    tw.measure_latency("", Duration::from_nanos(5));
    tw.track_resource_usage("", 0.5);
    tw.log_metric("spread", 0.1, &[("", "v")]);
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.invalid_names, 10, "{st:?}");
    assert_eq!(st.delivered, 5);
    let recs = mem.records();
    match &recs[0] {
        Record::Metric { name, value, .. } => {
            assert_eq!((name.as_str(), *value), (EMPTY_NAME, 1.0));
        }
        r => panic!("{r:?}"),
    }
    match &recs[1] {
        Record::Metric { name, value, .. } => {
            assert_eq!((name.as_str(), *value), (EMPTY_NAME, 2.0));
        }
        r => panic!("{r:?}"),
    }
    match &recs[2] {
        Record::Latency {
            operation, nanos, ..
        } => assert_eq!((operation.as_str(), *nanos), (EMPTY_NAME, 5)),
        r => panic!("{r:?}"),
    }
    match &recs[3] {
        Record::Resource { resource, .. } => assert_eq!(resource, EMPTY_NAME),
        r => panic!("{r:?}"),
    }
    match &recs[4] {
        Record::Metric { name, tags, .. } => {
            assert_eq!(name, "spread");
            assert_eq!(tags, &[(EMPTY_NAME.to_owned(), "v".to_owned())]);
        }
        r => panic!("{r:?}"),
    }
    tw.shutdown().unwrap();
}

#[test]
fn long_names_are_cut_at_a_char_boundary_and_counted() {
    let mem = MemorySink::new();
    let tw = mem_instance(&mem);
    let long = "€".repeat(100); // 300 bytes; 256 is inside a '€', so 85 are kept (255 bytes)
    let cut = "€".repeat(85);
    assert_eq!(cut.len(), 255);
    assert!(cut.len() <= MAX_NAME_LEN);
    let m = tw.metric(&long, &[]);
    assert_eq!(m.info().name(), cut);
    assert_eq!(tw.stats().invalid_names, 1);
    let c = tw.counter("c", &[(&long, &long)]);
    assert_eq!(c.info().tags(), &[(cut.clone(), cut.clone())]);
    assert_eq!(tw.stats().invalid_names, 3);
    // Exactly MAX_NAME_LEN bytes is fine.
    let exact = "a".repeat(MAX_NAME_LEN);
    assert_eq!(tw.latency(&exact).info().name(), exact);
    assert_eq!(tw.stats().invalid_names, 3);
    tw.measure_latency(&long, Duration::from_nanos(1));
    tw.track_resource_usage(&long, 1.0);
    tw.log_metric(&long, 1.0, &[]);
    tw.flush().unwrap();
    assert_eq!(tw.stats().invalid_names, 6);
    let names: Vec<String> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Latency { operation, .. } => operation.clone(),
            Record::Resource { resource, .. } => resource.clone(),
            Record::Metric { name, .. } => name.clone(),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(names, vec![cut.clone(), cut.clone(), cut]);
    // The handle registered with the long name and the by-name call share the cut series.
    tw.shutdown().unwrap();
}

#[test]
fn try_registration_refuses_bad_names() {
    let tw = Telemetry::builder().start().unwrap();
    let long = "é".repeat(129); // 258 bytes
    assert_eq!(
        tw.try_metric("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_counter("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_latency("", &[]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_metric("ok", &[("", "v")]).unwrap_err(),
        RegisterError::EmptyName
    );
    assert_eq!(
        tw.try_metric(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_counter(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_latency(&long, &[]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_counter("ok", &[("k", &long)]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    assert_eq!(
        tw.try_latency("ok", &[(&long, "v")]).unwrap_err(),
        RegisterError::NameTooLong { len: 258 }
    );
    let msg = RegisterError::NameTooLong { len: 258 }.to_string();
    assert!(msg.contains("258") && msg.contains("256"), "{msg}");
    assert!(RegisterError::EmptyName.to_string().contains("empty"));
    // Empty tag values are allowed; at the limit is allowed.
    let ok = tw
        .try_metric(&"a".repeat(MAX_NAME_LEN), &[("venue", "")])
        .unwrap();
    assert_eq!(ok.info().name().len(), MAX_NAME_LEN);
    let st = tw.stats();
    assert_eq!(st.invalid_names, 0, "refusals are not fix-ups");
    assert_eq!(st.series, 1, "nothing registered by the refusals");
    tw.shutdown().unwrap();
}

#[test]
fn series_cap_refuses_try_and_overflows_the_rest() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .max_series(3)
        .sink(mem.clone())
        .start()
        .unwrap();
    let a = tw.try_metric("a", &[]).unwrap();
    let _b = tw.try_counter("b", &[]).unwrap();
    let _c = tw.try_latency("c", &[]).unwrap();
    assert_eq!(
        tw.try_metric("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert_eq!(
        tw.try_counter("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert_eq!(
        tw.try_latency("d", &[]).unwrap_err(),
        RegisterError::TooManySeries { max: 3 }
    );
    assert!(RegisterError::TooManySeries { max: 3 }
        .to_string()
        .contains("max_series"));
    // An existing key is still found at the cap.
    assert_eq!(tw.try_metric("a", &[]).unwrap().info().id(), a.info().id());
    assert_eq!(tw.metric("a", &[]).info().id(), a.info().id());
    assert_eq!(tw.stats().overflowed_series, 0);
    // The never-failing calls go to the kind's overflow series, counted per registration.
    let d = tw.metric("d", &[("k", "v")]);
    assert_eq!(d.info().name(), OVERFLOW_METRIC);
    assert!(d.info().tags().is_empty());
    let e = tw.metric("e", &[]);
    assert_eq!(e.info().id(), d.info().id(), "one overflow series per kind");
    let f = tw.counter("f", &[]);
    assert_eq!(f.info().name(), OVERFLOW_COUNTER);
    assert_ne!(f.info().id(), d.info().id());
    let st = tw.stats();
    assert_eq!(st.overflowed_series, 3, "{st:?}");
    assert_eq!(st.series, 5, "3 + one overflow series per kind used");
    d.record(1.0);
    e.record(2.0);
    tw.log_metric("g", 3.0, &[]);
    a.record(4.0);
    tw.flush().unwrap();
    assert_eq!(tw.stats().overflowed_series, 4);
    let got: Vec<(String, f64)> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Metric { name, value, .. } => (name.clone(), *value),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (OVERFLOW_METRIC.to_owned(), 1.0),
            (OVERFLOW_METRIC.to_owned(), 2.0),
            (OVERFLOW_METRIC.to_owned(), 3.0),
            ("a".to_owned(), 4.0),
        ]
    );
    tw.shutdown().unwrap();
}
