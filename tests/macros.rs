//! `event!` and its shorthands, as a user meets them: every field form, format arguments
//! formatted on the collector, a level held in a variable, `Option` values, `?`/`%`
//! renderings and their truncation, filtering, and what reaches a JSON-lines file.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tickwatch::logging::Callsite;
use tickwatch::sink::{JsonLinesSink, MemorySink, Record};
use tickwatch::{event, FieldRef, Level, Telemetry, Value};

/// An event as delivered: level, formatted message, named fields, truncated.
type Delivered = (Level, String, Vec<(String, Value)>, bool);

fn events(mem: &MemorySink) -> Vec<Delivered> {
    mem.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event {
                level,
                message,
                fields,
                truncated,
                ..
            } => Some((level, message, fields, truncated)),
            _ => None,
        })
        .collect()
}

fn v(name: &str, value: Value) -> (String, Value) {
    (name.to_owned(), value)
}

#[test]
fn every_field_form_arrives_typed_and_the_message_is_formatted_on_the_collector() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let (id, px, venue) = (42u64, 101.25f64, String::from("XNAS"));
    let side = std::cmp::Ordering::Less;
    let parent: Option<u64> = None;
    let child = Some(7u64);
    let level = Level::Warn;

    event!(
        tw,
        Level::Info,
        "order filled",
        order_id = id,
        px = px,
        venue = &venue
    );
    event!(
        tw,
        level,
        "order {} rejected at {:?} on {}",
        id,
        "limit",
        &venue,
        px = px
    );
    event!(tw, Level::Debug, "book", ?side, depth = %px, pair = ?(1u8, "a"));
    event!(
        tw,
        Level::Info,
        "tree",
        parent = parent,
        child = child,
        name = Some("x")
    );
    event!(tw, Level::Info, "braces {{}} and {}", -3i64);
    tickwatch::info!(tw, "shorthand {}", true, n = 1u8);
    tickwatch::error!(&tw, "no fields");
    tickwatch::warn!(tw, "rejected {}", id, %venue, px, child);
    tw.flush().unwrap();

    let got = events(&mem);
    assert_eq!(
        got,
        vec![
            (
                Level::Info,
                "order filled".into(),
                vec![
                    v("order_id", Value::U64(42)),
                    v("px", Value::F64(101.25)),
                    v("venue", Value::Str("XNAS".into())),
                ],
                false
            ),
            (
                Level::Warn,
                "order 42 rejected at \"limit\" on XNAS".into(),
                vec![v("px", Value::F64(101.25))],
                false
            ),
            (
                Level::Debug,
                "book".into(),
                vec![
                    v("side", Value::Str("Less".into())),
                    v("depth", Value::Str("101.25".into())),
                    v("pair", Value::Str("(1, \"a\")".into())),
                ],
                false
            ),
            (
                Level::Info,
                "tree".into(),
                vec![
                    v("parent", Value::None),
                    v("child", Value::U64(7)),
                    v("name", Value::Str("x".into())),
                ],
                false
            ),
            (Level::Info, "braces {} and -3".into(), vec![], false),
            (
                Level::Info,
                "shorthand true".into(),
                vec![v("n", Value::U64(1))],
                false
            ),
            (Level::Error, "no fields".into(), vec![], false),
            (
                Level::Warn,
                "rejected 42".into(),
                vec![
                    v("venue", Value::Str("XNAS".into())),
                    v("px", Value::F64(101.25)),
                    v("child", Value::U64(7)),
                ],
                false
            ),
        ]
    );
    let st = tw.stats();
    assert_eq!((st.accepted, st.delivered, st.truncated), (8, 8, 0));
}

#[test]
fn a_long_rendering_is_cut_on_a_char_boundary_flagged_and_counted() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let long = "é".repeat(300); // 600 bytes: more than the 256-byte render buffer
    event!(tw, Level::Info, "long", text = %long, short = %"ok");
    tw.flush().unwrap();
    let got = events(&mem);
    let (_, _, fields, truncated) = &got[0];
    assert!(*truncated, "the record is flagged");
    let Value::Str(text) = &fields[0].1 else {
        panic!("{fields:?}")
    };
    assert_eq!(text.len(), 256, "cut at the last whole character that fits");
    assert!(long.starts_with(text.as_str()));
    assert_eq!(fields[1], v("short", Value::Str("ok".into())));
    assert_eq!(tw.stats().truncated, 1);
}

