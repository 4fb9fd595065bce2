//! Against the official definitions (PyPI's `opentelemetry-proto` in ci/otlp_receiver.py),
//! and extreme settings. (Export costs are measured in `benches/otlp_export.rs`.)

use super::*;

/// The Python receiver, killed (by PID) on drop.
struct PyReceiver {
    child: std::process::Child,
    url: String,
    out: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PyReceiver {
    /// Starts `ci/otlp_receiver.py` with `$TICKWATCH_OTLP_PYTHON` (default `python3`), which
    /// must have `opentelemetry-proto` installed: a missing package fails, never skips.
    fn start(name: &str, script: &str) -> PyReceiver {
        let python = std::env::var("TICKWATCH_OTLP_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir =
            std::env::temp_dir().join(format!("tickwatch-otlp-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (port_file, out) = (dir.join("port"), dir.join("summary.json"));
        let child = std::process::Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/ci/otlp_receiver.py"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--out")
            .arg(&out)
            .args(["--script", script, "--max-seconds", "60"])
            .spawn()
            .unwrap_or_else(|e| panic!("{python}: {e}"));
        let mut r = PyReceiver {
            child,
            url: String::new(),
            out,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                r.url = format!("http://127.0.0.1:{}", port.trim());
                return r;
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("ci/otlp_receiver.py exited ({status}): `pip install opentelemetry-proto` for {python}?");
            }
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.out).unwrap()).unwrap()
    }
}

/// Every series and event of a run, exported as protobuf then as JSON, read back by the
/// official decoder and compared with the instance's snapshot and records.
#[test]
#[ignore = "needs python3 with PyPI's opentelemetry-proto (run by .ci/run with --ignored)"]
fn official_decoder_reads_what_the_snapshot_says() {
    for (name, protocol, compression) in [
        ("pb", Protocol::HttpProtobuf, Compression::None),
        ("json", Protocol::HttpJson, Compression::Gzip),
    ] {
        // 429 then 503 first: retried against the real receiver too.
        let py = PyReceiver::start(name, "429,503");
        let mut c = config(&py.url);
        c.protocol = protocol;
        c.compression = compression;
        let otlp = OtlpExporter::start(c).unwrap();
        let mem = MemorySink::new();
        let tw = Telemetry::builder()
            .sink(otlp.log_sink())
            .sink(mem.clone())
            .latency_buckets(vec![Duration::from_micros(50), Duration::from_millis(2)])
            .start()
            .unwrap();
        tw.export_metrics_to(&otlp);
        for (i, venue) in ["XNAS", "XLON", "XTKS"].iter().enumerate() {
            tw.counter("orders_sent", &[("venue", venue)])
                .add(10 + i as u64);
            tw.log_metric("spread", 0.25 * i as f64, &[("venue", venue)]);
            let lat = tw.latency_with_tags("order_roundtrip", &[("venue", venue)]);
            for us in 1..=(100 * (i as u64 + 1)) {
                lat.record(Duration::from_micros(us * 37));
            }
            tickwatch::warn!(
                tw,
                "reject {}",
                i as u64,
                venue = *venue,
                qty = -(i as i64),
                px = 1.5 * i as f64
            );
        }
        tickwatch::info!(tw, "plain");
        tw.flush().unwrap();
        otlp.flush().unwrap();
        let snap = tw.snapshot();
        let records = mem.records();
        tw.shutdown().unwrap();
        let stats = otlp.shutdown().unwrap();
        assert_eq!(stats.retries, 2, "{name}: {stats:?}");
        assert_eq!(stats.failed_requests, 0, "{name}: {stats:?}");

        let s = py.summary();
        assert_eq!(s["errors"], serde_json::json!([]), "{name}");
        assert_eq!(s["resource"]["service.name"], "otlp-test");
        let metrics = &s["metrics"];
        for series in &snap.series {
            let m = &metrics[&series.name];
            let tags: serde_json::Map<String, serde_json::Value> = series
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            let point = m["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["attributes"] == serde_json::Value::Object(tags.clone()))
                .unwrap_or_else(|| panic!("{name}: {} {tags:?} missing", series.name));
            match &series.value {
                SeriesValue::Counter(c) => {
                    assert_eq!(m["type"], "sum");
                    assert_eq!(m["is_monotonic"], true);
                    assert_eq!(m["temporality"], 2);
                    assert_eq!(point["value"], c.total, "{name}: {}", series.name);
                }
                SeriesValue::Gauge(g) => {
                    assert_eq!(m["type"], "gauge");
                    assert_eq!(point["value"].as_f64(), Some(g.total.last));
                }
                SeriesValue::Latency(l) => {
                    assert_eq!(m["type"], "histogram");
                    assert_eq!(point["count"], l.total.count);
                    let bounds: Vec<f64> = l.buckets.iter().map(|b| b.le_secs).collect();
                    assert_eq!(point["explicit_bounds"], serde_json::json!(bounds));
                    let mut below = 0;
                    let mut want: Vec<u64> = l
                        .buckets
                        .iter()
                        .map(|b| {
                            let n = b.cumulative - below;
                            below = b.cumulative;
                            n
                        })
                        .collect();
                    want.push(l.total.count - below);
                    assert_eq!(point["bucket_counts"], serde_json::json!(want), "{name}");
                    assert_eq!(point["sum"].as_f64(), Some(l.sum_ns as f64 / 1e9));
                    assert_eq!(point["min"].as_f64(), Some(l.total.min as f64 / 1e9));
                    assert_eq!(point["max"].as_f64(), Some(l.total.max as f64 / 1e9));
                }
                other => panic!("a kind this test does not know: {other:?}"),
            }
        }
        let logs = &s["logs"];
        let events: Vec<&Record> = records
            .iter()
            .filter(|r| matches!(r, Record::Event { .. }))
            .collect();
        assert_eq!(logs["count"], events.len() as u64, "{name}");
        assert_eq!(logs["by_severity"]["13 WARN"], 3);
        assert_eq!(logs["by_severity"]["9 INFO"], 1);
        for (got, want) in logs["records"].as_array().unwrap().iter().zip(&events) {
            let Record::Event {
                level,
                message,
                fields,
                timestamp,
                thread,
                ..
            } = want
            else {
                unreachable!()
            };
            assert_eq!(got["time_unix_nano"], timestamp.unix_nanos());
            assert!(got["observed_time_unix_nano"].as_u64().unwrap() >= timestamp.unix_nanos());
            assert_eq!(got["severity_text"], level.as_str());
            assert_eq!(got["body"], message.as_str());
            assert_eq!(got["attributes"]["thread.id"], *thread);
            for (k, v) in fields {
                let want = match v {
                    tickwatch::Value::I64(i) => serde_json::json!(i),
                    tickwatch::Value::U64(u) => serde_json::json!(u),
                    tickwatch::Value::F64(f) => serde_json::json!(f),
                    tickwatch::Value::Str(s) => serde_json::json!(s),
                    tickwatch::Value::Bool(b) => serde_json::json!(b),
                    _ => serde_json::Value::Null,
                };
                assert_eq!(got["attributes"][k], want, "{name}: {k}");
            }
        }
    }
}

#[test]
fn extreme_settings_never_panic() {
    let rx = Receiver::start(vec![
        Reply::status(503).header("Retry-After", "999999999999")
    ]);
    let mut c = config(&rx.url);
    c.metrics_interval = Duration::MAX;
    c.logs_interval = Duration::MAX;
    c.timeout = Duration::MAX;
    c.max_backoff = Duration::MAX;
    c.initial_backoff = Duration::MAX;
    c.max_retry_time = Duration::from_secs(1);
    c.flush_timeout = Duration::MAX;
    c.max_log_batch = 0;
    c.queue_capacity = 0;
    c.max_attempts = 0;
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    log_events(&tw, 3);
    otlp.flush().unwrap();
    let s = otlp.stats();
    // A queue of at least one record; one attempt; the answer was final.
    assert_eq!(
        (s.dropped_log_records, s.requests, s.retries),
        (2, 2, 0),
        "{s:?}"
    );
    assert_eq!(s.failed_log_records, 1);
    assert_conserved(&s, 3);
    tw.shutdown().unwrap();
}
