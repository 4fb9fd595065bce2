//! [`AlertmanagerSink`] (feature `alertmanager`): posts notifications to Prometheus
//! Alertmanager's `POST /api/v2/alerts` from a thread of its own, through a bounded queue, so
//! the tick never waits on the network.
//!
//! Alertmanager forgets a firing alert that is not posted again within its `resolve_timeout`
//! (5 minutes by default), so the sender re-posts every firing alert each `resend_interval`
//! (as Prometheus does); the rule engine still emits one notification per transition.

use crate::hash::KeyedMap;
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{AlertSink, AlertSinkError, Notification, Transition};

/// Where and how to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerConfig {
    /// Base URL, `http://host:port` (plain HTTP; put a local proxy in front for TLS).
    pub url: String,
    /// Notifications waiting for the sender; when full, `notify` fails with
    /// [`AlertSinkError::QueueFull`] (counted). Default 1,024.
    pub queue_capacity: usize,
    /// Per request, connection included. Default 5 s.
    pub request_timeout: Duration,
    /// Attempts after the first for a failed post (network error, 5xx or 429). Default 3.
    pub retries: u32,
    /// Wait before the first retry, doubled for each next one. Default 200 ms.
    pub backoff: Duration,
    /// Re-post every firing alert this often (zero: never). Default 60 s.
    pub resend_interval: Duration,
    /// Sent as each alert's `generatorURL` (a dashboard link), if set.
    pub generator_url: Option<String>,
    /// How long `flush` and drop wait for the queue to be posted. Default 5 s.
    pub shutdown_timeout: Duration,
    /// The sender thread's name and CPU set (Linux; elsewhere the set is a no-op). Default:
    /// `tickwatch-alertmanager`, any CPU.
    pub placement: crate::ThreadPlacement,
}

impl AlertmanagerConfig {
    /// The defaults for an Alertmanager at `url` (e.g. `http://127.0.0.1:9093`).
    pub fn new(url: impl Into<String>) -> AlertmanagerConfig {
        AlertmanagerConfig {
            url: url.into(),
            queue_capacity: 1024,
            request_timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(200),
            resend_interval: Duration::from_secs(60),
            generator_url: None,
            shutdown_timeout: Duration::from_secs(5),
            placement: crate::ThreadPlacement::default(),
        }
    }
}

/// Why an [`AlertmanagerSink`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum AlertmanagerError {
    /// The URL is not `http://host[:port][/path]`: give the base URL of the Alertmanager
    /// (https needs a local proxy: the sink is built without TLS).
    BadUrl {
        /// As given.
        url: String,
    },
    /// The sender thread could not be spawned.
    Spawn(std::io::Error),
    /// The sender thread's CPU set names a CPU out of range or the OS refused it.
    Placement(crate::PinError),
}

impl fmt::Display for AlertmanagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertmanagerError::BadUrl { url } => write!(
                f,
                "Alertmanager URL `{url}` must look like http://host:port (no TLS: use a local proxy for https)"
            ),
            AlertmanagerError::Spawn(e) => write!(f, "could not spawn the Alertmanager sender thread: {e}"),
            AlertmanagerError::Placement(e) => {
                write!(f, "could not place the Alertmanager sender thread: {e}")
            }
        }
    }
}

impl std::error::Error for AlertmanagerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AlertmanagerError::Spawn(e) => Some(e),
            AlertmanagerError::Placement(e) => Some(e),
            AlertmanagerError::BadUrl { .. } => None,
        }
    }
}

/// Counters of an [`AlertmanagerSink`], readable after the sink moved into a router through
/// [`AlertmanagerSink::stats_handle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertmanagerStats {
    /// Notifications queued.
    pub queued: u64,
    /// Notifications refused because the queue was full.
    pub queue_full: u64,
    /// Alerts in successful posts (re-posts included).
    pub posted: u64,
    /// HTTP requests made (retries included).
    pub requests: u64,
    /// Retries after a failed request.
    pub retries: u64,
    /// Alerts given up on after every retry failed (or a 4xx answer).
    pub failed: u64,
    /// Alerts re-posted because they are still firing.
    pub resent: u64,
    /// The last failure, for the health check.
    pub last_error: Option<&'static str>,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    queue_full: AtomicU64,
    posted: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    resent: AtomicU64,
    last_error: AtomicU64,
}

