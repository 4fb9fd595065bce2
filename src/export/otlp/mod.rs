//! OTLP/HTTP export (feature `otlp`): an instance's metrics and events to an OpenTelemetry
//! collector (or Prometheus 3, Loki 3, a vendor: anything that takes OTLP over HTTP), from
//! a thread of its own.
//!
//! * **Metrics**: every [`metrics_interval`](OtlpConfig::metrics_interval) the exporter
//!   thread takes the instance's [`Snapshot`] and posts it to `{endpoint}/v1/metrics`:
//!   counters as cumulative monotonic sums, gauges as gauges, latencies as histograms with
//!   the configured bucket bounds (seconds), tags as attributes (see [`encode`] for the
//!   mapping). The snapshot is the one [`Telemetry::snapshot`] returns: nothing is added to
//!   the hot path or the collector.
//! * **Logs**: [`OtlpExporter::log_sink`] is a [`Sink`](crate::sink::Sink) for the builder.
//!   On the collector it only copies each event into a bounded queue (drops counted); the
//!   exporter thread batches them into `LogRecord`s posted to `{endpoint}/v1/logs`.
//! * **Transport**: protobuf by default, OTLP JSON as an option, gzip optional; `http://`,
//!   or `https://` with the `otlp-tls` feature (ureq's rustls: Mozilla's roots, or only the
//!   certificates of [`OtlpConfig::certificate`]). Retries
//!   as the OTLP/HTTP specification says (see [`transport`]): 429, 502, 503 and 504 (and
//!   network errors) with exponential backoff and `Retry-After`; any other status is final;
//!   partial success is read and counted ([`OtlpStats`]).
//! * **Configuration**: [`OtlpConfig::new`], the standard `OTEL_*` variables
//!   ([`OtlpConfig::from_env`]), or a configuration file's `[otlp]` section with the
//!   variables over it, one by one ([`OtlpConfig::from_section_and_env`],
//!   [`OtlpExporter::from_section_and_env`]). An instance started from a configuration
//!   whose `[otlp]` section sets an endpoint starts, feeds and stops its own exporter
//!   ([`Telemetry::otlp_stats`](crate::Telemetry::otlp_stats),
//!   [`Telemetry::otlp_control`](crate::Telemetry::otlp_control)), and
//!   [`Telemetry::reload`](crate::Telemetry::reload) reconfigures it.
//!
//! **Live reconfiguration.** [`OtlpExporter::control`] gives an [`OtlpControl`] whose
//! [`reconfigure`](OtlpControl::reconfigure) (or
//! [`reconfigure_from_section`](OtlpControl::reconfigure_from_section), for a reloaded
//! configuration file) swaps the settings of the running exporter: the thread keeps running
//! and its queue keeps its log records, which are all sent, once, with the new settings
//! (endpoints, headers, timeout, protocol, compression, resource, retries, batching,
//! intervals, the metrics interval counting from the swap). The thread applies them before
//! its next request and acknowledges; a request in flight or in retry backoff finishes
//! under the old ones. `queue_capacity` and `placement` are fixed at start: a change to
//! either is refused ([`OtlpError::NotLive`]), as is a section without endpoint (to stop
//! exporting, shut the exporter down).
//!
//! ```no_run
//! use tickwatch::export::otlp::{OtlpConfig, OtlpExporter};
//! use tickwatch::Telemetry;
//! let otlp = OtlpExporter::start(OtlpConfig::new("http://127.0.0.1:4318"))?;
//! let tw = Telemetry::builder().sink(otlp.log_sink()).start()?;
//! tw.export_metrics_to(&otlp);
//! tw.counter("orders_sent", &[("venue", "XNAS")]).add(1);
//! tickwatch::warn!(tw, "order {} rejected", 42u64, reason = "limit");
//! // Before exit: deliver what the rings hold, then export it.
//! tw.shutdown()?;
//! let stats = otlp.shutdown()?;
//! println!("exported {} log records", stats.exported_log_records);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Telemetry::snapshot`]: crate::Telemetry::snapshot

mod config;
mod control;
pub mod encode;
mod logs;
mod sink;
mod sources;
mod tls;
pub mod transport;
mod worker;

pub use config::{Compression, OtlpConfig, OtlpConfigError, Protocol, DEFAULT_ENDPOINT};
pub use control::OtlpControl;
pub use sink::OtlpLogSink;

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::Snapshot;
use worker::{Counters, Msg, Worker};

/// `d` from now; a year from now if `d` is too long to add (settings are never a panic).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

