//! The OTLP/HTTP specification's failure handling: retries, final statuses, partial
//! success, a full queue, slow and bad endpoints.

use super::*;

#[test]
fn retry_after_is_honoured_then_delivered_once() {
    let rx = Receiver::start(vec![Reply::status(429).header("Retry-After", "1")]);
    let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_events(&tw, 5);
    otlp.flush().unwrap();
    let posts = rx.on("/v1/logs");
    assert_eq!(posts.len(), 2, "one 429, one retry");
    assert_eq!(posts[0].body, posts[1].body, "the same request again");
    let waited = posts[1].at - posts[0].at;
    // The backoff alone would be ~10 ms.
    assert!(waited >= Duration::from_millis(990), "{waited:?}");
    let s = otlp.stats();
    assert_eq!((s.requests, s.retries, s.log_exports), (2, 1, 1));
    assert_eq!((s.exported_log_records, s.failed_log_records), (5, 0));
    assert_conserved(&s, 5);
    tw.shutdown().unwrap();
}

#[test]
fn retryable_statuses_are_retried_with_backoff() {
    for status in [502u16, 503, 504] {
        let rx = Receiver::start(vec![Reply::status(status), Reply::status(status)]);
        let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
        let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
        log_events(&tw, 4);
        otlp.flush().unwrap();
        let posts = rx.on("/v1/logs");
        assert_eq!(posts.len(), 3, "{status}: two failures, then delivered");
        // Exponential: the second wait is longer than the first (10 ms then 20 ms, ±20 %).
        let (w1, w2) = (posts[1].at - posts[0].at, posts[2].at - posts[1].at);
        assert!(
            w1 >= Duration::from_millis(8) && w2 >= Duration::from_millis(16),
            "{w1:?} {w2:?}"
        );
        let s = otlp.stats();
        assert_eq!(
            (s.retries, s.exported_log_records, s.failed_requests),
            (2, 4, 0),
            "{status}"
        );
        tw.shutdown().unwrap();
    }
}

#[test]
fn retries_are_bounded() {
    let rx = Receiver::start((0..10).map(|_| Reply::status(503)).collect());
    let mut c = config(&rx.url);
    c.max_attempts = 3;
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_events(&tw, 2);
    otlp.flush().unwrap();
    assert_eq!(rx.on("/v1/logs").len(), 3);
    let s = otlp.stats();
    assert_eq!(
        (
            s.requests,
            s.retries,
            s.failed_requests,
            s.failed_log_records
        ),
        (3, 2, 1, 2)
    );
    assert!(s.last_error.as_deref().unwrap().contains("503"), "{s:?}");
    assert_conserved(&s, 2);
    tw.shutdown().unwrap();
}

#[test]
fn other_statuses_are_final() {
    for status in [400u16, 401, 404, 413, 500] {
        let rx = Receiver::start(vec![Reply::status(status).header("Retry-After", "0")]);
        let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
        let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
        tw.export_metrics_to(&otlp);
        log_events(&tw, 3);
        otlp.flush().unwrap();
        // The logs export got the status and was not retried; the metrics export got 200.
        assert_eq!(rx.on("/v1/logs").len(), 1, "{status}");
        let s = otlp.stats();
        assert_eq!(
            (s.retries, s.failed_requests, s.failed_log_records),
            (0, 1, 3),
            "{status}"
        );
        assert_eq!(s.exported_log_records, 0);
        assert_eq!(s.metric_exports, 1);
        assert!(
            s.last_error
                .as_deref()
                .unwrap()
                .contains(&format!("HTTP {status}")),
            "{s:?}"
        );
        assert_conserved(&s, 3);
        tw.shutdown().unwrap();
    }
}