const ERRORS: [&str; 3] = [
    "",
    "network error or 5xx/429 after every retry",
    "rejected with a 4xx answer",
];

/// A cloneable view of a sink's counters.
#[derive(Clone)]
pub struct AlertmanagerStatsHandle(Arc<Counters>);

impl fmt::Debug for AlertmanagerStatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.stats().fmt(f)
    }
}

impl AlertmanagerStatsHandle {
    /// The counters now.
    pub fn stats(&self) -> AlertmanagerStats {
        let c = &self.0;
        let e = c.last_error.load(Relaxed) as usize;
        AlertmanagerStats {
            queued: c.queued.load(Relaxed),
            queue_full: c.queue_full.load(Relaxed),
            posted: c.posted.load(Relaxed),
            requests: c.requests.load(Relaxed),
            retries: c.retries.load(Relaxed),
            failed: c.failed.load(Relaxed),
            resent: c.resent.load(Relaxed),
            last_error: ERRORS.get(e).copied().filter(|s| !s.is_empty()),
        }
    }
}

enum Msg {
    Alert(Box<Notification>),
    Flush(SyncSender<()>),
}

/// Posts notifications to an Alertmanager from its own sender thread.
///
/// `notify` only queues (never blocks); the sender batches what is queued into one
/// `POST /api/v2/alerts`, retrying failures with exponential backoff, then counting them.
/// Dropping the sink (or the router holding it) posts what is queued, waiting at most
/// `shutdown_timeout`.
///
/// Each alert is posted with labels `alertname` (the name), `severity`, and its own labels
/// (keys made valid Prometheus label names; empty values left out, as Alertmanager reads
/// them as absent), annotations `summary` (the message) and its own, `startsAt`, `endsAt`
/// (for a resolve), and `generatorURL` if configured.
#[must_use = "dropping the sink stops its sender thread"]
pub struct AlertmanagerSink {
    tx: Option<SyncSender<Msg>>,
    stop: Arc<AtomicBool>,
    done: Receiver<()>,
    handle: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    timeout: Duration,
}

impl fmt::Debug for AlertmanagerSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertmanagerSink")
            .field("stats", &self.stats_handle().stats())
            .finish()
    }
}

impl AlertmanagerSink {
    /// Starts the sender thread.
    pub fn start(config: AlertmanagerConfig) -> Result<AlertmanagerSink, AlertmanagerError> {
        let base = config.url.trim_end_matches('/');
        let host = base.strip_prefix("http://").unwrap_or("");
        if host.is_empty() || host.starts_with('/') || base.contains(char::is_whitespace) {
            return Err(AlertmanagerError::BadUrl { url: config.url });
        }
        let endpoint = format!("{base}/api/v2/alerts");
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
        let (done_tx, done) = mpsc::sync_channel(1);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let timeout = config.shutdown_timeout;
        config
            .placement
            .validate()
            .map_err(AlertmanagerError::Placement)?;
        let placement = config.placement.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.request_timeout))
            .build()
            .into();
        let mut sender = Sender {
            agent,
            endpoint,
            config,
            counters: counters.clone(),
            stop: stop.clone(),
            firing: KeyedMap::default(),
        };
        let handle = crate::affinity::spawn_placed(
            &placement,
            || "tickwatch-alertmanager".into(),
            move || {
                sender.run(&rx);
                let _ = done_tx.send(());
            },
        )
        .map_err(|e| match e {
            crate::affinity::SpawnError::Io(e) => AlertmanagerError::Spawn(e),
            crate::affinity::SpawnError::Pin(e) => AlertmanagerError::Placement(e),
        })?;
        Ok(AlertmanagerSink {
            tx: Some(tx),
            stop,
            done,
            handle: Some(handle),
            counters,
            timeout,
        })
    }

    /// A handle on the counters that outlives moving the sink into a router.
    pub fn stats_handle(&self) -> AlertmanagerStatsHandle {
        AlertmanagerStatsHandle(self.counters.clone())
    }

    /// Posts what is queued, then stops the sender, waiting at most `shutdown_timeout`.
    /// `Err(Timeout)` leaves the sender thread detached (it ends after its current request).
    pub fn shutdown(mut self) -> Result<(), AlertSinkError> {
        self.stop_sender()
    }

    fn stop_sender(&mut self) -> Result<(), AlertSinkError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        self.stop.store(true, Relaxed);
        // Disconnecting wakes the sender, which posts what is left and exits.
        drop(tx);
        if crate::affinity::join_within(&self.done, &mut self.handle, self.timeout) {
            Ok(())
        } else {
            Err(AlertSinkError::Timeout)
        }
    }
}

