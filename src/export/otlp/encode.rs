//! Snapshots and copied events as OTLP messages (the generated types of
//! `opentelemetry-proto`), and the messages as request bodies (protobuf or OTLP JSON).
//!
//! | tickwatch | OTLP |
//! |---|---|
//! | counter | `Sum`, cumulative, monotonic, `as_int` = total since start |
//! | metric, resource | `Gauge`, `as_double` = last value |
//! | latency | `Histogram`, cumulative, seconds: `explicit_bounds` = the configured buckets, `bucket_counts`, `sum`, `count`, `min`, `max` |
//! | own totals | `Sum`s `tickwatch.records.accepted`, `.dropped`, `.delivered`, `tickwatch.sink.errors`, `tickwatch.series.refused` |
//! | event | `LogRecord`: severity number and text, body = the formatted message, attributes = fields + `thread.id`, `thread.name`, `code.*`, `log.target` |
//!
//! Series of one name and kind share one `Metric` (one data point per tag set); tags are
//! the data points' string attributes. Every data point's start time is the instance's
//! start (`taken_at - uptime`). A `u64` field above `i64::MAX` is sent as its decimal
//! string (OTLP has no unsigned integer); a counter total above it is clamped.
//!
//! In OTLP JSON (`http/json`) a NaN or infinite gauge or field value is written as `null`
//! (read as unset) by the generated types' serde; protobuf carries it as it is.

use std::io::Write as _;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::config::{Compression, OtlpConfig, Protocol};
use crate::metrics::{SeriesValue, Snapshot, Unit};

/// The instrumentation scope of everything tickwatch exports.
pub(crate) const SCOPE_NAME: &str = "tickwatch";

/// A string attribute.
pub(crate) fn kv(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// The resource every request carries: `service.name`, the configured attributes and the
/// `telemetry.sdk.*` attributes.
pub(crate) fn resource(config: &OtlpConfig) -> Resource {
    let mut attributes = vec![kv("service.name", config.service_name.clone())];
    for (k, v) in &config.resource_attributes {
        if k != "service.name" && !attributes.iter().any(|a| &a.key == k) {
            attributes.push(kv(k.clone(), v.clone()));
        }
    }
    for (k, v) in [
        ("telemetry.sdk.name", SCOPE_NAME),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ] {
        if !attributes.iter().any(|a| a.key == k) {
            attributes.push(kv(k, v));
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

fn unit_str(unit: Option<Unit>) -> &'static str {
    match unit {
        Some(Unit::Seconds) => "s",
        Some(Unit::Bytes) => "By",
        Some(Unit::Ratio) => "1",
        Some(Unit::Count) | None => "",
    }
}

fn sum_point(attributes: Vec<KeyValue>, start: u64, now: u64, total: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(
            i64::try_from(total).unwrap_or(i64::MAX),
        )),
        ..Default::default()
    }
}

fn monotonic_sum(points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: true,
    })
}

/// Seconds, for bounds, sums, min and max of latencies.
fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// A latency as a histogram data point: bounds that are not finite or not above the
/// previous one are left out (their samples fall in the next bucket), cumulative counts are
/// clamped to be non-decreasing and at most `count`, and differenced into per-bucket counts
/// (`bounds + 1` of them, the last for samples above every bound).
fn histogram_point(
    l: &crate::metrics::LatencyValue,
    attributes: Vec<KeyValue>,
    start: u64,
    now: u64,
) -> HistogramDataPoint {
    let count = l.total.count;
    let mut bounds = Vec::with_capacity(l.buckets.len());
    let mut counts = Vec::with_capacity(l.buckets.len() + 1);
    let mut below = 0u64;
    for b in &l.buckets {
        if !b.le_secs.is_finite() || bounds.last().is_some_and(|&p: &f64| b.le_secs <= p) {
            continue;
        }
        let cumulative = b.cumulative.clamp(below, count);
        bounds.push(b.le_secs);
        counts.push(cumulative - below);
        below = cumulative;
    }
    counts.push(count - below);
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        count,
        sum: Some(secs(l.sum_ns)),
        bucket_counts: counts,
        explicit_bounds: bounds,
        min: (count > 0).then(|| secs(l.total.min)),
        max: (count > 0).then(|| secs(l.total.max)),
        ..Default::default()
    }
}

/// The instance's start (the data points' start time): `taken_at - uptime`.
pub(crate) fn start_time(snapshot: &Snapshot) -> u64 {
    let up = (snapshot.uptime_secs.max(0.0) * 1e9) as u64;
    snapshot.taken_at.unix_nanos().saturating_sub(up)
}

