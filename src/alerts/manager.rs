//! [`Alerts`], the manager behind `send_alert`: deduplication, token-bucket rate limits
//! ([`RateLimit`]), a cap on active alerts, optional auto-resolve, and the bounded outbox the
//! tick drains.

use crate::hash::KeyedMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::alert::{canonical_labels, truncate, MAX_MESSAGE_LEN};
use super::rate_limit::{Bucket, RateLimit};
use super::{
    ActiveAlert, Alert, AlertId, AlertResponse, AlertSource, AlertState, Notification, Refusal,
    Severity, Transition,
};
use crate::series::MAX_NAME_LEN;
use crate::time::{elapsed, WallClock};
use crate::Timestamp;

/// The manager's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Most alerts active at once; past it new alerts are refused and counted. Default 1,024.
    pub max_active: usize,
    /// One bucket per alert name (all label sets of a name share it). Default 10 at once,
    /// then one every 6 s. `None`: no per-name limit.
    pub per_name: Option<RateLimit>,
    /// One bucket for every alert. Default 100 at once, then one every 600 ms. `None`: no
    /// global limit.
    pub global: Option<RateLimit>,
    /// Most names with a per-name bucket; buckets that have refilled completely are
    /// forgotten first (losslessly: a new bucket starts full); if none has, a new name is
    /// rate limited. Default 4,096.
    pub max_rate_limited_names: usize,
    /// An alert not sent again for this long resolves on its own. Default `None`: manual
    /// alerts stay active until [`Alerts::resolve`].
    #[serde(with = "humantime_serde")]
    pub auto_resolve: Option<Duration>,
    /// Notifications waiting for the tick; when full, new alerts are refused
    /// ([`Refusal::OutboxFull`]) and resolve notifications dropped (counted). Default 4,096.
    pub outbox_capacity: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            max_active: 1024,
            per_name: Some(RateLimit::new(10, Duration::from_secs(6))),
            global: Some(RateLimit::new(100, Duration::from_millis(600))),
            max_rate_limited_names: 4096,
            auto_resolve: None,
            outbox_capacity: 4096,
        }
    }
}

/// What a manager has done since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertStats {
    /// Alerts accepted (new active alerts).
    pub accepted: u64,
    /// Sends deduplicated into an active alert.
    pub deduplicated: u64,
    /// Sends refused by a token bucket.
    pub rate_limited: u64,
    /// Sends refused for any [`Refusal`].
    pub refused: u64,
    /// Alerts resolved (by hand or by `auto_resolve`).
    pub resolved: u64,
    /// Resolve notifications dropped because the outbox was full.
    pub notifications_dropped: u64,
    /// Alerts active now.
    pub active: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    name: String,
    labels: Vec<(String, String)>,
}

struct Entry {
    id: AlertId,
    severity: Severity,
    message: String,
    since: Timestamp,
    last_seen: Timestamp,
    count: u64,
}

struct Inner {
    active: KeyedMap<Key, Entry>,
    per_name: KeyedMap<String, Bucket>,
    global: Option<Bucket>,
    outbox: VecDeque<Notification>,
    stats: AlertStats,
}