impl AlertSink for AlertmanagerSink {
    fn notify(&mut self, n: &Notification) -> Result<(), AlertSinkError> {
        let tx = self.tx.as_ref().ok_or(AlertSinkError::Stopped)?;
        match tx.try_send(Msg::Alert(Box::new(n.clone()))) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.counters.queue_full.fetch_add(1, Relaxed);
                Err(AlertSinkError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => Err(AlertSinkError::Stopped),
        }
    }

    /// Waits until everything queued before this call was posted (or given up on), at most
    /// `shutdown_timeout`.
    fn flush(&mut self) -> Result<(), AlertSinkError> {
        let tx = self.tx.as_ref().ok_or(AlertSinkError::Stopped)?;
        let (ack_tx, ack) = mpsc::sync_channel(1);
        let deadline = Instant::now() + self.timeout;
        let mut msg = Msg::Flush(ack_tx);
        // The queue may be full: retry until the deadline rather than fail at once.
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return Err(AlertSinkError::Timeout),
                Err(TrySendError::Disconnected(_)) => return Err(AlertSinkError::Stopped),
            }
        }
        match ack.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(AlertSinkError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(AlertSinkError::Stopped),
        }
    }
}

impl Drop for AlertmanagerSink {
    fn drop(&mut self) {
        let _ = self.stop_sender();
    }
}

/// The sender thread's state.
struct Sender {
    agent: ureq::Agent,
    endpoint: String,
    config: AlertmanagerConfig,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// Firing alerts by identity (name and labels), as last posted, for re-posting.
    firing: KeyedMap<(String, Vec<(String, String)>), Value>,
}

impl Sender {
    fn run(&mut self, rx: &Receiver<Msg>) {
        let resend = self.config.resend_interval;
        let mut next_resend = Instant::now() + resend;
        let mut batch: Vec<Value> = Vec::new();
        let mut acks: Vec<SyncSender<()>> = Vec::new();
        loop {
            let wait = if resend.is_zero() {
                Duration::from_secs(3600)
            } else {
                next_resend.saturating_duration_since(Instant::now())
            };
            let mut disconnected = false;
            match rx.recv_timeout(wait) {
                Ok(m) => self.take(m, &mut batch, &mut acks),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Batch whatever else is already queued into the same request.
            loop {
                match rx.try_recv() {
                    Ok(m) => self.take(m, &mut batch, &mut acks),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let n = batch.len() as u64;
                self.post(&Value::Array(std::mem::take(&mut batch)), n);
            }
            for a in acks.drain(..) {
                let _ = a.send(());
            }
            if disconnected || self.stop.load(Relaxed) {
                return;
            }
            if !resend.is_zero() && Instant::now() >= next_resend {
                if !self.firing.is_empty() {
                    let all: Vec<Value> = self.firing.values().cloned().collect();
                    let n = all.len() as u64;
                    if self.post(&Value::Array(all), n) {
                        self.counters.resent.fetch_add(n, Relaxed);
                    }
                }
                next_resend = Instant::now() + resend;
            }
        }
    }

    fn take(&mut self, m: Msg, batch: &mut Vec<Value>, acks: &mut Vec<SyncSender<()>>) {
        match m {
            Msg::Alert(n) => {
                let v = postable(&n, self.config.generator_url.as_deref());
                let key = (n.name.clone(), n.labels.clone());
                match n.transition {
                    Transition::Firing => self.firing.insert(key, v.clone()),
                    Transition::Resolved => self.firing.remove(&key),
                };
                batch.push(v);
            }
            Msg::Flush(ack) => acks.push(ack),
        }
    }

    /// One post with retries; true if it succeeded.
    fn post(&self, body: &Value, alerts: u64) -> bool {
        let bytes = body.to_string();
        let c = &self.counters;
        let mut backoff = self.config.backoff;
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                if self.stop.load(Relaxed) && attempt > 1 {
                    // Shutting down: one retry, not the whole backoff schedule.
                    break;
                }
                c.retries.fetch_add(1, Relaxed);
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
            c.requests.fetch_add(1, Relaxed);
            let res = self
                .agent
                .post(&self.endpoint)
                .header("Content-Type", "application/json")
                .send(&bytes);
            match res {
                Ok(mut resp) => {
                    // Read the (small) answer so the connection can be reused.
                    let _ = resp.body_mut().read_to_string();
                    c.posted.fetch_add(alerts, Relaxed);
                    return true;
                }
                Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) && code != 429 => {
                    // Alertmanager refused the alerts themselves: retrying cannot help.
                    c.failed.fetch_add(alerts, Relaxed);
                    c.last_error.store(2, Relaxed);
                    return false;
                }
                Err(_) => {}
            }
        }
        c.failed.fetch_add(alerts, Relaxed);
        c.last_error.store(1, Relaxed);
        false
    }
}

