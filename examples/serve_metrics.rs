//! The smallest metrics endpoint: records a fixed, seeded workload through a [`Telemetry`]
//! instance, then serves it with [`Telemetry::serve_metrics`] on `/metrics` (Prometheus text),
//! `/health` (JSON; 503 when unhealthy) and `/snapshot` (JSON) until killed.
//!
//! ```text
//! cargo run --features http --example serve_metrics -- 127.0.0.1:9464 [--for SECS]
//! ```
//!
//! The workload ends before the address is printed, so every scrape sees the same counter
//! and latency histogram: a stable target for `ci/e2e_prometheus.sh` (its default series,
//! `orders_filled` and `order_roundtrip`, are the ones recorded here). The trading-engine
//! example serves a live, multi-threaded workload the same way (`--serve ADDR`).

use std::io::Write;
use std::time::Duration;

use tickwatch::metrics::SeriesValue;
use tickwatch::{Backpressure, Telemetry};

/// Orders filled in the workload: the counter the end-to-end script compares exactly.
const ORDERS: u64 = 123_457;
/// Latency samples in the workload.
const SAMPLES: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9464".into());
    let mut run_for = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--for" => {
                let secs: u64 = args.next().ok_or("--for needs seconds")?.parse()?;
                run_for = Some(Duration::from_secs(secs));
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: serve_metrics [ADDR] [--for SECS]"
                )
                .into())
            }
        }
    }
    // Block rather than drop when a ring is full: the served values must be the workload's.
    let tw = Telemetry::builder()
        .backpressure(Backpressure::Block)
        .start()?;
    workload(&tw);
    tw.flush()?;
    check(&tw)?;

    let server = tw.serve_metrics(addr.as_str())?;
    println!("serving http://{}/metrics", server.local_addr());
    std::io::stdout().flush()?;
    match run_for {
        Some(d) => std::thread::sleep(d),
        // Until killed: the end-to-end script stops it by PID.
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    server.stop()?;
    tw.shutdown()?;
    Ok(())
}

/// `ORDERS` fills and `SAMPLES` log-uniform round trips between 1 µs and ~30 ms from a fixed
/// LCG, so every run serves the same values.
fn workload(tw: &Telemetry) {
    let venue = [("venue", "XNAS")];
    tw.counter("orders_filled", &venue).add(ORDERS);
    let roundtrip = tw.latency_with_tags("order_roundtrip", &venue);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..SAMPLES {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        roundtrip.record_nanos((1_000.0 * 30_000f64.powf(u)) as u64);
    }
}

/// The snapshot holds the whole workload (nothing dropped, nothing refused).
fn check(tw: &Telemetry) -> Result<(), String> {
    let snapshot = tw.snapshot();
    let find = |name: &str| {
        snapshot
            .series
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.value)
            .ok_or_else(|| format!("the snapshot has no series {name}"))
    };
    match find("orders_filled")? {
        SeriesValue::Counter(c) if c.total == ORDERS => {}
        other => {
            return Err(format!(
                "orders_filled: expected a total of {ORDERS}, got {other:?}"
            ))
        }
    }
    match find("order_roundtrip")? {
        SeriesValue::Latency(l) if l.total.count == SAMPLES as u64 => {}
        other => {
            return Err(format!(
                "order_roundtrip: expected {SAMPLES} samples, got {other:?}"
            ))
        }
    }
    Ok(())
}
