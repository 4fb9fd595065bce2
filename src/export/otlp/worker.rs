//! The exporter thread: batches queued log records, takes a snapshot every metrics
//! interval, encodes, posts (with retries) and counts what came of it. Before each request
//! it applies a configuration handed over by an [`OtlpControl`](super::OtlpControl).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::resource::v1::Resource;
use parking_lot::Mutex;

use super::config::OtlpConfig;
use super::control::Slot;
use super::encode;
use super::logs::LogsRequest;
use super::sink::LogBatch;
use super::transport::{Attempts, Outcome, Signal, Transport};
use super::OtlpStats;
use crate::metrics::Snapshot;
use std::collections::VecDeque;

/// Where the exporter's metrics come from (typically `Telemetry::snapshot`).
pub(crate) type MetricsSource = Box<dyn Fn() -> Snapshot + Send>;

/// What the sink and the handle send to the exporter thread.
pub(crate) enum Msg {
    /// One batch's copied events.
    Logs(LogBatch),
    /// Export metrics from this source from now on.
    Source(MetricsSource),
    /// Export everything queued before this message, and metrics, now; answer when done.
    /// Retries do not go past the deadline.
    Flush(SyncSender<()>, Instant),
    /// As `Flush`, then end.
    Stop(Instant),
    /// A configuration waits in the reconfiguration slot: apply it now if idle.
    Reconfigure,
}

/// The exporter's counters, shared by the handle, the sink and the thread.
#[derive(Default)]
pub(crate) struct Counters {
    /// Log records in the queue or being exported.
    pub(crate) queued: AtomicUsize,
    pub(crate) dropped_logs: AtomicU64,
    exported_logs: AtomicU64,
    failed_logs: AtomicU64,
    rejected_logs: AtomicU64,
    exported_points: AtomicU64,
    failed_points: AtomicU64,
    rejected_points: AtomicU64,
    metric_exports: AtomicU64,
    log_exports: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    failed_requests: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn stats(&self) -> OtlpStats {
        OtlpStats {
            exported_data_points: self.exported_points.load(Relaxed),
            exported_log_records: self.exported_logs.load(Relaxed),
            metric_exports: self.metric_exports.load(Relaxed),
            log_exports: self.log_exports.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            failed_requests: self.failed_requests.load(Relaxed),
            failed_data_points: self.failed_points.load(Relaxed),
            failed_log_records: self.failed_logs.load(Relaxed),
            rejected_data_points: self.rejected_points.load(Relaxed),
            rejected_log_records: self.rejected_logs.load(Relaxed),
            dropped_log_records: self.dropped_logs.load(Relaxed),
            queued_log_records: self.queued.load(Relaxed) as u64,
            last_error: self.last_error.lock().clone(),
        }
    }
}

/// The exporter thread's state.
pub(crate) struct Worker {
    pub(crate) config: OtlpConfig,
    pub(crate) counters: Arc<Counters>,
    pub(crate) transport: Transport,
    pub(crate) resource: Resource,
    /// The logs request, refilled for each export ([`LogsRequest`]).
    pub(crate) logs: LogsRequest,
    pub(crate) source: Option<MetricsSource>,
    /// The instance's start, fixed at the first snapshot (cumulative points' start time).
    pub(crate) start: Option<u64>,
    /// Copied batches waiting for export, oldest first.
    pub(crate) pending: VecDeque<LogBatch>,
    /// Events in `pending` not exported yet.
    pub(crate) pending_len: usize,
    /// Events of the front batch already exported.
    pub(crate) front_done: usize,
    /// Configurations handed over by the control, taken before each request.
    pub(crate) reconfig: Arc<Slot>,
    /// A configuration was applied: `run` recomputes its deadlines.
    pub(crate) retimed: bool,
}

impl Drop for Worker {
    /// However the thread ends (a panic included): a reconfiguration waiting, or any later
    /// one, sees the exporter stopped instead of waiting out its timeout.
    fn drop(&mut self) {
        self.reconfig.close();
    }
}

