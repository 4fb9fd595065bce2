//! Lifecycle and output: flush, shutdown and drop semantics, several instances side by side,
//! level filtering, the forms of `event!`, dynamic events, the JSON-lines format and
//! timestamps.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickwatch::sink::{Batch, JsonLinesSink, MemorySink, Record, Sink, SinkError};
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry, Timestamp, Value};

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "tickwatch-test-{}-{tag}-{}",
            std::process::id(),
            now_nanos()
        ));
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A `Write` into a buffer the test keeps a handle to.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Counts delivered records and logs the order of `write` and `flush` calls.
#[derive(Clone, Default)]
struct OrderSink {
    records: Arc<AtomicU64>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl Sink for OrderSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.records.fetch_add(batch.iter().count() as u64, Relaxed);
        self.calls.lock().unwrap().push("write");
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.calls.lock().unwrap().push("flush");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// flush

#[test]
fn flush_delivers_everything_accepted_before_it_from_this_thread() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(4096)
        .sink(mem.clone())
        .start()
        .unwrap();
    let c = tw.counter("c", &[]);
    let mut total = 0u64;
    for round in 1..=if cfg!(miri) { 3 } else { 50 } {
        for i in 0..round * 7 {
            c.add(i);
            total += 1;
        }
        tw.flush().unwrap();
        // No waiting: everything is there when flush returns.
        assert_eq!(mem.len() as u64, total, "round {round}");
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered), (total, total));
    }
    tw.shutdown().unwrap();
}

#[test]
fn flush_delivers_records_of_threads_that_finished_before_it() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    for round in 0..if cfg!(miri) { 2 } else { 20 } {
        let before = mem.len();
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let tw = &tw;
                s.spawn(move || {
                    for i in 0..100u64 {
                        tw.log_metric("m", (t * 1000 + i) as f64, &[]);
                    }
                });
            }
        });
        tw.flush().unwrap();
        assert_eq!(mem.len(), before + 300, "round {round}");
    }
    tw.shutdown().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "needs the file system (isolation)")]
fn flush_writes_a_json_file_to_disk() {
    let dir = TempDir::new("flush");
    // A nested path: the sink creates the missing directories.
    let path = dir.0.join("nested").join("out.jsonl");
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::create(&path).unwrap())
        .start()
        .unwrap();
    let n = 500;
    for i in 0..n {
        tw.log_metric("px", i as f64, &[("venue", "XNAS")]);
    }
    tw.flush().unwrap();
    let lines = read_lines(&path);
    assert_eq!(lines.len(), n, "everything on disk when flush returns");
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["value"].as_f64(), Some(i as f64));
    }
    event!(tw, Level::Info, "second", k = 1u64);
    tw.flush().unwrap();
    assert_eq!(read_lines(&path).len(), n + 1);
    tw.shutdown().unwrap();
    // `create` appends to an existing file.
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::create(&path).unwrap())
        .start()
        .unwrap();
    tw.track_resource_usage("cpu", 0.5);
    drop(tw);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), n + 2);
    assert!(
        lines[n + 1].contains("\"name\":\"cpu\""),
        "{}",
        lines[n + 1]
    );
}

// ---------------------------------------------------------------------------------------------
// shutdown and drop

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

// ---------------------------------------------------------------------------------------------
// several instances

fn metric_values(mem: &MemorySink) -> Vec<(u32, f64)> {
    mem.records()
        .iter()
        .map(|r| match r {
            Record::Metric { value, thread, .. } => (*thread, *value),
            r => panic!("{r:?}"),
        })
        .collect()
}

