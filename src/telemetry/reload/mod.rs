//! Live reload: [`Telemetry::reload`] swaps a running instance's configuration while its
//! threads keep recording.
//!
//! What changes live, and where it takes effect:
//!
//! | keys | how |
//! |---|---|
//! | `pipeline.level`, `pipeline.targets` | at once, on every thread: the level filter is atomics, each call site's cached decision tagged with the reload's generation |
//! | `monitoring.*` thresholds (`collector` but its `stale_after`, `rings`, `sinks`, `resources`, `budget`) | the collector's next monitoring tick |
//! | `rules`, `routes` | the next tick: rules identical in every field keep their pending and firing state, firing alerts of removed or changed rules are resolved; removed routes are flushed |
//! | `sinks` | the collector's next batch: a new sink gets every record from there on, a removed one is flushed then closed; no record is lost or written twice |
//! | `security.authz_policy` (the path, or the file's content) | at once ([`Authorizer::replace_policy`]) |
//! | `otlp` (endpoint, protocol, compression, interval, timeout, headers), when the section started an exporter | the exporter's next request ([`OtlpControl::reconfigure_from_section`](crate::export::otlp::OtlpControl::reconfigure_from_section); a request in flight finishes first); queued log records are kept and sent under the new settings. An endpoint cannot appear or disappear by reload |
//!
//! Everything else is fixed at start (each key's reason is in [`ReloadError::NotLive`]); a
//! reload that changes it is refused whole. A refused reload changes nothing, sets the
//! `tickwatch.config` health component degraded and raises
//! [`CONFIG_RELOAD_FAILED`]; the next reload that applies clears both. Every reload, applied
//! or refused, is an audit record (actor, `config.reload`, the changed keys or the error).
//!
//! Reloads are serialized; [`Telemetry::reload`] returns once every part it changed is in
//! force (the collector's parts within one `monitor_tick`, waiting at most `flush_timeout`).

mod keys;

use std::fmt;

use keys::{diff, is_live, why_fixed};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Config, MonitorShared, StartError, Telemetry};
use crate::alerts::{Alert, Rule, RuleError, Severity, CONFIG_RELOAD_FAILED};
use crate::health::{component, HealthHandle, Status};
use crate::logging::Audit;
use crate::pipeline::Shared;
use crate::security::authz::Authorizer;
use crate::sink::{SinkSetChange, SinkSetHandle, SinkSpec};

use super::parts::{open_sinks, read_policy, route_sink, RouteSinks};

/// A value the collector picks up on its next tick: the newest wins (each is a whole
/// state), and `applied` says which reload's it has.
pub(crate) struct Slot<T> {
    next: Mutex<Option<(u64, T)>>,
    pending: AtomicBool,
    applied: AtomicU64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            next: Mutex::new(None),
            pending: AtomicBool::new(false),
            applied: AtomicU64::new(0),
        }
    }
}

impl<T> Slot<T> {
    fn put(&self, generation: u64, value: T) {
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, value));
        self.pending.store(true, Release);
    }

    /// The newest value not yet taken; one load when there is none.
    pub(crate) fn take(&self) -> Option<(u64, T)> {
        if !self.pending.load(Acquire) {
            return None;
        }
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Relaxed);
        next.take()
    }

    /// The value of reload `generation` is in force.
    pub(crate) fn done(&self, generation: u64) {
        self.applied.fetch_max(generation, Release);
    }

    fn applied(&self) -> u64 {
        self.applied.load(Acquire)
    }
}

/// The monitoring thresholds a reload hands the self-watch task.
pub(crate) type Thresholds = super::MonitoringConfig;

/// The rules and routes a reload hands the alert task (the routes' sinks built on the
/// reloading thread, so a route that cannot start refuses the reload).
pub(crate) struct AlertsLive {
    pub(crate) rules: Vec<Rule>,
    pub(crate) routes: RouteSinks,
}

