//! One OTLP/HTTP export: `POST` with retries as the OTLP/HTTP specification asks, and the
//! answer's partial success read back.
//!
//! | answer | what happens |
//! |---|---|
//! | 2xx | delivered; the body's `partial_success` (rejected count, message) is read and counted |
//! | 429, 502, 503, 504 | retried after `max(Retry-After, backoff)` |
//! | connection or I/O error, timeout | retried the same way (the server may not have seen it) |
//! | any other status (400, 401, 404, 413, 500, ...) | final: counted as failed, not retried |
//!
//! Retries stop after `max_attempts`, when the next one would start later than
//! `max_retry_time` after the first, or past the flush/shutdown deadline; the data is then
//! counted as failed.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message as _;

use super::config::{Compression, OtlpConfig, Protocol};

/// Which signal a request carries (its response type differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Metrics,
    Logs,
}

/// What one export came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted; `rejected` items of it refused by the server (partial success), with its
    /// message.
    Delivered { rejected: u64, message: String },
    /// Given up on: the last status (if the server answered) and why.
    Failed { status: Option<u16>, error: String },
}

/// Request and retry counts of one export, for the exporter's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Attempts {
    pub(crate) requests: u64,
    pub(crate) retries: u64,
}

/// The HTTP side of the exporter thread.
pub(crate) struct Transport {
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
    protocol: Protocol,
    compression: Compression,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_time: Duration,
    /// xorshift state for the backoff's jitter.
    jitter: u64,
}

/// The longest response body read (partial-success messages are short).
const MAX_RESPONSE: u64 = 1 << 20;

impl Transport {
    pub(crate) fn new(config: &OtlpConfig) -> Transport {
        // Longer settings are clamped: an hour between attempts, a day per request.
        let hour = Duration::from_secs(3600);
        let max_backoff = config.max_backoff.min(hour);
        let builder = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout.min(24 * hour)))
            .http_status_as_error(false)
            .user_agent(concat!("tickwatch/", env!("CARGO_PKG_VERSION")));
        #[cfg(feature = "otlp-tls")]
        let builder = builder.tls_config(super::tls::config(config.certificate.as_deref()));
        let agent: ureq::Agent = builder.build().into();
        let seed = super::unix_now() | 1;
        Transport {
            agent,
            headers: config.headers.clone(),
            protocol: config.protocol,
            compression: config.compression,
            max_attempts: config.max_attempts.max(1),
            initial_backoff: config.initial_backoff.min(max_backoff),
            max_backoff,
            max_retry_time: config.max_retry_time,
            jitter: seed,
        }
    }

    /// `backoff` ±20 %.
    fn jittered(&mut self, backoff: Duration) -> Duration {
        let mut x = self.jitter;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter = x;
        let factor = 0.8 + (x % 4001) as f64 / 10_000.0;
        backoff.mul_f64(factor)
    }

    /// Posts `body` to `url` with retries; never past `deadline` when one is given.
    pub(crate) fn export(
        &mut self,
        url: &str,
        body: &[u8],
        signal: Signal,
        deadline: Option<Instant>,
        attempts: &mut Attempts,
    ) -> Outcome {
        let first = Instant::now();
        let mut backoff = self.initial_backoff;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            attempts.requests += 1;
            let (status, retry_after, error) = match self.post_once(url, body) {
                Ok((status, retry_after, response, content_type)) => {
                    if (200..300).contains(&status) {
                        let (rejected, message) = partial_success(signal, &response, &content_type);
                        return Outcome::Delivered { rejected, message };
                    }
                    let detail = String::from_utf8_lossy(&response[..response.len().min(200)])
                        .chars()
                        .filter(|c| !c.is_control())
                        .collect::<String>();
                    let error = format!("HTTP {status} from {url}: {detail}");
                    if !matches!(status, 429 | 502 | 503 | 504) {
                        return Outcome::Failed {
                            status: Some(status),
                            error,
                        };
                    }
                    (Some(status), retry_after, error)
                }
                Err(e) => (None, None, format!("POST {url}: {e}")),
            };
            if attempt >= self.max_attempts {
                return Outcome::Failed { status, error };
            }
            let wait = self
                .jittered(backoff)
                .max(retry_after.unwrap_or(Duration::ZERO));
            let resume = super::after(wait);
            if resume.duration_since(first) > self.max_retry_time
                || deadline.is_some_and(|d| resume > d)
            {
                return Outcome::Failed {
                    status,
                    error: format!("{error} (gave up: the next retry would start too late)"),
                };
            }
            attempts.retries += 1;
            std::thread::sleep(wait);
            backoff = backoff.saturating_mul(2).min(self.max_backoff);
        }
    }

    /// One request: the status, `Retry-After` (seconds), the body (at most 1 MiB) and the
    /// response's content type.
    #[allow(clippy::type_complexity)]
    fn post_once(
        &self,
        url: &str,
        body: &[u8],
    ) -> Result<(u16, Option<Duration>, Vec<u8>, String), ureq::Error> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", self.protocol.content_type());
        if self.compression == Compression::Gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req.send(body)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|s| parse_retry_after(&s));
        let content_type = header("content-type").unwrap_or_default();
        // Read the whole (small) answer so the connection can be reused; a body that cannot
        // be read is an empty one (the status decides).
        let response = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .unwrap_or_default();
        Ok((status, retry_after, response, content_type))
    }
}