/// Every series of `snapshot`, and tickwatch's own totals, as one request. `start` is the
/// start time of every cumulative point. Also returns the number of data points.
pub(crate) fn metrics_request(
    snapshot: &Snapshot,
    start: u64,
    resource: &Resource,
) -> (ExportMetricsServiceRequest, usize) {
    let now = snapshot.taken_at.unix_nanos();
    let mut metrics: Vec<Metric> = Vec::new();
    // (name, kind discriminant) -> index in `metrics`.
    let mut index: crate::hash::KeyedMap<(&str, u8), usize> = Default::default();
    let mut points = 0usize;
    for s in &snapshot.series {
        let attributes: Vec<KeyValue> = s
            .tags
            .iter()
            .map(|(k, v)| kv(k.clone(), v.clone()))
            .collect();
        let kind = match &s.value {
            SeriesValue::Counter(_) => 0u8,
            SeriesValue::Gauge(_) => 1,
            SeriesValue::Latency(_) => 2,
        };
        let i = *index.entry((s.name.as_str(), kind)).or_insert_with(|| {
            let d = snapshot.description(&s.name);
            let unit = match &s.value {
                SeriesValue::Latency(_) => "s",
                _ => unit_str(d.and_then(|d| d.unit)),
            };
            let data = match &s.value {
                SeriesValue::Counter(_) => monotonic_sum(Vec::new()),
                SeriesValue::Gauge(_) => Data::Gauge(Gauge {
                    data_points: Vec::new(),
                }),
                SeriesValue::Latency(_) => Data::Histogram(Histogram {
                    data_points: Vec::new(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            };
            metrics.push(Metric {
                name: s.name.clone(),
                description: d.map(|d| d.help.clone()).unwrap_or_default(),
                unit: unit.into(),
                data: Some(data),
                ..Default::default()
            });
            metrics.len() - 1
        });
        points += 1;
        match (&s.value, metrics[i].data.as_mut()) {
            (SeriesValue::Counter(c), Some(Data::Sum(sum))) => {
                sum.data_points
                    .push(sum_point(attributes, start, now, c.total));
            }
            (SeriesValue::Gauge(g), Some(Data::Gauge(gauge))) => {
                gauge.data_points.push(NumberDataPoint {
                    attributes,
                    // A gauge's start time is optional; the instance's start is harmless.
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsDouble(g.total.last)),
                    ..Default::default()
                });
            }
            (SeriesValue::Latency(l), Some(Data::Histogram(h))) => {
                h.data_points
                    .push(histogram_point(l, attributes, start, now));
            }
            _ => points -= 1,
        }
    }
    let t = &snapshot.totals;
    for (name, description, total) in [
        (
            "tickwatch.records.accepted",
            "records written to a ring since start",
            t.accepted,
        ),
        (
            "tickwatch.records.dropped",
            "records not written (ring full, oversized, stopping) since start",
            t.dropped,
        ),
        (
            "tickwatch.records.delivered",
            "accepted records handed to every sink since start",
            t.delivered,
        ),
        (
            "tickwatch.sink.errors",
            "failed or panicked sink calls since start",
            t.sink_errors,
        ),
        (
            "tickwatch.series.refused",
            "series registrations refused by the series cap since start",
            snapshot.refused_series,
        ),
    ] {
        points += 1;
        metrics.push(Metric {
            name: name.into(),
            description: description.into(),
            unit: "1".into(),
            data: Some(monotonic_sum(vec![sum_point(
                Vec::new(),
                start,
                now,
                total,
            )])),
            ..Default::default()
        });
    }
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (request, points)
}

/// A message as a request body in `protocol`, compressed as configured.
pub(crate) fn body<M>(message: &M, protocol: Protocol, compression: Compression) -> Vec<u8>
where
    M: prost::Message + serde::Serialize,
{
    let raw = match protocol {
        Protocol::HttpProtobuf => message.encode_to_vec(),
        // The generated types' serde follows OTLP's JSON mapping (camelCase names, 64-bit
        // integers as strings, enums as numbers, ids as hex). Serializing to memory fails
        // only on a map with non-string keys, which these messages do not have.
        Protocol::HttpJson => serde_json::to_vec(message).unwrap_or_default(),
    };
    match compression {
        Compression::None => raw,
        Compression::Gzip => {
            let mut z = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 4 + 64),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            let _ = z.write_all(&raw);
            z.finish().unwrap_or_default()
        }
    }
}