/// What [`Telemetry::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// This reload's number: 1 for the first since start, counting refused ones.
    pub generation: u64,
    /// The dotted keys that changed (`pipeline.level`, `rules`, `sinks`, ...), in order;
    /// empty when the configuration was the running one.
    pub changed: Vec<String>,
    /// From the call to every change in force.
    pub took: Duration,
    /// Whether every change is in force. `false` only when the collector did not take its
    /// part within `flush_timeout` (stalled, or shut down): it applies at its next tick.
    pub in_force: bool,
}

/// Why [`Telemetry::reload`] refused a configuration. Nothing was changed; the running
/// configuration keeps running.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadError {
    /// A key that is fixed at start differs from the running value: restart the instance
    /// to change it, or put the running value back.
    NotLive {
        /// The dotted key (`pipeline.ring_capacity`).
        key: String,
        /// Why it cannot change while the instance runs.
        why: &'static str,
    },
    /// A value is out of range or inconsistent ([`Config::validate`]'s error).
    Invalid(StartError),
    /// A rule is invalid: the error names it.
    Rules(RuleError),
    /// A sink of `[[sinks]]` could not be opened: nothing was swapped.
    Sink {
        /// The sink's name.
        name: String,
        /// Why.
        error: std::io::Error,
    },
    /// The authorization policy file could not be read or is invalid.
    Policy(String),
    /// A route of `[[routes]]` could not be started (an Alertmanager URL that is not
    /// `http://host:port`, or the `alertmanager` feature missing).
    Route(String),
    /// The configuration file could not be read or parsed (a file watch's reload): the
    /// error names the key and line.
    File(super::ConfigError),
    /// `[[sinks]]` changed on an instance that was not started from a configuration
    /// ([`Telemetry::from_config`] or [`TelemetryBuilder::with_config`]): it has no sink
    /// set to change.
    ///
    /// [`TelemetryBuilder::with_config`]: super::TelemetryBuilder::with_config
    NoSinkSet,
    /// The `[otlp]` section's new settings were refused by the running exporter
    /// ([`OtlpControl`](crate::export::otlp::OtlpControl)): a malformed `OTEL_*` variable or
    /// value, or a setting fixed when it started (`OtlpError::NotLive` names it).
    #[cfg(feature = "otlp")]
    Otlp(crate::export::otlp::OtlpError),
}

/// Why an `[otlp]` endpoint cannot appear by reload.
const NO_EXPORTER: &str = "this instance started without OTLP export (its [otlp] section set no \
     endpoint), and an exporter is started with the instance";

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::NotLive { key, why } => write!(
                f,
                "{key} cannot change while the instance runs ({why}): restart to change it, or keep the running value"
            ),
            ReloadError::Invalid(e) => write!(f, "invalid configuration: {e}"),
            ReloadError::Rules(e) => write!(f, "invalid alert rule: {e}"),
            ReloadError::Sink { name, error } => write!(f, "sink {name:?} cannot be opened: {error}"),
            ReloadError::Policy(e) => write!(f, "security.authz_policy: {e}"),
            ReloadError::Route(e) => write!(f, "routes: {e}"),
            ReloadError::File(e) => write!(f, "configuration file: {e}"),
            #[cfg(feature = "otlp")]
            ReloadError::Otlp(e) => write!(f, "otlp: {e}"),
            ReloadError::NoSinkSet => f.write_str(
                "sinks: this instance was not started from a configuration (Telemetry::from_config or TelemetryBuilder::with_config), so it has no sink set to change",
            ),
        }
    }
}

impl std::error::Error for ReloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReloadError::Invalid(e) => Some(e),
            ReloadError::Rules(e) => Some(e),
            ReloadError::Sink { error, .. } => Some(error),
            ReloadError::File(e) => Some(e),
            #[cfg(feature = "otlp")]
            ReloadError::Otlp(e) => Some(e),
            _ => None,
        }
    }
}

/// The running configuration and the parts a reload swaps. One per instance; shared with
/// its file watch.
pub(crate) struct Live {
    shared: Arc<Shared>,
    monitor: Arc<MonitorShared>,
    sinks: Option<SinkSetHandle>,
    authorizer: Option<Arc<Authorizer>>,
    /// Rules given in code: kept beside the configuration's at every reload.
    code_rules: Vec<Rule>,
    /// The `[otlp]` section's exporter, if it started one.
    #[cfg(feature = "otlp")]
    otlp: Option<crate::export::otlp::OtlpControl>,
    state: Mutex<State>,
    /// A `tracing` layer was made for this instance: a level reload rebuilds tracing's
    /// interest cache.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    tracing_layer: AtomicBool,
}

