//! One instance's settings as data: [`Config`], what the [`TelemetryBuilder`] fills and
//! checks, and what a configuration file will be read into.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::StartError;
use crate::alerts::AlertsConfig;
use crate::health::{CollectorPolicy, CostBudget, ResourceThresholds, RingPolicy, SinkPolicy};
use crate::pipeline::config::*;
use crate::record;

/// Every setting of an instance that is plain data, in three sections: the pipeline, the
/// monitoring (health thresholds, resource sampling, cost budgets) and the alert manager's
/// limits. What is not data stays on the builder: sinks, alert rules and routes, a shared
/// health registry, the key ring, the authenticator and the authorizer.
///
/// The builder's options write into it ([`TelemetryBuilder::config`] reads it back) and
/// [`TelemetryBuilder::with_config`] takes a whole one; [`validate`](Config::validate) is the
/// check `start()` makes. With serde (TOML here) every key is optional, an unknown key is an
/// error, and durations read as `"100ms"`, `"1s"`, `"2m 30s"`:
///
/// ```
/// use std::time::Duration;
/// use tickwatch::{Config, Level};
///
/// let config: Config = toml::from_str(r#"
///     [pipeline]
///     ring_capacity = 131072
///     level = "info"
///     flush_interval = "50ms"
///
///     [monitoring]
///     resource_interval = "2s"
///     budget = { monitoring_cpu_ratio = 0.05, logging_cpu_ratio = 0.03 }
/// "#).unwrap();
/// assert_eq!(config.pipeline.level, Level::Info);
/// assert_eq!(config.pipeline.flush_interval, Duration::from_millis(50));
/// config.validate().unwrap();
/// let tw = tickwatch::Telemetry::builder().with_config(config).start().unwrap();
/// # drop(tw);
/// ```
///
/// [`TelemetryBuilder`]: super::TelemetryBuilder
/// [`TelemetryBuilder::config`]: super::TelemetryBuilder::config
/// [`TelemetryBuilder::with_config`]: super::TelemetryBuilder::with_config
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Rings, backpressure, flushing, timeouts, aggregation, latency buckets.
    pub pipeline: PipelineConfig,
    /// Health thresholds, resource sampling and cost budgets.
    pub monitoring: MonitoringConfig,
    /// Limits of [`send_alert`](crate::Telemetry::send_alert): deduplication, rate limits,
    /// caps.
    pub alerts: AlertsConfig,
    /// Where an OTLP/HTTP exporter posts (the `[otlp]` section; used with the `otlp`
    /// feature: `export::otlp::OtlpConfig::from_section`). Default: no endpoint.
    pub otlp: crate::export::OtlpSection,
    /// Alert rules (`[[rules]]`, the format of
    /// [`load_rules_toml`](crate::alerts::load_rules_toml)), evaluated beside those given in
    /// code; a reload replaces these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::alerts::RuleSpec>,
    /// Where alert notifications go (`[[routes]]`), beside the routes given in code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<super::RouteSpec>,
    /// Record sinks (`[[sinks]]`), beside those given in code; a reload adds the new ones
    /// and flushes then closes the removed ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<crate::sink::SinkSpec>,
    /// Files the security components are read from (`[security]`).
    pub security: super::SecuritySection,
    /// The durable, queryable log (`[segment_log]`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_log: Option<super::SegmentLogSection>,
    /// The Prometheus endpoint (`[prometheus]`; the `http` feature).
    pub prometheus: super::PrometheusSection,
}

/// The monitoring section of [`Config`]; each field is the builder option of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MonitoringConfig {
    /// How often the process's resources and tickwatch's own cost are sampled; `None`
    /// (`"off"` in a file) turns sampling off. Default 1 s.
    #[serde(with = "duration_or_off")]
    pub resource_interval: Option<Duration>,
    /// When the collector counts as stalled or lagging.
    pub collector: CollectorPolicy,
    /// How many drops per interval degrade the rings.
    pub rings: RingPolicy,
    /// How sink errors degrade the sinks.
    pub sinks: SinkPolicy,
    /// Bounds on the process's resources.
    pub resources: ResourceThresholds,
    /// tickwatch's own cost budgets.
    pub budget: CostBudget,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            resource_interval: Some(Duration::from_secs(1)),
            collector: CollectorPolicy::default(),
            rings: RingPolicy::default(),
            sinks: SinkPolicy::default(),
            resources: ResourceThresholds::default(),
            budget: CostBudget::default(),
        }
    }
}

