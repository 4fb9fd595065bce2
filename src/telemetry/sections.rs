//! The configuration sections that name parts rather than numbers: alert routes
//! (`[[routes]]`), the security files (`[security]`), the segment log (`[segment_log]`)
//! and the Prometheus endpoint (`[prometheus]`). Sinks are
//! [`SinkSpec`](crate::sink::SinkSpec) and rules [`RuleSpec`](crate::alerts::RuleSpec).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alerts::{Severity, SeverityFilter};

/// Where a configuration's alert notifications go (a `[[routes]]` table). Routes added in
/// code ([`alert_route`](crate::TelemetryBuilder::alert_route)) are kept beside these; a
/// reload replaces only these.
///
/// ```toml
/// [[routes]]
/// name = "log-warnings"     # unique among the routes; shown in the route's stats
/// to = "log"                # the instance's own events (target tickwatch::alerts)
/// min_severity = "warning"  # info | warning | critical; default info
///
/// [[routes]]
/// name = "pager"
/// to = "alertmanager"       # built with the `alertmanager` feature
/// url = "http://127.0.0.1:9093"
/// min_severity = "critical"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteSpec {
    /// The route's name.
    pub name: String,
    /// Where notifications go.
    pub to: RouteTarget,
    /// The least severe notification sent.
    #[serde(default = "least")]
    pub min_severity: Severity,
    /// The Alertmanager's base URL (`to = "alertmanager"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn least() -> Severity {
    Severity::Info
}

impl RouteSpec {
    /// A route named `name` sending notifications at or above `min_severity` to `to`.
    pub fn new(name: impl Into<String>, to: RouteTarget, min_severity: Severity) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            to,
            min_severity,
            url: None,
        }
    }

    /// The same route to the Alertmanager at `url`.
    pub fn url(mut self, url: impl Into<String>) -> RouteSpec {
        self.url = Some(url.into());
        self
    }

    pub(crate) fn filter(&self) -> SeverityFilter {
        SeverityFilter::at_least(self.min_severity)
    }
}

/// The kinds of [`RouteSpec`] destination a file can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteTarget {
    /// Logged as events of the instance (as
    /// [`alert_log`](crate::TelemetryBuilder::alert_log)).
    Log,
    /// Posted to an Alertmanager (`url`), from a sender thread of the route's own (the
    /// `alertmanager` feature; without it such a route is refused at start and reload).
    Alertmanager,
}

/// The `[security]` section: files the security components are loaded from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SecuritySection {
    /// The authorization policy (TOML, or JSON when the name ends in `.json`; the format of
    /// [`Policy::from_toml_str`](crate::security::authz::Policy::from_toml_str)). Read at
    /// start (the instance's authorizer, created if the builder was given none) and again
    /// at every reload, so an edited policy file applies with the next reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authz_policy: Option<PathBuf>,
    /// Where the key ring's keys come from (`[security.key_ring]`): used when the builder
    /// was given no [`key_ring`](crate::TelemetryBuilder::key_ring). Fixed at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ring: Option<KeyRingSection>,
}

/// The key ring's key sources (`[security.key_ring]`); at least one. Key bytes never sit in
/// the configuration: they are in files or environment variables it names.
///
/// ```toml
/// [security.key_ring]
/// # The durable, wrapped key file (created if missing, rewritten on every rotation),
/// # opened under the key-encryption key held in an environment variable:
/// wrapped_key_file = "/var/lib/engine/keys"
/// kek_env = "ENGINE_KEK"
/// # Or: a clear-text key file (`id=key` lines) and keys held in environment variables.
/// # key_file = "/etc/engine/keys.txt"
/// # key_env = { "2026-12" = "ENGINE_KEY_2026_12" }
/// # The active key (default: the last one added).
/// # active = "2026-12"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyRingSection {
    /// The wrapped key file the ring persists to (`KeyRingBuilder::persist`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapped_key_file: Option<PathBuf>,
    /// The environment variable holding the key-encryption key (hex or base64) of
    /// `wrapped_key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kek_env: Option<String>,
    /// A clear-text key file (`KeyRingBuilder::key_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Key id to the environment variable holding the key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub key_env: BTreeMap<String, String>,
    /// The active key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
}

