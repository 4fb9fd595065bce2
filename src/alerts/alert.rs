//! Alerts sent by hand: [`Alert`], what became of it ([`AlertResponse`], [`Refusal`]), and
//! how an active alert is listed ([`ActiveAlert`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use super::{AlertId, AlertSource, Severity};
use crate::series::MAX_NAME_LEN;
use crate::Timestamp;

/// The most labels one alert may carry.
pub const MAX_LABELS: usize = 32;
/// Messages longer than this many bytes are cut (at a character boundary), not refused.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// An alert raised by hand with [`Alerts::send_alert`](super::Alerts::send_alert).
///
/// Its identity is the name plus the labels (order-insensitive): while an alert with that
/// identity is active, sending it again is [deduplicated](AlertResponse::Deduplicated).
///
/// ```
/// use tickwatch::alerts::{Alert, Severity};
/// let a = Alert::new("feed_stale", Severity::Critical, "no ticks for 5 s")
///     .label("venue", "XNAS");
/// assert_eq!(a.labels, vec![("venue".to_string(), "XNAS".to_string())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// What is wrong, as a stable identifier (`feed_stale`): 1 to 256 bytes.
    pub name: String,
    /// How urgent.
    pub severity: Severity,
    /// For people; cut at [`MAX_MESSAGE_LEN`] bytes.
    pub message: String,
    /// Identifying labels (at most [`MAX_LABELS`]; keys 1 to 256 bytes, values at most 256);
    /// a repeated key keeps its last value.
    #[serde(with = "crate::schema::tags")]
    pub labels: Vec<(String, String)>,
}

impl Alert {
    /// An alert with no labels.
    pub fn new(name: impl Into<String>, severity: Severity, message: impl Into<String>) -> Alert {
        Alert {
            name: name.into(),
            severity,
            message: message.into(),
            labels: Vec::new(),
        }
    }

    /// Adds a label.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Alert {
        self.labels.push((key.into(), value.into()));
        self
    }
}

/// What [`Alerts::send_alert`](super::Alerts::send_alert) did with an alert.
#[must_use = "an alert may have been rate limited or refused"]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertResponse {
    /// A new active alert: a firing notification is queued for the sinks.
    Accepted {
        /// The new alert's id.
        id: AlertId,
    },
    /// The same name and labels are already active: its count grew, nothing is notified.
    /// Deduplicated sends take no rate-limit token.
    Deduplicated {
        /// The active alert's id.
        id: AlertId,
        /// How many times it has been sent, this time included.
        count: u64,
    },
    /// A token bucket ([`RateLimit`](super::RateLimit)) is empty: nothing was recorded or notified. Send it
    /// again after `retry_after`, or raise the limit in [`AlertsConfig`](super::AlertsConfig).
    RateLimited {
        /// When a token will be available again (per the manager's clock).
        retry_after: Duration,
    },
    /// Not recorded; the reason says what to fix.
    Refused {
        /// Why.
        reason: Refusal,
    },
}

