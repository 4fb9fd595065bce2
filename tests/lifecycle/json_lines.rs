//! JSON lines and timestamps.

use super::*;

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
    assert!(o[4]["file"].as_str().unwrap().ends_with("json_lines.rs"));
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