/// `Option<Duration>` as `"off"` or a humantime duration (TOML has no null).
mod duration_or_off {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_str("off"),
            Some(d) => humantime_serde::serialize(d, s),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        if text == "off" {
            return Ok(None);
        }
        humantime_serde::re::humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{e}: give a duration like \"1s\" or \"off\"")))
    }
}

impl Config {
    /// Checks every setting against its bounds: the check `start()` makes, available before
    /// it (say, on a file just read). The error names the setting and the accepted range.
    pub fn validate(&self) -> Result<(), StartError> {
        let c = &self.pipeline;
        if !c.ring_capacity.is_power_of_two()
            || c.ring_capacity < MIN_RING_CAPACITY
            || c.ring_capacity > MAX_RING_CAPACITY
        {
            return Err(StartError::RingCapacity {
                requested: c.ring_capacity,
            });
        }
        if c.max_string_len > record::MAX_STR_LEN {
            return Err(StartError::MaxStringLen {
                requested: c.max_string_len,
            });
        }
        if c.max_series == 0 || c.max_series > u32::MAX as usize {
            return Err(StartError::MaxSeries {
                requested: c.max_series,
            });
        }
        let one_us = Duration::from_micros(1);
        for (option, d, min, max) in [
            (
                "aggregation_interval",
                c.aggregation_interval,
                MIN_INTERVAL,
                MAX_INTERVAL,
            ),
            ("monitor_tick", c.monitor_tick, MIN_INTERVAL, MAX_INTERVAL),
            (
                "flush_interval",
                c.flush_interval,
                MIN_INTERVAL,
                MAX_INTERVAL,
            ),
            (
                "idle_interval",
                c.idle_interval,
                MIN_IDLE_INTERVAL,
                c.max_idle_interval
                    .clamp(MIN_IDLE_INTERVAL, MAX_IDLE_INTERVAL),
            ),
            (
                "max_idle_interval",
                c.max_idle_interval,
                MIN_IDLE_INTERVAL,
                MAX_IDLE_INTERVAL,
            ),
            ("block_timeout", c.block_timeout, one_us, Duration::MAX),
            (
                "collector_spin",
                c.collector_spin,
                Duration::ZERO,
                MAX_COLLECTOR_SPIN,
            ),
        ] {
            if !(min..=max).contains(&d) {
                return Err(StartError::Interval {
                    option,
                    requested: d,
                    min,
                    max,
                });
            }
        }
        if let Some(t) = c
            .targets
            .keys()
            .find(|t| crate::pipeline::targets::bad_target(t))
        {
            return Err(StartError::TargetLevel { target: t.clone() });
        }
        c.collector.validate().map_err(StartError::Placement)?;
        check_latency_buckets(&c.latency_buckets)?;
        crate::alerts::rules_of(&self.rules).map_err(StartError::AlertRules)?;
        super::sections::check_routes(&self.routes).map_err(|message| StartError::Section {
            key: "routes",
            message,
        })?;
        let names: Vec<String> = self.sinks.iter().map(|s| s.name()).collect();
        if let Some(i) = (0..names.len()).find(|&i| names[..i].contains(&names[i])) {
            return Err(StartError::Section {
                key: "sinks",
                message: format!(
                    "sinks[{i}]: the name {:?} is used twice: give each sink its own `name`",
                    names[i]
                ),
            });
        }
        Ok(())
    }
}

