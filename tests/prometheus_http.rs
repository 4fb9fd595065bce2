//! The HTTP endpoint (feature `http`), driven by a plain `TcpStream` HTTP/1.1 client.

mod prometheus_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_support::{check, counter, latency, snapshot};
use tickwatch::export::{HealthReport, HealthState, MetricsEndpoint, MetricsServer, CONTENT_TYPE};
use tickwatch::metrics::Snapshot;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`), read to EOF, with timeouts.
fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    let raw = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn sample() -> Snapshot {
    snapshot(vec![
        counter("orders_filled", &[("venue", "XNAS")], 42),
        latency("order_rtt", &[], &[1_000, 20_000, 300_000], &[1e-5, 1e-3]),
    ])
}

fn serve_with_health(state: Arc<AtomicU8>) -> MetricsServer {
    MetricsEndpoint::new()
        .snapshot(sample)
        .health(move || {
            let state = match state.load(Ordering::SeqCst) {
                0 => HealthState::Healthy,
                1 => HealthState::Degraded,
                _ => HealthState::Unhealthy,
            };
            HealthReport {
                state,
                json: format!(r#"{{"status":"{state:?}"}}"#),
            }
        })
        .serve("127.0.0.1:0")
        .expect("serve")
}

#[test]
fn metrics_are_prometheus_text_of_the_snapshot() {
    let server = serve_with_health(Arc::new(AtomicU8::new(0)));
    assert_ne!(server.local_addr().port(), 0);
    let r = request(server.local_addr(), "GET", "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
    let ex = check(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body));
    assert_eq!(
        ex.find("orders_filled_total", &[("venue", "XNAS")]),
        Some(42.0)
    );
    assert_eq!(ex.find("order_rtt_seconds_count", &[]), Some(3.0));
    server.stop().expect("clean stop");
}

#[test]
fn snapshot_is_the_json_of_the_snapshot() {
    let server = serve_with_health(Arc::new(AtomicU8::new(0)));
    let r = request(server.local_addr(), "GET", "/snapshot");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let back: Snapshot = serde_json::from_str(&r.body).expect("a Snapshot");
    assert_eq!(back, sample());
}

#[test]
fn health_is_200_when_healthy_or_degraded_and_503_when_unhealthy() {
    let state = Arc::new(AtomicU8::new(0));
    let server = serve_with_health(state.clone());
    for (s, code, body) in [
        (0, 200, r#"{"status":"Healthy"}"#),
        (1, 200, r#"{"status":"Degraded"}"#),
        (2, 503, r#"{"status":"Unhealthy"}"#),
    ] {
        state.store(s, Ordering::SeqCst);
        let r = request(server.local_addr(), "GET", "/health");
        assert_eq!(r.status, code);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, body);
    }
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let server = serve_with_health(Arc::new(AtomicU8::new(0)));
    let addr = server.local_addr();
    assert_eq!(request(addr, "GET", "/").status, 404);
    assert_eq!(request(addr, "GET", "/metrics/extra").status, 404);
    let r = request(addr, "POST", "/metrics");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(request(addr, "DELETE", "/health").status, 405);
    // A query string does not change the route.
    assert_eq!(request(addr, "GET", "/metrics?x=1").status, 200);
}

#[test]
fn endpoints_without_a_source_are_404_and_a_panicking_source_is_500() {
    let server = MetricsEndpoint::new()
        .metrics_text(|| panic!("source failed"))
        .serve("127.0.0.1:0")
        .unwrap();
    let addr = server.local_addr();
    assert_eq!(request(addr, "GET", "/health").status, 404);
    assert_eq!(request(addr, "GET", "/snapshot").status, 404);
    assert_eq!(request(addr, "GET", "/metrics").status, 500);
    // Still serving after the panic.
    assert_eq!(request(addr, "GET", "/health").status, 404);
}

#[test]
fn metrics_text_overrides_the_rendered_snapshot() {
    let server = MetricsEndpoint::new()
        .snapshot(sample)
        .metrics_text(|| "# TYPE up gauge\nup 1\n".into())
        .serve("127.0.0.1:0")
        .unwrap();
    assert_eq!(
        request(server.local_addr(), "GET", "/metrics").body,
        "# TYPE up gauge\nup 1\n"
    );
}

#[test]
fn dropping_the_server_closes_the_port() {
    let server = serve_with_health(Arc::new(AtomicU8::new(0)));
    let addr = server.local_addr();
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

#[test]
fn binding_a_taken_port_is_a_bind_error() {
    let server = serve_with_health(Arc::new(AtomicU8::new(0)));
    let err = MetricsEndpoint::new()
        .serve(server.local_addr())
        .unwrap_err();
    assert!(
        matches!(err, tickwatch::export::ServeError::Bind(_)),
        "{err}"
    );
    assert!(err.to_string().contains("free port"));
}