struct State {
    config: Config,
    /// The policy file's text as last applied.
    policy_text: Option<String>,
    generation: u64,
    /// `tickwatch.config`, registered at the first reload (`None` inside when a shared
    /// registry already held the name: this instance then reports through audit and alert).
    health: Option<Option<HealthHandle>>,
}

/// Has `tracing` ask every layer about every call site again, and recompute its global
/// maximum level. Two rebuilds running at once can interleave, the last to finish storing a
/// maximum computed from levels the other had not seen yet: tickwatch's own rebuilds (two
/// instances reloading at once) are therefore serialized, each after its levels are set, so
/// the last one reads every instance's newest levels.
#[cfg(feature = "tracing")]
fn rebuild_tracing_interest() {
    static REBUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = REBUILD.lock().unwrap_or_else(|e| e.into_inner());
    tracing_core::callsite::rebuild_interest_cache();
}

impl Live {
    pub(crate) fn new(
        config: Config,
        shared: Arc<Shared>,
        monitor: Arc<MonitorShared>,
        authorizer: Option<Arc<Authorizer>>,
        start: super::StartLive,
    ) -> Live {
        Live {
            shared,
            monitor,
            sinks: start.sink_set,
            authorizer,
            code_rules: start.code_rules,
            #[cfg(feature = "otlp")]
            otlp: start.otlp,
            tracing_layer: AtomicBool::new(false),
            state: Mutex::new(State {
                config,
                policy_text: start.policy_text,
                generation: 0,
                health: None,
            }),
        }
    }

    /// A `tracing` layer now reads this instance's levels.
    #[cfg(feature = "tracing")]
    pub(crate) fn has_tracing_layer(&self) {
        self.tracing_layer.store(true, Relaxed);
    }

    /// The configuration in force.
    pub(crate) fn config(&self) -> Config {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .config
            .clone()
    }

    pub(crate) fn reload(&self, next: Config, actor: &str) -> Result<ReloadReport, ReloadError> {
        self.reload_read(Ok(next), actor)
    }

    /// A reload of a configuration read from a file, which may have failed to read.
    pub(crate) fn reload_read(
        &self,
        next: Result<Config, super::ConfigError>,
        actor: &str,
    ) -> Result<ReloadReport, ReloadError> {
        let t0 = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.generation += 1;
        let generation = st.generation;
        let result = match next {
            Ok(next) => self.try_reload(&mut st, next, generation, t0),
            Err(e) => Err(ReloadError::File(e)),
        };
        let health = st
            .health
            .get_or_insert_with(|| {
                self.monitor
                    .health
                    .register_pushed(component::CONFIG, None)
                    .ok()
            })
            .clone();
        let set_health = |status, message: &str| {
            if let Some(h) = &health {
                h.set(status, message);
            }
        };
        let (outcome, detail) = match &result {
            Ok(r) => {
                set_health(
                    Status::Healthy,
                    &format!(
                        "reload {generation} applied ({} keys changed)",
                        r.changed.len()
                    ),
                );
                self.monitor.alerts.resolve(CONFIG_RELOAD_FAILED, &[]);
                (
                    if r.changed.is_empty() {
                        "unchanged"
                    } else {
                        "applied"
                    },
                    format!("generation {generation}: {}", r.changed.join(", ")),
                )
            }
            Err(e) => {
                let message =
                    format!("reload {generation} refused, previous configuration kept: {e}");
                set_health(Status::Degraded, &message);
                let _ = self.monitor.alerts.send_alert(Alert::new(
                    CONFIG_RELOAD_FAILED,
                    Severity::Warning,
                    message.clone(),
                ));
                ("refused", message)
            }
        };
        self.shared.push_audit(&Audit {
            actor,
            action: "config.reload",
            resource: "config",
            outcome,
            rule: "",
            detail: &detail,
        });
        result
    }

