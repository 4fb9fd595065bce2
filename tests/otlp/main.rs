//! The OTLP/HTTP exporter (feature `otlp`) against a receiver in this test: a std
//! `TcpListener` on 127.0.0.1 answering scripted statuses, whose request bodies are decoded
//! with the same generated message types (`opentelemetry-proto`) and compared with the
//! instance's own snapshot and records.
//!
//! The `#[ignore]`d test at the end runs the trading-engine example against
//! `ci/otlp_receiver.py` (PyPI's `opentelemetry-proto`): `.ci/run` runs it with `--ignored`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use prost::Message;
use tickwatch::export::otlp::{
    Compression, OtlpConfig, OtlpError, OtlpExporter, OtlpStats, Protocol,
};
use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::{FieldRef, Level, Telemetry};

mod failures;
mod from_config;
mod mapping;
mod official;
mod reconfigure;

// ---------------------------------------------------------------------------------------
// The receiver.

/// One request as received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    /// The body as sent (compressed if it was).
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, gunzipped if it was sent compressed.
    fn plain(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.clone()
        }
    }

    fn metrics(&self) -> ExportMetricsServiceRequest {
        assert_eq!(self.path, "/v1/metrics");
        match self.header("content-type") {
            Some("application/json") => serde_json::from_slice(&self.plain()).unwrap(),
            _ => ExportMetricsServiceRequest::decode(&self.plain()[..]).unwrap(),
        }
    }

    fn logs(&self) -> ExportLogsServiceRequest {
        assert_eq!(self.path, "/v1/logs");
        match self.header("content-type") {
            Some("application/json") => serde_json::from_slice(&self.plain()).unwrap(),
            _ => ExportLogsServiceRequest::decode(&self.plain()[..]).unwrap(),
        }
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Wait this long before answering.
    delay: Duration,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    fn header(mut self, k: &'static str, v: &str) -> Reply {
        self.headers.push((k, v.to_owned()));
        self
    }
    fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self.headers
            .push(("Content-Type", "application/x-protobuf".into()));
        self
    }
}

struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers in order; `200` with an empty body once it runs out.
    script: Arc<Mutex<VecDeque<Reply>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (received.clone(), script.clone(), stop.clone());
        std::thread::spawn(move || {
            // Bounded: the receiver lives at most a minute even if a test forgets it.
            let end = Instant::now() + Duration::from_secs(60);
            while !st.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (r, s, st) = (r.clone(), s.clone(), st.clone());
                        std::thread::spawn(move || serve(conn, &r, &s, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver {
            url,
            received,
            script,
            stop,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves the requests of one (keep-alive) connection.
fn serve(
    conn: TcpStream,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<Reply>>,
    stop: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    while !stop.load(Ordering::Relaxed) {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        received.lock().unwrap().push(Received {
            path,
            headers,
            body,
            at: Instant::now(),
        });
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::status(200));
        std::thread::sleep(reply.delay);
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&reply.body).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// A configuration for tests: fast backoff, no periodic export getting in the way.
fn config(url: &str) -> OtlpConfig {
    let mut c = OtlpConfig::new(url);
    c.metrics_interval = Duration::from_secs(3600);
    c.logs_interval = Duration::from_secs(3600);
    c.initial_backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(40);
    c.timeout = Duration::from_secs(5);
    c.flush_timeout = Duration::from_secs(10);
    c.service_name = "otlp-test".into();
    c.resource_attributes = vec![("deployment.environment".into(), "test".into())];
    c
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn tags_of(attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = attrs
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => (kv.key.clone(), s.clone()),
                other => panic!("tag {} is not a string: {other:?}", kv.key),
            },
        )
        .collect();
    t.sort();
    t
}

fn metrics_of(req: &ExportMetricsServiceRequest) -> Vec<Metric> {
    assert_eq!(req.resource_metrics.len(), 1);
    let rm = &req.resource_metrics[0];
    let res = rm.resource.as_ref().unwrap();
    assert_eq!(str_attr(&res.attributes, "service.name"), Some("otlp-test"));
    assert_eq!(
        str_attr(&res.attributes, "deployment.environment"),
        Some("test")
    );
    assert_eq!(rm.scope_metrics.len(), 1);
    assert_eq!(
        rm.scope_metrics[0].scope.as_ref().unwrap().name,
        "tickwatch"
    );
    rm.scope_metrics[0].metrics.clone()
}

fn log_count(rs: &[Received]) -> usize {
    rs.iter()
        .map(|r| r.logs().resource_logs[0].scope_logs[0].log_records.len())
        .sum()
}

/// `n` Info events with one field each, delivered to the sinks.
fn log_events(tw: &Telemetry, n: u64) {
    for i in 0..n {
        tickwatch::info!(tw, "event {}", i, seq = i);
    }
    tw.flush().unwrap();
}

fn assert_conserved(s: &OtlpStats, handed: u64) {
    assert_eq!(
        s.exported_log_records
            + s.rejected_log_records
            + s.failed_log_records
            + s.dropped_log_records
            + s.queued_log_records,
        handed,
        "{s:?}"
    );
}

/// Info events `event {i}` for each `i` of `seq`, delivered to the sinks.
fn log_seq(tw: &Telemetry, seq: std::ops::Range<u64>) {
    for i in seq {
        tickwatch::info!(tw, "event {}", i, seq = i);
    }
    tw.flush().unwrap();
}

/// The bodies of every log record posted to `rx`, sorted.
fn log_bodies(rx: &Receiver) -> Vec<String> {
    let mut out: Vec<String> = rx
        .on("/v1/logs")
        .iter()
        .flat_map(|r| r.logs().resource_logs[0].scope_logs[0].log_records.clone())
        .map(|l| match l.body.and_then(|b| b.value) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("body {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn bodies_of(seq: impl Iterator<Item = u64>) -> Vec<String> {
    let mut out: Vec<String> = seq.map(|i| format!("event {i}")).collect();
    out.sort();
    out
}

/// Polls `f` every 10 ms for at most 10 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}
