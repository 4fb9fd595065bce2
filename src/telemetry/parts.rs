//! What a configuration's named parts become at start (and, for the live ones, at a
//! reload): its sinks, alert routes, authorization policy file, key ring, segment log.

use std::path::Path;
use std::sync::Arc;

use super::sections::{KeyRingSection, RouteSpec, RouteTarget, SegmentLogSection};
use super::{Config, SecurityParts, StartError};
use crate::alerts::{AlertSink, LogSink, SeverityFilter};
use crate::pipeline::Shared;
use crate::security::authz::{Authorizer, Policy, PolicyFormat};
use crate::security::crypto::SecretKey;
use crate::sink::{Sink, SinkSpec};
use crate::store::SegmentLog;
use crate::KeyRing;

/// Sinks with their names, as a [`SinkSet`](crate::sink::SinkSet) holds them.
pub(crate) type Members = Vec<(String, Box<dyn Sink>)>;

/// Alert routes with their sinks, ready for the router.
pub(crate) type RouteSinks = Vec<(String, SeverityFilter, Box<dyn AlertSink>)>;

/// What `start` built from a configuration's named parts.
pub(crate) struct Built {
    pub(crate) sinks: Members,
    pub(crate) policy_text: Option<String>,
    pub(crate) segment_log: Option<SegmentLog>,
}

/// Reads the policy file: (text, policy).
pub(crate) fn read_policy(path: &Path) -> Result<(String, Policy), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = if path.extension().is_some_and(|e| e == "json") {
        PolicyFormat::Json
    } else {
        PolicyFormat::Toml
    };
    let policy =
        Policy::from_str_as(&text, format).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((text, policy))
}

/// Opens the sinks of `specs`; the error names the sink that failed.
pub(crate) fn open_sinks(specs: &[SinkSpec]) -> Result<Members, (String, std::io::Error)> {
    specs
        .iter()
        .map(|s| s.build().map(|b| (s.name(), b)).map_err(|e| (s.name(), e)))
        .collect()
}

/// A route that logs notifications as events of the instance. Runs on the collector
/// thread: the collector never waits for room in a ring of its own instance (a full ring
/// drops the event, counted).
pub(crate) fn log_route(shared: &Arc<Shared>) -> LogSink {
    let s = shared.clone();
    LogSink::with(move |e| {
        if s.targets.passes_floor(e.level) {
            s.push_dyn_event(e);
        }
    })
}

/// The sink of a configured route (an Alertmanager route starts its sender thread here).
pub(crate) fn route_sink(
    spec: &RouteSpec,
    shared: &Arc<Shared>,
) -> Result<Box<dyn AlertSink>, String> {
    match spec.to {
        RouteTarget::Log => Ok(Box::new(log_route(shared))),
        #[cfg(feature = "alertmanager")]
        RouteTarget::Alertmanager => {
            use crate::alerts::{AlertmanagerConfig, AlertmanagerSink};
            let url = spec.url.clone().unwrap_or_default();
            AlertmanagerSink::start(AlertmanagerConfig::new(url))
                .map(|s| Box::new(s) as Box<dyn AlertSink>)
                .map_err(|e| format!("route {:?}: {e}", spec.name))
        }
        #[cfg(not(feature = "alertmanager"))]
        RouteTarget::Alertmanager => Err(format!(
            "route {:?}: to = \"alertmanager\" needs tickwatch built with the `alertmanager` feature",
            spec.name
        )),
    }
}

/// The key ring of a `[security.key_ring]` section.
fn key_ring(k: &KeyRingSection) -> Result<KeyRing, String> {
    let mut b = KeyRing::builder();
    if let Some(f) = &k.key_file {
        b = b.key_file(f);
    }
    for (id, var) in &k.key_env {
        b = b.key_env(id, var);
    }
    match (&k.wrapped_key_file, &k.kek_env) {
        (Some(f), Some(var)) => {
            let kek =
                SecretKey::from_env(var).map_err(|e| format!("key_ring.kek_env {var}: {e}"))?;
            b = b.persist(f, kek);
        }
        (Some(_), None) => return Err(
            "key_ring.wrapped_key_file needs kek_env: the variable holding its key-encryption key"
                .into(),
        ),
        (None, Some(_)) => return Err("key_ring.kek_env is set without wrapped_key_file".into()),
        (None, None) => {}
    }
    if k.key_file.is_none() && k.key_env.is_empty() && k.wrapped_key_file.is_none() {
        return Err("key_ring names no key source: give wrapped_key_file (and kek_env), key_file or key_env".into());
    }
    if let Some(active) = &k.active {
        b = b.active(active);
    }
    b.build().map_err(|e| format!("key_ring: {e}"))
}

/// The segment log of a `[segment_log]` section.
fn segment_log(s: &SegmentLogSection, ring: Option<&Arc<KeyRing>>) -> Result<SegmentLog, String> {
    let mut o = SegmentLog::options(&s.dir)
        .segment_bytes(s.segment_bytes)
        .segment_age(s.segment_age)
        .retain_bytes(s.retain_bytes)
        .retain_age(s.retain_age)
        .durability(s.durability())
        .samples(s.samples);
    if s.encrypt {
        let ring = ring.ok_or(
            "encrypt = true needs a key ring: give [security.key_ring] or TelemetryBuilder::key_ring",
        )?;
        o = o.encrypt(ring.clone());
    }
    o.open().map_err(|e| format!("{}: {e}", s.dir.display()))
}

/// At start: the key ring (when the builder has none), the policy file (into the
/// authorizer, created if the builder has none), the sinks and the segment log.
pub(crate) fn build(config: &Config, security: &mut SecurityParts) -> Result<Built, StartError> {
    let section = |key: &'static str| move |message: String| StartError::Section { key, message };
    if let (None, Some(k)) = (&security.key_ring, &config.security.key_ring) {
        security.key_ring = Some(Arc::new(key_ring(k).map_err(section("security"))?));
    }
    let mut policy_text = None;
    if let Some(path) = &config.security.authz_policy {
        let (text, policy) = read_policy(path).map_err(section("security"))?;
        match &security.authorizer {
            Some(a) => a
                .replace_policy(policy)
                .map_err(|e| section("security")(e.to_string()))?,
            None => {
                let a = Authorizer::new(policy, None)
                    .map_err(|e| section("security")(e.to_string()))?;
                security.authorizer = Some(Arc::new(a));
            }
        }
        policy_text = Some(text);
    }
    let sinks = open_sinks(&config.sinks)
        .map_err(|(name, e)| section("sinks")(format!("sink {name:?} cannot be opened: {e}")))?;
    let segment_log = config
        .segment_log
        .as_ref()
        .map(|s| segment_log(s, security.key_ring.as_ref()))
        .transpose()
        .map_err(section("segment_log"))?;
    Ok(Built {
        sinks,
        policy_text,
        segment_log,
    })
}