fn check_latency_buckets(bounds: &[Duration]) -> Result<(), StartError> {
    let count = bounds.len();
    let bad = |index| Err(StartError::LatencyBuckets { count, index });
    if count == 0 || count > MAX_LATENCY_BUCKETS {
        return bad(None);
    }
    for (i, d) in bounds.iter().enumerate() {
        let too_big = u64::try_from(d.as_nanos()).is_err();
        if d.is_zero() || too_big || (i > 0 && *d <= bounds[i - 1]) {
            return bad(Some(i));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backpressure, Level};

    #[test]
    fn defaults_round_trip_through_toml_with_readable_durations() {
        let text = toml::to_string(&Config::default()).unwrap();
        assert!(text.contains("flush_interval = \"100ms\""), "{text}");
        assert!(text.contains("level = \"trace\""), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, Config::default());
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let c: Config = toml::from_str(
            "[pipeline]\nbackpressure = \"drop\"\nlevel = \"WARN\"\nlatency_buckets = [\"250ns\", \"1us\", \"1s\"]\n[monitoring.collector]\nlag_degraded = \"50ms\"\n[alerts]\nauto_resolve = \"5m\"\n",
        )
        .unwrap();
        assert_eq!(c.pipeline.backpressure, Backpressure::Drop);
        assert_eq!(c.pipeline.level, Level::Warn);
        assert_eq!(
            c.pipeline.latency_buckets,
            [
                Duration::from_nanos(250),
                Duration::from_micros(1),
                Duration::from_secs(1)
            ]
        );
        assert_eq!(
            c.monitoring.collector.lag_degraded,
            Duration::from_millis(50)
        );
        assert_eq!(
            c.monitoring.collector.stale_after,
            CollectorPolicy::default().stale_after
        );
        assert_eq!(c.alerts.auto_resolve, Some(Duration::from_secs(300)));
        let off: Config = toml::from_str("[monitoring]\nresource_interval = \"off\"\n").unwrap();
        assert_eq!(off.monitoring.resource_interval, None);
        assert_eq!(
            toml::from_str::<Config>(&toml::to_string(&off).unwrap()).unwrap(),
            off
        );
        assert_eq!(c.pipeline.ring_capacity, DEFAULT_RING_CAPACITY);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_name_them() {
        let e = toml::from_str::<Config>("[pipeline]\nring_capacty = 4096\n").unwrap_err();
        assert!(e.to_string().contains("ring_capacty"), "{e}");
        let e = toml::from_str::<Config>("[monitoring.budget]\nlogging = 0.1\n").unwrap_err();
        assert!(e.to_string().contains("logging"), "{e}");
        let e = toml::from_str::<Config>("[pipeline]\nflush_interval = \"fast\"\n").unwrap_err();
        assert!(e.to_string().contains("flush_interval"), "{e}");
        let e = toml::from_str::<Config>("[pipeline]\nlevel = \"loud\"\n").unwrap_err();
        assert!(e.to_string().contains("loud"), "{e}");
    }

    #[test]
    fn validate_is_the_check_start_makes() {
        let mut c = Config::default();
        c.validate().unwrap();
        c.pipeline.ring_capacity = 1000;
        assert!(matches!(
            c.validate(),
            Err(StartError::RingCapacity { requested: 1000 })
        ));
        let e = crate::Telemetry::builder()
            .with_config(c.clone())
            .start()
            .unwrap_err();
        assert!(matches!(e, StartError::RingCapacity { requested: 1000 }));
        c.pipeline.ring_capacity = 4096;
        c.pipeline.idle_interval = Duration::ZERO;
        assert!(matches!(
            c.validate(),
            Err(StartError::Interval {
                option: "idle_interval",
                ..
            })
        ));
    }

    #[test]
    fn the_builder_options_write_into_the_config() {
        let b = crate::Telemetry::builder()
            .ring_capacity(4096)
            .level(Level::Info)
            .resource_sampling(None)
            .cost_budget(CostBudget {
                logging_cpu_ratio: 0.5,
                ..CostBudget::default()
            });
        let c = b.config();
        assert_eq!(c.pipeline.ring_capacity, 4096);
        assert_eq!(c.pipeline.level, Level::Info);
        assert_eq!(c.monitoring.resource_interval, None);
        assert_eq!(c.monitoring.budget.logging_cpu_ratio, 0.5);
    }
}
