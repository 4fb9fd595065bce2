//! [`OtlpConfig`]: where and how the exporter posts, and its checks. Where a configuration
//! comes from (the standard `OTEL_*` environment variables, a configuration file's `[otlp]`
//! section, or both) is in `sources.rs`.

use std::fmt;
use std::time::Duration;

pub use crate::export::otlp_section::{Compression, Protocol};

/// The default OTLP/HTTP endpoint (a collector on this machine).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// Where and how an [`OtlpExporter`](super::OtlpExporter) posts. Build it with
/// [`OtlpConfig::new`], from the environment ([`OtlpConfig::from_env`]) or from a file's
/// section and the environment ([`OtlpConfig::from_section_and_env`]), then adjust fields.
///
/// All of it can change while the exporter runs
/// ([`OtlpControl::reconfigure`](super::OtlpControl::reconfigure)) but `queue_capacity` and
/// `placement`, fixed when it starts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// Where metrics are posted: `{endpoint}/v1/metrics` unless
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` gave a full URL.
    pub metrics_url: String,
    /// Where logs are posted: `{endpoint}/v1/logs` unless `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`
    /// gave a full URL.
    pub logs_url: String,
    /// Protobuf (default) or JSON.
    pub protocol: Protocol,
    /// gzip or none (default).
    pub compression: Compression,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), such as an API key.
    pub headers: Vec<(String, String)>,
    /// Per request, connection included (`OTEL_EXPORTER_OTLP_TIMEOUT`). Default 10 s.
    pub timeout: Duration,
    /// Metrics are exported this often (`OTEL_METRIC_EXPORT_INTERVAL`, ms). Default 60 s.
    pub metrics_interval: Duration,
    /// Queued log records are exported at least this often (`OTEL_BLRP_SCHEDULE_DELAY`,
    /// ms), and as soon as `max_log_batch` are queued. Default 1 s.
    pub logs_interval: Duration,
    /// Log records per request at most. Default 512.
    pub max_log_batch: usize,
    /// Log records waiting for the exporter at most (`OTEL_BLRP_MAX_QUEUE_SIZE`); records
    /// past it are dropped and counted ([`OtlpStats::dropped_log_records`]). Default 2,048.
    ///
    /// [`OtlpStats::dropped_log_records`]: super::OtlpStats::dropped_log_records
    pub queue_capacity: usize,
    /// Attempts per request, the first included, for retryable answers (429, 502, 503,
    /// 504) and network errors. Default 5.
    pub max_attempts: u32,
    /// Wait before the first retry, doubled for each next one up to `max_backoff`, with
    /// ±20 % jitter; a `Retry-After` (seconds) longer than it is honoured. Default 500 ms.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts computed by backoff. Default 5 s.
    pub max_backoff: Duration,
    /// No retry starts later than this after the first attempt (a `Retry-After` reaching
    /// past it ends the retries). Default 30 s.
    pub max_retry_time: Duration,
    /// How long [`flush`](super::OtlpExporter::flush), drop and
    /// [`reconfigure`](super::OtlpControl::reconfigure) wait. Default 5 s.
    pub flush_timeout: Duration,
    /// Resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), `service.name` excluded.
    pub resource_attributes: Vec<(String, String)>,
    /// `service.name` (`OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable>`).
    pub service_name: String,
    /// The exporter thread's name and CPU set (Linux; elsewhere the set is a no-op), to keep
    /// it off the trading cores. Default: `tickwatch-otlp`, any CPU.
    pub placement: crate::ThreadPlacement,
    /// For `https://` endpoints (feature `otlp-tls`): a PEM file of the certificates to
    /// trust instead of Mozilla's roots (`OTEL_EXPORTER_OTLP_CERTIFICATE`), such as a
    /// private CA's. Default: none (Mozilla's roots).
    pub certificate: Option<std::path::PathBuf>,
}

