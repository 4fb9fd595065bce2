//! The exporter a configuration's `[otlp]` section starts with the instance: fed its events
//! and metrics, reconfigured by `Telemetry::reload`, stopped after the last drain.

use super::*;
use tickwatch::{Config, ReloadError};

/// A configuration exporting to `url`, with hour-long intervals (nothing periodic gets in
/// the way: records leave at a reload's swap or at shutdown).
fn exporting_to(url: &str) -> Config {
    let mut c = Config::default();
    c.otlp.endpoint = Some(url.to_owned());
    c.otlp.interval = Duration::from_secs(3600);
    c.otlp.timeout = Duration::from_secs(5);
    c
}

#[test]
fn the_sections_exporter_follows_reloads_and_exports_everything_at_shutdown() {
    let (a, b) = (Receiver::start(vec![]), Receiver::start(vec![]));
    let tw = Telemetry::from_config(exporting_to(&a.url)).unwrap();
    let control = tw.otlp_control().expect("the section started an exporter");
    assert!(format!("{control:?}").contains(&a.url));
    tw.counter("fills", &[]).add(3);
    log_seq(&tw, 0..5);

    let mut next = exporting_to(&b.url);
    next.otlp.headers.insert("x-desk".into(), "rates".into());
    let report = tw.reload(next).unwrap();
    assert!(report.in_force, "{report:?}");
    assert!(
        report.changed.iter().any(|k| k == "otlp.endpoint"),
        "{report:?}"
    );
    assert_eq!(tw.config().otlp.endpoint.as_deref(), Some(b.url.as_str()));
    log_seq(&tw, 100..110);
    tw.close().unwrap();

    // Every event once: those logged before the reload went to either receiver (the old
    // settings' periodic export, or the queue carried over), those after only to `b`.
    let (at_a, at_b) = (log_bodies(&a), log_bodies(&b));
    let mut all: Vec<String> = at_a.iter().chain(&at_b).cloned().collect();
    all.sort();
    assert_eq!(all, bodies_of((0..5).chain(100..110)));
    assert!(bodies_of(100..110).iter().all(|e| at_b.contains(e)));
    // The new header is on every request to `b`; the final metrics export (after the
    // collector's last drain) holds the counter.
    let to_b = b.on("/v1/logs");
    assert!(!to_b.is_empty());
    assert!(to_b.iter().all(|r| r.header("x-desk") == Some("rates")));
    let last = b.on("/v1/metrics").pop().expect("a final metrics export");
    let names: Vec<String> = last.metrics().resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.clone())
        .collect();
    assert!(names.iter().any(|n| n == "fills"), "{names:?}");
    let s = tw.otlp_stats().unwrap();
    assert_eq!(
        (s.exported_log_records, s.failed_requests),
        (15, 0),
        "{s:?}"
    );
}

#[test]
fn export_cannot_be_turned_on_or_off_by_reload_and_the_refusal_keeps_it_running() {
    let rx = Receiver::start(vec![]);
    let tw = Telemetry::from_config(exporting_to(&rx.url)).unwrap();
    let mut off = tw.config();
    off.otlp.endpoint = None;
    match tw.reload(off) {
        Err(ReloadError::Otlp(OtlpError::NotLive { setting, .. })) => {
            assert_eq!(setting, "endpoint")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tw.config().otlp.endpoint.as_deref(), Some(rx.url.as_str()));
    log_seq(&tw, 0..3);
    tw.close().unwrap();
    assert_eq!(log_bodies(&rx), bodies_of(0..3));

    // An instance that started without export cannot gain an exporter by reload.
    let quiet = Telemetry::from_config(Config::default()).unwrap();
    assert!(quiet.otlp_control().is_none() && quiet.otlp_stats().is_none());
    let mut on = quiet.config();
    on.otlp.endpoint = Some(rx.url.clone());
    match quiet.reload(on) {
        Err(ReloadError::NotLive { key, why }) => {
            assert_eq!(key, "otlp.endpoint");
            assert!(why.contains("started without OTLP export"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // Other `[otlp]` keys without an endpoint change nothing that runs: applied.
    let mut slower = quiet.config();
    slower.otlp.interval = Duration::from_secs(30);
    assert_eq!(quiet.reload(slower).unwrap().changed, ["otlp.interval"]);
}

#[test]
fn a_bad_section_refuses_the_start() {
    let mut c = exporting_to("ftp://nowhere");
    c.otlp.timeout = Duration::from_secs(1);
    match Telemetry::from_config(c) {
        Err(tickwatch::StartError::Section { key, message }) => {
            assert_eq!(key, "otlp");
            assert!(message.contains("ftp"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
