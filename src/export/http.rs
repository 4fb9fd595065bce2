//! A small HTTP/1.1 endpoint (feature `http`): `GET /metrics`, `GET /health`,
//! `GET /snapshot`.
//!
//! The server runs on its own thread (`tickwatch-http`) with a current-thread tokio runtime,
//! so neither the server nor the closures it calls ever run on a trading thread; a scrape
//! costs that one thread, one request at a time.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` | 200, [`CONTENT_TYPE`], the Prometheus text |
//! | `GET /health` | `application/json`; 200 when healthy or degraded, 503 when unhealthy |
//! | `GET /snapshot` | 200, `application/json`, the [`Snapshot`] |
//! | an endpoint with no source configured, any other path | 404 |
//! | any method but `GET` on a known path | 405 with `Allow: GET` |
//! | a source that panics | 500 (the server keeps running) |

use crate::affinity::{spawn_placed, SpawnError};
use crate::{PinError, ThreadPlacement};
use std::convert::Infallible;
use std::fmt;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::prometheus::{PrometheusRenderer, CONTENT_TYPE};
use crate::metrics::Snapshot;

/// How long [`MetricsServer`]'s drop waits for the server thread by default.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A client that has not sent its request headers after this long is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

const JSON: &str = "application/json";

/// The overall health the `/health` endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Everything works: 200.
    Healthy,
    /// Working with reduced guarantees: still 200, so a load balancer keeps the instance.
    Degraded,
    /// Not working: 503.
    Unhealthy,
}

impl HealthState {
    /// The HTTP status `/health` answers with.
    pub fn http_status(self) -> u16 {
        match self {
            HealthState::Healthy | HealthState::Degraded => 200,
            HealthState::Unhealthy => 503,
        }
    }
}

/// What a health source returns: the state (which picks the status code) and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Overall state.
    pub state: HealthState,
    /// The response body, JSON.
    pub json: String,
}

type TextSource = dyn Fn() -> String + Send + Sync;
type SnapshotSource = dyn Fn() -> Snapshot + Send + Sync;
type HealthSource = dyn Fn() -> HealthReport + Send + Sync;

/// Configures the endpoint: where each answer comes from. [`serve`](Self::serve) starts it.
///
/// ```
/// use tickwatch::export::{HealthReport, HealthState, MetricsEndpoint};
/// let server = MetricsEndpoint::new()
///     .metrics_text(|| "# TYPE up gauge\nup 1\n".to_string())
///     .health(|| HealthReport { state: HealthState::Healthy, json: r#"{"status":"healthy"}"#.into() })
///     .serve("127.0.0.1:0")?;
/// println!("scrape http://{}/metrics", server.local_addr());
/// server.stop()?; // or drop it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct MetricsEndpoint {
    metrics: Option<Arc<TextSource>>,
    snapshot: Option<Arc<SnapshotSource>>,
    health: Option<Arc<HealthSource>>,
    stop_timeout: Option<Duration>,
    placement: ThreadPlacement,
}

impl fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("metrics", &self.metrics.is_some())
            .field("snapshot", &self.snapshot.is_some())
            .field("health", &self.health.is_some())
            .finish()
    }
}

impl MetricsEndpoint {
    /// An endpoint with no source: every path answers 404 until one is set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `/snapshot` as JSON and, unless [`metrics_text`](Self::metrics_text) is set,
    /// `/metrics` rendered from the same snapshot. Called once per request, on the server
    /// thread: typically `move || tw.snapshot()`.
    pub fn snapshot(mut self, source: impl Fn() -> Snapshot + Send + Sync + 'static) -> Self {
        self.snapshot = Some(Arc::new(source));
        self
    }

    /// Serves `/metrics` from `source` (Prometheus text format 0.0.4) instead of rendering
    /// the snapshot.
    pub fn metrics_text(mut self, source: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(source));
        self
    }

    /// Serves `/health` from `source`.
    pub fn health(mut self, source: impl Fn() -> HealthReport + Send + Sync + 'static) -> Self {
        self.health = Some(Arc::new(source));
        self
    }

    /// How long stopping waits for the server thread ([`DEFAULT_STOP_TIMEOUT`] if unset).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }

    /// Names the server thread and restricts it to a CPU set (Linux; elsewhere the set is a
    /// no-op), to keep it off the trading cores. Default: `tickwatch-http`, any CPU.
    pub fn placement(mut self, placement: ThreadPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// Binds `addr` (`"127.0.0.1:0"` picks a free port; see
    /// [`MetricsServer::local_addr`]) and starts serving on a thread of its own.
    pub fn serve(self, addr: impl ToSocketAddrs) -> Result<MetricsServer, ServeError> {
        let listener = StdListener::bind(addr).map_err(ServeError::Bind)?;
        let local_addr = listener.local_addr().map_err(ServeError::Bind)?;
        listener.set_nonblocking(true).map_err(ServeError::Bind)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ServeError::Runtime)?;
        let stop_timeout = self.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
        let routes = Arc::new(Routes {
            metrics: self.metrics,
            snapshot: self.snapshot,
            health: self.health,
            renderer: Mutex::new(PrometheusRenderer::new()),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = mpsc::channel();
        self.placement.validate().map_err(ServeError::Placement)?;
        let thread = spawn_placed(
            &self.placement,
            || "tickwatch-http".into(),
            move || {
                runtime.block_on(accept_loop(listener, routes, stop_rx));
                // Dropping the runtime cancels the connections still open.
                drop(runtime);
                let _ = done_tx.send(());
            },
        )
        .map_err(|e| match e {
            SpawnError::Io(e) => ServeError::Spawn(e),
            SpawnError::Pin(e) => ServeError::Placement(e),
        })?;
        Ok(MetricsServer {
            local_addr,
            stop: Some(stop_tx),
            done: done_rx,
            thread: Some(thread),
            stop_timeout,
        })
    }
}

/// The running endpoint. Dropping it stops the server and waits (up to the stop timeout)
/// for its thread.
#[must_use = "dropping the MetricsServer stops the endpoint at once"]
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
    stop_timeout: Duration,
}