#[test]
fn a_level_in_a_variable_filters_at_run_time_and_skips_evaluation() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .level(Level::Info)
        .sink(mem.clone())
        .start()
        .unwrap();
    let mut evaluated = 0;
    let mut arg = |x: u64| {
        evaluated += 1;
        x
    };
    for level in [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ] {
        event!(tw, level, "at {}", arg(level as u64), lvl = %level);
    }
    tw.flush().unwrap();
    assert_eq!(evaluated, 3, "filtered levels evaluate nothing");
    let got: Vec<(Level, String)> = events(&mem).into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        got,
        vec![
            (Level::Info, "at 2".into()),
            (Level::Warn, "at 3".into()),
            (Level::Error, "at 4".into()),
        ]
    );
}

/// A `Write` that appends into a shared buffer.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_lines_carry_the_formatted_message_and_null_for_none() {
    let out = Shared::default();
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::new(out.clone()))
        .start()
        .unwrap();
    for i in 0..3u64 {
        event!(
            tw,
            Level::Warn,
            "order {} rejected",
            i,
            parent = None::<u64>,
            why = "lim\"it"
        );
    }
    tw.flush().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["message"], format!("order {i} rejected"));
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["parent"], serde_json::Value::Null);
        assert_eq!(line["fields"]["why"], "lim\"it");
        assert_eq!(line["fields"].as_object().unwrap().len(), 2, "{line}");
    }
}

#[test]
fn format_message_follows_format_for_what_event_takes() {
    let fmt = |msg: &str, args: &[FieldRef<'_>]| {
        let mut s = String::new();
        Callsite::format_message(msg, args.iter().copied(), &mut s).unwrap();
        s
    };
    let args = [FieldRef::U64(1), FieldRef::Str("a\"b"), FieldRef::F64(0.5)];
    assert_eq!(
        fmt("{} {:?} {}", &args),
        format!("{} {:?} {}", 1, "a\"b", 0.5)
    );
    assert_eq!(fmt("{{}} {}", &args[..1]), format!("{{}} {}", 1));
    assert_eq!(fmt("}} {{", &[]), "} {");
    // What event! never produces (the compiler checks its strings) is still safe: a missing
    // argument or an unknown placeholder is written as it is, a lone brace too.
    assert_eq!(fmt("{} {}", &args[..1]), "1 {}");
    assert_eq!(fmt("{name} {", &[]), "{name} {");
    assert_eq!(fmt("", &args), "");
}

#[test]
fn the_global_forms_reach_the_installed_instance() {
    let mem = MemorySink::new();
    let guard = tickwatch::install(Telemetry::builder().sink(mem.clone())).unwrap();
    let level = Level::Error;
    event!(Level::Info, "global {}", 1u64);
    event!(level, "global level {}", 2u64, x = 3u64);
    tickwatch::warn!("shorthand", ?level);
    tickwatch::global().unwrap().flush().unwrap();
    let got: Vec<(Level, String)> = events(&mem).into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        got,
        vec![
            (Level::Info, "global 1".into()),
            (Level::Error, "global level 2".into()),
            (Level::Warn, "shorthand".into()),
        ]
    );
    guard.shutdown().unwrap();
}

proptest::proptest! {
    /// Text without braces, `{}` placeholders, `{{`/`}}` escapes and any arguments: the
    /// message reads as the pieces with each argument in its place, and never panics.
    #[test]
    fn format_message_puts_each_argument_in_its_place(
        pieces in proptest::collection::vec(("[^{}]{0,8}", 0u8..3), 0..8),
        args in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..8),
    ) {
        let (mut template, mut expected) = (String::new(), String::new());
        let mut next = args.iter();
        for (text, kind) in &pieces {
            template.push_str(text);
            expected.push_str(text);
            match kind {
                0 => {
                    template.push_str("{}");
                    match next.next() {
                        Some(a) => expected.push_str(&a.to_string()),
                        None => expected.push_str("{}"),
                    }
                }
                1 => {
                    template.push_str("{{");
                    expected.push('{');
                }
                _ => {
                    template.push_str("}}");
                    expected.push('}');
                }
            }
        }
        let fields: Vec<FieldRef<'_>> = args.iter().map(|a| FieldRef::U64(*a)).collect();
        let mut out = String::new();
        Callsite::format_message(&template, fields, &mut out).unwrap();
        proptest::prop_assert_eq!(out, expected);
    }
}

/// A value whose `Debug` counts its renderings.
struct Costly<'a>(&'a std::cell::Cell<u32>);

impl std::fmt::Debug for Costly<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.set(self.0.get() + 1);
        f.write_str("costly")
    }
}

