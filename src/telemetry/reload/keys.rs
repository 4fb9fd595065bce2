//! Which keys of a [`Config`] change live, why the others cannot, and which keys differ
//! between two configurations.

use std::collections::BTreeSet;

use crate::Config;

/// Keys that can change live: a differing key is live when it is one of these or under one.
pub(super) const LIVE: &[&str] = &[
    "pipeline.level",
    "pipeline.targets",
    "monitoring.collector",
    "monitoring.rings",
    "monitoring.sinks",
    "monitoring.resources",
    "monitoring.budget",
    "rules",
    "routes",
    "sinks",
    "security.authz_policy",
    "otlp",
];

/// Why a key is fixed at start, by the longest matching prefix.
pub(super) const FIXED: &[(&str, &str)] = &[
    ("pipeline.ring_capacity", "each thread's ring is allocated with it on the thread's first record"),
    ("pipeline.backpressure", "every thread's ring is bound to it when created"),
    ("pipeline.max_string_len", "threads' rings cut strings with it from their creation"),
    ("pipeline.max_series", "the series table is sized with it at start"),
    ("pipeline.latency_buckets", "existing latency series keep their buckets"),
    ("pipeline.aggregation", "the aggregation windows are set up at start"),
    ("pipeline.monitor_tick", "the collector's schedule is set at start"),
    ("pipeline.collector", "the collector thread is named and placed when spawned"),
    ("pipeline", "the collector reads the pipeline's timings once, at start"),
    ("monitoring.collector.stale_after", "the health registry's staleness windows are set when the components are registered"),
    ("monitoring.resource_interval", "the resource components are registered, or not, at start"),
    ("alerts", "send_alert's limits are fixed when the alert manager is built"),
    ("segment_log", "the log's directory holds the instance's queryable history and is opened (and recovered) at start"),
    ("prometheus", "the endpoint's socket is bound at start"),
    ("security.key_ring", "the key ring is built at start; rotate its keys with KeyRing::rotate"),
];

pub(super) fn is_live(key: &str) -> bool {
    if key == "monitoring.collector.stale_after" {
        return false;
    }
    LIVE.iter()
        .any(|l| key == *l || key.strip_prefix(l).is_some_and(|r| r.starts_with('.')))
}

pub(super) fn why_fixed(key: &str) -> &'static str {
    FIXED
        .iter()
        .filter(|(p, _)| key == *p || key.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
        .max_by_key(|(p, _)| p.len())
        .map_or("it is read once, at start", |(_, why)| why)
}

/// The dotted keys whose values differ between two configurations (leaves; an array, or
/// the `pipeline.targets` table, counts as one key). Compared in their JSON form, which
/// every value has (TOML has no integer above `i64::MAX`).
pub(super) fn diff(old: &Config, new: &Config) -> Vec<String> {
    use serde_json::Value;
    fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) if path != "pipeline.targets" => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x.get(k), y.get(k), out);
                }
            }
            (a, b) if a != b => out.push(path.to_owned()),
            _ => {}
        }
    }
    let as_value = |c: &Config| serde_json::to_value(c).ok();
    let mut out = Vec::new();
    walk("", as_value(old).as_ref(), as_value(new).as_ref(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_live_by_prefix_and_fixed_ones_say_why() {
        assert!(is_live("pipeline.level"));
        assert!(is_live("pipeline.targets"));
        assert!(is_live("monitoring.budget.logging_cpu_ratio"));
        assert!(!is_live("monitoring.collector.stale_after"));
        assert!(is_live("monitoring.collector.lag_degraded"));
        assert!(!is_live("pipeline.level_x"));
        assert!(!is_live("pipeline.ring_capacity"));
        assert_eq!(why_fixed("pipeline.flush_interval"), FIXED[8].1);
        assert!(why_fixed("pipeline.collector.cpus").contains("placed"));
        assert!(is_live("otlp.endpoint"));
    }

    #[test]
    fn the_diff_names_each_changed_leaf() {
        let a = Config::default();
        let mut b = a.clone();
        assert!(diff(&a, &b).is_empty());
        b.pipeline.level = crate::Level::Error;
        b.pipeline
            .targets
            .insert("engine".into(), crate::Level::Debug);
        b.monitoring.budget.logging_cpu_ratio = 0.5;
        b.pipeline.ring_capacity = 1 << 20;
        assert_eq!(
            diff(&a, &b),
            [
                "monitoring.budget.logging_cpu_ratio",
                "pipeline.level",
                "pipeline.ring_capacity",
                "pipeline.targets"
            ]
        );
    }
}
