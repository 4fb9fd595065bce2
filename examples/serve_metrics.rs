//! Serves a snapshot with a known counter and known latency samples on `/metrics`,
//! `/health` and `/snapshot`: the target of `ci/e2e_prometheus.sh`.
//!
//! ```text
//! cargo run --features http --example serve_metrics -- 127.0.0.1:9464 [--for SECS]
//! ```
//!
//! The snapshot is aggregated here by hand (exact percentiles and cumulative buckets) from
//! a fixed, seeded workload, so every scrape sees the same values.
// TODO(lead): once `Telemetry::snapshot` lands, record the same workload through a
// `Telemetry` and serve `move || tw.snapshot()` instead of the hand-built value.

use std::time::Duration;

use tickwatch::export::{HealthReport, HealthState, MetricsEndpoint};
use tickwatch::monitoring::{
    Bucket, CounterValue, LatencyValue, Percentiles, SeriesSnapshot, SeriesValue, Snapshot,
};
use tickwatch::performance::SeriesKind;
use tickwatch::Timestamp;

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
    let snapshot = workload();
    let server = MetricsEndpoint::new()
        .snapshot(move || snapshot.clone())
        .health(|| HealthReport {
            state: HealthState::Healthy,
            json: r#"{"status":"healthy","components":[]}"#.into(),
        })
        .serve(addr.as_str())?;
    println!("serving http://{}/metrics", server.local_addr());
    match run_for {
        Some(d) => std::thread::sleep(d),
        // Until killed: the end-to-end script stops it by PID.
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    server.stop()?;
    Ok(())
}

/// Log-uniform latencies between 1 µs and ~30 ms from a fixed LCG, aggregated exactly.
fn workload() -> Snapshot {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut samples: Vec<u64> = (0..SAMPLES)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (1_000.0 * (30_000f64).powf(u)) as u64
        })
        .collect();
    samples.sort_unstable();
    let n = samples.len();
    let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let sum: u64 = samples.iter().sum();
    // 1 µs .. ~33 ms, doubling: 16 buckets.
    let buckets = (0..16)
        .map(|k| {
            let le_ns = 1_000u64 << k;
            Bucket {
                le_secs: le_ns as f64 / 1e9,
                cumulative: samples.partition_point(|&s| s <= le_ns) as u64,
            }
        })
        .collect();
    let latency = LatencyValue {
        total: Percentiles {
            count: n as u64,
            min: samples[0],
            p50: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            p999: rank(0.999),
            max: samples[n - 1],
            mean: sum as f64 / n as f64,
        },
        window: None,
        sum_ns: sum,
        rate_per_sec: 0.0,
        clamped: 0,
        buckets,
    };
    Snapshot {
        taken_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        uptime_secs: 1.0,
        window_secs: 0.0,
        refused_series: 0,
        series: vec![
            SeriesSnapshot {
                name: "orders_filled".into(),
                tags: vec![("venue".into(), "XNAS".into())],
                kind: SeriesKind::Counter,
                value: SeriesValue::Counter(CounterValue {
                    total: ORDERS,
                    window: None,
                    rate_per_sec: 0.0,
                }),
            },
            SeriesSnapshot {
                name: "order_roundtrip".into(),
                tags: vec![("venue".into(), "XNAS".into())],
                kind: SeriesKind::Latency,
                value: SeriesValue::Latency(latency),
            },
        ],
    }
}
