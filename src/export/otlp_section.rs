//! The `[otlp]` section of a configuration file ([`Config::otlp`](crate::Config::otlp)):
//! where an OTLP/HTTP exporter posts. Parsed whatever the features; with an `endpoint`, an
//! instance started from the configuration ([`Telemetry::from_config`](crate::Telemetry::from_config),
//! [`TelemetryBuilder::with_config`](crate::TelemetryBuilder::with_config)) starts an
//! exporter for its events and metrics (the `otlp` feature: without it, start refuses the
//! section), stops it after its last drain, and [`Telemetry::reload`](crate::Telemetry::reload)
//! changes it live. Code that starts its own exporter reads the section with
//! `export::otlp::OtlpConfig::from_section`.
//!
//! ```toml
//! [otlp]
//! endpoint = "http://127.0.0.1:4318"   # unset: no OTLP export
//! protocol = "http/protobuf"           # or "http/json"
//! compression = "none"                 # or "gzip"
//! interval = "10s"                     # metrics export interval
//! timeout = "5s"                       # per request
//! headers = { "x-api-key" = "..." }
//! certificate = "/etc/ssl/collector-ca.pem"   # https only (feature `otlp-tls`)
//! ```
//!
//! The standard `OTEL_EXPORTER_OTLP_*` variables, when set, take precedence over the file,
//! variable by variable (`OtlpConfig::from_section_and_env`); `TICKWATCH_OTLP__ENDPOINT`
//! overrides the file like any key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How request bodies are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Protocol {
    /// Binary protobuf, `Content-Type: application/x-protobuf` (`"http/protobuf"`). The
    /// default.
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP's JSON mapping of the same messages, `Content-Type: application/json`
    /// (`"http/json"`).
    #[serde(rename = "http/json")]
    HttpJson,
}

impl Protocol {
    /// The request's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

/// Compression of request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// None (`"none"`, the default).
    #[default]
    None,
    /// gzip, `Content-Encoding: gzip` (`"gzip"`).
    Gzip,
}

/// The `[otlp]` section (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OtlpSection {
    /// The collector's base URL (`http://host:4318`): metrics go to `{endpoint}/v1/metrics`,
    /// logs to `{endpoint}/v1/logs`. `None`: no OTLP export.
    pub endpoint: Option<String>,
    /// `"http/protobuf"` (default) or `"http/json"`.
    pub protocol: Protocol,
    /// `"none"` (default) or `"gzip"`.
    pub compression: Compression,
    /// How often metrics are exported. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Per request, connection included. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra request headers, such as an API key.
    pub headers: BTreeMap<String, String>,
    /// For an `https://` endpoint (feature `otlp-tls`): a PEM file of the certificates to
    /// trust instead of Mozilla's roots, such as a private CA's. Default: none.
    pub certificate: Option<std::path::PathBuf>,
}

impl Default for OtlpSection {
    fn default() -> Self {
        OtlpSection {
            endpoint: None,
            protocol: Protocol::HttpProtobuf,
            compression: Compression::None,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            certificate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_parses_and_round_trips() {
        let s: OtlpSection = toml::from_str(
            "endpoint = \"http://127.0.0.1:4318\"\nprotocol = \"http/json\"\ncompression = \"gzip\"\n\
             interval = \"10s\"\ntimeout = \"1500ms\"\nheaders = { \"x-api-key\" = \"k\" }\n",
        )
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert_eq!(
            (s.protocol, s.compression),
            (Protocol::HttpJson, Compression::Gzip)
        );
        assert_eq!(s.interval, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_millis(1500));
        assert_eq!(s.headers.get("x-api-key").map(String::as_str), Some("k"));
        let back: OtlpSection = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            toml::from_str::<OtlpSection>("").unwrap(),
            OtlpSection::default()
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "protocol = \"grpc\"",
            "compression = \"zstd\"",
            "interval = \"soon\"",
            "endpont = \"http://x\"",
            "headers = [1]",
        ] {
            assert!(toml::from_str::<OtlpSection>(text).is_err(), "{text}");
        }
    }
}