/// The alert manager: `send_alert` from any thread; notifications wait in a bounded outbox
/// until the tick drains them ([`Alerts::drain_notifications`]) and hands them to the sinks.
///
/// One mutex guards the state; a send does a hash lookup, at most two token-bucket updates
/// and, when accepted, queues one notification. No sink code and no I/O runs on the caller's
/// thread.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tickwatch::alerts::{Alert, AlertResponse, Alerts, AlertsConfig, ManualClock, Severity};
/// use tickwatch::Timestamp;
///
/// let clock = Arc::new(ManualClock::new(Timestamp::from_unix_nanos(0)));
/// let alerts = Alerts::new(AlertsConfig::default(), clock.clone());
/// let a = Alert::new("feed_stale", Severity::Critical, "no ticks").label("venue", "XNAS");
/// let AlertResponse::Accepted { id } = alerts.send_alert(a.clone()) else { panic!() };
/// assert_eq!(alerts.send_alert(a), AlertResponse::Deduplicated { id, count: 2 });
/// assert_eq!(alerts.drain_notifications().len(), 1); // one firing notification
/// assert_eq!(alerts.resolve("feed_stale", &[("venue", "XNAS")]), Some(id));
/// assert_eq!(alerts.drain_notifications().len(), 1); // its resolve
/// ```
pub struct Alerts {
    config: AlertsConfig,
    clock: Arc<dyn WallClock>,
    inner: Mutex<Inner>,
}

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Alerts {
    /// A manager with `config`, reading time from `clock` ([`SystemClock`](super::SystemClock)
    /// in production). Zero capacities are read as 1.
    pub fn new(config: AlertsConfig, clock: Arc<dyn WallClock>) -> Alerts {
        let now = clock.now();
        let global = config.global.as_ref().map(|l| Bucket::full(l, now));
        Alerts {
            inner: Mutex::new(Inner {
                active: KeyedMap::default(),
                per_name: KeyedMap::default(),
                global,
                outbox: VecDeque::new(),
                stats: AlertStats::default(),
            }),
            config,
            clock,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// Raises `alert`: accepted (a firing notification is queued), deduplicated into the
    /// active alert with the same name and labels, rate limited, or refused. Callable from any
    /// thread.
    pub fn send_alert(&self, alert: Alert) -> AlertResponse {
        let Alert {
            name,
            severity,
            mut message,
            labels,
        } = alert;
        let labels = match canonical_labels(labels) {
            Ok(l) => l,
            Err(reason) => return self.refuse(reason),
        };
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return self.refuse(Refusal::BadName);
        }
        truncate(&mut message, MAX_MESSAGE_LEN);
        let key = Key { name, labels };
        let now = self.clock.now();
        let mut guard = self.inner.lock();
        let inner = &mut *guard;

        if let Some(e) = inner.active.get_mut(&key) {
            if !self.expired(e, now) {
                e.count += 1;
                e.last_seen = now;
                inner.stats.deduplicated += 1;
                return AlertResponse::Deduplicated {
                    id: e.id,
                    count: e.count,
                };
            }
            // Timed out but not swept yet: resolve it, then treat this send as new.
            if let Some(e) = inner.active.remove(&key) {
                self.push_resolved(inner, &key, e, now);
            }
        }
        let max_active = self.config.max_active.max(1);
        if inner.active.len() >= max_active {
            inner.stats.refused += 1;
            return AlertResponse::Refused {
                reason: Refusal::TooManyActive { cap: max_active },
            };
        }
        let capacity = self.config.outbox_capacity.max(1);
        if inner.outbox.len() >= capacity {
            inner.stats.refused += 1;
            return AlertResponse::Refused {
                reason: Refusal::OutboxFull { capacity },
            };
        }
        if let Err(retry_after) = self.take_tokens(inner, &key.name, now) {
            inner.stats.rate_limited += 1;
            return AlertResponse::RateLimited { retry_after };
        }

        let id = AlertId::next();
        inner.outbox.push_back(Notification {
            id,
            name: key.name.clone(),
            severity,
            transition: Transition::Firing,
            message: message.clone(),
            labels: key.labels.clone(),
            annotations: Vec::new(),
            starts_at: now,
            ends_at: None,
            value: None,
            source: AlertSource::Manual,
        });
        inner.active.insert(
            key,
            Entry {
                id,
                severity,
                message,
                since: now,
                last_seen: now,
                count: 1,
            },
        );
        inner.stats.accepted += 1;
        AlertResponse::Accepted { id }
    }

    /// Ends the active alert with this name and labels (order-insensitive), queueing its
    /// resolve notification. `None` if no such alert is active.
    pub fn resolve(&self, name: &str, labels: &[(&str, &str)]) -> Option<AlertId> {
        let owned = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let labels = canonical_labels(owned).ok()?;
        let key = Key {
            name: name.to_owned(),
            labels,
        };
        let now = self.clock.now();
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let e = inner.active.remove(&key)?;
        let id = e.id;
        self.push_resolved(inner, &key, e, now);
        Some(id)
    }

    /// Every active alert (after resolving those past `auto_resolve`), oldest first.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let now = self.clock.now();
        let mut guard = self.inner.lock();
        self.sweep(&mut guard, now);
        let mut out: Vec<ActiveAlert> = guard
            .active
            .iter()
            .map(|(k, e)| ActiveAlert {
                id: e.id,
                name: k.name.clone(),
                severity: e.severity,
                message: e.message.clone(),
                labels: k.labels.clone(),
                state: AlertState::Firing,
                since: e.since,
                last_seen: e.last_seen,
                count: e.count,
                source: AlertSource::Manual,
            })
            .collect();
        out.sort_by_key(|a| (a.since, a.id));
        out
    }

    /// Resolves the alerts past `auto_resolve`, then takes every queued notification, in
    /// order. The tick calls this and hands the result to the sinks.
    pub fn drain_notifications(&self) -> Vec<Notification> {
        let mut out = Vec::new();
        self.drain_notifications_into(&mut out);
        out
    }

    /// [`Alerts::drain_notifications`] into a reused buffer (appends).
    pub fn drain_notifications_into(&self, out: &mut Vec<Notification>) {
        let now = self.clock.now();
        let mut guard = self.inner.lock();
        self.sweep(&mut guard, now);
        out.extend(guard.outbox.drain(..));
    }

    /// Counters since creation.
    pub fn stats(&self) -> AlertStats {
        let g = self.inner.lock();
        AlertStats {
            active: g.active.len() as u64,
            ..g.stats
        }
    }

    fn refuse(&self, reason: Refusal) -> AlertResponse {
        self.inner.lock().stats.refused += 1;
        AlertResponse::Refused { reason }
    }

    fn expired(&self, e: &Entry, now: Timestamp) -> bool {
        self.config
            .auto_resolve
            .is_some_and(|t| elapsed(e.last_seen, now) >= t)
    }

    /// Resolves every alert past `auto_resolve`.
    fn sweep(&self, inner: &mut Inner, now: Timestamp) {
        if self.config.auto_resolve.is_none() {
            return;
        }
        let expired: Vec<Key> = inner
            .active
            .iter()
            .filter(|(_, e)| self.expired(e, now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(e) = inner.active.remove(&key) {
                self.push_resolved(inner, &key, e, now);
            }
        }
    }

    fn push_resolved(&self, inner: &mut Inner, key: &Key, e: Entry, now: Timestamp) {
        inner.stats.resolved += 1;
        if inner.outbox.len() >= self.config.outbox_capacity.max(1) {
            inner.stats.notifications_dropped += 1;
            return;
        }
        inner.outbox.push_back(Notification {
            id: e.id,
            name: key.name.clone(),
            severity: e.severity,
            transition: Transition::Resolved,
            message: e.message,
            labels: key.labels.clone(),
            annotations: Vec::new(),
            starts_at: e.since,
            ends_at: Some(now),
            value: None,
            source: AlertSource::Manual,
        });
    }

    /// Takes one token from the global and the per-name bucket, or neither; `Err` holds the
    /// time until both could give one.
    fn take_tokens(&self, inner: &mut Inner, name: &str, now: Timestamp) -> Result<(), Duration> {
        let mut wait = Duration::ZERO;
        if let (Some(limit), Some(b)) = (&self.config.global, inner.global.as_mut()) {
            if !limit.refill_every.is_zero() {
                b.refill(limit, now);
                if b.tokens == 0 {
                    wait = wait.max(b.retry_after(limit, now));
                }
            }
        }
        let per_name = self.config.per_name.filter(|l| !l.refill_every.is_zero());
        if let Some(limit) = &per_name {
            if let Some(b) = inner.per_name.get_mut(name) {
                b.refill(limit, now);
                if b.tokens == 0 {
                    wait = wait.max(b.retry_after(limit, now));
                }
            } else if inner.per_name.len() >= self.config.max_rate_limited_names.max(1) {
                // Forget the buckets that are full again: a new bucket would be identical.
                inner.per_name.retain(|_, b| {
                    b.refill(limit, now);
                    b.tokens < limit.burst.max(1)
                });
                if inner.per_name.len() >= self.config.max_rate_limited_names.max(1) {
                    wait = wait.max(limit.refill_every);
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if let (Some(limit), Some(b)) = (&self.config.global, inner.global.as_mut()) {
            if !limit.refill_every.is_zero() {
                b.tokens -= 1;
            }
        }
        if let Some(limit) = &per_name {
            let b = inner
                .per_name
                .entry(name.to_owned())
                .or_insert_with(|| Bucket::full(limit, now));
            b.tokens -= 1;
        }
        Ok(())
    }
}