/// `Retry-After` as delay-seconds (an HTTP date is not honoured: the backoff applies), capped
/// at one hour.
pub(crate) fn parse_retry_after(s: &str) -> Option<Duration> {
    s.trim()
        .parse::<u64>()
        .ok()
        .map(|secs| Duration::from_secs(secs.min(3600)))
}

/// The `partial_success` of a 2xx answer: (rejected items, error message). An empty or
/// undecodable body means full success.
pub(crate) fn partial_success(signal: Signal, body: &[u8], content_type: &str) -> (u64, String) {
    if body.is_empty() {
        return (0, String::new());
    }
    let json = content_type.trim_start().starts_with("application/json");
    let clamp = |n: i64| u64::try_from(n).unwrap_or(0);
    match signal {
        Signal::Metrics => {
            let r = if json {
                serde_json::from_slice::<ExportMetricsServiceResponse>(body).ok()
            } else {
                ExportMetricsServiceResponse::decode(body).ok()
            };
            r.and_then(|r| r.partial_success)
                .map(|p| (clamp(p.rejected_data_points), p.error_message))
                .unwrap_or_default()
        }
        Signal::Logs => {
            let r = if json {
                serde_json::from_slice::<ExportLogsServiceResponse>(body).ok()
            } else {
                ExportLogsServiceResponse::decode(body).ok()
            };
            r.and_then(|r| r.partial_success)
                .map(|p| (clamp(p.rejected_log_records), p.error_message))
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn partial_success_both_encodings() {
        let r = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            }),
        };
        let pb = r.encode_to_vec();
        assert_eq!(
            partial_success(Signal::Logs, &pb, "application/x-protobuf"),
            (3, "too old".into())
        );
        let js = serde_json::to_vec(&r).unwrap();
        assert_eq!(
            partial_success(Signal::Logs, &js, "application/json; charset=utf-8"),
            (3, "too old".into())
        );
        assert_eq!(partial_success(Signal::Logs, b"", ""), (0, String::new()));
        // Garbage is not a partial success (and does not panic).
        assert_eq!(
            partial_success(Signal::Metrics, b"\xff\xff\xff", ""),
            (0, String::new())
        );
        let neg = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: -5,
                error_message: String::new(),
            }),
        };
        assert_eq!(
            partial_success(Signal::Logs, &neg.encode_to_vec(), ""),
            (0, String::new())
        );
    }
}