#[test]
fn instances_side_by_side_on_one_thread() {
    let mems = [MemorySink::new(), MemorySink::new(), MemorySink::new()];
    let tws: Vec<Telemetry> = mems
        .iter()
        .map(|m| Telemetry::builder().sink(m.clone()).start().unwrap())
        .collect();
    let handles: Vec<_> = tws.iter().map(|tw| tw.metric("x", &[])).collect();
    for i in 0..100 {
        for (k, tw) in tws.iter().enumerate() {
            // Handle and by-name call, same key, different instances.
            handles[k].record(k as f64);
            if i < 10 * (k + 1) {
                tw.log_metric("x", k as f64, &[]);
            }
        }
    }
    for tw in &tws {
        tw.flush().unwrap();
    }
    for (k, (tw, mem)) in tws.iter().zip(&mems).enumerate() {
        let want = 100 + 10 * (k as u64 + 1);
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered), (want, want), "instance {k}");
        assert_eq!(st.series, 1, "instance {k}");
        let vals = metric_values(mem);
        assert_eq!(vals.len() as u64, want);
        // Only its own values; this thread is thread 0 of each instance.
        assert!(
            vals.iter().all(|&(t, v)| t == 0 && v == k as f64),
            "{vals:?}"
        );
    }
    for tw in tws {
        tw.shutdown().unwrap();
    }
}

#[test]
fn instances_side_by_side_on_several_threads() {
    let mems = [MemorySink::new(), MemorySink::new(), MemorySink::new()];
    let tws: Vec<Telemetry> = mems
        .iter()
        .map(|m| Telemetry::builder().sink(m.clone()).start().unwrap())
        .collect();
    std::thread::scope(|s| {
        // One thread per instance...
        for (k, tw) in tws.iter().enumerate() {
            s.spawn(move || {
                for _ in 0..50 * (k + 1) {
                    tw.log_metric("x", k as f64, &[]);
                }
            });
        }
        // ...and one thread logging to all three.
        let tws = &tws;
        s.spawn(move || {
            for _ in 0..20 {
                for (k, tw) in tws.iter().enumerate() {
                    tw.log_metric("x", k as f64 + 0.5, &[]);
                }
            }
        });
    });
    // Stopping one does not disturb the others.
    let mut tws = tws.into_iter();
    let first = tws.next().unwrap();
    first.shutdown().unwrap();
    let rest: Vec<Telemetry> = tws.collect();
    for tw in &rest {
        tw.log_metric("x", -1.0, &[]);
        tw.flush().unwrap();
    }
    for (k, mem) in mems.iter().enumerate() {
        let vals = metric_values(mem);
        let extra = if k == 0 { 0 } else { 1 };
        assert_eq!(vals.len(), 50 * (k + 1) + 20 + extra, "instance {k}");
        let own = vals.iter().filter(|v| v.1 == k as f64).count();
        let shared = vals.iter().filter(|v| v.1 == k as f64 + 0.5).count();
        assert_eq!((own, shared), (50 * (k + 1), 20), "instance {k}: {vals:?}");
        // Thread indexes are per instance: the two producing threads are 0 and 1.
        let mut threads: Vec<u32> = vals.iter().map(|v| v.0).collect();
        threads.sort_unstable();
        threads.dedup();
        let want: &[u32] = if k == 0 { &[0, 1] } else { &[0, 1, 2] };
        assert_eq!(threads, want, "instance {k}");
    }
    for (i, tw) in rest.iter().enumerate() {
        let k = i + 1;
        let want = (50 * (k + 1) + 20 + 1) as u64;
        let st = tw.stats();
        assert_eq!((st.accepted, st.delivered, st.dropped), (want, want, 0));
        // Both worker threads exited: their lanes (the shared thread had one per instance)
        // are retired; only this thread's lane is live. Retirement happens when the collector
        // notices the exit: poll, bounded.
        let mut st = tw.stats();
        for _ in 0..500 {
            if st.retired_threads == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            tw.flush().unwrap();
            st = tw.stats();
        }
        assert_eq!(st.retired_threads, 2, "{st:?}");
        assert_eq!(st.threads.len(), 1, "{st:?}");
        assert_eq!(st.accepted, want, "retired lanes keep their counts");
    }
}

// ---------------------------------------------------------------------------------------------
// levels

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

// ---------------------------------------------------------------------------------------------
// event! forms and dynamic events

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
            assert!(file.ends_with("lifecycle.rs"), "{file}");
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