/// Nanoseconds since the Unix epoch now (0 before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What an [`OtlpExporter`] has done since it started.
///
/// Every log record handed to the sink ends in exactly one of `exported_log_records`,
/// `rejected_log_records` (partial success), `failed_log_records` (given up after retries,
/// or a final status), `dropped_log_records` (queue full, or exporter stopped) or is still
/// `queued_log_records`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpStats {
    /// Data points accepted by the server (rejected ones excluded).
    pub exported_data_points: u64,
    /// Log records accepted by the server (rejected ones excluded).
    pub exported_log_records: u64,
    /// Successful metrics requests (a 2xx answer, partial success included).
    pub metric_exports: u64,
    /// Successful logs requests.
    pub log_exports: u64,
    /// HTTP requests made, retries included.
    pub requests: u64,
    /// Requests repeated after a retryable answer or a network error.
    pub retries: u64,
    /// Exports given up on: a final status (400, ...) or retries exhausted.
    pub failed_requests: u64,
    /// Data points in failed exports.
    pub failed_data_points: u64,
    /// Log records in failed exports.
    pub failed_log_records: u64,
    /// Data points the server refused in a partial success.
    pub rejected_data_points: u64,
    /// Log records the server refused in a partial success.
    pub rejected_log_records: u64,
    /// Log records not queued: the queue was full (or the exporter had stopped).
    pub dropped_log_records: u64,
    /// Log records waiting in the queue or being exported now.
    pub queued_log_records: u64,
    /// The last failure or partial-success message, for a human.
    pub last_error: Option<String>,
}

/// Why the exporter could not start, or a flush did not finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum OtlpError {
    /// A malformed setting.
    Config(OtlpConfigError),
    /// The exporter thread could not be spawned.
    Spawn(std::io::Error),
    /// The exporter thread's CPU set names a CPU out of range or the OS refused it.
    Placement(crate::PinError),
    /// The exports did not finish within [`flush_timeout`](OtlpConfig::flush_timeout) (they
    /// go on in the background, bounded by their retry limits).
    Timeout,
    /// The exporter thread has ended.
    Stopped,
    /// [`OtlpControl::reconfigure`] was asked to change a setting that cannot change while
    /// the exporter runs (`queue_capacity`, `placement`), or to turn export off (a section
    /// without endpoint): nothing was changed.
    NotLive {
        /// The setting (`queue_capacity`, `placement`, `endpoint`).
        setting: &'static str,
        /// Why, and what to do instead (restart, or shut down, the exporter).
        detail: String,
    },
}

impl fmt::Display for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpError::Config(e) => write!(f, "OTLP exporter configuration: {e}"),
            OtlpError::Spawn(e) => write!(f, "could not spawn the OTLP exporter thread: {e}"),
            OtlpError::Placement(e) => write!(f, "could not place the OTLP exporter thread: {e}"),
            OtlpError::Timeout => f.write_str("the OTLP exports did not finish in time"),
            OtlpError::Stopped => f.write_str("the OTLP exporter has stopped"),
            OtlpError::NotLive { setting, detail } => {
                write!(
                    f,
                    "OTLP exporter setting `{setting}` cannot change live: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for OtlpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OtlpError::Config(e) => Some(e),
            OtlpError::Spawn(e) => Some(e),
            OtlpError::Placement(e) => Some(e),
            OtlpError::Timeout | OtlpError::Stopped | OtlpError::NotLive { .. } => None,
        }
    }
}

impl From<OtlpConfigError> for OtlpError {
    fn from(e: OtlpConfigError) -> Self {
        OtlpError::Config(e)
    }
}