/// The `[segment_log]` section: the durable, queryable log (see [`crate::store`]), opened
/// at start and made the log [`query_logs`](crate::Telemetry::query_logs) reads. Fixed at
/// start.
///
/// ```toml
/// [segment_log]
/// dir = "/var/log/engine/tw"
/// segment_bytes = 67108864      # seal at 64 MiB
/// segment_age = "1h"
/// retain_bytes = 10737418240    # keep at most ~10 GiB of sealed segments
/// retain_age = "7d"
/// durability = "every_batch"    # every_batch | sync_every_batch | buffered
/// # sync_every = "10ms"         # fdatasync at most this long after a batch instead
/// samples = true                # metric samples too, not only events and audits
/// encrypt = false               # seal frames with the instance's key ring
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SegmentLogSection {
    /// The log's directory (created if needed).
    pub dir: PathBuf,
    /// Seal a segment at this many bytes (default 64 MiB).
    #[serde(default = "segment_bytes")]
    pub segment_bytes: u64,
    /// Seal a segment at this age (default 1 h).
    #[serde(default = "segment_age", with = "humantime_serde")]
    pub segment_age: Duration,
    /// Keep at most this many bytes of sealed segments (default: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_bytes: Option<u64>,
    /// Delete sealed segments older than this (default: never).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub retain_age: Option<Duration>,
    /// When records reach the OS and the disk.
    #[serde(default)]
    pub durability: DurabilityName,
    /// With `durability = "every_batch"`: also `fdatasync` at most this long after a batch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub sync_every: Option<Duration>,
    /// Whether samples are logged (default true).
    #[serde(default = "yes")]
    pub samples: bool,
    /// Seal each frame with the instance's key ring (default false).
    #[serde(default)]
    pub encrypt: bool,
}

fn segment_bytes() -> u64 {
    64 << 20
}
fn segment_age() -> Duration {
    Duration::from_secs(3600)
}
fn yes() -> bool {
    true
}

/// [`Durability`](crate::store::Durability) as a configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DurabilityName {
    /// Every batch handed to the OS (a `kill -9` loses nothing written).
    #[default]
    EveryBatch,
    /// Every batch synced to disk (group commit).
    SyncEveryBatch,
    /// Gathered in memory, written in 1 MiB blocks at flushes.
    Buffered,
}

impl SegmentLogSection {
    /// A section logging to `dir` with the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> SegmentLogSection {
        SegmentLogSection {
            dir: dir.into(),
            segment_bytes: segment_bytes(),
            segment_age: segment_age(),
            retain_bytes: None,
            retain_age: None,
            durability: DurabilityName::EveryBatch,
            sync_every: None,
            samples: true,
            encrypt: false,
        }
    }

    pub(crate) fn durability(&self) -> crate::store::Durability {
        use crate::store::Durability;
        match (self.durability, self.sync_every) {
            (DurabilityName::SyncEveryBatch, _) => Durability::SyncEveryBatch,
            (DurabilityName::Buffered, _) => Durability::Buffered,
            (DurabilityName::EveryBatch, Some(d)) => Durability::SyncEvery(d),
            (DurabilityName::EveryBatch, None) => Durability::EveryBatch,
        }
    }
}

/// The `[prometheus]` section: serve `/metrics`, `/health` and `/snapshot` over HTTP (the
/// `http` feature), from start to shutdown. Fixed at start.
///
/// ```toml
/// [prometheus]
/// listen = "127.0.0.1:9898"   # port 0: any free port (see Telemetry::metrics_addr)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PrometheusSection {
    /// The address to listen on; none: no endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// Checks the routes: names unique and not empty.
pub(crate) fn check_routes(routes: &[RouteSpec]) -> Result<(), String> {
    for (i, r) in routes.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(format!("routes[{i}]: the name is empty"));
        }
        if routes[..i].iter().any(|o| o.name == r.name) {
            return Err(format!("routes[{i}]: the name {:?} is used twice", r.name));
        }
        match (r.to, &r.url) {
            (RouteTarget::Alertmanager, None) => {
                return Err(format!(
                    "routes[{i}] ({:?}): to = \"alertmanager\" needs url = \"http://host:9093\"",
                    r.name
                ))
            }
            (RouteTarget::Log, Some(_)) => {
                return Err(format!(
                    "routes[{i}] ({:?}): url is for to = \"alertmanager\" only",
                    r.name
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