/// One alert in Alertmanager's `postableAlerts` form.
fn postable(n: &Notification, generator_url: Option<&str>) -> Value {
    let mut labels = Map::new();
    for (k, v) in &n.labels {
        if !v.is_empty() {
            labels.insert(label_name(k), Value::String(v.clone()));
        }
    }
    labels.insert("alertname".into(), Value::String(n.name.clone()));
    labels.insert("severity".into(), n.severity.as_str().into());
    let mut annotations = Map::new();
    if !n.message.is_empty() {
        annotations.insert("summary".into(), Value::String(n.message.clone()));
    }
    for (k, v) in &n.annotations {
        annotations.insert(label_name(k), Value::String(v.clone()));
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": n.starts_at.to_string(),
    });
    if let (Transition::Resolved, Some(end)) = (n.transition, n.ends_at) {
        alert["endsAt"] = end.to_string().into();
    }
    if let Some(url) = generator_url {
        alert["generatorURL"] = url.into();
    }
    alert
}

/// A valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, other characters as `_`.
fn label_name(k: &str) -> String {
    let mut out: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{AlertId, AlertSource, Severity};
    use crate::Timestamp;

    #[test]
    fn postable_shape() {
        let n = Notification {
            id: AlertId(1),
            name: "feed_stale".into(),
            severity: Severity::Critical,
            transition: Transition::Resolved,
            message: "no ticks".into(),
            labels: vec![
                ("9venue".into(), "XNAS".into()),
                ("empty".into(), String::new()),
            ],
            annotations: vec![("run-book".into(), "http://wiki".into())],
            starts_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            ends_at: Some(Timestamp::from_unix_nanos(1_700_000_060_000_000_000)),
            value: None,
            source: AlertSource::Manual,
        };
        let v = postable(&n, Some("http://grafana"));
        assert_eq!(
            v,
            json!({
                "labels": {"_9venue": "XNAS", "alertname": "feed_stale", "severity": "critical"},
                "annotations": {"summary": "no ticks", "run_book": "http://wiki"},
                "startsAt": "2023-11-14T22:13:20.000000000Z",
                "endsAt": "2023-11-14T22:14:20.000000000Z",
                "generatorURL": "http://grafana",
            })
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in ["", "https://am:9093", "http://", "ftp://x", "http:// x"] {
            assert!(
                matches!(
                    AlertmanagerSink::start(AlertmanagerConfig::new(url)),
                    Err(AlertmanagerError::BadUrl { .. })
                ),
                "{url}"
            );
        }
    }
}