    /// The exporter's next settings, checked, when the `[otlp]` section changed: only an
    /// exporter the configuration started can be changed, not started or stopped.
    #[cfg(feature = "otlp")]
    fn prepare_otlp(
        &self,
        _running: &crate::export::OtlpSection,
        next: &crate::export::OtlpSection,
    ) -> Result<Option<crate::export::otlp::OtlpConfig>, ReloadError> {
        match &self.otlp {
            Some(control) => control
                .prepare_section(next)
                .map(Some)
                .map_err(ReloadError::Otlp),
            None if next.endpoint.is_some() => Err(ReloadError::NotLive {
                key: "otlp.endpoint".into(),
                why: NO_EXPORTER,
            }),
            // No exporter before or after: nothing runs to change.
            None => Ok(None),
        }
    }

    #[cfg(not(feature = "otlp"))]
    fn prepare_otlp(
        &self,
        _running: &crate::export::OtlpSection,
        next: &crate::export::OtlpSection,
    ) -> Result<Option<std::convert::Infallible>, ReloadError> {
        match next.endpoint {
            Some(_) => Err(ReloadError::NotLive {
                key: "otlp.endpoint".into(),
                why: NO_EXPORTER,
            }),
            None => Ok(None),
        }
    }

    fn try_reload(
        &self,
        st: &mut State,
        next: Config,
        generation: u64,
        t0: Instant,
    ) -> Result<ReloadReport, ReloadError> {
        next.validate().map_err(|e| match e {
            StartError::AlertRules(r) => ReloadError::Rules(r),
            e => ReloadError::Invalid(e),
        })?;
        let mut changed = diff(&st.config, &next);
        if let Some(key) = changed.iter().find(|k| !is_live(k)) {
            return Err(ReloadError::NotLive {
                key: key.clone(),
                why: why_fixed(key),
            });
        }
        // Prepare everything that can fail before changing anything.
        let policy = match &next.security.authz_policy {
            Some(path) => {
                let (text, policy) = read_policy(path).map_err(ReloadError::Policy)?;
                if st.policy_text.as_deref() != Some(&text)
                    && !changed.iter().any(|k| k == "security.authz_policy")
                {
                    changed.push("security.authz_policy".to_owned());
                }
                policy
                    .validate()
                    .map_err(|e| ReloadError::Policy(e.to_string()))?;
                Some((text, policy))
            }
            None => None,
        };
        let changes = |prefix: &str| {
            changed
                .iter()
                .any(|k| k == prefix || k.starts_with(&format!("{prefix}.")))
        };
        let sink_change = if changes("sinks") {
            let Some(_) = &self.sinks else {
                return Err(ReloadError::NoSinkSet);
            };
            let remove: Vec<String> = st
                .config
                .sinks
                .iter()
                .filter(|s| !next.sinks.contains(s))
                .map(SinkSpec::name)
                .collect();
            let added: Vec<SinkSpec> = next
                .sinks
                .iter()
                .filter(|s| !st.config.sinks.contains(s))
                .cloned()
                .collect();
            let add =
                open_sinks(&added).map_err(|(name, error)| ReloadError::Sink { name, error })?;
            Some(SinkSetChange { remove, add })
        } else {
            None
        };
        let alerts = if changes("rules") || changes("routes") {
            let mut rules = self.code_rules.clone();
            rules.extend(crate::alerts::rules_of(&next.rules).map_err(ReloadError::Rules)?);
            let routes = next
                .routes
                .iter()
                .map(|r| Ok((r.name.clone(), r.filter(), route_sink(r, &self.shared)?)))
                .collect::<Result<RouteSinks, String>>()
                .map_err(ReloadError::Route)?;
            Some(AlertsLive { rules, routes })
        } else {
            None
        };

        let otlp = if changes("otlp") {
            self.prepare_otlp(&st.config.otlp, &next.otlp)?
        } else {
            None
        };

        // Apply: nothing below fails.
        let mut waits: Vec<Box<dyn Fn() -> bool + '_>> = Vec::new();
        if changes("pipeline") {
            self.shared
                .targets
                .set(next.pipeline.level, &next.pipeline.targets);
            // Only an instance with a layer touches tracing's global state (its interest
            // cache and maximum level are the whole process's).
            #[cfg(feature = "tracing")]
            if self.tracing_layer.load(Relaxed) {
                rebuild_tracing_interest();
            }
        }
        if let (Some(a), Some((text, policy))) = (&self.authorizer, policy) {
            if st.policy_text.as_deref() != Some(&text) {
                // Validated above: cannot fail.
                let _ = a.replace_policy(policy);
                st.policy_text = Some(text);
            }
        }
        if let (Some(handle), Some(change)) = (&self.sinks, sink_change) {
            let g = handle.change(change);
            waits.push(Box::new(move || handle.applied() >= g));
        }
        if changes("monitoring") {
            self.monitor
                .live_thresholds
                .put(generation, next.monitoring.clone());
            let slot = &self.monitor.live_thresholds;
            waits.push(Box::new(move || slot.applied() >= generation));
        }
        if let Some(alerts) = alerts {
            self.monitor.live_alerts.put(generation, alerts);
            let slot = &self.monitor.live_alerts;
            waits.push(Box::new(move || slot.applied() >= generation));
        }
        // Waits for the exporter's thread to take it, up to the section's `flush_timeout`
        // (a request in flight finishes under the old settings first).
        #[cfg(feature = "otlp")]
        let otlp_in_force = match (&self.otlp, otlp) {
            (Some(control), Some(config)) => control.apply(config).is_ok(),
            _ => true,
        };
        #[cfg(not(feature = "otlp"))]
        let otlp_in_force = otlp.is_none();
        st.config = next;
        let deadline = t0 + self.shared.config.flush_timeout;
        let mut nap = Duration::from_micros(20);
        let in_force = loop {
            if waits.iter().all(|w| w()) {
                break otlp_in_force;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(1));
        };
        Ok(ReloadReport {
            generation,
            changed,
            took: t0.elapsed(),
            in_force,
        })
    }
}

