//! `event!` forms and dynamic events.

use super::*;

fn event_fields(r: &Record) -> &[(String, Value)] {
    match r {
        Record::Event { fields, .. } => fields,
        r => panic!("{r:?}"),
    }
}

#[test]
fn event_macro_forms() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let venue = String::from("XNAS");
    let venue_str: &str = "XLON";
    let tw_ref: &Telemetry = &tw;
    let line_a = line!() + 1;
    event!(tw, Level::Info, "by value", venue = &venue);
    // A reference expression and a reference binding both work.
    event!(&tw, Level::Info, "by ref", venue = venue_str,);
    event!(tw_ref, Level::Warn, "ref binding", venue = &venue_str);
    event!(tw, Level::Error, "no fields");
    event!(
        tw,
        Level::Debug,
        "every type",
        a = 1u8,
        b = 2u16,
        c = 3u32,
        d = u64::MAX,
        e = 5usize,
        f = -1i8,
        g = -2i16,
        h = -3i32,
        i = i64::MIN,
        j = -6isize,
        k = 1.5f32,
        l = -2.25f64,
        m = true,
        n = false,
        o = "",
        p = "ünïcödé \"quoted\"\n",
    );
    let arc = Arc::new(tw);
    event!(arc, Level::Info, "arc", x = 1u64);
    event!(&arc, Level::Info, "arc ref", x = 2u64);
    std::thread::scope(|s| {
        s.spawn(|| event!(arc, Level::Info, "arc other thread", x = 3u64));
    });
    arc.flush().unwrap();
    let mut recs = mem.records();
    assert_eq!(recs.len(), 8);
    // Order is kept per thread, not across threads: a stable sort by thread keeps it.
    recs.sort_by_key(Record::thread);
    let msgs: Vec<&str> = recs
        .iter()
        .map(|r| match r {
            Record::Event { message, .. } => message.as_str(),
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(
        msgs,
        [
            "by value",
            "by ref",
            "ref binding",
            "no fields",
            "every type",
            "arc",
            "arc ref",
            "arc other thread"
        ]
    );
    match &recs[0] {
        Record::Event {
            level,
            target,
            location,
            truncated,
            thread,
            ..
        } => {
            assert_eq!(*level, Level::Info);
            assert_eq!(target, module_path!());
            let (file, line) = location.clone().expect("event! has a location");
            assert!(file.ends_with("macro_forms.rs"), "{file}");
            assert_eq!(line, line_a);
            assert!(!truncated);
            assert_eq!(*thread, 0);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        event_fields(&recs[0]),
        [("venue".to_owned(), Value::Str("XNAS".into()))]
    );
    assert_eq!(event_fields(&recs[1])[0].1, Value::Str("XLON".into()));
    assert_eq!(event_fields(&recs[2])[0].1, Value::Str("XLON".into()));
    assert!(event_fields(&recs[3]).is_empty());
    let want: Vec<(String, Value)> = [
        ("a", Value::U64(1)),
        ("b", Value::U64(2)),
        ("c", Value::U64(3)),
        ("d", Value::U64(u64::MAX)),
        ("e", Value::U64(5)),
        ("f", Value::I64(-1)),
        ("g", Value::I64(-2)),
        ("h", Value::I64(-3)),
        ("i", Value::I64(i64::MIN)),
        ("j", Value::I64(-6)),
        ("k", Value::F64(1.5)),
        ("l", Value::F64(-2.25)),
        ("m", Value::Bool(true)),
        ("n", Value::Bool(false)),
        ("o", Value::Str(String::new())),
        ("p", Value::Str("ünïcödé \"quoted\"\n".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(event_fields(&recs[4]), want.as_slice());
    assert_eq!(recs[7].thread(), 1, "another thread, another lane");
    Arc::try_unwrap(arc).unwrap().shutdown().unwrap();
}

#[test]
fn dynamic_events_round_trip() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    // Names and message known only at run time.
    let target = format!("risk::{}", 7);
    let message = format!("limit {} breached", "hard");
    let names: Vec<String> = (0..6).map(|i| format!("field_{i}")).collect();
    let text = String::from("ünïcödé");
    let fields = [
        (names[0].as_str(), FieldRef::U64(42)),
        (names[1].as_str(), FieldRef::I64(-42)),
        (names[2].as_str(), FieldRef::F64(1.25)),
        (names[3].as_str(), FieldRef::Bool(true)),
        (names[4].as_str(), FieldRef::Str(&text)),
        (names[5].as_str(), FieldRef::from(&text)),
    ];
    for level in [Level::Trace, Level::Error] {
        tw.log_event(&Event {
            level,
            target: &target,
            message: &message,
            fields: &fields,
        });
    }
    tw.log_event(&Event {
        level: Level::Info,
        target: "",
        message: "",
        fields: &[],
    });
    tw.flush().unwrap();
    let recs = mem.records();
    assert_eq!(recs.len(), 3);
    for (r, want_level) in recs[..2].iter().zip([Level::Trace, Level::Error]) {
        match r {
            Record::Event {
                level,
                target: t,
                message: m,
                fields: f,
                location,
                truncated,
                ..
            } => {
                assert_eq!(*level, want_level);
                assert_eq!(t, &target);
                assert_eq!(m, &message);
                assert_eq!(*location, None);
                assert!(!truncated);
                let want: Vec<(String, Value)> = fields
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_value()))
                    .collect();
                assert_eq!(f, &want);
            }
            r => panic!("{r:?}"),
        }
    }
    match &recs[2] {
        Record::Event {
            target,
            message,
            fields,
            ..
        } => assert!(target.is_empty() && message.is_empty() && fields.is_empty()),
        r => panic!("{r:?}"),
    }
    tw.shutdown().unwrap();
}