#[test]
fn with_target_rules_a_disabled_call_site_evaluates_and_renders_nothing() {
    for (rule_target, on) in [("some_other_module", false), (module_path!(), true)] {
        let mem = MemorySink::new();
        let tw = Telemetry::builder()
            .sink(mem.clone())
            .level(Level::Info)
            .target_level(rule_target, Level::Debug)
            .start()
            .unwrap();
        let (evaluated, rendered) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
        let arg = || {
            evaluated.set(evaluated.get() + 1);
            7u64
        };
        let c = Costly(&rendered);
        for _ in 0..10 {
            tickwatch::debug!(tw, "disabled here {}", arg(), c = ?c);
            // The forms rendered on the thread and the level from a variable too.
            tickwatch::debug!(tw, "spec {:>3}", arg(), ?c);
            let level = Level::Debug;
            event!(tw, level, "dynamic {}", arg(), ?c);
        }
        tw.flush().unwrap();
        let n = if on { 30 } else { 0 };
        assert_eq!(
            (evaluated.get(), rendered.get()),
            (n, n),
            "rule on {rule_target}"
        );
        assert_eq!(tw.stats().accepted, u64::from(n));
        let got = events(&mem);
        assert_eq!(got.len(), n as usize);
        if on {
            assert_eq!(got[0].1, "disabled here 7");
            assert_eq!(got[0].2, vec![v("c", Value::Str("costly".into()))]);
            assert_eq!(got[1].1, "spec   7");
            assert_eq!(got[2].1, "dynamic 7");
        }
    }
}

/// What one `info!` delivers as its message.
fn delivered(tw: &Telemetry, mem: &MemorySink) -> String {
    tw.flush().unwrap();
    let got = events(mem);
    got.last().unwrap().1.clone()
}

#[test]
fn every_message_reads_as_format_would_write_it() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let id = 42u64;
    let s = String::from("XNAS");
    let e = std::io::Error::other("disk");
    let dur = std::time::Duration::from_millis(3);
    let side = std::cmp::Ordering::Less;
    macro_rules! same {
        ($($t:tt)*) => {{
            tickwatch::info!(tw, $($t)*);
            assert_eq!(delivered(&tw, &mem), format!($($t)*), "{}", stringify!($($t)*));
        }};
    }
    // Formatted on the collector (plain placeholders, typed arguments).
    same!("plain");
    same!("{} {:?} {} {:?}", 1u8, -2i64, usize::MAX, i64::MIN);
    same!("{} {:?} {} {:?}", 1.0f64, 1.0f64, 0.1f64, -2.5e300f64);
    same!("{} {:?} {} {:?}", f64::NAN, f64::INFINITY, true, false);
    same!("{} {:?} {} {:?}", "a\"b", "a\"b\n", s, &s);
    same!("braces {{}} and {}", id);
    // Rendered on the thread: format specs, positions, inline captures.
    same!("order {id} rejected");
    same!("px {:.2} qty {:>5}", 101.256f64, 7u64);
    same!("{0} {0} {1}", 5u64, 6u64);
    same!("{:x} {:#?} {:e}", 255u64, 1u8, 1500.0f64);
    same!("{id} and {}", 7u64);
    same!("only braces {{}}");
    same!("}} {{");
    // Rendered on the thread: argument types the record does not carry as they print.
    same!("{} {:?}", 0.1f32, 1.0f32);
    same!("{:?} {:?} {:?}", Some(5u64), None::<u64>, Some("a"));
    same!("venue {}", String::from("XNAS"));
    same!("side {:?} {}", side, 'B');
    same!("big {} {}", 5u128, i128::MIN);
    same!("write failed: {}; took {:?}", e, dur);
    assert_eq!(s, "XNAS", "a String argument is borrowed, not moved");
    let st = tw.stats();
    assert_eq!((st.accepted, st.delivered, st.truncated), (19, 19, 0));
}

fn generic<T: std::fmt::Display, U: std::fmt::Debug>(tw: &Telemetry, t: T, u: U) {
    tickwatch::info!(tw, "{} {:?}", t, u);
}

#[test]
fn generic_arguments_are_rendered_and_a_long_message_is_cut_and_counted() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    generic(&tw, 5u64, "x");
    assert_eq!(delivered(&tw, &mem), "5 \"x\"");
    let long = "é".repeat(300);
    tickwatch::info!(tw, "{:>3}", long, n = 1u64);
    tw.flush().unwrap();
    let got = events(&mem);
    let (_, message, fields, truncated) = got.last().unwrap();
    assert!(*truncated);
    assert_eq!(message.len(), 256);
    assert!(long.starts_with(message.as_str()));
    assert_eq!(fields, &vec![v("n", Value::U64(1))]);
    assert_eq!(tw.stats().truncated, 1);
}

#[test]
fn a_raw_identifier_field_is_recorded_without_its_prefix() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    tickwatch::info!(tw, "typed", r#type = 1u64, r#ok = ?2u8);
    tw.flush().unwrap();
    assert_eq!(
        events(&mem)[0].2,
        vec![v("type", Value::U64(1)), v("ok", Value::Str("2".into()))]
    );
}
