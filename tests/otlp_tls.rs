//! OTLP over `https://` (feature `otlp-tls`) against a TLS receiver in this test: Python's
//! `http.server` wrapped in its `ssl` module, with a certificate for 127.0.0.1 signed by a
//! test CA, both made by the `openssl` command. Export succeeds when the configuration trusts that
//! CA (`OtlpConfig::certificate`), and fails, counted and reported, when it trusts
//! only Mozilla's roots.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tickwatch::export::otlp::{OtlpConfig, OtlpError, OtlpExporter};
use tickwatch::Telemetry;

/// Answers every POST with 200 and an empty protobuf body; prints its port, then one line
/// per request (`POST <path> <bytes>`).
const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        print("POST", self.path, n, flush=True)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// Runs `openssl` with the three argument lists in `dir`.
fn openssl(dir: &Path, a: &[&str], b: &[&str], c: &[&str]) {
    let ok = Command::new("openssl")
        .args(a)
        .args(b)
        .args(c)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the openssl command (Debian's openssl)")
        .success();
    assert!(ok, "openssl {a:?} {b:?} {c:?} failed");
}

struct TlsReceiver {
    child: Child,
    url: String,
    lines: std::sync::mpsc::Receiver<String>,
    dir: PathBuf,
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsReceiver {
    fn start(name: &str) -> TlsReceiver {
        let dir = std::env::temp_dir().join(format!("tw-otlp-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A CA, and a certificate for 127.0.0.1 it signs (webpki refuses a CA certificate
        // used as the server's own).
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &dir,
            &["req", "-x509"],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=tickwatch test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        );
        openssl(
            &dir,
            &["req"],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        );
        openssl(
            &dir,
            &[
                "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            ],
            &["-CAcreateserial", "-days", "1", "-extfile", "leaf.ext"],
            &["-out", "cert.pem"],
        );
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SERVER)
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let port = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the receiver's port");
        TlsReceiver {
            child,
            url: format!("https://127.0.0.1:{}", port.trim()),
            lines,
            dir,
        }
    }

    /// The CA that signed the receiver's certificate.
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The requests received so far, as `POST <path> <bytes>` lines.
    fn requests(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

fn config(url: &str, certificate: Option<&Path>) -> OtlpConfig {
    let mut c = OtlpConfig::new(url);
    c.metrics_interval = Duration::from_secs(3600);
    c.max_attempts = 1;
    c.timeout = Duration::from_secs(5);
    c.certificate = certificate.map(Path::to_path_buf);
    c
}

#[test]
fn https_export_trusting_the_receivers_certificate() {
    let rx = TlsReceiver::start("trusted");
    let otlp = OtlpExporter::start(config(&rx.url, Some(&rx.ca()))).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tw.export_metrics_to(&otlp);
    tw.counter("fills", &[]).add(2);
    for i in 0..10u64 {
        tickwatch::info!(tw, "fill {}", i, qty = 100u64);
    }
    tw.flush().unwrap();
    otlp.flush().unwrap();
    tw.shutdown().unwrap();
    let s = otlp.shutdown().unwrap();
    assert_eq!(
        (s.exported_log_records, s.failed_requests),
        (10, 0),
        "{s:?}"
    );
    assert!(s.exported_data_points >= 1, "{s:?}");
    let got = rx.requests();
    assert!(
        got.iter().any(|l| l.starts_with("POST /v1/logs ")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.starts_with("POST /v1/metrics ")),
        "{got:?}"
    );
}

#[test]
fn an_untrusted_certificate_fails_every_request_counted_and_reported() {
    let rx = TlsReceiver::start("untrusted");
    // Mozilla's roots only: the test CA is unknown, the handshake fails.
    let otlp = OtlpExporter::start(config(&rx.url, None)).unwrap();
    let tw = Telemetry::builder().sink(otlp.log_sink()).start().unwrap();
    tickwatch::info!(tw, "never delivered");
    tw.flush().unwrap();
    let _ = otlp.flush();
    tw.shutdown().unwrap();
    let s = otlp.shutdown().unwrap();
    assert_eq!(s.exported_log_records, 0, "{s:?}");
    assert!(s.failed_requests >= 1, "{s:?}");
    let why = s.last_error.unwrap_or_default().to_lowercase();
    assert!(why.contains("certificate") || why.contains("tls"), "{why}");
    assert!(rx.requests().is_empty());
}

#[test]
fn a_certificate_file_that_is_not_pem_refuses_the_start() {
    let dir = std::env::temp_dir().join(format!("tw-otlp-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    std::fs::write(&file, "not a certificate\n").unwrap();
    match OtlpExporter::start(config("https://127.0.0.1:1", Some(&file))) {
        Err(OtlpError::Config(e)) => assert_eq!(e.variable, "certificate", "{e}"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