// ---------------------------------------------------------------------------------------------
// JSON lines and timestamps

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (exactly nine fractional digits) to Unix nanos.
fn parse_rfc3339_nanos(s: &str) -> Result<u64, String> {
    let b = s.as_bytes();
    if b.len() != 30 {
        return Err(format!("{s:?}: length {} != 30", b.len()));
    }
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (29, b'Z'),
    ] {
        if b[i] != c {
            return Err(format!("{s:?}: expected {:?} at {i}", c as char));
        }
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("{s:?}: {part:?} is not digits"));
        }
        part.parse::<i64>().map_err(|e| e.to_string())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = num(20..29)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(format!("{s:?}: field out of range"));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    Ok(secs as u64 * 1_000_000_000 + nanos as u64)
}

#[test]
fn rfc3339_parser_matches_known_values() {
    // Guards the hand-written check below.
    assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00.000000000Z"), Ok(0));
    assert_eq!(
        parse_rfc3339_nanos("2023-11-14T22:13:20.123456789Z"),
        Ok(1_700_000_000_123_456_789)
    );
    assert_eq!(
        parse_rfc3339_nanos("2024-02-29T23:59:59.999999999Z"),
        Ok(1_709_251_199_999_999_999)
    );
    assert!(parse_rfc3339_nanos("2024-02-29T23:59:59.99999999Z").is_err());
    assert!(parse_rfc3339_nanos("2024-02-29 23:59:59.999999999Z").is_err());
    assert_eq!(
        Timestamp::from_unix_nanos(1_700_000_000_123_456_789).to_string(),
        "2023-11-14T22:13:20.123456789Z"
    );
}

