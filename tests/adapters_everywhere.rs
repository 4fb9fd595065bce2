//! What arrives through the `tracing` layer and the `metrics` recorder shows up wherever
//! tickwatch's own records do: the snapshot, the Prometheus exposition (checked by promtool
//! elsewhere for every family: here its lines), alert rules, the sinks and health.
#![cfg(all(feature = "tracing", feature = "metrics"))]

#[path = "common/poll.rs"]
mod poll;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::alerts::*;
use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn gateway_series_reach_the_snapshot_prometheus_alerts_and_the_sinks() {
    let notes: Arc<Mutex<Vec<Notification>>> = Arc::default();
    let inbox = notes.clone();
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_millis(10))
        .resource_sampling(None)
        .sink(mem.clone())
        .alert_rules([
            Rule::new(
                "lag_high",
                Expr::Gauge {
                    selector: Selector::new("gateway_session_lag"),
                    stat: GaugeStat::Last,
                    op: Op::Gt,
                    bound: 0.5,
                },
            )
            .severity(Severity::Warning),
            Rule::new(
                "resend_slow",
                Expr::Latency {
                    selector: Selector::new("gateway_resend"),
                    stat: LatencyStat::Max,
                    horizon: Horizon::Total,
                    above: Duration::from_micros(1),
                },
            )
            .severity(Severity::Warning),
        ])
        .alert_route(
            "inbox",
            SeverityFilter::all(),
            CallbackSink::new(move |n: &Notification| inbox.lock().unwrap().push(n.clone())),
        )
        .start()
        .unwrap();
    let recorder = tw.metrics_recorder();
    let layer = tw.tracing_layer().span_latency("gateway_resend");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("gateway_messages", "FIX messages exchanged");
            for i in 0..10u64 {
                metrics::counter!("gateway_messages", "venue" => "XNAS").increment(2);
                metrics::gauge!("gateway_session_lag", "venue" => "XNAS").set(i as f64 / 10.0);
            }
            let span = tracing::info_span!("gateway_resend");
            let entered = span.enter();
            std::thread::sleep(Duration::from_millis(1));
            drop(entered);
            drop(span);
            tracing::error!(venue = "XNAS", "session lost");
        })
    });
    tw.flush().unwrap();

    let snap = tw.snapshot();
    let find = |name: &str| {
        snap.series
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:#?}", snap.series))
    };
    assert!(matches!(&find("gateway_messages").value, SeriesValue::Counter(c) if c.total == 20));
    assert!(
        matches!(&find("gateway_session_lag").value, SeriesValue::Gauge(g) if g.total.last == 0.9)
    );
    assert!(matches!(&find("gateway_resend").value, SeriesValue::Latency(l) if l.total.count == 1));
    assert!(snap
        .descriptions
        .iter()
        .any(|d| d.name == "gateway_messages"));

    let text = tw.render_prometheus();
    assert!(
        text.contains("# HELP gateway_messages_total FIX messages exchanged\n"),
        "{text}"
    );
    assert!(
        text.contains("gateway_messages_total{venue=\"XNAS\"} 20\n"),
        "{text}"
    );
    assert!(
        text.contains("gateway_session_lag{venue=\"XNAS\"} 0.9\n"),
        "{text}"
    );
    assert!(text.contains("gateway_resend_seconds_count 1\n"), "{text}");

    let fired = |name: &str| {
        poll::poll_every(Duration::from_secs(20), Duration::from_millis(5), || {
            notes
                .lock()
                .unwrap()
                .iter()
                .any(|n| n.name == name && n.transition == Transition::Firing)
                .then_some(())
        })
        .is_some()
    };
    assert!(fired("lag_high"), "{:#?}", notes.lock().unwrap());
    assert!(fired("resend_slow"), "{:#?}", notes.lock().unwrap());

    let errors = mem
        .records()
        .into_iter()
        .filter(|r| matches!(r, Record::Event { level: tickwatch::Level::Error, message, .. } if message == "session lost"))
        .count();
    assert_eq!(errors, 1);
    // Their records pass through the same rings the health verdict watches.
    let health = tw.get_system_health();
    assert!(health.component("tickwatch.rings").is_some());
    assert_ne!(
        health.status,
        tickwatch::health::Status::Unhealthy,
        "{health:?}"
    );
    tw.shutdown().unwrap();
}
