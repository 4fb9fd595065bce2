//! Mapping: series and events as OTLP metrics and log records, protobuf, JSON and gzip.

use super::*;

#[test]
fn metrics_and_events_arrive_as_otlp() {
    let rx = Receiver::start(vec![]);
    let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
    let mem = MemorySink::new();
    let bounds = vec![
        Duration::from_micros(10),
        Duration::from_micros(100),
        Duration::from_millis(1),
    ];
    let tw = Telemetry::builder()
        .sink(otlp.log_sink())
        .sink(mem.clone())
        .latency_buckets(bounds)
        .start()
        .unwrap();
    tw.export_metrics_to(&otlp);
    tw.counter("orders_sent", &[("venue", "XNAS")]).add(3);
    tw.counter("orders_sent", &[("venue", "XLON")]).add(5);
    tw.log_metric("position", -2.5, &[("book", "alpha")]);
    tw.track_resource_usage("queue_depth", 7.0);
    let samples_ns = [5_000u64, 10_000, 50_000, 500_000, 2_000_000, 3_000_000];
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("strat-alpha".into())
            .spawn_scoped(s, || {
                let lat = tw.latency_with_tags("risk_check", &[("desk", "a")]);
                for ns in samples_ns {
                    lat.record(Duration::from_nanos(ns));
                }
                tickwatch::warn!(
                    tw,
                    "order {} rejected",
                    42u64,
                    reason = "limit",
                    qty = -3i64,
                    px = 101.5,
                    ok = false
                );
            })
            .unwrap();
    });
    tw.log_event(&tickwatch::Event {
        level: Level::Error,
        target: "gateway",
        message: "link down",
        fields: &[("venue", FieldRef::Str("XNAS")), ("gap", FieldRef::None)],
    });
    tw.flush().unwrap();
    otlp.flush().unwrap();
    let snap = tw.snapshot();

    // The exporter runs on its own, named thread.
    #[cfg(target_os = "linux")]
    {
        let names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|s| s.trim().to_owned())
            .collect();
        assert!(names.iter().any(|n| n == "tickwatch-otlp"), "{names:?}");
    }

    // Metrics: the last export (the flush's) against the snapshot.
    let posts = rx.on("/v1/metrics");
    assert_eq!(posts.len(), 1, "one flush, one metrics export");
    assert_eq!(
        posts[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let metrics = metrics_of(&posts[0].metrics());
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // Counters: one cumulative monotonic Sum, one point per tag set.
    let Some(Data::Sum(sum)) = &find("orders_sent").data else {
        panic!("orders_sent is not a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    assert_eq!(sum.data_points.len(), 2);
    for p in &sum.data_points {
        let tags = tags_of(&p.attributes);
        let t: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let Some(SeriesValue::Counter(c)) = snap.find("orders_sent", &t).map(|s| &s.value) else {
            panic!("{t:?} not in the snapshot")
        };
        assert_eq!(
            p.value,
            Some(number_data_point::Value::AsInt(c.total as i64))
        );
        assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano);
        assert!(p.start_time_unix_nano <= snap.taken_at.unix_nanos());
    }
    let totals: Vec<i64> = sum
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(v)) => v,
            _ => panic!(),
        })
        .collect();
    assert_eq!(totals.iter().sum::<i64>(), 8);
    // Gauges, from metrics and resources.
    for (name, tags, value) in [
        (
            "position",
            vec![("book".to_string(), "alpha".to_string())],
            -2.5,
        ),
        ("queue_depth", vec![], 7.0),
    ] {
        let Some(Data::Gauge(g)) = &find(name).data else {
            panic!("{name} is not a gauge")
        };
        assert_eq!(g.data_points.len(), 1);
        assert_eq!(tags_of(&g.data_points[0].attributes), tags);
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsDouble(value))
        );
    }
    // Latency: a cumulative histogram in seconds at the configured bounds.
    let m = find("risk_check");
    assert_eq!(m.unit, "s");
    let Some(Data::Histogram(h)) = &m.data else {
        panic!("risk_check is not a histogram")
    };
    assert_eq!(h.aggregation_temporality, 2);
    let p = &h.data_points[0];
    assert_eq!(tags_of(&p.attributes), vec![("desk".into(), "a".into())]);
    assert_eq!(p.explicit_bounds, vec![1e-5, 1e-4, 1e-3]);
    // <= 10 µs: 5 and 10 µs; <= 100 µs: 50 µs; <= 1 ms: 500 µs; above: 2 and 3 ms.
    assert_eq!(p.bucket_counts, vec![2, 1, 1, 2]);
    assert_eq!(p.count, 6);
    let sum_s = samples_ns.iter().sum::<u64>() as f64 / 1e9;
    assert!((p.sum.unwrap() - sum_s).abs() < 1e-12, "{:?}", p.sum);
    assert_eq!(p.min, Some(5e-6));
    assert_eq!(p.max, Some(3e-3));
    let Some(SeriesValue::Latency(l)) = snap.find("risk_check", &[("desk", "a")]).map(|s| &s.value)
    else {
        panic!()
    };
    assert_eq!(p.count, l.total.count);
    // tickwatch's own totals ride along.
    let Some(Data::Sum(acc)) = &find("tickwatch.records.accepted").data else {
        panic!()
    };
    // 2 counter adds, 1 metric, 1 resource, 6 latency samples, 2 events, all flushed.
    assert_eq!(
        acc.data_points[0].value,
        Some(number_data_point::Value::AsInt(snap.totals.accepted as i64))
    );
    assert_eq!(snap.totals.accepted, 12);

    // Logs: both events, against the records a MemorySink got.
    let posts = rx.on("/v1/logs");
    assert_eq!(posts.len(), 1);
    let req = posts[0].logs();
    let rl = &req.resource_logs[0];
    assert_eq!(
        str_attr(&rl.resource.as_ref().unwrap().attributes, "service.name"),
        Some("otlp-test")
    );
    let logs = &rl.scope_logs[0].log_records;
    let events: Vec<Record> = mem
        .records()
        .into_iter()
        .filter(|r| matches!(r, Record::Event { .. }))
        .collect();
    assert_eq!(logs.len(), 2);
    assert_eq!(events.len(), 2);
    let warn = logs.iter().find(|l| l.severity_text == "WARN").unwrap();
    assert_eq!(warn.severity_number, 13);
    assert_eq!(
        warn.body.as_ref().unwrap().value,
        Some(any_value::Value::StringValue("order 42 rejected".into()))
    );
    assert_eq!(str_attr(&warn.attributes, "reason"), Some("limit"));
    assert_eq!(
        attr(&warn.attributes, "qty"),
        Some(&any_value::Value::IntValue(-3))
    );
    assert_eq!(
        attr(&warn.attributes, "px"),
        Some(&any_value::Value::DoubleValue(101.5))
    );
    assert_eq!(
        attr(&warn.attributes, "ok"),
        Some(&any_value::Value::BoolValue(false))
    );
    assert_eq!(
        str_attr(&warn.attributes, "thread.name"),
        Some("strat-alpha")
    );
    assert!(str_attr(&warn.attributes, "code.file.path")
        .unwrap()
        .ends_with("mapping.rs"));
    let Some(Record::Event {
        timestamp, thread, ..
    }) = events.iter().find(|r| {
        matches!(
            r,
            Record::Event {
                level: Level::Warn,
                ..
            }
        )
    })
    else {
        panic!()
    };
    assert_eq!(warn.time_unix_nano, timestamp.unix_nanos());
    assert_eq!(
        attr(&warn.attributes, "thread.id"),
        Some(&any_value::Value::IntValue(*thread as i64))
    );
    assert!(warn.observed_time_unix_nano >= warn.time_unix_nano);
    let err = logs.iter().find(|l| l.severity_text == "ERROR").unwrap();
    assert_eq!(err.severity_number, 17);
    assert_eq!(
        err.body.as_ref().unwrap().value,
        Some(any_value::Value::StringValue("link down".into()))
    );
    assert_eq!(str_attr(&err.attributes, "venue"), Some("XNAS"));
    assert_eq!(str_attr(&err.attributes, "log.target"), Some("gateway"));
    // A `None` field is present, with an empty value.
    let gap = err.attributes.iter().find(|kv| kv.key == "gap").unwrap();
    assert_eq!(gap.value.as_ref().unwrap().value, None);

    tw.shutdown().unwrap();
    let s = otlp.shutdown().unwrap();
    assert_eq!(s.exported_log_records, 2);
    assert_eq!(
        (s.failed_requests, s.retries, s.dropped_log_records),
        (0, 0, 0)
    );
    assert!(s.exported_data_points >= 4 + 5, "{s:?}");
    assert_conserved(&s, 2);
    // Shutdown exported the metrics once more.
    assert_eq!(rx.on("/v1/metrics").len(), 2);
}

