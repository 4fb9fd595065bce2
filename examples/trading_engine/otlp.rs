//! OTLP export (feature `otlp`): when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the run's
//! metrics and events go to that OpenTelemetry collector (plain HTTP, protobuf unless
//! `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), configured by the standard `OTEL_*` variables.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=trading-engine \
//!     cargo run --release --features otlp --example trading_engine -- --quick
//! ```
//!
//! When the `--config` file's `[otlp]` section sets an endpoint, the instance itself starts
//! that exporter (the `OTEL_*` variables over the section), and a reload of the file
//! reconfigures it live.
//!
//! Events are queued by a sink on the collector and exported by the exporter's own thread;
//! metrics are exported from the instance's snapshot every `OTEL_METRIC_EXPORT_INTERVAL`
//! (60 s by default) and once more at the end of the run, after the instance has shut down
//! (so the last export holds every record).

use tickwatch::export::otlp::{OtlpConfig, OtlpExporter, OtlpStats};
use tickwatch::{Telemetry, TelemetryBuilder};

/// The exporter, if `OTEL_EXPORTER_OTLP_ENDPOINT` (or a per-signal endpoint) is set, or
/// else if the `--config` file's `[otlp]` section has an endpoint; and the builder with its
/// log sink added.
pub fn start(
    builder: TelemetryBuilder,
) -> Result<(TelemetryBuilder, Option<OtlpExporter>), Box<dyn std::error::Error>> {
    if let Some(endpoint) = &builder.config().otlp.endpoint {
        // The instance starts, feeds, reconfigures (on a reload) and stops this one.
        println!("otlp      exporting to {endpoint} (the --config file's [otlp], OTEL_* variables over it)");
        return Ok((builder, None));
    }
    let Some(config) = OtlpConfig::from_env()? else {
        return Ok((builder, None));
    };
    println!(
        "otlp      exporting to {} and {}",
        config.metrics_url, config.logs_url
    );
    let otlp = OtlpExporter::start(config)?;
    Ok((builder.sink(otlp.log_sink()), Some(otlp)))
}

/// Exports what is left (the final metrics included) and prints the exporter's counters.
/// `false` if an export failed or did not finish in time.
pub fn finish(tw: &Telemetry, otlp: Option<OtlpExporter>) -> bool {
    if let Some(s) = tw.otlp_stats() {
        print_stats(&s);
        return s.failed_requests == 0;
    }
    let Some(otlp) = otlp else { return true };
    match otlp.shutdown() {
        Ok(s) => {
            print_stats(&s);
            s.failed_requests == 0
        }
        Err(e) => {
            println!("otlp      FAILED: {e}");
            false
        }
    }
}

fn print_stats(s: &OtlpStats) {
    println!(
        "otlp      {} data points in {} exports, {} log records in {} exports; dropped {}, rejected {} + {}, failed {} requests ({} retries){}",
        s.exported_data_points,
        s.metric_exports,
        s.exported_log_records,
        s.log_exports,
        s.dropped_log_records,
        s.rejected_data_points,
        s.rejected_log_records,
        s.failed_requests,
        s.retries,
        s.last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default(),
    );
}
