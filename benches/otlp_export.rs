//! OTLP/HTTP export against the opentelemetry-otlp SDK (blocking `reqwest` client), the same
//! data to the same local receiver in the same run, so each claim is a ratio:
//!
//! ```text
//! cargo bench --features otlp,otel-sdk-peer --bench otlp_export
//! ```
//!
//! * `metrics_10k_series`: one export of 10,000 counter series (100 names x 100 `venue`
//!   values, plus a `desk` tag) as cumulative monotonic sums, protobuf, one POST: tickwatch's
//!   exporter flushing a snapshot (`OtlpExporter::flush`) against the SDK's
//!   `SdkMeterProvider::force_flush` over the same counters. Both encode and send on their
//!   export thread; the receiver decodes nothing.
//! * `logs_100k_records`: 100,000 Info log records with a formatted body and two attributes
//!   (`venue`, `qty`), from the API call to the last one received, in batches of 512:
//!   tickwatch's `info!` into its ring, the collector's OTLP sink and the exporter thread,
//!   against the SDK's `Logger::emit` into a `BatchLogProcessor` and its thread.
//! * `collector_sink_100k_events`: what the OTLP sink adds to the collector (no SDK
//!   counterpart: its records are made on the calling thread), against a sink that only
//!   decodes events and formats their messages.

use std::time::{Duration, Instant, SystemTime};

#[path = "common/http_receiver.rs"]
mod http_receiver;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{LogExporter, MetricExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use tickwatch::export::otlp::{OtlpConfig, OtlpExporter};
use tickwatch::metrics::{CounterValue, SeriesKind, SeriesSnapshot, SeriesValue, Snapshot};
use tickwatch::Telemetry;

const SERIES: u64 = 10_000;
const NAMES: u64 = 100;
const RECORDS: u64 = 100_000;
const BATCH: usize = 512;
/// Nothing periodic: exports happen at the flushes (and, for logs, when a batch is full).
const NEVER: Duration = Duration::from_secs(3600);

fn tickwatch_exporter(url: &str) -> OtlpExporter {
    let mut c = OtlpConfig::new(url);
    c.metrics_interval = NEVER;
    c.max_log_batch = BATCH;
    c.queue_capacity = 2 * RECORDS as usize;
    c.service_name = "bench".into();
    OtlpExporter::start(c).expect("start the exporter")
}

fn snapshot() -> Snapshot {
    let mut snap = Snapshot::empty(tickwatch::Timestamp::from_unix_nanos(
        1_700_000_000_000_000_000,
    ));
    for i in 0..SERIES {
        snap.series.push(SeriesSnapshot {
            name: format!("orders_{}", i % NAMES),
            tags: vec![
                ("desk".into(), "alpha".into()),
                ("venue".into(), format!("V{i}")),
            ],
            kind: SeriesKind::Counter,
            value: SeriesValue::Counter(CounterValue {
                total: i,
                window: None,
                rate_per_sec: 0.0,
            }),
        });
    }
    snap
}

fn metrics(c: &mut Criterion) {
    let (url, counts) = http_receiver::start();
    let mut g = c.benchmark_group("otlp_export/metrics_10k_series");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(SERIES));

    let otlp = tickwatch_exporter(&url);
    let snap = snapshot();
    otlp.metrics_source(move || snap.clone());
    otlp.flush().expect("warm-up flush");
    g.bench_function("tickwatch", |b| b.iter(|| otlp.flush().expect("flush")));
    let tw_bytes = counts.bytes.load(std::sync::atomic::Ordering::Relaxed)
        / counts
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
    drop(otlp);

    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/metrics"))
        .build()
        .expect("SDK metric exporter");
    let reader = PeriodicReader::builder(exporter)
        .with_interval(NEVER)
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(Resource::builder().with_service_name("bench").build())
        .build();
    let meter = provider.meter("bench");
    let counters: Vec<_> = (0..NAMES)
        .map(|n| meter.u64_counter(format!("orders_{n}")).build())
        .collect();
    for i in 0..SERIES {
        counters[(i % NAMES) as usize].add(
            i,
            &[
                KeyValue::new("desk", "alpha"),
                KeyValue::new("venue", format!("V{i}")),
            ],
        );
    }
    provider.force_flush().expect("warm-up flush");
    let before = (
        counts.requests.load(std::sync::atomic::Ordering::Relaxed),
        counts.bytes.load(std::sync::atomic::Ordering::Relaxed),
    );
    g.bench_function("opentelemetry-otlp", |b| {
        b.iter(|| provider.force_flush().expect("flush"))
    });
    let after = (
        counts.requests.load(std::sync::atomic::Ordering::Relaxed),
        counts.bytes.load(std::sync::atomic::Ordering::Relaxed),
    );
    let sdk_bytes = (after.1 - before.1) / (after.0 - before.0).max(1);
    println!("bytes per metrics request: tickwatch {tw_bytes}, opentelemetry-otlp {sdk_bytes}");
    let _ = provider.shutdown();
    g.finish();
}

