//! The one output schema (`tickwatch::schema`): every JSON document tickwatch writes uses
//! RFC 3339 nanosecond times, tags as objects and the same key for the same meaning. Checked
//! on real output: the JSON-lines sink, a snapshot, health, and an alert.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tickwatch::logging::Level;
use tickwatch::metrics::Snapshot;
use tickwatch::sink::JsonLinesSink;
use tickwatch::{event, Telemetry, Timestamp};

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An RFC 3339 time with exactly nine fractional digits and `Z`, which parses.
fn assert_time(v: &Value, what: &str) -> Timestamp {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    assert_eq!(s.len(), 30, "{what}: {s}");
    assert_eq!(&s[19..20], ".", "{what}: {s}");
    assert!(s.ends_with('Z'), "{what}: {s}");
    s.parse()
        .unwrap_or_else(|e| panic!("{what}: {s} does not parse: {e}"))
}

#[test]
fn json_lines_use_one_shape_for_every_kind() {
    let buf = SharedBuf::default();
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::new(buf.clone()))
        .start()
        .unwrap();
    let tags = [("venue", "XNAS")];
    tw.log_metric("position", 1.5, &tags);
    tw.counter("orders", &tags).add(2);
    tw.measure_latency_with_tags("order_rtt", Duration::from_nanos(850), &tags);
    tw.track_resource_usage_with_tags("book_depth", 0.42, &tags);
    event!(tw, Level::Warn, "limit near", order_id = 42u64, used = 0.93);
    // One call site, many events: its constant parts are rendered once and reused.
    for i in 0..3u64 {
        event!(
            tw,
            Level::Info,
            "fill \"q\"\n",
            n = i,
            venue = "a\"b",
            ok = i == 1
        );
    }
    tw.flush().unwrap();
    tw.shutdown().unwrap();

    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let by_kind = |k: &str| {
        lines
            .iter()
            .find(|o| o["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} line in\n{text}"))
    };
    let mut times = Vec::new();
    for o in &lines {
        times.push(assert_time(&o["ts"], "ts"));
        assert!(o["thread"].is_u64(), "{o}");
    }
    for (kind, value_key, value) in [
        ("metric", "value", serde_json::json!(1.5)),
        ("counter", "delta", serde_json::json!(2)),
        ("latency", "nanos", serde_json::json!(850)),
        ("resource", "value", serde_json::json!(0.42)),
    ] {
        let o = by_kind(kind);
        assert!(o["name"].is_string(), "{kind}: the series is `name`: {o}");
        assert_eq!(o["tags"], serde_json::json!({"venue": "XNAS"}), "{kind}");
        assert_eq!(o[value_key], value, "{kind}: {o}");
    }
    let e = by_kind("event");
    assert_eq!(e["level"], "WARN");
    assert_eq!(
        e["fields"],
        serde_json::json!({"order_id": 42, "used": 0.93})
    );
    assert!(e["file"].is_string() && e["line"].is_u64(), "{e}");
    let fills: Vec<&Value> = lines
        .iter()
        .filter(|o| o["message"] == "fill \"q\"\n")
        .collect();
    assert_eq!(fills.len(), 3, "{text}");
    for (i, f) in fills.iter().enumerate() {
        assert_eq!(
            f["fields"],
            serde_json::json!({"n": i, "venue": "a\"b", "ok": i == 1}),
            "{f}"
        );
        assert_eq!(f["level"], "INFO");
        assert_eq!(f["line"], fills[0]["line"]);
    }
}

#[test]
fn snapshot_health_and_alerts_use_the_same_times_and_tags() {
    let tw = Telemetry::builder()
        .alert_route(
            "none",
            tickwatch::alerts::SeverityFilter::all(),
            tickwatch::alerts::CallbackSink::new(|_: &tickwatch::alerts::Notification| {}),
        )
        .start()
        .unwrap();
    tw.counter("orders", &[("venue", "XNAS"), ("desk", "a")])
        .add(3);
    let _ = tw.send_alert(tickwatch::alerts::Alert::new(
        "feed_stale",
        tickwatch::alerts::Severity::Warning,
        "no quotes for 2 s",
    ));
    tw.flush().unwrap();

    let snapshot = tw.snapshot();
    let json: Value = serde_json::to_value(&snapshot).unwrap();
    assert_time(&json["taken_at"], "taken_at");
    let series = &json["series"][0];
    assert_eq!(series["name"], "orders");
    // An object, in registration order.
    assert_eq!(
        series["tags"],
        serde_json::json!({"venue": "XNAS", "desk": "a"})
    );
    let text = serde_json::to_string(&snapshot).unwrap();
    assert!(
        text.contains(r#""tags":{"venue":"XNAS","desk":"a"}"#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), snapshot);
    assert_eq!(json["totals"]["accepted"], 1);

    let health: Value = serde_json::to_value(tw.get_system_health()).unwrap();
    assert_time(&health["checked_at"], "checked_at");
    for c in health["components"].as_array().unwrap() {
        assert_time(&c["updated_at"], "updated_at");
    }

    let alerts: Value = serde_json::to_value(tw.active_alerts()).unwrap();
    let alert = &alerts[0];
    assert!(alert["labels"].is_object(), "{alert}");
    assert_time(&alert["since"], "since");
    assert_time(&alert["last_seen"], "last_seen");
    tw.shutdown().unwrap();
}

#[test]
fn documents_written_before_the_schema_still_read() {
    // Integer times and tags as [key, value] pairs.
    let old = r#"{"taken_at":1700000000000000000,"uptime_secs":1.0,"window_secs":0.0,
        "series":[{"name":"x","tags":[["venue","XNAS"]],"kind":"counter",
        "value":{"type":"counter","total":1,"window":null,"rate_per_sec":0.0}}],
        "refused_series":0}"#;
    let s: Snapshot = serde_json::from_str(old).unwrap();
    assert_eq!(s.taken_at.unix_nanos(), 1_700_000_000_000_000_000);
    assert_eq!(s.series[0].tags, vec![("venue".into(), "XNAS".into())]);
}
