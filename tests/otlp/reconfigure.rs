//! Live reconfiguration (`OtlpExporter::control`).

use super::*;

#[test]
fn reconfigure_moves_to_a_new_receiver_without_losing_queued_records() {
    let (old, new) = (Receiver::start(vec![]), Receiver::start(vec![]));
    let otlp = OtlpExporter::start(config(&old.url)).unwrap();
    let control = otlp.control();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    tw.counter("fills", &[]).add(1);
    // Mid-stream: 0..5 exported to the old receiver, 100..110 queued (hour-long intervals,
    // batches of 512: nothing leaves before a flush).
    log_seq(&tw, 0..5);
    otlp.flush().unwrap();
    log_seq(&tw, 100..110);
    assert_eq!(otlp.stats().queued_log_records, 10);
    let mut c = config(&new.url);
    // A metrics interval the old configuration did not have: periodic exports prove it
    // is in force.
    c.metrics_interval = Duration::from_millis(100);
    control.reconfigure(c).unwrap();
    log_seq(&tw, 200..210);
    assert!(
        eventually(|| new.on("/v1/metrics").len() >= 2),
        "periodic metrics at the new interval, to the new receiver"
    );
    otlp.flush().unwrap();
    // Every record exactly once: those exported before the switch at the old receiver,
    // those queued before it and logged after it at the new one.
    assert_eq!(log_bodies(&old), bodies_of(0..5));
    assert_eq!(log_bodies(&new), bodies_of((100..110).chain(200..210)));
    // Metrics after the switch went to the new receiver only.
    assert_eq!(old.on("/v1/metrics").len(), 1, "the first flush's");
    let last = new.on("/v1/metrics").pop().unwrap();
    assert!(metrics_of(&last.metrics())
        .iter()
        .any(|m| m.name == "fills"));
    tw.shutdown().unwrap();
    let s = otlp.shutdown().unwrap();
    assert_eq!(
        (s.exported_log_records, s.failed_requests),
        (25, 0),
        "{s:?}"
    );
    assert_conserved(&s, 25);
    assert_eq!(old.on("/v1/metrics").len(), 1);
}

#[test]
fn new_headers_compression_and_resource_apply_from_the_next_request() {
    let rx = Receiver::start(vec![]);
    let mut c = config(&rx.url);
    c.headers = vec![("x-api-key".into(), "k1".into())];
    let otlp = OtlpExporter::start(c.clone()).unwrap();
    let control = otlp.control();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    log_seq(&tw, 0..2);
    otlp.flush().unwrap();
    let first = &rx.on("/v1/logs")[0];
    assert_eq!(first.header("x-api-key"), Some("k1"));
    assert_eq!(first.header("content-encoding"), None);
    c.headers = vec![
        ("x-api-key".into(), "k2".into()),
        ("x-tenant".into(), "desk-7".into()),
    ];
    c.compression = Compression::Gzip;
    c.protocol = Protocol::HttpJson;
    c.service_name = "otlp-test-reloaded".into();
    control.reconfigure(c).unwrap();
    log_seq(&tw, 2..4);
    otlp.flush().unwrap();
    for path in ["/v1/logs", "/v1/metrics"] {
        let posts = rx.on(path);
        assert_eq!(posts.len(), 2, "{path}");
        let next = &posts[1];
        assert_eq!(next.header("x-api-key"), Some("k2"), "{path}");
        assert_eq!(next.header("x-tenant"), Some("desk-7"), "{path}");
        assert_eq!(next.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(next.header("content-type"), Some("application/json"));
        let resource = if path == "/v1/logs" {
            next.logs().resource_logs[0].resource.clone()
        } else {
            next.metrics().resource_metrics[0].resource.clone()
        };
        assert_eq!(
            str_attr(&resource.unwrap().attributes, "service.name"),
            Some("otlp-test-reloaded")
        );
    }
    assert_eq!(log_bodies(&rx), bodies_of(0..4));
    tw.shutdown().unwrap();
}

#[test]
fn a_change_of_queue_capacity_is_refused_and_export_goes_on() {
    let (old, other) = (Receiver::start(vec![]), Receiver::start(vec![]));
    let mut c = config(&old.url);
    c.queue_capacity = 64;
    let otlp = OtlpExporter::start(c.clone()).unwrap();
    let control = otlp.control();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_seq(&tw, 0..3);
    let mut changed = config(&other.url);
    changed.queue_capacity = 128;
    let e = control.reconfigure(changed).unwrap_err();
    assert!(
        matches!(
            e,
            OtlpError::NotLive {
                setting: "queue_capacity",
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("queue_capacity") && text.contains("restart the exporter to change it"),
        "{text}"
    );
    // Refused whole: the endpoint did not change either.
    log_seq(&tw, 3..6);
    otlp.flush().unwrap();
    assert_eq!(log_bodies(&old), bodies_of(0..6));
    assert!(other.received().is_empty());
    tw.shutdown().unwrap();
}

#[test]
fn a_request_in_retry_finishes_under_the_old_settings() {
    // The first answer asks for a retry in a second: the new configuration waits for it.
    let old = Receiver::start(vec![Reply::status(503).header("Retry-After", "1")]);
    let new = Receiver::start(vec![]);
    let otlp = OtlpExporter::start(config(&old.url)).unwrap();
    let control = otlp.control();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    log_seq(&tw, 0..3);
    std::thread::scope(|s| {
        let reconfiguring = s.spawn(|| {
            assert!(eventually(|| !old.on("/v1/logs").is_empty()));
            let mut c = config(&new.url);
            c.flush_timeout = Duration::from_millis(100);
            control.reconfigure(c)
        });
        otlp.flush().unwrap();
        // Not acknowledged within 100 ms: the thread slept in the retry's backoff.
        let r = reconfiguring.join().unwrap();
        assert!(matches!(r, Err(OtlpError::Timeout)), "{r:?}");
    });
    // The retry went to the old receiver, with the same body.
    let posts = old.on("/v1/logs");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body, posts[1].body);
    // The configuration stayed handed over, and is in force from the next request.
    log_seq(&tw, 3..5);
    otlp.flush().unwrap();
    // Nothing else at the old receiver (0..3 twice: the 503 and its retry).
    assert_eq!(log_bodies(&old), bodies_of((0..3).chain(0..3)));
    assert_eq!(log_bodies(&new), bodies_of(3..5));
    let s = otlp.stats();
    assert_eq!((s.exported_log_records, s.retries), (5, 1), "{s:?}");
    tw.shutdown().unwrap();
}

#[test]
fn reconfigure_after_shutdown_is_stopped() {
    let rx = Receiver::start(vec![]);
    let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
    let control = otlp.control();
    let copy = control.clone();
    otlp.shutdown().unwrap();
    assert!(matches!(
        control.reconfigure(config(&rx.url)),
        Err(OtlpError::Stopped)
    ));
    let section: tickwatch::export::OtlpSection =
        toml::from_str(&format!("endpoint = \"{}\"", rx.url)).unwrap();
    // The `OTEL_*` variables apply over the section; an endpoint among them does not change
    // the outcome.
    assert!(matches!(
        copy.reconfigure_from_section(&section),
        Err(OtlpError::Stopped)
    ));
    // Dropped rather than shut down: the same.
    let otlp = OtlpExporter::start(config(&rx.url)).unwrap();
    let control = otlp.control();
    drop(otlp);
    assert!(matches!(
        control.reconfigure(config(&rx.url)),
        Err(OtlpError::Stopped)
    ));
}
