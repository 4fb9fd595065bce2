//! [`AlertPipeline`]: the rule engine, the manual-alert manager and the router, driven by
//! one call per collector tick.

use std::sync::Arc;

use super::{AlertRouter, Alerts, Notification, RuleEngine};
use crate::metrics::Snapshot;
use crate::Timestamp;

/// What the collector's tick owns: it evaluates the rules, drains the manager's outbox and
/// hands every notification to the router, on the tick's own thread.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tickwatch::alerts::*;
/// use tickwatch::metrics::Snapshot;
/// use tickwatch::Timestamp;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let mut router = AlertRouter::new();
/// router.route("all", SeverityFilter::all(), CallbackSink::new(move |n| {
///     s.lock().unwrap().push(n.name.clone())
/// }));
/// let clock = Arc::new(ManualClock::new(Timestamp::from_unix_nanos(0)));
/// let manager = Arc::new(Alerts::new(AlertsConfig::default(), clock));
/// let mut pipeline = AlertPipeline::new(RuleEngine::new(vec![])?, router)
///     .with_manager(manager.clone());
///
/// let _ = manager.send_alert(Alert::new("disk_full", Severity::Critical, "/var at 99%"));
/// let snapshot = Snapshot::empty(Timestamp::from_unix_nanos(0));
/// assert_eq!(pipeline.tick(&snapshot, snapshot.taken_at), 1);
/// assert_eq!(*seen.lock().unwrap(), vec!["disk_full".to_string()]);
/// # Ok::<(), RuleError>(())
/// ```
#[derive(Debug)]
pub struct AlertPipeline {
    engine: RuleEngine,
    router: AlertRouter,
    manager: Option<Arc<Alerts>>,
    buf: Vec<Notification>,
}

impl AlertPipeline {
    /// A pipeline with no manager.
    pub fn new(engine: RuleEngine, router: AlertRouter) -> AlertPipeline {
        AlertPipeline {
            engine,
            router,
            manager: None,
            buf: Vec::new(),
        }
    }

    /// Also delivers the notifications of `manager` (manual alerts) each tick.
    #[must_use]
    pub fn with_manager(mut self, manager: Arc<Alerts>) -> AlertPipeline {
        self.manager = Some(manager);
        self
    }

    /// One tick: manual notifications first (oldest first), then the rules' transitions at
    /// `now`, each handed to the router. Returns how many notifications were dispatched.
    /// The same as [`AlertPipeline::evaluate`] then [`AlertPipeline::dispatch`].
    pub fn tick(&mut self, snapshot: &Snapshot, now: Timestamp) -> usize {
        self.evaluate(snapshot, now);
        self.dispatch()
    }

    /// The first half of a tick: collects the manager's pending notifications and the rules'
    /// transitions at `now`, without calling any sink. A collector evaluates while it holds
    /// its aggregates and dispatches after releasing them, so that an alert sink may ask the
    /// instance for a snapshot. Returns how many notifications are waiting; a second call
    /// before [`AlertPipeline::dispatch`] adds to them.
    pub fn evaluate(&mut self, snapshot: &Snapshot, now: Timestamp) -> usize {
        if let Some(m) = &self.manager {
            m.drain_notifications_into(&mut self.buf);
        }
        self.engine.evaluate_into(snapshot, now, &mut self.buf);
        self.buf.len()
    }

    /// The second half of a tick: hands every waiting notification to the router, oldest
    /// first. Returns how many there were.
    pub fn dispatch(&mut self) -> usize {
        self.router.dispatch_all(&self.buf);
        let n = self.buf.len();
        self.buf.clear();
        n
    }

    /// Delivers the manager's pending notifications without evaluating rules (at shutdown),
    /// then flushes every sink. Returns how many sinks failed to flush.
    pub fn finish(&mut self) -> usize {
        if let Some(m) = &self.manager {
            m.drain_notifications_into(&mut self.buf);
        }
        self.dispatch();
        self.router.flush()
    }

    /// The rule engine.
    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }

    /// The rule engine, to replace rules or read stats.
    pub fn engine_mut(&mut self) -> &mut RuleEngine {
        &mut self.engine
    }

    /// The router.
    pub fn router(&self) -> &AlertRouter {
        &self.router
    }

    /// The router, to add routes.
    pub fn router_mut(&mut self) -> &mut AlertRouter {
        &mut self.router
    }

    /// The manager, if any.
    pub fn manager(&self) -> Option<&Arc<Alerts>> {
        self.manager.as_ref()
    }
}