#[test]
fn json_and_gzip() {
    let rx = Receiver::start(vec![]);
    let mut c = config(&rx.url);
    c.protocol = Protocol::HttpJson;
    c.compression = Compression::Gzip;
    c.headers = vec![("x-api-key".into(), "k1".into())];
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    tw.counter("fills", &[("venue", "XNAS")]).add(u64::MAX / 2);
    log_events(&tw, 3);
    otlp.flush().unwrap();
    let m = &rx.on("/v1/metrics")[0];
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("content-encoding"), Some("gzip"));
    assert_eq!(m.header("x-api-key"), Some("k1"));
    let text = String::from_utf8(m.plain()).unwrap();
    // OTLP JSON: camelCase, 64-bit integers as strings.
    assert!(text.contains("\"resourceMetrics\""), "{text}");
    assert!(
        text.contains(&format!("\"asInt\":\"{}\"", u64::MAX / 2)),
        "{text}"
    );
    let metrics = metrics_of(&m.metrics());
    assert!(metrics.iter().any(|m| m.name == "fills"));
    let l = &rx.on("/v1/logs")[0];
    assert_eq!(l.header("content-type"), Some("application/json"));
    assert_eq!(log_count(std::slice::from_ref(l)), 3);
    let records = &l.logs().resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[2].severity_number, 9);
    assert_eq!(
        records[2].body.as_ref().unwrap().value,
        Some(any_value::Value::StringValue("event 2".into()))
    );
    assert_eq!(
        attr(&records[2].attributes, "seq"),
        Some(&any_value::Value::IntValue(2))
    );
    tw.shutdown().unwrap();
    drop(otlp);
}