impl Telemetry {
    /// Swaps in `config` while threads keep recording: levels and per-target levels, health
    /// thresholds, alert rules and routes, the sink set and the authorization policy (see
    /// the table in this module's docs for where each takes effect). Keys fixed at start
    /// (`ring_capacity`, `backpressure`, ...) that differ from the running values refuse the
    /// whole reload with [`ReloadError::NotLive`], which names the key and why. A refused
    /// reload changes nothing, degrades the `tickwatch.config` health component and raises
    /// the [`CONFIG_RELOAD_FAILED`] alert; every reload is audited, with `actor`
    /// `"Telemetry::reload"` ([`reload_as`](Self::reload_as) names another).
    ///
    /// Returns once the changes are in force: level filters at once, the collector's parts
    /// at its next tick (`monitor_tick`), waiting at most `flush_timeout`.
    ///
    /// ```
    /// use tickwatch::{Config, Level, Telemetry};
    /// let tw = Telemetry::from_config(Config::default())?;
    /// assert!(tw.enabled(Level::Debug));
    /// let mut quieter = tw.config();
    /// quieter.pipeline.level = Level::Warn;
    /// let report = tw.reload(quieter)?;
    /// assert_eq!(report.changed, ["pipeline.level"]);
    /// assert!(!tw.enabled(Level::Info));
    ///
    /// let mut bigger = tw.config();
    /// bigger.pipeline.ring_capacity *= 2;
    /// let refused = tw.reload(bigger).unwrap_err();
    /// assert!(refused.to_string().starts_with("pipeline.ring_capacity cannot change"));
    /// assert!(!tw.enabled(Level::Info)); // the running configuration is kept
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reload(&self, config: Config) -> Result<ReloadReport, ReloadError> {
        self.live.reload(config, "Telemetry::reload")
    }

    /// [`reload`](Self::reload), audited as asked for by `actor` (a user, a service, a
    /// file's path).
    pub fn reload_as(&self, actor: &str, config: Config) -> Result<ReloadReport, ReloadError> {
        self.live.reload(config, actor)
    }

    /// The configuration in force: the one the instance started with, then each applied
    /// reload's.
    pub fn config(&self) -> Config {
        self.live.config()
    }
}