#[test]
fn json_lines_have_the_documented_shape() {
    let buf = SharedBuf::default();
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(1024)
        .sink(JsonLinesSink::new(buf.clone()))
        .sink(mem.clone())
        .start()
        .unwrap();
    let t0 = now_nanos();
    let weird = "quote\" backslash\\ newline\n tab\t ctrl\u{1} ünï 😀";
    tw.metric("position", &[("venue", "XNAS"), ("k", weird)])
        .record(1.5);
    tw.counter("orders_sent", &[]).add(3);
    tw.latency("order_roundtrip").record_nanos(850);
    tw.resource("order_book_depth").record(0.42);
    let line = line!() + 1;
    event!(
        tw,
        Level::Info,
        "order filled",
        order_id = 42u64,
        venue = weird,
        ok = true,
        px = -1.5
    );
    tw.log_event(&Event {
        level: Level::Warn,
        target: weird,
        message: weird,
        fields: &[(weird, FieldRef::I64(-7))],
    });
    // Too large for a 1 KiB ring: refused, reported as a `dropped` line.
    event!(tw, Level::Info, "huge", s = "x".repeat(1000).as_str());
    std::thread::Builder::new()
        .name("named \"worker\"".into())
        .spawn({
            let c = tw.counter("from_named", &[]);
            move || c.add(1)
        })
        .unwrap()
        .join()
        .unwrap();
    tw.flush().unwrap();
    let t1 = now_nanos();
    let lines = buf.lines();
    let recs = mem.records();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_eq!(recs.len(), 8);
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = lines
        .iter()
        .map(|l| match serde_json::from_str(l) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("not a JSON object: {l}: {other:?}"),
        })
        .collect();
    // Both sinks saw the same batches in the same order: pair them up, then order by thread
    // (a stable sort: order is kept per thread, not across threads).
    let mut paired: Vec<(serde_json::Map<String, serde_json::Value>, Record, String)> = objs
        .into_iter()
        .zip(recs)
        .zip(lines)
        .map(|((o, r), l)| (o, r, l))
        .collect();
    paired.sort_by_key(|p| p.1.thread());
    let objs: Vec<_> = paired.iter().map(|p| p.0.clone()).collect();
    let recs: Vec<Record> = paired.iter().map(|p| p.1.clone()).collect();
    let lines: Vec<String> = paired.iter().map(|p| p.2.clone()).collect();
    let keys = |o: &serde_json::Map<String, serde_json::Value>| -> Vec<String> {
        o.keys().cloned().collect::<Vec<_>>()
    };
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let mut shapes: HashMap<&str, Vec<String>> = HashMap::new();
    shapes.insert(
        "metric",
        sorted(&["ts", "thread", "kind", "name", "tags", "value"]),
    );
    shapes.insert(
        "counter",
        sorted(&["ts", "thread", "kind", "name", "tags", "delta"]),
    );
    shapes.insert(
        "latency",
        sorted(&["ts", "thread", "kind", "name", "tags", "nanos"]),
    );
    shapes.insert(
        "resource",
        sorted(&["ts", "thread", "kind", "name", "tags", "value"]),
    );
    shapes.insert(
        "dropped",
        sorted(&["ts", "thread", "kind", "count", "message"]),
    );
    for (i, (o, r)) in objs.iter().zip(&recs).enumerate() {
        let kind = o["kind"].as_str().unwrap();
        let mut k = keys(o);
        k.sort();
        let named = o.contains_key("thread_name");
        if kind == "event" {
            let mut want = vec![
                "ts", "thread", "kind", "level", "target", "message", "fields",
            ];
            if o.contains_key("file") {
                want.extend(["file", "line"]);
            }
            if named {
                want.push("thread_name");
            }
            assert_eq!(k, sorted(&want), "line {i}: {}", lines[i]);
        } else {
            let mut want = shapes[kind].clone();
            if named {
                want.push("thread_name".into());
                want.sort();
            }
            assert_eq!(k, want, "line {i}: {}", lines[i]);
        }
        // "ts": RFC 3339, UTC, nanoseconds; the same instant as the record; close to now.
        let ts = o["ts"].as_str().unwrap();
        let ns = parse_rfc3339_nanos(ts).unwrap();
        assert_eq!(ns, r.timestamp().unix_nanos(), "line {i}");
        assert_eq!(ts, r.timestamp().to_string());
        assert!(
            ns + 5_000_000_000 >= t0 && ns <= t1 + 5_000_000_000,
            "line {i}: {ts} not within 5 s of the wall clock"
        );
        assert_eq!(o["thread"].as_u64(), Some(r.thread() as u64));
    }
    let o = &objs;
    assert_eq!(o[0]["kind"], "metric");
    assert_eq!(o[0]["name"], "position");
    assert_eq!(o[0]["tags"]["venue"], "XNAS");
    assert_eq!(o[0]["tags"]["k"], weird, "escaping round trip");
    assert_eq!(o[0]["value"], 1.5);
    assert_eq!(
        (&o[1]["kind"], &o[1]["name"], &o[1]["delta"]),
        (&"counter".into(), &"orders_sent".into(), &3.into())
    );
    assert!(o[1]["tags"].as_object().unwrap().is_empty());
    assert_eq!(o[2]["kind"], "latency");
    assert_eq!(o[2]["name"], "order_roundtrip");
    assert_eq!(o[2]["nanos"], 850);
    assert_eq!(o[3]["kind"], "resource");
    assert_eq!(o[3]["name"], "order_book_depth");
    assert_eq!(o[3]["value"], 0.42);
    assert_eq!(o[4]["kind"], "event");
    assert_eq!(o[4]["level"], "INFO");
    assert_eq!(o[4]["target"], module_path!());
    assert_eq!(o[4]["message"], "order filled");
    assert_eq!(o[4]["fields"]["order_id"], 42);
    assert_eq!(o[4]["fields"]["venue"], weird);
    assert_eq!(o[4]["fields"]["ok"], true);
    assert_eq!(o[4]["fields"]["px"], -1.5);
    assert!(o[4]["file"].as_str().unwrap().ends_with("lifecycle.rs"));
    assert_eq!(o[4]["line"], line);
    assert_eq!(o[5]["level"], "WARN");
    assert_eq!(o[5]["target"], weird);
    assert_eq!(o[5]["message"], weird);
    assert_eq!(o[5]["fields"][weird], -7);
    assert!(
        !o[5].contains_key("file"),
        "dynamic events have no location"
    );
    assert_eq!(o[6]["kind"], "dropped");
    assert_eq!(o[6]["count"], 1);
    assert_eq!(o[6]["message"], "1 records dropped");
    assert_eq!(o[7]["kind"], "counter");
    assert_eq!(o[7]["thread"], 1);
    assert_eq!(o[7]["thread_name"], "named \"worker\"");
    // Field order within an event object follows the call.
    let order: Vec<&String> = o[4]["fields"].as_object().unwrap().keys().collect();
    assert_eq!(order.len(), 4);
    assert!(lines[4].find("\"order_id\"").unwrap() < lines[4].find("\"px\"").unwrap());
    tw.shutdown().unwrap();
}

