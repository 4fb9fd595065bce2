//! A venue gateway written against `tracing` and `metrics`, as the engine's exchange-session
//! dependency would be: it knows nothing of tickwatch. tickwatch hears it through
//! `Telemetry::tracing_layer` (installed as the process's `tracing` subscriber) and
//! `Telemetry::metrics_recorder` (the process's `metrics` recorder): its events land in the
//! segment log and the sinks, its counters, gauges and histograms in the snapshot, the
//! report's latency table and Prometheus, beside the engine's own.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use tickwatch::{Level, Telemetry};
use tracing_subscriber::layer::SubscriberExt;

use super::{Calls, XorShift, VENUES};

/// The span whose duration the layer records as a latency.
pub const SPAN: &str = "gateway_resend";

/// Makes `tw` the process's `tracing` subscriber and `metrics` recorder.
pub fn install(tw: &Telemetry) -> Result<(), Box<dyn std::error::Error>> {
    let layer = tw.tracing_layer().level(Level::Info).span_latency(SPAN);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    tw.metrics_recorder().install()?;
    metrics::describe_counter!(
        "gateway_messages",
        metrics::Unit::Count,
        "FIX messages the venue gateway exchanged, by venue and type"
    );
    metrics::describe_histogram!(
        "gateway_ack_seconds",
        metrics::Unit::Seconds,
        "time from an order leaving the gateway to the venue's ack"
    );
    metrics::describe_gauge!(
        "gateway_session_lag",
        metrics::Unit::Seconds,
        "age of the newest venue heartbeat"
    );
    Ok(())
}

/// Runs the gateway's sessions until `stop`: per round, for each venue, a message counted,
/// an ack latency and a session lag; now and then a sequence gap (a `warn!` and a timed
/// resend span), and a heartbeat `info!` every 250 rounds. Returns its calls by record kind.
pub fn run(stop: &AtomicBool) -> Calls {
    let mut calls = Calls::default();
    let mut rng = XorShift::new(11);
    let started = Instant::now();
    let mut seq = 0u64;
    while !stop.load(Relaxed) {
        seq += 1;
        for venue in VENUES {
            let kind = if rng.chance(900) {
                "exec_report"
            } else {
                "heartbeat"
            };
            // By name, with labels, as library code writes it: the recorder's per-thread
            // cache finds the series without registering it again.
            metrics::counter!("gateway_messages", "venue" => venue, "type" => kind).increment(1);
            let ack = 20e-6 + rng.below(400) as f64 * 1e-7;
            metrics::histogram!("gateway_ack_seconds", "venue" => venue).record(ack);
            metrics::gauge!("gateway_session_lag", "venue" => venue)
                .set(rng.below(1000) as f64 * 1e-6);
            calls.counter += 1;
            calls.latency += 1;
            calls.metric += 1;
            // Below the layer's level: tracing's fast path, not a call.
            tracing::debug!(venue, seq, "heartbeat sent");
            if rng.chance(2) {
                let gap = 1 + rng.below(5);
                tracing::warn!(venue, seq, gap, "sequence gap, resend requested");
                calls.event += 1;
                let span = tracing::info_span!("gateway_resend", venue);
                let _in = span.enter();
                thread::sleep(Duration::from_micros(50));
                calls.latency += 1;
            }
        }
        if seq.is_multiple_of(250) {
            tracing::info!(
                seq,
                uptime_ms = started.elapsed().as_millis() as u64,
                "gateway heartbeat {}",
                seq
            );
            calls.event += 1;
        }
        thread::sleep(Duration::from_micros(500));
    }
    calls
}

/// One line on what arrived through the two adapters: the gateway's counters and gauges by
/// venue (its latencies are in the latency table above, its events in the log).
pub fn print_report(tw: &Telemetry) {
    use tickwatch::metrics::SeriesValue;
    let snap = tw.snapshot();
    let mut messages = 0u64;
    let mut lag = Vec::new();
    for s in &snap.series {
        match (&s.value, s.name.as_str()) {
            (SeriesValue::Counter(c), "gateway_messages") => messages += c.total,
            (SeriesValue::Gauge(g), "gateway_session_lag") => {
                let venue = s.tags.iter().find(|t| t.0 == "venue").map_or("", |t| &t.1);
                lag.push(format!("{venue} {:.0} µs", g.total.last * 1e6));
            }
            _ => {}
        }
    }
    lag.sort();
    println!(
        "gateway   via tracing + metrics: {} messages counted (gateway_messages), session lag {}",
        super::thousands(messages),
        lag.join(" · "),
    );
}
