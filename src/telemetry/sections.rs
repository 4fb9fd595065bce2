//! The configuration sections that name parts rather than numbers: alert routes
//! (`[[routes]]`) and the security files (`[security]`). Sinks are
//! [`SinkSpec`](crate::sink::SinkSpec) and rules [`RuleSpec`](crate::alerts::RuleSpec).

use std::path::PathBuf;

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
        }
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
    }
    Ok(())
}
