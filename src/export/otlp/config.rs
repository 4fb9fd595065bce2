//! [`OtlpConfig`]: where and how the exporter posts, and the standard `OTEL_*` environment
//! variables that fill it ([`OtlpConfig::from_env`], or [`OtlpConfig::from_lookup`] to read
//! them from anything else than the process environment).

use std::fmt;
use std::time::Duration;

pub use crate::export::otlp_section::{Compression, Protocol};
use crate::export::OtlpSection;

/// The default OTLP/HTTP endpoint (a collector on this machine).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// Where and how an [`OtlpExporter`](super::OtlpExporter) posts. Build it with
/// [`OtlpConfig::new`] or from the environment ([`OtlpConfig::from_env`]), then adjust fields.
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
    /// How long [`flush`](super::OtlpExporter::flush) and drop wait. Default 5 s.
    pub flush_timeout: Duration,
    /// Resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), `service.name` excluded.
    pub resource_attributes: Vec<(String, String)>,
    /// `service.name` (`OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable>`).
    pub service_name: String,
    /// The exporter thread's name and CPU set (Linux; elsewhere the set is a no-op), to keep
    /// it off the trading cores. Default: `tickwatch-otlp`, any CPU.
    pub placement: crate::ThreadPlacement,
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
        }
    }

    /// The configuration the standard environment variables describe, or `Ok(None)` when
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (nor a per-signal endpoint) is not set. See
    /// [`OtlpConfig::from_lookup`] for the variables read.
    pub fn from_env() -> Result<Option<OtlpConfig>, OtlpConfigError> {
        OtlpConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading each variable through `lookup`:
    ///
    /// | variable | field |
    /// |---|---|
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL: `metrics_url`, `logs_url` |
    /// | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, `..._LOGS_ENDPOINT` | the full URL of one signal |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` (default) or `http/json` (`grpc` is refused) |
    /// | `OTEL_EXPORTER_OTLP_HEADERS` | `k=v,k2=v2`, values URL-decoded |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT` | milliseconds |
    /// | `OTEL_EXPORTER_OTLP_COMPRESSION` | `gzip` or `none` |
    /// | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds |
    /// | `OTEL_BLRP_SCHEDULE_DELAY`, `OTEL_BLRP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | log batching |
    /// | `OTEL_SERVICE_NAME` | `service.name` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2`, values URL-decoded |
    ///
    /// Of the per-signal variables only the two endpoints are read: headers, timeout,
    /// protocol and compression are the general ones for both signals. Empty variables count
    /// as unset. A malformed value is an error naming the variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, OtlpConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let metrics = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        let logs = get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
        if base.is_none() && metrics.is_none() && logs.is_none() {
            return Ok(None);
        }
        let mut c = OtlpConfig::new(base.as_deref().unwrap_or(DEFAULT_ENDPOINT));
        if let Some(m) = metrics {
            c.metrics_url = m.trim().to_owned();
        }
        if let Some(l) = logs {
            c.logs_url = l.trim().to_owned();
        }
        let err = |var: &'static str, value: &str, why: &str| OtlpConfigError {
            variable: var,
            value: value.to_owned(),
            reason: why.to_owned(),
        };
        if let Some(p) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            c.protocol = match p.trim() {
                "http/protobuf" => Protocol::HttpProtobuf,
                "http/json" => Protocol::HttpJson,
                _ => {
                    return Err(err(
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                        &p,
                        "expected http/protobuf or http/json (grpc is not supported)",
                    ))
                }
            };
        }
        if let Some(h) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            c.headers =
                parse_key_values(&h).map_err(|why| err("OTEL_EXPORTER_OTLP_HEADERS", &h, &why))?;
            if let Some((k, _)) = c.headers.iter().find(|(k, v)| !valid_header(k, v)) {
                let why = format!("header `{k}` is not a valid HTTP header name and value");
                return Err(err("OTEL_EXPORTER_OTLP_HEADERS", &h, &why));
            }
        }
        let millis = |var: &'static str| -> Result<Option<Duration>, OtlpConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
                    _ => Err(err(var, &v, "expected a positive number of milliseconds")),
                },
            }
        };
        let count = |var: &'static str| -> Result<Option<usize>, OtlpConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(err(var, &v, "expected a positive integer")),
                },
            }
        };
        if let Some(t) = millis("OTEL_EXPORTER_OTLP_TIMEOUT")? {
            c.timeout = t;
        }
        if let Some(t) = millis("OTEL_METRIC_EXPORT_INTERVAL")? {
            c.metrics_interval = t;
        }
        if let Some(t) = millis("OTEL_BLRP_SCHEDULE_DELAY")? {
            c.logs_interval = t;
        }
        if let Some(n) = count("OTEL_BLRP_MAX_QUEUE_SIZE")? {
            c.queue_capacity = n;
        }
        if let Some(n) = count("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")? {
            c.max_log_batch = n;
        }
        if let Some(z) = get("OTEL_EXPORTER_OTLP_COMPRESSION") {
            c.compression = match z.trim() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => {
                    return Err(err(
                        "OTEL_EXPORTER_OTLP_COMPRESSION",
                        &z,
                        "expected gzip or none",
                    ))
                }
            };
        }
        if let Some(r) = get("OTEL_RESOURCE_ATTRIBUTES") {
            let attrs =
                parse_key_values(&r).map_err(|why| err("OTEL_RESOURCE_ATTRIBUTES", &r, &why))?;
            for (k, v) in attrs {
                if k == "service.name" {
                    c.service_name = v;
                } else {
                    c.resource_attributes.push((k, v));
                }
            }
        }
        if let Some(s) = get("OTEL_SERVICE_NAME") {
            c.service_name = s.trim().to_owned();
        }
        Ok(Some(c))
    }

    /// The configuration a file's `[otlp]` section describes ([`OtlpSection`]), or `None`
    /// when it sets no endpoint. Only the section's keys are taken from it; the rest are
    /// [`OtlpConfig::new`]'s defaults.
    pub fn from_section(section: &OtlpSection) -> Option<OtlpConfig> {
        let endpoint = section.endpoint.as_deref()?.trim();
        if endpoint.is_empty() {
            return None;
        }
        let mut c = OtlpConfig::new(endpoint);
        c.protocol = section.protocol;
        c.compression = section.compression;
        c.metrics_interval = section.interval;
        c.timeout = section.timeout;
        c.headers = section
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(c)
    }

    /// Checks the URLs (plain `http://host[:port][/path]`: TLS is not built in) and the
    /// sizes; [`OtlpExporter::start`](super::OtlpExporter::start) calls it.
    pub fn validate(&self) -> Result<(), OtlpConfigError> {
        for (var, url) in [
            ("metrics_url", &self.metrics_url),
            ("logs_url", &self.logs_url),
        ] {
            let host = url.strip_prefix("http://").unwrap_or("");
            if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
                return Err(OtlpConfigError {
                    variable: var,
                    value: url.clone(),
                    reason: "expected http://host[:port][/path] (plain HTTP: https needs a \
                             local collector or proxy in front)"
                        .into(),
                });
            }
        }
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

