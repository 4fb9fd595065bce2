//! `Telemetry::render_prometheus` of a running instance with every series kind (counters,
//! gauges from `log_metric`, resources, latencies, and the resource sampler's own gauges),
//! hostile names and tag values included, passes `promtool check metrics` and our own checks
//! of the text format.

mod prometheus_support;

use std::time::{Duration, Instant};

use prometheus_support::{check, promtool};
use tickwatch::Telemetry;

#[test]
#[ignore = "needs promtool (apt install prometheus); .ci/run runs it with --ignored"]
fn a_live_instance_renders_valid_exposition() {
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_millis(10))
        .resource_sampling(Some(Duration::from_millis(20)))
        .aggregation_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    tw.counter("orders", &[("venue", "XNAS")]).add(3);
    tw.counter("9lives-total", &[("quote\"", "a\\b\nc")]).add(1);
    tw.log_metric("spread", 0.07, &[("venue", "XNAS"), ("desk", "ünï")]);
    tw.log_metric("spread", 0.02, &[("venue", "")]);
    tw.track_resource_usage("cpu", 0.25);
    tw.measure_latency("order_rtt", Duration::from_micros(40));
    let rtt = tw.latency_with_tags("order_rtt", &[("venue", "XLON")]);
    for us in [5, 50, 500, 5_000] {
        rtt.record(Duration::from_micros(us));
    }
    tw.flush().unwrap();
    // Wait for the sampler's gauges (published on the collector's tick).
    let end = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = tw.render_prometheus();
        if text.contains("\ntickwatch_process_resident_bytes ") {
            break text;
        }
        assert!(Instant::now() < end, "no resource gauges in:\n{text}");
        std::thread::sleep(Duration::from_millis(5));
    };

    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    assert_eq!(ex.find("orders_total", &[("venue", "XNAS")]), Some(3.0));
    assert_eq!(
        ex.find("spread", &[("venue", "XNAS"), ("desk", "ünï")]),
        Some(0.07)
    );
    assert_eq!(ex.find("cpu", &[]), Some(0.25));
    assert_eq!(
        ex.find("order_rtt_seconds_count", &[("venue", "XLON")]),
        Some(4.0)
    );
    assert_eq!(ex.find("order_rtt_seconds_count", &[]), Some(1.0));
    assert_eq!(
        ex.types.get("order_rtt_seconds").map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        ex.types.get("orders_total").map(String::as_str),
        Some("counter")
    );
    // The hostile counter survives, sanitized and escaped.
    assert!(
        ex.samples
            .iter()
            .any(|s| s.value == 1.0 && s.labels.iter().any(|(_, v)| v == "a\\b\nc")),
        "{text}"
    );

    let (code, output) = promtool(&text);
    assert_eq!(
        code, 0,
        "promtool check metrics failed:\n{output}\n---\n{text}"
    );
    tw.shutdown().unwrap();
}

/// The default buckets start at 100 ns, so sub-microsecond operations (a risk check) are
/// told apart instead of all landing in the first bucket; the instance's own totals are
/// exported as counters.
#[test]
fn default_buckets_resolve_sub_microsecond_latencies_and_totals_are_counters() {
    let tw = Telemetry::builder().start().unwrap();
    for ns in [150, 300, 300, 800] {
        tw.measure_latency("risk_check", Duration::from_nanos(ns));
    }
    tw.describe(
        "risk_check",
        "time to check one order against the limits",
        None,
    );
    tw.flush().unwrap();
    let text = tw.render_prometheus();
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    let bucket = |le: &str| ex.find("risk_check_seconds_bucket", &[("le", le)]);
    assert_eq!(bucket("1e-7"), Some(0.0), "{text}");
    assert_eq!(bucket("2.5e-7"), Some(1.0), "{text}");
    assert_eq!(bucket("5e-7"), Some(3.0), "{text}");
    assert_eq!(bucket("1e-6"), Some(4.0), "{text}");
    assert!(text.contains("# HELP risk_check_seconds time to check one order against the limits\n"));
    let stats = tw.stats();
    assert_eq!(
        ex.find("tickwatch_records_accepted_total", &[]),
        Some(stats.accepted as f64),
        "{text}"
    );
    assert_eq!(
        ex.find("tickwatch_records_delivered_total", &[]),
        Some(stats.delivered as f64)
    );
    assert_eq!(ex.types["tickwatch_records_dropped_total"], "counter");
    tw.shutdown().unwrap();
}