impl MetricsServer {
    /// The address actually bound (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes open connections and joins the server thread.
    pub fn stop(mut self) -> Result<(), StopError> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<(), StopError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.done.recv_timeout(self.stop_timeout) {
            Ok(()) => thread.join().map_err(|_| StopError::Panicked),
            // The sender is gone without a message: the thread panicked.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                Err(StopError::Panicked)
            }
            // Left detached: joining would block past the timeout.
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StopError::Timeout(self.stop_timeout)),
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        let _ = self.stop_now();
    }
}

/// Why [`MetricsEndpoint::serve`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound: pick a free port (or port 0) and an address of
    /// this machine.
    Bind(std::io::Error),
    /// The tokio runtime could not be created (the process may be out of file descriptors).
    Runtime(std::io::Error),
    /// The server thread could not be spawned (thread or memory limits).
    Spawn(std::io::Error),
    /// The thread's CPU set ([`MetricsEndpoint::placement`]) names a CPU out of range or the
    /// OS refused it.
    Placement(PinError),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Bind(e) => write!(
                f,
                "could not bind the metrics endpoint ({e}); choose a free port or port 0"
            ),
            ServeError::Runtime(e) => write!(
                f,
                "could not create the endpoint's runtime ({e}); check the file descriptor limit"
            ),
            ServeError::Spawn(e) => write!(
                f,
                "could not spawn the endpoint's thread ({e}); check the process's thread limit"
            ),
            ServeError::Placement(e) => write!(f, "could not place the endpoint's thread: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Bind(e) | ServeError::Runtime(e) | ServeError::Spawn(e) => Some(e),
            ServeError::Placement(e) => Some(e),
        }
    }
}

/// Why stopping a [`MetricsServer`] did not end cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopError {
    /// The server thread did not finish within the timeout and was left detached: a
    /// source closure is probably blocked; make it return promptly.
    Timeout(Duration),
    /// The server thread panicked.
    Panicked,
}

impl fmt::Display for StopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopError::Timeout(t) => write!(
                f,
                "the metrics endpoint thread did not stop within {t:?} and was left running; check for a blocking source closure"
            ),
            StopError::Panicked => f.write_str("the metrics endpoint thread panicked"),
        }
    }
}

impl std::error::Error for StopError {}

struct Routes {
    metrics: Option<Arc<TextSource>>,
    snapshot: Option<Arc<SnapshotSource>>,
    health: Option<Arc<HealthSource>>,
    renderer: Mutex<PrometheusRenderer>,
}

async fn accept_loop(listener: StdListener, routes: Arc<Routes>, mut stop: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(_) => return,
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or a reset before accept: back off, keep serving.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let routes = routes.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let routes = routes.clone();
                        async move { Ok::<_, Infallible>(routes.answer(&req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

impl Routes {
    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if !matches!(path, "/metrics" | "/health" | "/snapshot") {
            return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
        }
        if req.method() != Method::GET {
            let mut r = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "only GET is allowed\n".into(),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return r;
        }
        // A panicking source answers 500 and leaves the server running.
        catch_unwind(AssertUnwindSafe(|| self.route(path))).unwrap_or_else(|_| {
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "the source of this endpoint panicked\n".into(),
            )
        })
    }

    fn route(&self, path: &str) -> Response<Full<Bytes>> {
        let not_configured = || {
            reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "no source configured for this endpoint\n".into(),
            )
        };
        match path {
            "/metrics" => {
                let text = if let Some(metrics) = &self.metrics {
                    metrics()
                } else if let Some(snapshot) = &self.snapshot {
                    let snapshot = snapshot();
                    let mut text = String::new();
                    self.renderer.lock().render(&snapshot, &mut text);
                    text
                } else {
                    return not_configured();
                };
                reply(StatusCode::OK, CONTENT_TYPE, text.into())
            }
            "/health" => match &self.health {
                Some(health) => {
                    let report = health();
                    let status = StatusCode::from_u16(report.state.http_status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    reply(status, JSON, report.json.into())
                }
                None => not_configured(),
            },
            _ => match &self.snapshot {
                Some(snapshot) => match serde_json::to_vec(&snapshot()) {
                    Ok(body) => reply(StatusCode::OK, JSON, body.into()),
                    Err(e) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("could not serialize the snapshot: {e}\n").into(),
                    ),
                },
                None => not_configured(),
            },
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
    r
}