impl Worker {
    fn metrics_every(&self) -> Duration {
        self.config.metrics_interval.max(Duration::from_millis(10))
    }

    fn logs_every(&self) -> Duration {
        self.config.logs_interval.max(Duration::from_millis(1))
    }

    fn batch(&self) -> usize {
        self.config.max_log_batch.max(1)
    }

    /// After a configuration was applied: its intervals count from now.
    fn retime(&mut self, next_metrics: &mut Instant, next_logs: &mut Option<Instant>) {
        if std::mem::take(&mut self.retimed) {
            *next_metrics = super::after(self.metrics_every());
            let logs = super::after(self.logs_every());
            *next_logs = next_logs.map(|l| l.min(logs));
        }
    }

    pub(crate) fn run(&mut self, rx: &Receiver<Msg>) {
        let mut next_metrics = super::after(self.metrics_every());
        let mut next_logs: Option<Instant> = None;
        loop {
            self.retime(&mut next_metrics, &mut next_logs);
            let wake = next_logs.map_or(next_metrics, |l| l.min(next_metrics));
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Logs(b)) => {
                    if self.pending_len == 0 {
                        next_logs = Some(super::after(self.logs_every()));
                    }
                    self.queue(b);
                    while self.pending_len >= self.batch() {
                        self.export_logs(None);
                    }
                }
                Ok(Msg::Source(s)) => self.source = Some(s),
                Ok(Msg::Reconfigure) => self.reconfigure(),
                Ok(Msg::Flush(ack, deadline)) => {
                    let (mut acks, stop) = self.drain(rx);
                    acks.push(ack);
                    self.export_all_logs(Some(deadline));
                    self.export_metrics(Some(deadline));
                    for a in acks {
                        let _ = a.send(());
                    }
                    if stop {
                        return;
                    }
                }
                Ok(Msg::Stop(deadline)) => {
                    let (acks, _) = self.drain(rx);
                    self.export_all_logs(Some(deadline));
                    self.export_metrics(Some(deadline));
                    for a in acks {
                        let _ = a.send(());
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let deadline = super::after(self.config.flush_timeout);
                    self.export_all_logs(Some(deadline));
                    self.export_metrics(Some(deadline));
                    return;
                }
            }
            self.retime(&mut next_metrics, &mut next_logs);
            let now = Instant::now();
            if self.pending_len == 0 {
                next_logs = None;
            } else if next_logs.is_some_and(|l| now >= l) {
                self.export_all_logs(None);
                next_logs = None;
            }
            if now >= next_metrics {
                self.export_metrics(None);
                next_metrics = super::after(self.metrics_every());
            }
        }
    }

    /// Takes what is already queued behind a flush or stop (sent before it returns): log
    /// records, a source, other flushes (answered once this one's exports are done, which
    /// cover them) and whether a stop was among them.
    fn drain(&mut self, rx: &Receiver<Msg>) -> (Vec<SyncSender<()>>, bool) {
        let mut acks = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(Msg::Logs(b)) => self.queue(b),
                Ok(Msg::Source(s)) => self.source = Some(s),
                Ok(Msg::Flush(ack, _)) => acks.push(ack),
                Ok(Msg::Reconfigure) => self.reconfigure(),
                Ok(Msg::Stop(_)) => return (acks, true),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return (acks, false),
            }
        }
    }

    fn export_all_logs(&mut self, deadline: Option<Instant>) {
        while self.pending_len > 0 {
            self.export_logs(deadline);
        }
    }

    /// Applies the configuration the control handed over, if any, and acknowledges it.
    /// Called before every request: one that is in flight (or in retry backoff) finishes
    /// under the settings it started with.
    fn reconfigure(&mut self) {
        let Some(p) = self.reconfig.take() else {
            return;
        };
        self.transport = Transport::new(&p.config);
        self.resource = encode::resource(&p.config);
        self.logs.set_resource(&self.resource);
        self.config = p.config;
        self.retimed = true;
        let _ = p.ack.send(());
    }

    fn queue(&mut self, b: LogBatch) {
        self.pending_len += b.len();
        self.pending.push_back(b);
    }

    /// Exports the first `max_log_batch` pending records (or all, if fewer) in one request.
    fn export_logs(&mut self, deadline: Option<Instant>) {
        self.reconfigure();
        let n = self.batch();
        self.logs.clear();
        while self.logs.len() < n {
            let Some(front) = self.pending.front() else {
                break;
            };
            let take = (n - self.logs.len()).min(front.len() - self.front_done);
            for i in self.front_done..self.front_done + take {
                if let Some(e) = front.get(i) {
                    self.logs.push(e);
                }
            }
            self.front_done += take;
            if self.front_done >= front.len() {
                self.pending.pop_front();
                self.front_done = 0;
            }
        }
        let n = self.logs.len();
        self.pending_len -= n;
        let body = encode::body(
            self.logs.message(),
            self.config.protocol,
            self.config.compression,
        );
        let url = self.config.logs_url.clone();
        let outcome = self.post(&url, &body, Signal::Logs, deadline);
        let c = &self.counters;
        match outcome {
            Outcome::Delivered { rejected, message } => {
                let rejected = rejected.min(n as u64);
                c.log_exports.fetch_add(1, Relaxed);
                c.exported_logs.fetch_add(n as u64 - rejected, Relaxed);
                if rejected > 0 || !message.is_empty() {
                    c.rejected_logs.fetch_add(rejected, Relaxed);
                    *c.last_error.lock() = Some(format!(
                        "partial success: {rejected} log records rejected: {message}"
                    ));
                }
            }
            Outcome::Failed { error, .. } => {
                c.failed_requests.fetch_add(1, Relaxed);
                c.failed_logs.fetch_add(n as u64, Relaxed);
                *c.last_error.lock() = Some(error);
            }
        }
        c.queued.fetch_sub(n, Relaxed);
    }

    fn export_metrics(&mut self, deadline: Option<Instant>) {
        self.reconfigure();
        let Some(source) = &self.source else { return };
        let snapshot = source();
        let start = *self
            .start
            .get_or_insert_with(|| encode::start_time(&snapshot));
        let (request, points) = encode::metrics_request(&snapshot, start, &self.resource);
        drop(snapshot);
        let body = encode::body(&request, self.config.protocol, self.config.compression);
        drop(request);
        let url = self.config.metrics_url.clone();
        let outcome = self.post(&url, &body, Signal::Metrics, deadline);
        let c = &self.counters;
        let points = points as u64;
        match outcome {
            Outcome::Delivered { rejected, message } => {
                let rejected = rejected.min(points);
                c.metric_exports.fetch_add(1, Relaxed);
                c.exported_points.fetch_add(points - rejected, Relaxed);
                if rejected > 0 || !message.is_empty() {
                    c.rejected_points.fetch_add(rejected, Relaxed);
                    *c.last_error.lock() = Some(format!(
                        "partial success: {rejected} data points rejected: {message}"
                    ));
                }
            }
            Outcome::Failed { error, .. } => {
                c.failed_requests.fetch_add(1, Relaxed);
                c.failed_points.fetch_add(points, Relaxed);
                *c.last_error.lock() = Some(error);
            }
        }
    }

    fn post(
        &mut self,
        url: &str,
        body: &[u8],
        signal: Signal,
        deadline: Option<Instant>,
    ) -> Outcome {
        let mut attempts = Attempts::default();
        let outcome = self
            .transport
            .export(url, body, signal, deadline, &mut attempts);
        self.counters.requests.fetch_add(attempts.requests, Relaxed);
        self.counters.retries.fetch_add(attempts.retries, Relaxed);
        outcome
    }
}