/// `k=v,k2=v2` (W3C Baggage-like, as `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES` are): keys and values trimmed, values percent-decoded, empty
/// members skipped. A member without `=`, an empty key or a value that is not UTF-8 once
/// decoded is an error.
pub(crate) fn parse_key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for member in s.split(',') {
        if member.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = member.split_once('=') else {
            return Err(format!("`{}` is not key=value", member.trim()));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("`{}` has an empty key", member.trim()));
        }
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| format!("the value of `{k}` is not UTF-8 once decoded"))?;
        out.push((k.to_owned(), v.into_owned()));
    }
    Ok(out)
}

/// A header ureq will send as given: a token name and a value of visible ASCII, spaces and
/// tabs.
fn valid_header(name: &str, value: &str) -> bool {
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
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn unset_endpoint_means_no_exporter() {
        assert_eq!(OtlpConfig::from_lookup(env(&[])), Ok(None));
        assert_eq!(
            OtlpConfig::from_lookup(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            Ok(None)
        );
    }

    #[test]
    fn every_variable_is_read() {
        let c = OtlpConfig::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=secret%20value, x-tenant = desk%2C7 ,,",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "10"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod,host.name=ny%3D4",
            ),
            ("OTEL_SERVICE_NAME", "engine-7"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.metrics_url, "http://collector:4318/v1/metrics");
        assert_eq!(c.logs_url, "http://collector:4318/v1/logs");
        assert_eq!(
            c.headers,
            vec![
                ("api-key".into(), "secret value".into()),
                ("x-tenant".into(), "desk,7".into())
            ]
        );
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.metrics_interval, Duration::from_secs(15));
        assert_eq!(c.logs_interval, Duration::from_millis(200));
        assert_eq!((c.queue_capacity, c.max_log_batch), (100, 10));
        assert_eq!(c.service_name, "engine-7");
        assert_eq!(
            c.resource_attributes,
            vec![
                ("deployment.environment".into(), "prod".into()),
                ("host.name".into(), "ny=4".into())
            ]
        );
        c.validate().unwrap();
    }

    #[test]
    fn service_name_from_resource_attributes_and_default() {
        let c = OtlpConfig::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:1"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=desk"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.service_name, "desk");
        assert!(c.resource_attributes.is_empty());
        let d = OtlpConfig::new("http://h:1");
        assert!(
            d.service_name.starts_with("unknown_service"),
            "{}",
            d.service_name
        );
    }

    #[test]
    fn per_signal_endpoints_are_used_as_given() {
        let c = OtlpConfig::from_lookup(env(&[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://m:9/custom",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(c.metrics_url, "http://m:9/custom");
        assert_eq!(c.logs_url, "http://localhost:4318/v1/logs");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:1");
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "=v"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "k=%FF"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=v"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "k=line%0Abreak"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=1,b"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "lots"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "99999999999999999999999"),
        ] {
            let e = OtlpConfig::from_lookup(env(&[base, (var, value)])).unwrap_err();
            assert_eq!(e.variable, var, "{value}");
            assert!(e.to_string().contains(var), "{e}");
        }
    }

    #[test]
    fn from_a_file_section() {
        let section: OtlpSection = toml::from_str(
            "endpoint = \"http://c:4318/\"\nprotocol = \"http/json\"\ninterval = \"5s\"\n\
             timeout = \"2s\"\nheaders = { k = \"v\" }\n",
        )
        .unwrap();
        let c = OtlpConfig::from_section(&section).unwrap();
        assert_eq!(c.metrics_url, "http://c:4318/v1/metrics");
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(c.metrics_interval, Duration::from_secs(5));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.headers, vec![("k".into(), "v".into())]);
        assert_eq!(OtlpConfig::from_section(&OtlpSection::default()), None);
    }

    #[test]
    fn validate_refuses_what_cannot_be_posted() {
        for url in [
            "https://h:4318",
            "",
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
}