/// The exporter: its thread (`tickwatch-otlp`), its queue and its counters. See the
/// [module docs](self).
///
/// Dropping it exports what is queued and the metrics one last time, waiting at most
/// [`flush_timeout`](OtlpConfig::flush_timeout), then joins the thread (or leaves it
/// detached if it is still retrying). Shut the instance down (or [`flush`] it) first, so
/// that the events still in its rings reach the sink before.
///
/// [`flush`]: crate::Telemetry::flush
#[must_use = "dropping the exporter stops it"]
pub struct OtlpExporter {
    tx: Option<Sender<Msg>>,
    counters: Arc<Counters>,
    handle: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    queue_capacity: usize,
    /// Also the newest configuration's `flush_timeout`, which bounds `flush` and `stop`.
    control: OtlpControl,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Checks `config` and starts the exporter thread. Nothing is exported until a metrics
    /// source is given ([`Telemetry::export_metrics_to`](crate::Telemetry::export_metrics_to)
    /// or [`metrics_source`](Self::metrics_source)) or the [`log_sink`](Self::log_sink) is
    /// handed events.
    pub fn start(config: OtlpConfig) -> Result<OtlpExporter, OtlpError> {
        config.validate()?;
        config.placement.validate().map_err(OtlpError::Placement)?;
        let (tx, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::sync_channel(1);
        let counters = Arc::new(Counters::default());
        let queue_capacity = config.queue_capacity.max(1);
        let placement = config.placement.clone();
        let reconfig = Arc::new(control::Slot::default());
        let control = OtlpControl::new(tx.clone(), reconfig.clone(), &config);
        let resource = encode::resource(&config);
        let mut worker = Worker {
            transport: transport::Transport::new(&config),
            logs: logs::LogsRequest::new(&resource),
            resource,
            config,
            counters: counters.clone(),
            source: None,
            start: None,
            pending: Default::default(),
            pending_len: 0,
            front_done: 0,
            reconfig,
            retimed: false,
        };
        let handle = crate::affinity::spawn_placed(
            &placement,
            || "tickwatch-otlp".into(),
            move || {
                worker.run(&rx);
                let _ = done_tx.send(());
            },
        )
        .map_err(|e| match e {
            crate::affinity::SpawnError::Io(e) => OtlpError::Spawn(e),
            crate::affinity::SpawnError::Pin(e) => OtlpError::Placement(e),
        })?;
        Ok(OtlpExporter {
            tx: Some(tx),
            counters,
            handle: Some(handle),
            done,
            queue_capacity,
            control,
        })
    }

    /// Starts an exporter configured by a configuration file's `[otlp]` section with the
    /// `OTEL_*` environment variables over it, variable by variable
    /// ([`OtlpConfig::from_section_and_env`]), or returns `Ok(None)` when neither sets an
    /// endpoint. [`OtlpControl::reconfigure_from_section`] applies a reloaded section the
    /// same way.
    pub fn from_section_and_env(
        section: &crate::export::OtlpSection,
    ) -> Result<Option<OtlpExporter>, OtlpError> {
        match OtlpConfig::from_section_and_env(section)? {
            Some(c) => OtlpExporter::start(c).map(Some),
            None => Ok(None),
        }
    }

    /// A handle that changes this exporter's settings while it runs (see [`OtlpControl`]).
    /// Clones share one handle; it stays valid after the exporter stops (its calls then
    /// return [`OtlpError::Stopped`]).
    pub fn control(&self) -> OtlpControl {
        self.control.clone()
    }

    /// Starts an exporter configured by the `OTEL_*` environment variables
    /// ([`OtlpConfig::from_env`]), or returns `Ok(None)` when no endpoint is set.
    pub fn from_env() -> Result<Option<OtlpExporter>, OtlpError> {
        match OtlpConfig::from_env()? {
            Some(c) => OtlpExporter::start(c).map(Some),
            None => Ok(None),
        }
    }

    /// A sink that queues events for export as log records: give it to
    /// [`TelemetryBuilder::sink`](crate::TelemetryBuilder::sink). Each call makes a new sink
    /// feeding the same queue.
    pub fn log_sink(&self) -> OtlpLogSink {
        let tx = match &self.tx {
            Some(tx) => tx.clone(),
            // Unreachable while `self` exists (only drop takes it); a closed channel makes
            // every write count its events as dropped.
            None => mpsc::channel().0,
        };
        OtlpLogSink::new(tx, self.counters.clone(), self.queue_capacity)
    }

    /// Exports the snapshots `source` returns (called on the exporter thread, once per
    /// export). Replaces an earlier source. For an instance's own metrics use
    /// [`Telemetry::export_metrics_to`](crate::Telemetry::export_metrics_to).
    pub fn metrics_source(&self, source: impl Fn() -> Snapshot + Send + 'static) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Source(Box::new(source)));
        }
    }

    /// The counters now.
    pub fn stats(&self) -> OtlpStats {
        self.counters.stats()
    }

    /// Exports every log record queued before this call and the metrics, now; waits until
    /// done or [`flush_timeout`](OtlpConfig::flush_timeout) (retries stop at that deadline;
    /// what they could not deliver is counted as failed). Events still in the instance's
    /// rings are not queued yet: call [`Telemetry::flush`](crate::Telemetry::flush) first.
    pub fn flush(&self) -> Result<(), OtlpError> {
        let tx = self.tx.as_ref().ok_or(OtlpError::Stopped)?;
        let flush_timeout = self.control.flush_timeout();
        let deadline = after(flush_timeout);
        let (ack_tx, ack) = mpsc::sync_channel(1);
        tx.send(Msg::Flush(ack_tx, deadline))
            .map_err(|_| OtlpError::Stopped)?;
        match ack.recv_timeout(flush_timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OtlpError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(OtlpError::Stopped),
        }
    }

    /// Exports what is queued and the metrics one last time, stops the thread and returns
    /// the final counters; waits at most [`flush_timeout`](OtlpConfig::flush_timeout)
    /// (`Err(Timeout)` leaves the thread detached: it ends after its current request).
    pub fn shutdown(mut self) -> Result<OtlpStats, OtlpError> {
        self.stop()?;
        Ok(self.stats())
    }

    pub(crate) fn stop(&mut self) -> Result<(), OtlpError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        let flush_timeout = self.control.flush_timeout();
        let deadline = after(flush_timeout);
        let _ = tx.send(Msg::Stop(deadline));
        drop(tx);
        if crate::affinity::join_within(&self.done, &mut self.handle, flush_timeout) {
            Ok(())
        } else {
            Err(OtlpError::Timeout)
        }
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
