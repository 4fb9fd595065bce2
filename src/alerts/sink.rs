//! Where notifications go: the [`AlertSink`] trait, the severity [`AlertRouter`], and the
//! built-in [`CallbackSink`] and [`LogSink`].

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Notification, Severity, Transition};
use crate::logging::{Event, FieldRef, Level};

/// Receives alert notifications. Called on the thread that runs the tick (the collector), so
/// it must not block for long: a sink that talks to the network hands the work to a thread
/// of its own (as the Alertmanager sink does).
pub trait AlertSink: Send {
    /// Delivers one notification.
    fn notify(&mut self, n: &Notification) -> Result<(), AlertSinkError>;

    /// Waits (boundedly) until everything notified so far is delivered; default: nothing to
    /// wait for.
    fn flush(&mut self) -> Result<(), AlertSinkError> {
        Ok(())
    }
}

impl<S: AlertSink + ?Sized> AlertSink for Box<S> {
    fn notify(&mut self, n: &Notification) -> Result<(), AlertSinkError> {
        (**self).notify(n)
    }
    fn flush(&mut self) -> Result<(), AlertSinkError> {
        (**self).flush()
    }
}

/// Why a sink could not take a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertSinkError {
    /// The sink's queue is full (its receiver is slow or down): the notification was
    /// dropped. Raise the sink's queue capacity or check the receiver.
    QueueFull,
    /// The sink was shut down (or its worker thread died): nothing more is delivered.
    Stopped,
    /// `flush` gave up waiting: the receiver is slow or down.
    Timeout,
    /// Anything else, described.
    Failed(String),
}

impl fmt::Display for AlertSinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertSinkError::QueueFull => f.write_str(
                "alert sink queue is full; notification dropped: check the receiver or raise the queue capacity",
            ),
            AlertSinkError::Stopped => f.write_str("alert sink is stopped; nothing more is delivered"),
            AlertSinkError::Timeout => {
                f.write_str("alert sink flush timed out: the receiver is slow or down")
            }
            AlertSinkError::Failed(why) => write!(f, "alert sink failed: {why}"),
        }
    }
}

impl std::error::Error for AlertSinkError {}

/// Which severities a route takes.
///
/// ```
/// use tickwatch::alerts::{SeverityFilter, Severity};
/// assert!(SeverityFilter::at_least(Severity::Warning).accepts(Severity::Critical));
/// assert!(!SeverityFilter::at_least(Severity::Warning).accepts(Severity::Info));
/// assert!(SeverityFilter::only(&[Severity::Info]).accepts(Severity::Info));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeverityFilter {
    mask: u8,
}

impl SeverityFilter {
    /// Every severity.
    pub const fn all() -> SeverityFilter {
        SeverityFilter { mask: 0b111 }
    }

    /// `min` and everything more severe.
    pub fn at_least(min: Severity) -> SeverityFilter {
        Self::only(&Severity::ALL.map(|s| if s >= min { s } else { min }))
    }

    /// Exactly these severities.
    pub fn only(set: &[Severity]) -> SeverityFilter {
        SeverityFilter {
            mask: set.iter().fold(0, |m, s| m | 1 << *s as u8),
        }
    }

    /// Whether a notification of `s` goes through.
    pub fn accepts(self, s: Severity) -> bool {
        self.mask & (1 << s as u8) != 0
    }
}

/// One route's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteStats {
    /// The route's name.
    pub name: String,
    /// Notifications the sink took.
    pub delivered: u64,
    /// Notifications (and flushes) the sink failed, panics included.
    pub errors: u64,
    /// The last error, for the health check.
    pub last_error: Option<String>,
}

struct Route {
    filter: SeverityFilter,
    sink: Box<dyn AlertSink>,
    stats: RouteStats,
}