fn logs(c: &mut Criterion) {
    let (url, _counts) = http_receiver::start();
    let mut g = c.benchmark_group("otlp_export/logs_100k_records");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(RECORDS));

    let otlp = tickwatch_exporter(&url);
    let tw = Telemetry::builder()
        .ring_capacity(1 << 24)
        .sink(otlp.log_sink())
        .start()
        .expect("start");
    g.bench_function("tickwatch", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for k in 0..RECORDS {
                    tickwatch::info!(
                        tw,
                        "fill {} at {}",
                        k,
                        101.25f64,
                        venue = "XNAS",
                        qty = 100u64
                    );
                }
                tw.flush().expect("flush the instance");
                otlp.flush().expect("flush the exporter");
            }
            t.elapsed()
        })
    });
    tw.shutdown().expect("shutdown");
    let s = otlp.shutdown().expect("exporter shutdown");
    assert_eq!(s.dropped_log_records + s.failed_requests, 0, "{s:?}");

    let exporter = LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/logs"))
        .build()
        .expect("SDK log exporter");
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(2 * RECORDS as usize)
                .with_max_export_batch_size(BATCH)
                .with_scheduled_delay(NEVER)
                .build(),
        )
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .with_resource(Resource::builder().with_service_name("bench").build())
        .build();
    let logger = provider.logger("bench");
    g.bench_function("opentelemetry-otlp", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for k in 0..RECORDS {
                    let mut r = logger.create_log_record();
                    r.set_body(AnyValue::from(format!("fill {k} at {}", 101.25f64)));
                    r.set_severity_number(Severity::Info);
                    r.set_severity_text("INFO");
                    r.set_timestamp(SystemTime::now());
                    r.add_attribute("venue", "XNAS");
                    r.add_attribute("qty", 100i64);
                    logger.emit(r);
                }
                provider.force_flush().expect("flush");
            }
            t.elapsed()
        })
    });
    let _ = provider.shutdown();
    g.finish();
}

/// The floor of any event sink: decode each event and format its message.
struct DecodeOnly(String);

impl tickwatch::sink::Sink for DecodeOnly {
    fn write(
        &mut self,
        batch: &tickwatch::sink::Batch<'_>,
    ) -> Result<(), tickwatch::sink::SinkError> {
        for r in batch.iter_where(|k| k == tickwatch::sink::RecordKind::Event) {
            if let tickwatch::sink::RecordView::Event(e) = r {
                self.0.clear();
                let _ = e.write_message(&mut self.0);
                for (_, v) in e.fields() {
                    std::hint::black_box(v);
                }
            }
        }
        Ok(())
    }
}

/// What the OTLP sink costs the collector: 100,000 events logged and delivered (the
/// collector drains while the thread logs; timed to `Telemetry::flush`'s return) to the OTLP
/// sink (decode, format the message, copy into the exporter's queue) against a sink that
/// only decodes and formats; the export itself is untimed.
fn collector_sink(c: &mut Criterion) {
    let (url, _counts) = http_receiver::start();
    let mut g = c.benchmark_group("otlp_export/collector_sink_100k_events");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(RECORDS));
    let otlp = tickwatch_exporter(&url);
    let with = Telemetry::builder()
        .ring_capacity(1 << 24)
        .sink(otlp.log_sink())
        .start()
        .expect("start");
    let without = Telemetry::builder()
        .ring_capacity(1 << 24)
        .sink(DecodeOnly(String::new()))
        .start()
        .expect("start");
    for (name, tw) in [("decode_only", &without), ("otlp_sink", &with)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    for k in 0..RECORDS {
                        tickwatch::info!(
                            tw,
                            "fill {} at {}",
                            k,
                            101.25f64,
                            venue = "XNAS",
                            qty = 100u64
                        );
                    }
                    tw.flush().expect("flush");
                    total += t.elapsed();
                    if name == "otlp_sink" {
                        otlp.flush().expect("export, untimed");
                    }
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, metrics, logs, collector_sink);
criterion_main!(benches);