impl OtlpConfig {
    /// The defaults for a collector at `endpoint` (`http://host:4318`): posts to
    /// `{endpoint}/v1/metrics` and `{endpoint}/v1/logs`.
    pub fn new(endpoint: &str) -> OtlpConfig {
        let base = endpoint.trim().trim_end_matches('/');
        OtlpConfig {
            metrics_url: format!("{base}/v1/metrics"),
            logs_url: format!("{base}/v1/logs"),
            protocol: Protocol::HttpProtobuf,
            compression: Compression::None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            metrics_interval: Duration::from_secs(60),
            logs_interval: Duration::from_secs(1),
            max_log_batch: 512,
            queue_capacity: 2048,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_retry_time: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(5),
            resource_attributes: Vec::new(),
            service_name: default_service_name(),
            placement: crate::ThreadPlacement::default(),
            certificate: None,
        }
    }

    /// Checks the URLs (`http://host[:port][/path]`, or `https://` with the `otlp-tls`
    /// feature), the certificate file and the headers;
    /// [`OtlpExporter::start`](super::OtlpExporter::start) calls it.
    pub fn validate(&self) -> Result<(), OtlpConfigError> {
        for (var, url) in [
            ("metrics_url", &self.metrics_url),
            ("logs_url", &self.logs_url),
        ] {
            let (host, tls) = match url.strip_prefix("https://") {
                Some(h) => (h, true),
                None => (url.strip_prefix("http://").unwrap_or(""), false),
            };
            if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
                return Err(OtlpConfigError {
                    variable: var,
                    value: url.clone(),
                    reason: "expected http://host[:port][/path] or https://host[:port][/path]"
                        .into(),
                });
            }
            if tls && !cfg!(feature = "otlp-tls") {
                return Err(OtlpConfigError {
                    variable: var,
                    value: url.clone(),
                    reason: "https needs tickwatch built with the `otlp-tls` feature (or a \
                             local collector or proxy in front)"
                        .into(),
                });
            }
        }
        super::tls::roots(self.certificate.as_deref())?;
        if let Some((k, _)) = self.headers.iter().find(|(k, v)| !valid_header(k, v)) {
            return Err(OtlpConfigError {
                variable: "headers",
                value: k.clone(),
                reason: "not a valid HTTP header name and value".into(),
            });
        }
        Ok(())
    }
}

/// A malformed setting: which, its value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfigError {
    /// The environment variable or field.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What was expected.
    pub reason: String,
}

impl fmt::Display for OtlpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}: {}", self.variable, self.value, self.reason)
    }
}

impl std::error::Error for OtlpConfigError {}

/// `unknown_service:<executable name>`, as the OpenTelemetry resource spec says.
fn default_service_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    match exe {
        Some(e) => format!("unknown_service:{e}"),
        None => "unknown_service".into(),
    }
}

/// A header ureq will send as given: a token name and a value of visible ASCII, spaces and
/// tabs.
pub(super) fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_what_cannot_be_posted() {
        for url in [
            "",
            "https://",
            "http://",
            "ftp://h",
            "http:// h",
            "localhost:4318",
        ] {
            let c = OtlpConfig::new(url);
            assert!(c.validate().is_err(), "{url}");
        }
        OtlpConfig::new("http://127.0.0.1:4318").validate().unwrap();
        let mut c = OtlpConfig::new("http://127.0.0.1:4318");
        c.headers.push(("x".into(), "a\r\nb".into()));
        assert!(c.validate().is_err());
    }

    #[test]
    fn https_and_certificates_need_the_tls_feature() {
        let https = OtlpConfig::new("https://collector.example:4318");
        let mut with_file = OtlpConfig::new("http://127.0.0.1:4318");
        with_file.certificate = Some("/nonexistent/ca.pem".into());
        let e = with_file.validate().unwrap_err();
        assert_eq!(e.variable, "certificate");
        if cfg!(feature = "otlp-tls") {
            https.validate().unwrap();
            assert!(e.reason.contains("cannot read"), "{e}");
        } else {
            let e = https.validate().unwrap_err();
            assert!(e.reason.contains("otlp-tls"), "{e}");
            assert_eq!(e.variable, "metrics_url");
        }
    }
}