/// Why an alert was [refused](AlertResponse::Refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// `max_active` alerts are already active: resolve some, or raise
    /// [`AlertsConfig::max_active`](super::AlertsConfig::max_active). Counted in [`AlertStats::refused`](super::AlertStats::refused).
    TooManyActive {
        /// The configured cap.
        cap: usize,
    },
    /// The notification outbox is full (the tick has not drained it): check that the tick
    /// runs, or raise [`AlertsConfig::outbox_capacity`](super::AlertsConfig::outbox_capacity).
    OutboxFull {
        /// The configured capacity.
        capacity: usize,
    },
    /// The name is empty or longer than 256 bytes: give the alert a short, stable name.
    BadName,
    /// More than [`MAX_LABELS`] labels: put detail in the message instead.
    TooManyLabels {
        /// How many were given.
        count: usize,
    },
    /// A label key is empty or longer than 256 bytes, or its value is longer than 256 bytes.
    BadLabel {
        /// The key (cut to 256 bytes).
        key: String,
    },
    /// No global instance is installed (the free function `tickwatch::send_alert`): call
    /// `tickwatch::install` first, or send through a `Telemetry` or an [`Alerts`](super::Alerts).
    NotInstalled,
    /// The instance is shut down: nothing would deliver the notification. Send through a
    /// running instance.
    Stopped,
    /// The instance has no alert route: nothing would notify anyone. Give its builder an
    /// [`alert_route`](crate::TelemetryBuilder::alert_route) or
    /// [`alert_log`](crate::TelemetryBuilder::alert_log) (or `[[routes]]` in its
    /// configuration).
    NoRoute,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooManyActive { cap } => write!(
                f,
                "{cap} alerts are already active: resolve some or raise AlertsConfig::max_active"
            ),
            Refusal::OutboxFull { capacity } => write!(
                f,
                "the notification outbox holds {capacity} undelivered notifications: check that the alert tick runs, or raise AlertsConfig::outbox_capacity"
            ),
            Refusal::BadName => f.write_str("alert name must be 1 to 256 bytes"),
            Refusal::NotInstalled => f.write_str(
                "no global tickwatch instance is installed: call tickwatch::install first",
            ),
            Refusal::NoRoute => f.write_str(
                "the tickwatch instance has no alert route: nothing would notify anyone; give its builder an alert_route or alert_log (or [[routes]] in its configuration)",
            ),
            Refusal::Stopped => f.write_str(
                "the tickwatch instance is shut down: nothing would deliver this alert; send through a running instance",
            ),
            Refusal::TooManyLabels { count } => write!(
                f,
                "{count} labels given, at most {MAX_LABELS} allowed: put detail in the message"
            ),
            Refusal::BadLabel { key } => write!(
                f,
                "label `{key}`: keys must be 1 to 256 bytes and values at most 256 bytes"
            ),
        }
    }
}

/// Whether an alert is waiting for its `for` duration or firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// A rule's condition is true but has not been for `for` yet: nothing notified.
    Pending,
    /// Notified as firing.
    Firing,
}

/// An active alert, as listed by [`Alerts::active`](super::Alerts::active) and [`RuleEngine::active`](super::RuleEngine::active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    /// Its id.
    pub id: AlertId,
    /// Alert or rule name.
    pub name: String,
    /// Severity.
    pub severity: Severity,
    /// Message (the first one sent, for a deduplicated alert).
    pub message: String,
    /// Labels, sorted by key.
    #[serde(with = "crate::schema::tags")]
    pub labels: Vec<(String, String)>,
    /// Pending or firing (manual alerts are always firing).
    pub state: AlertState,
    /// When it became pending (rules) or was accepted (manual).
    pub since: Timestamp,
    /// When it was last sent (manual) or evaluated true (rules).
    pub last_seen: Timestamp,
    /// Sends (manual, deduplicated ones included) or true evaluations (rules).
    pub count: u64,
    /// Manual or rule.
    pub source: AlertSource,
}

/// Sorted by key, a repeated key keeping its last value; checked against the limits.
pub(crate) fn canonical_labels(
    mut labels: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, Refusal> {
    if labels.len() > MAX_LABELS {
        return Err(Refusal::TooManyLabels {
            count: labels.len(),
        });
    }
    if let Some((k, _)) = labels
        .iter()
        .find(|(k, v)| k.is_empty() || k.len() > MAX_NAME_LEN || v.len() > MAX_NAME_LEN)
    {
        let mut key = k.clone();
        truncate(&mut key, MAX_NAME_LEN);
        return Err(Refusal::BadLabel { key });
    }
    // Stable sort, then keep the last of each run of equal keys.
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, String)> = Vec::with_capacity(labels.len());
    for kv in labels {
        match out.last_mut() {
            Some(last) if last.0 == kv.0 => *last = kv,
            _ => out.push(kv),
        }
    }
    Ok(out)
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}