/// Hands each notification to every sink whose [`SeverityFilter`] takes its severity (a
/// resolve goes where its firing went: it carries the same severity). Sink errors and panics
/// are counted per route, never propagated.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tickwatch::alerts::{AlertRouter, CallbackSink, SeverityFilter, Severity};
/// let pages = Arc::new(Mutex::new(Vec::new()));
/// let p = pages.clone();
/// let mut router = AlertRouter::new();
/// router.route(
///     "pager",
///     SeverityFilter::at_least(Severity::Critical),
///     CallbackSink::new(move |n| p.lock().unwrap().push(n.name.clone())),
/// );
/// # let _ = router;
/// ```
#[derive(Default)]
pub struct AlertRouter {
    routes: Vec<Route>,
}

impl fmt::Debug for AlertRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertRouter")
            .field("routes", &self.stats())
            .finish()
    }
}

impl AlertRouter {
    /// Whether it has no route at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// A router with no routes.
    pub fn new() -> AlertRouter {
        AlertRouter::default()
    }

    /// Adds a route: `sink` gets the notifications `filter` accepts.
    pub fn route(
        &mut self,
        name: impl Into<String>,
        filter: SeverityFilter,
        sink: impl AlertSink + 'static,
    ) -> &mut AlertRouter {
        self.routes.push(Route {
            filter,
            sink: Box::new(sink),
            stats: RouteStats {
                name: name.into(),
                delivered: 0,
                errors: 0,
                last_error: None,
            },
        });
        self
    }

    /// Delivers `n` to every matching route; returns how many took it.
    pub fn dispatch(&mut self, n: &Notification) -> usize {
        let mut took = 0;
        for r in self
            .routes
            .iter_mut()
            .filter(|r| r.filter.accepts(n.severity))
        {
            let sink = &mut r.sink;
            match catch_unwind(AssertUnwindSafe(|| sink.notify(n))) {
                Ok(Ok(())) => {
                    r.stats.delivered += 1;
                    took += 1;
                }
                Ok(Err(e)) => r.fail(e.to_string()),
                Err(_) => r.fail("sink panicked".to_owned()),
            }
        }
        took
    }

    /// [`AlertRouter::dispatch`] for each, in order.
    pub fn dispatch_all(&mut self, ns: &[Notification]) {
        for n in ns {
            self.dispatch(n);
        }
    }

    /// Flushes every sink; failures are counted. Returns how many failed.
    pub fn flush(&mut self) -> usize {
        let mut failed = 0;
        for r in &mut self.routes {
            let sink = &mut r.sink;
            let res = match catch_unwind(AssertUnwindSafe(|| sink.flush())) {
                Ok(res) => res.map_err(|e| e.to_string()),
                Err(_) => Err("sink panicked".to_owned()),
            };
            if let Err(e) = res {
                r.fail(e);
                failed += 1;
            }
        }
        failed
    }

    /// Removes every route named `name` (a reloaded configuration's), flushing its sink
    /// first (a failed or panicking flush is counted, as in [`AlertRouter::flush`]); returns
    /// how many routes were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.routes.len();
        for r in self.routes.iter_mut().filter(|r| r.stats.name == name) {
            let sink = &mut r.sink;
            if !matches!(catch_unwind(AssertUnwindSafe(|| sink.flush())), Ok(Ok(()))) {
                r.stats.errors += 1;
            }
        }
        self.routes.retain(|r| r.stats.name != name);
        before - self.routes.len()
    }

    /// Each route's counters, in the order added.
    pub fn stats(&self) -> Vec<RouteStats> {
        self.routes.iter().map(|r| r.stats.clone()).collect()
    }

    /// Errors across every route.
    pub fn errors(&self) -> u64 {
        self.routes.iter().map(|r| r.stats.errors).sum()
    }
}

impl Route {
    fn fail(&mut self, e: String) {
        self.stats.errors += 1;
        self.stats.last_error = Some(e);
    }
}

/// Calls a closure with each notification.
pub struct CallbackSink<F> {
    f: F,
}