#[test]
fn timestamps_are_wall_clock_and_non_decreasing_per_thread() {
    // Long enough (~1.2 s of sleeps) to span at least one clock refinement on TSC machines.
    let (threads, per, pause) = if cfg!(miri) {
        (2, 5, Duration::from_micros(10))
    } else {
        (3, 400usize, Duration::from_millis(3))
    };
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let t0 = now_nanos();
    std::thread::scope(|s| {
        for t in 0..threads {
            let tw = &tw;
            s.spawn(move || {
                let m = tw.metric("m", &[]);
                for i in 0..per {
                    m.record(i as f64);
                    if i % 3 == 0 {
                        event!(tw, Level::Info, "tick", i = i, t = t);
                    }
                    std::thread::sleep(pause);
                }
            });
        }
    });
    tw.flush().unwrap();
    let t1 = now_nanos();
    let recs = mem.records();
    assert_eq!(recs.len(), threads * (per + per.div_ceil(3)));
    let mut last: HashMap<u32, (u64, usize)> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        let ns = r.timestamp().unix_nanos();
        assert!(
            ns + 5_000_000_000 >= t0 && ns <= t1 + 5_000_000_000,
            "record {i}: {} not within 5 s of [{}, {}]",
            r.timestamp(),
            Timestamp::from_unix_nanos(t0),
            Timestamp::from_unix_nanos(t1)
        );
        if let Some((prev, j)) = last.insert(r.thread(), (ns, i)) {
            assert!(
                ns >= prev,
                "thread {}: record {i} at {} before record {j} at {}",
                r.thread(),
                r.timestamp(),
                Timestamp::from_unix_nanos(prev)
            );
        }
    }
    assert_eq!(last.len(), threads);
    tw.shutdown().unwrap();
}

#[test]
fn latency_timer_measures_at_least_the_time_slept() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let l = tw.latency("sleep");
    {
        let _t = l.start();
        std::thread::sleep(Duration::from_millis(20));
    }
    l.start().stop();
    tw.measure_latency("sleep", Duration::from_micros(3));
    l.record(Duration::from_secs(u64::MAX)); // saturates
    tw.flush().unwrap();
    let nanos: Vec<u64> = mem
        .records()
        .iter()
        .map(|r| match r {
            Record::Latency {
                nanos, operation, ..
            } => {
                assert_eq!(operation, "sleep");
                *nanos
            }
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(nanos.len(), 4);
    // A lower bound only (sleep guarantees it), with 5% for clock calibration; the upper bound
    // only rejects garbage such as an unconverted tick count of a far-future value.
    assert!(
        (19_000_000..60_000_000_000).contains(&nanos[0]),
        "{}",
        nanos[0]
    );
    assert!(nanos[1] < 60_000_000_000);
    assert_eq!(nanos[2], 3_000);
    assert_eq!(nanos[3], u64::MAX);
    tw.shutdown().unwrap();
}

#[test]
fn backpressure_block_is_the_default_and_loses_nothing() {
    let sink = OrderSink::default();
    let tw = Telemetry::builder()
        .ring_capacity(128)
        .sink(sink.clone())
        .start()
        .unwrap();
    let n = if cfg!(miri) { 100 } else { 20_000 };
    let c = tw.counter("c", &[]);
    for i in 0..n {
        c.add(i);
    }
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!((st.accepted, st.dropped, st.delivered), (n, 0, n));
    assert_eq!(sink.records.load(Relaxed), n);
    assert_eq!(Backpressure::default(), Backpressure::Block);
    tw.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// timeouts

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