#[test]
fn partial_success_is_counted() {
    let logs_reply = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 2,
            error_message: "timestamps too old".into(),
        }),
    };
    let metrics_reply = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 1,
            error_message: "bad name".into(),
        }),
    };
    let rx = Receiver::start(vec![Reply::status(200).body(logs_reply.encode_to_vec())]);
    let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_events(&tw, 5);
    otlp.flush().unwrap();
    let s = otlp.stats();
    assert_eq!(
        (s.exported_log_records, s.rejected_log_records),
        (3, 2),
        "{s:?}"
    );
    assert!(s
        .last_error
        .as_deref()
        .unwrap()
        .contains("timestamps too old"));
    assert_conserved(&s, 5);
    // Metrics: the next answer carries a partial success for the data points.
    rx.script
        .lock()
        .unwrap()
        .push_back(Reply::status(200).body(metrics_reply.encode_to_vec()));
    tw.export_metrics_to(&otlp);
    tw.counter("a", &[]).add(1);
    tw.flush().unwrap();
    otlp.flush().unwrap();
    let s = otlp.stats();
    assert_eq!(s.rejected_data_points, 1, "{s:?}");
    assert!(s.last_error.as_deref().unwrap().contains("bad name"));
    tw.shutdown().unwrap();
}

#[test]
fn a_full_queue_drops_and_counts() {
    let rx = Receiver::start(vec![]);
    let mut c = config(&rx.url);
    c.queue_capacity = 4;
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    // Nothing is exported before the flush (intervals of an hour, batches of 512): the
    // queue holds 4 and the other 6 are dropped.
    log_events(&tw, 10);
    let s = otlp.stats();
    assert_eq!(
        (s.queued_log_records, s.dropped_log_records),
        (4, 6),
        "{s:?}"
    );
    otlp.flush().unwrap();
    let s = otlp.stats();
    assert_eq!(
        (
            s.exported_log_records,
            s.dropped_log_records,
            s.queued_log_records
        ),
        (4, 6, 0)
    );
    assert_eq!(log_count(&rx.on("/v1/logs")), 4);
    // The sink's counters show in the instance's stats.
    let st = tw.stats();
    let otlp_counters = st
        .sinks
        .iter()
        .find(|s| s.name == "otlp")
        .expect("otlp sink");
    assert!(otlp_counters
        .counters
        .iter()
        .any(|(k, v)| *k == "dropped_log_records" && *v == 6));
    tw.shutdown().unwrap();
}

#[test]
fn a_slow_endpoint_never_holds_up_the_collector() {
    // Every answer takes 1.5 s: the exporter thread waits, the collector does not.
    let slow = |_| Reply {
        delay: Duration::from_millis(1500),
        ..Reply::status(200)
    };
    let rx = Receiver::start((0..4).map(slow).collect());
    let mut c = config(&rx.url);
    c.max_log_batch = 1;
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    let t = Instant::now();
    for _ in 0..3 {
        log_events(&tw, 2);
    }
    let took = t.elapsed();
    assert!(took < Duration::from_millis(500), "{took:?}");
    tw.shutdown().unwrap();
    drop(otlp);
}

#[test]
fn bad_endpoints_are_refused_and_unreachable_ones_fail_counted() {
    for url in ["collector:4318", "", "https://", "ftp://collector:21"] {
        assert!(OtlpExporter::start(OtlpConfig::new(url)).is_err(), "{url}");
    }
    // https needs the `otlp-tls` feature (tests/otlp_tls.rs exports over it).
    assert_eq!(
        OtlpExporter::start(OtlpConfig::new("https://collector:4318")).is_ok(),
        cfg!(feature = "otlp-tls")
    );
    // A port nothing listens on: connection refused, retried, then failed, never a panic.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = config(&format!("http://127.0.0.1:{port}"));
    c.max_attempts = 2;
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_events(&tw, 3);
    otlp.flush().unwrap();
    let s = otlp.stats();
    assert_eq!(
        (s.requests, s.retries, s.failed_log_records),
        (2, 1, 3),
        "{s:?}"
    );
    tw.shutdown().unwrap();
}

#[test]
fn periodic_exports_without_flush() {
    let rx = Receiver::start(vec![]);
    let mut c = config(&rx.url);
    c.metrics_interval = Duration::from_millis(100);
    c.logs_interval = Duration::from_millis(50);
    let otlp = OtlpExporter::start(c).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    tw.counter("ticks", &[]).add(1);
    log_events(&tw, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (rx.on("/v1/metrics").len() < 2 || rx.on("/v1/logs").is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rx.on("/v1/metrics").len() >= 2);
    assert_eq!(log_count(&rx.on("/v1/logs")), 2);
    tw.shutdown().unwrap();
}
