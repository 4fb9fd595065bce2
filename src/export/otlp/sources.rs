//! Where an [`OtlpConfig`] comes from: the standard `OTEL_*` environment variables
//! ([`OtlpConfig::from_env`], [`OtlpConfig::from_lookup`]), a configuration file's `[otlp]`
//! section ([`OtlpConfig::from_section`]), or the variables over the section, one by one
//! ([`OtlpConfig::from_section_and_env`]), which both the start
//! ([`OtlpExporter::from_section_and_env`](super::OtlpExporter::from_section_and_env)) and
//! live reconfiguration
//! ([`OtlpControl::reconfigure_from_section`](super::OtlpControl::reconfigure_from_section))
//! go through.

use std::time::Duration;

use super::config::{
    valid_header, Compression, OtlpConfig, OtlpConfigError, Protocol, DEFAULT_ENDPOINT,
};
use crate::export::OtlpSection;

impl OtlpConfig {
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
    /// | `OTEL_EXPORTER_OTLP_CERTIFICATE` | a PEM file of the certificates to trust for `https` (feature `otlp-tls`) |
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
        OtlpConfig::layered(None, None, lookup)
    }

    /// The configuration a file's `[otlp]` section describes ([`OtlpSection`]), or `None`
    /// when it sets no endpoint. Only the section's keys are taken from it; the rest are
    /// [`OtlpConfig::new`]'s defaults. The `OTEL_*` variables are not read: see
    /// [`from_section_and_env`](Self::from_section_and_env) for both.
    pub fn from_section(section: &OtlpSection) -> Option<OtlpConfig> {
        section_endpoint(section)?;
        OtlpConfig::layered(None, Some(section), |_| None).ok()?
    }

    /// The section's settings with the standard `OTEL_*` variables over them, variable by
    /// variable: each variable that is set ([`from_lookup`](Self::from_lookup)'s table)
    /// replaces what the section says of its setting, the section's keys (their defaults
    /// where the file leaves them out) replace [`OtlpConfig::new`]'s defaults, and the
    /// settings neither describes keep those defaults. `OTEL_EXPORTER_OTLP_ENDPOINT` is
    /// taken over the section's `endpoint`, and a per-signal endpoint over both for its
    /// signal. `Ok(None)` when neither the section nor the variables set an endpoint (no
    /// export); a malformed variable is an error naming it.
    ///
    /// [`OtlpExporter::from_section_and_env`](super::OtlpExporter::from_section_and_env)
    /// starts an exporter from it, and
    /// [`OtlpControl::reconfigure_from_section`](super::OtlpControl::reconfigure_from_section)
    /// applies the same precedence to a running one.
    pub fn from_section_and_env(
        section: &OtlpSection,
    ) -> Result<Option<OtlpConfig>, OtlpConfigError> {
        OtlpConfig::from_section_and_lookup(section, |k| std::env::var(k).ok())
    }

    /// As [`from_section_and_env`](Self::from_section_and_env), reading each variable
    /// through `lookup`.
    pub fn from_section_and_lookup(
        section: &OtlpSection,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, OtlpConfigError> {
        OtlpConfig::layered(None, Some(section), lookup)
    }

    /// The one place the layers are combined, lowest first: `running` (else
    /// [`OtlpConfig::new`]'s defaults), then the section's keys, then every `OTEL_*`
    /// variable `lookup` finds set. The endpoint: the variable's, else the section's, else
    /// [`DEFAULT_ENDPOINT`] when only a per-signal variable is set; `Ok(None)` when none is.
    pub(crate) fn layered(
        running: Option<&OtlpConfig>,
        section: Option<&OtlpSection>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, OtlpConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let metrics = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        let logs = get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
        let file = section.and_then(section_endpoint);
        if base.is_none() && metrics.is_none() && logs.is_none() && file.is_none() {
            return Ok(None);
        }
        let endpoint = base.as_deref().or(file).unwrap_or(DEFAULT_ENDPOINT);
        let mut c = match running {
            Some(r) => {
                let urls = OtlpConfig::new(endpoint);
                OtlpConfig {
                    metrics_url: urls.metrics_url,
                    logs_url: urls.logs_url,
                    ..r.clone()
                }
            }
            None => OtlpConfig::new(endpoint),
        };
        if let Some(s) = section {
            c.protocol = s.protocol;
            c.compression = s.compression;
            c.metrics_interval = s.interval;
            c.timeout = s.timeout;
            c.headers = s
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            c.certificate = s.certificate.clone();
        }
        if let Some(f) = get("OTEL_EXPORTER_OTLP_CERTIFICATE") {
            c.certificate = Some(f.trim().into());
        }
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
            // Replaces (a running configuration's attributes are not added to twice).
            c.resource_attributes.clear();
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
}

/// The section's endpoint, trimmed; `None` when unset or blank.
fn section_endpoint(section: &OtlpSection) -> Option<&str> {
    section
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
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
    fn variables_take_precedence_over_the_section_one_by_one() {
        let section: OtlpSection = toml::from_str(
            "endpoint = \"http://file:4318\"\ncompression = \"gzip\"\ninterval = \"5s\"\n\
             timeout = \"2s\"\nheaders = { k = \"file\" }\n",
        )
        .unwrap();
        // No variable: the section, over the defaults.
        let c = OtlpConfig::from_section_and_lookup(&section, env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(Some(c.clone()), OtlpConfig::from_section(&section));
        // Each variable set replaces its setting only.
        let c = OtlpConfig::from_section_and_lookup(
            &section,
            env(&[
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:1/l"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
                ("OTEL_BLRP_MAX_QUEUE_SIZE", "64"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.metrics_url, "http://file:4318/v1/metrics");
        assert_eq!(c.logs_url, "http://logs:1/l");
        assert_eq!(c.timeout, Duration::from_millis(700));
        assert_eq!(c.queue_capacity, 64);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.metrics_interval, Duration::from_secs(5));
        assert_eq!(c.headers, vec![("k".into(), "file".into())]);
        let c = OtlpConfig::from_section_and_lookup(
            &section,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "k=env"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.metrics_url, "http://env:4318/v1/metrics");
        assert_eq!(c.headers, vec![("k".into(), "env".into())]);
        // An endpoint from the variables alone: the section's other keys still apply.
        let keys_only = OtlpSection {
            endpoint: None,
            ..section.clone()
        };
        let c = OtlpConfig::from_section_and_lookup(
            &keys_only,
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.logs_url.as_str(), c.compression),
            ("http://env:4318/v1/logs", Compression::Gzip)
        );
        // Neither: no export; a malformed variable: its name.
        assert_eq!(
            OtlpConfig::from_section_and_lookup(&OtlpSection::default(), env(&[])),
            Ok(None)
        );
        let e = OtlpConfig::from_section_and_lookup(
            &section,
            env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
        )
        .unwrap_err();
        assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
    }

    #[test]
    fn over_a_running_configuration_what_neither_describes_is_kept() {
        let mut running = OtlpConfig::new("http://old:1");
        running.queue_capacity = 7;
        running.max_attempts = 9;
        running.service_name = "desk".into();
        running.resource_attributes = vec![("a".into(), "1".into())];
        running.placement = crate::ThreadPlacement::new().name("otlp-x");
        let section: OtlpSection = toml::from_str("endpoint = \"http://new:2\"").unwrap();
        let c = OtlpConfig::layered(Some(&running), Some(&section), env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(c.logs_url, "http://new:2/v1/logs");
        assert_eq!((c.queue_capacity, c.max_attempts), (7, 9));
        assert_eq!(c.placement, running.placement);
        assert_eq!(c.service_name, "desk");
        // The section's keys (defaults included) and the variables replace, never add.
        let c = OtlpConfig::layered(
            Some(&c),
            Some(&section),
            env(&[("OTEL_RESOURCE_ATTRIBUTES", "b=2")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.resource_attributes, vec![("b".into(), "2".into())]);
        assert_eq!(c.timeout, OtlpSection::default().timeout);
    }
}