impl<F: FnMut(&Notification) + Send> CallbackSink<F> {
    /// A sink calling `f`.
    pub fn new(f: F) -> CallbackSink<F> {
        CallbackSink { f }
    }
}

impl<F: FnMut(&Notification) + Send> AlertSink for CallbackSink<F> {
    fn notify(&mut self, n: &Notification) -> Result<(), AlertSinkError> {
        (self.f)(n);
        Ok(())
    }
}

impl<F> fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSink")
    }
}

/// The event target of [`LogSink`]'s events.
pub const LOG_TARGET: &str = "tickwatch::alerts";

/// Logs each notification as a structured [`Event`]: level `Error` for a critical alert
/// firing, `Warn` for a warning, `Info` for an info alert and for every resolve. Fields:
/// `alertname`, `severity`, `state`, `alert_id`, `starts_at_ns`, `ends_at_ns` (resolves),
/// `value` (rules), then `label.KEY` and `annotation.KEY` for each label and annotation;
/// the message is the alert's.
pub struct LogSink {
    log: Box<dyn FnMut(&Event<'_>) + Send>,
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink")
    }
}

impl LogSink {
    /// Hands each event to `log`: to an instance with
    /// `LogSink::with(move |e| tw.log_event(e))` (`tw` an `Arc<Telemetry>`), to the global
    /// one with `LogSink::with(tickwatch::log_event)`.
    ///
    /// Do not log into an instance from its own collector thread (an alert route of that
    /// instance) with [`Backpressure::Block`](crate::Backpressure::Block): the collector would
    /// wait for room in a ring only it drains. The builder's
    /// [`alert_log`](crate::TelemetryBuilder::alert_log) route does it safely.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tickwatch::alerts::LogSink;
    /// let tw = Arc::new(tickwatch::Telemetry::builder().start().unwrap());
    /// let into_tw = LogSink::with(move |e| tw.log_event(e));
    /// let into_global = LogSink::with(tickwatch::log_event);
    /// # drop((into_tw, into_global));
    /// ```
    pub fn with(log: impl FnMut(&Event<'_>) + Send + 'static) -> LogSink {
        LogSink { log: Box::new(log) }
    }

    /// The level a notification is logged at.
    pub fn level(n: &Notification) -> Level {
        match (n.transition, n.severity) {
            (Transition::Resolved, _) | (_, Severity::Info) => Level::Info,
            (_, Severity::Warning) => Level::Warn,
            (_, Severity::Critical) => Level::Error,
        }
    }
}

impl AlertSink for LogSink {
    fn notify(&mut self, n: &Notification) -> Result<(), AlertSinkError> {
        // Field names must outlive the borrowed event: build them first.
        let names: Vec<String> = n
            .labels
            .iter()
            .map(|(k, _)| format!("label.{k}"))
            .chain(n.annotations.iter().map(|(k, _)| format!("annotation.{k}")))
            .collect();
        let mut fields: Vec<(&str, FieldRef<'_>)> = Vec::with_capacity(7 + names.len());
        fields.push(("alertname", FieldRef::Str(&n.name)));
        fields.push(("severity", FieldRef::Str(n.severity.as_str())));
        fields.push(("state", FieldRef::Str(n.transition.as_str())));
        fields.push(("alert_id", FieldRef::U64(n.id.0)));
        fields.push(("starts_at_ns", FieldRef::U64(n.starts_at.unix_nanos())));
        if let Some(end) = n.ends_at {
            fields.push(("ends_at_ns", FieldRef::U64(end.unix_nanos())));
        }
        if let Some(v) = n.value {
            fields.push(("value", FieldRef::F64(v)));
        }
        let values = n.labels.iter().chain(&n.annotations).map(|(_, v)| v);
        for (name, v) in names.iter().zip(values) {
            fields.push((name, FieldRef::Str(v)));
        }
        (self.log)(&Event {
            level: LogSink::level(n),
            target: LOG_TARGET,
            message: &n.message,
            fields: &fields,
        });
        Ok(())
    }
}
