//! Configuring an instance: [`TelemetryBuilder`] and why a start can fail ([`StartError`]).

use std::fmt;
use std::time::Duration;

use super::config::Config;
use super::setup::MonitorSetup;
use super::SecurityParts;
use super::Telemetry;
use crate::alerts::RuleError;
use crate::health::RegisterHealthError;
use crate::logging::Level;
use crate::metrics::CollectorTask;
use crate::pipeline::config::{
    Backpressure, MAX_LATENCY_BUCKETS, MAX_RING_CAPACITY, MIN_RING_CAPACITY,
};
use crate::sink::Sink;
use crate::time::Clock;

/// Configures and starts a [`Telemetry`].
///
/// ```
/// use tickwatch::{sink::MemorySink, Backpressure, Telemetry};
/// let tw = Telemetry::builder()
///     .ring_capacity(256 * 1024)
///     .backpressure(Backpressure::Block)
///     .sink(MemorySink::new())
///     .start()
///     .expect("valid configuration");
/// # drop(tw);
/// ```
#[must_use = "a builder does nothing until `.start()`"]
#[derive(Default)]
pub struct TelemetryBuilder {
    pub(crate) config: Config,
    sinks: Vec<Box<dyn Sink>>,
    tasks: Vec<Box<dyn CollectorTask>>,
    pub(crate) monitor: MonitorSetup,
    security: SecurityParts,
    log: Option<crate::store::LogHandle>,
    /// Started from a configuration ([`with_config`](Self::with_config)): the instance gets
    /// a sink set a reload can change, even when the configuration names no sinks yet.
    from_config: bool,
}

impl TelemetryBuilder {
    /// Bytes per thread ring: a power of two from 128 bytes to 1 GiB. Default 256 KiB. A record
    /// larger than half the ring can never be written and is dropped (counted as oversized),
    /// except an audit record, whose strings are cut until it fits (flagged `truncated`).
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.config.pipeline.ring_capacity = bytes;
        self
    }

    /// What a full ring does. Default [`Backpressure::Block`].
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.config.pipeline.backpressure = policy;
        self
    }

    /// Adds a sink. Records go to every sink, in the order added.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds an already boxed sink.
    pub fn boxed_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Longest string field kept, in bytes (cut at a character boundary beyond, and the
    /// record flagged `truncated`). Default 1024; at most 65,535.
    pub fn max_string_len(mut self, bytes: usize) -> Self {
        self.config.pipeline.max_string_len = bytes;
        self
    }

    /// Events below this level are not recorded (and not counted). Default `Trace` (all).
    pub fn level(mut self, level: Level) -> Self {
        self.config.pipeline.level = level;
        self
    }

    /// Records events of `target` and its submodules (`"engine"` covers `engine::risk`) at
    /// `level` and above, whatever [`level`](Self::level) says for the rest (above or below
    /// it); the longest covering target wins. Applies to `event!` (whose target is its module
    /// path), `log_event` and the `tracing` layer. Setting a target again replaces its rule.
    /// An empty target or one with whitespace, `"` or `=` is refused by `start()`.
    ///
    /// ```
    /// use tickwatch::{Level, Telemetry};
    /// let tw = Telemetry::builder()
    ///     .level(Level::Info)
    ///     .target_level("engine::book", Level::Warn)
    ///     .target_level("engine::risk", Level::Debug)
    ///     .start()?;
    /// assert!(tw.enabled(Level::Debug)); // somewhere: engine::risk
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn target_level(mut self, target: impl Into<String>, level: Level) -> Self {
        self.config.pipeline.targets.insert(target.into(), level);
        self
    }

    /// Cap on the application's distinct series. Past it, `try_*` registration fails with
    /// [`RegisterError::TooManySeries`](crate::RegisterError::TooManySeries) and the
    /// never-failing calls (`metric`, `log_metric`, ...) are refused a series of their own:
    /// each such registration is counted (in
    /// [`Stats::overflowed_series`](crate::Stats::overflowed_series) and the snapshot's
    /// [`refused_series`](crate::metrics::Snapshot::refused_series)) and its samples go to
    /// the kind's overflow series (`tickwatch_overflow_metric`, `_counter`, `_latency`,
    /// `_resource`: one per kind, not counted against the cap), which is aggregated and
    /// exported like any other. tickwatch's own `tickwatch_*` series are not counted and
    /// never refused. Series registered before the cap keep working. Default 100,000. See
    /// [`crate::metrics`] for what a refusal counts and what refused keys cost.
    pub fn max_series(mut self, n: usize) -> Self {
        self.config.pipeline.max_series = n;
        self
    }

    /// How long the collector first sleeps after a pass that found records. From then on the
    /// sleep follows the record rate: it is the sleep that finds the fullest ring about half
    /// full (down to ~50 µs for a fast producer, up to
    /// [`TelemetryBuilder::max_idle_interval`] for a slow one), and doubles while the rings
    /// stay empty, up to the same bound. Lower means records reach the sinks sooner after a
    /// quiet spell, at more CPU (one wake-up per interval). From 10 µs to 1 s, at most
    /// `max_idle_interval`; default 1 ms.
    /// (Zero is refused: it would turn the idle collector into a busy spin.)
    pub fn idle_interval(mut self, d: Duration) -> Self {
        self.config.pipeline.idle_interval = d;
        self
    }

    /// The longest sleep of the collector, idle or between the records of a slow producer: the
    /// longest a record waits in its ring before it reaches the sinks (flushes and
    /// [`Telemetry::flush`](crate::Telemetry::flush) wake it sooner). A producer that finds its
    /// ring full wakes the collector at once, so a long sleep delays delivery but never blocks
    /// a burst for long. From 10 µs to 1 s; default 16 ms (measured idle cost: see README).
    pub fn max_idle_interval(mut self, d: Duration) -> Self {
        self.config.pipeline.max_idle_interval = d;
        self
    }

    /// How long delivered records may wait in a sink's buffer: the collector calls every
    /// sink's [`flush`](crate::sink::Sink::flush) at this interval while records keep
    /// arriving (an idle instance does not flush again), and within about a millisecond of
    /// delivering a `Warn`-or-worse event or an audit record. So `tail -f` on a
    /// [`JsonLinesSink`](crate::sink::JsonLinesSink) file shows a quiet process's records, and
    /// a crash loses at most this interval of them, plus at most `max_idle_interval` of
    /// records still in the rings. What a flushed sink has handed to the OS survives a
    /// process crash; surviving a power loss needs a sink that syncs. From 1 ms to
    /// 1 day; default 100 ms.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.config.pipeline.flush_interval = d;
        self
    }

    /// The longest a hot-path call waits for room in a full ring under
    /// [`Backpressure::Block`] (and an audit record under either policy). Past it the record
    /// is dropped, counted in [`Stats::dropped`](crate::Stats::dropped) and
    /// [`Stats::block_timeouts`](crate::Stats::block_timeouts) (audit records also in
    /// [`Stats::audit_dropped`](crate::Stats::audit_dropped)), and the thread carries on: a
    /// collector stuck in a sink (a bug, a sink that calls back into the instance) cannot
    /// stop the engine. A collector that keeps up makes room within microseconds. Non-zero;
    /// default 1 s.
    pub fn block_timeout(mut self, d: Duration) -> Self {
        self.config.pipeline.block_timeout = d;
        self
    }

    /// Names the collector thread and restricts it to a CPU set (Linux's
    /// `sched_setaffinity`; elsewhere the set is a no-op): keep it off the cores your trading
    /// threads own. `start()` fails with [`StartError::Placement`] if the OS refuses the set.
    /// Default: `tickwatch-collector-N`, any CPU.
    pub fn collector_placement(mut self, placement: crate::ThreadPlacement) -> Self {
        self.config.pipeline.collector = placement;
        self
    }

    /// Low-latency collector mode: after a pass that found records the collector keeps
    /// polling for `spin` before it sleeps, so records written within it reach the sinks
    /// within microseconds and the ring's lines stay warm between bursts. Costs one CPU busy
    /// for `spin` after every record (pin the collector to a core you can spare). At most
    /// [`MAX_COLLECTOR_SPIN`](crate::MAX_COLLECTOR_SPIN); default zero (off).
    pub fn collector_spin(mut self, spin: Duration) -> Self {
        self.config.pipeline.collector_spin = spin;
        self
    }

    /// How long `flush()` waits before [`FlushError::Timeout`](crate::FlushError::Timeout). Default 10 s.
    pub fn flush_timeout(mut self, d: Duration) -> Self {
        self.config.pipeline.flush_timeout = d;
        self
    }

    /// How long shutdown (explicit or on drop) waits for the collector. Default 10 s.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.pipeline.shutdown_timeout = d;
        self
    }

    /// Length of the aggregation window: snapshot `window` values, rates and alert rules
    /// cover the last completed interval of this length. The collector rolls intervals over
    /// on time whether or not records arrive; a sample belongs to the interval in which the
    /// collector aggregated it (normally within a few milliseconds of being taken). From 1 ms
    /// to 1 day; default 10 s.
    pub fn aggregation_interval(mut self, d: Duration) -> Self {
        self.config.pipeline.aggregation_interval = d;
        self
    }

    /// Whether the collector aggregates samples for [`Telemetry::snapshot`] (default `true`).
    /// Off, snapshots hold only gauges set by collector-side tasks; the switch exists to
    /// measure what aggregation costs (see `benches/monitoring.rs`).
    pub fn aggregation(mut self, on: bool) -> Self {
        self.config.pipeline.aggregation = on;
        self
    }

    /// Upper bounds of the cumulative latency buckets in snapshots (and so in Prometheus
    /// exposition): 1 to 64 strictly increasing, non-zero durations. Default
    /// [`default_latency_buckets`](crate::default_latency_buckets) (100 ns to 10 s in 1-2.5-5 steps). Bucket counts are exact
    /// (each sample is compared with the bounds, not read back from the HDR histogram).
    ///
    /// ```
    /// use std::time::Duration;
    /// let tw = tickwatch::Telemetry::builder()
    ///     .latency_buckets(vec![Duration::from_micros(10), Duration::from_millis(1)])
    ///     .start()
    ///     .unwrap();
    /// # drop(tw);
    /// ```
    pub fn latency_buckets(mut self, bounds: Vec<Duration>) -> Self {
        self.config.pipeline.latency_buckets = bounds;
        self
    }

    /// How often the collector runs its monitoring tasks (resource sampling, alert rules,
    /// health checks). The first run comes at most 100 ms after start, so health leaves
    /// "unknown" soon after a restart. From 1 ms to 1 day; default 1 s.
    pub fn monitor_tick(mut self, d: Duration) -> Self {
        self.config.pipeline.monitor_tick = d;
        self
    }

    /// The key ring behind [`crate::encrypt_data`] and [`crate::decrypt_data`] once this
    /// builder is [`install`](crate::install)ed (also [`Telemetry::key_ring`]). A ring built
    /// without an audit log records its rotations and refusals into this instance.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tickwatch::security::crypto::{KeyRing, SecretKey};
    /// let ring = KeyRing::builder().key("app-1", SecretKey::generate()?).build()?;
    /// let _guard = tickwatch::install(tickwatch::Telemetry::builder().key_ring(Arc::new(ring)))?;
    /// let sealed = tickwatch::encrypt_data(b"fill 42", "app-1")?;
    /// assert_eq!(&tickwatch::decrypt_data(&sealed)?[..], b"fill 42");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key_ring(mut self, ring: std::sync::Arc<crate::KeyRing>) -> Self {
        self.security.key_ring = Some(ring);
        self
    }

    /// The authenticator behind [`crate::authenticate_user`] once this builder is
    /// [`install`](crate::install)ed (also [`Telemetry::authenticator`]). One built without
    /// an audit log records every attempt into this instance.
    pub fn authenticator(
        mut self,
        authenticator: std::sync::Arc<crate::security::authn::Authenticator>,
    ) -> Self {
        self.security.authenticator = Some(authenticator);
        self
    }

    /// The authorizer behind [`crate::authorize_action`] once this builder is
    /// [`install`](crate::install)ed (also [`Telemetry::authorizer`]). One built without an
    /// audit log records every decision into this instance.
    pub fn authorizer(
        mut self,
        authorizer: std::sync::Arc<crate::security::authz::Authorizer>,
    ) -> Self {
        self.security.authorizer = Some(authorizer);
        self
    }

    /// Adds a task the collector runs every `monitor_tick`, after the built-in ones (self
    /// watch and alerts, added by `MonitorSetup`). Only the tick's own tests add tasks.
    #[cfg(test)]
    pub(crate) fn collector_task(mut self, task: Box<dyn CollectorTask>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Adds `log` as a sink and makes it the log [`Telemetry::query_logs`] reads (with the
    /// records not yet written to its file). One per instance: a second replaces the first as
    /// the queried log (both keep writing).
    pub fn segment_log(mut self, log: crate::store::SegmentLog) -> Self {
        self.log = Some(log.handle());
        self.sinks.push(Box::new(log));
        self
    }

    /// The settings so far: the defaults, [`with_config`](Self::with_config)'s, and every
    /// option called since. What `start()` validates and uses.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces every setting that is data with `config` (read from a file, say); sinks,
    /// alert rules and routes, the health registry and the security parts given to this
    /// builder are kept. Options called after this one change it further. Checked by
    /// `start()` ([`Config::validate`]).
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self.from_config = true;
        self
    }

    /// Validates the configuration and starts the collector thread.
    pub fn start(mut self) -> Result<Telemetry, StartError> {
        self.config.validate()?;
        Clock::global();
        // The configuration's named parts: its key ring and policy file (into the security
        // parts), its sinks (in a set a reload can change) after the code's, its segment log
        // (the queried one), its rules and routes.
        let built = super::parts::build(&self.config, &mut self.security)?;
        if let Some(log) = built.segment_log {
            self = self.segment_log(log);
        }
        let sink_set = (self.from_config || !built.sinks.is_empty()).then(|| {
            let (set, handle) = crate::sink::SinkSet::new(built.sinks);
            self.sinks.push(Box::new(set.named("config")));
            handle
        });
        let code_rules = self.monitor.rules.clone();
        let config_rules =
            crate::alerts::rules_of(&self.config.rules).map_err(StartError::AlertRules)?;
        self.monitor.rules.extend(config_rules);
        self.monitor.config_routes = self.config.routes.clone();
        #[cfg(feature = "otlp")]
        let otlp = super::otlp::OwnedOtlp::start(&self.config.otlp)?;
        #[cfg(feature = "otlp")]
        if let Some(x) = &otlp {
            self.sinks.push(Box::new(x.log_sink()));
        }
        #[cfg(not(feature = "otlp"))]
        if self.config.otlp.endpoint.is_some() {
            return Err(StartError::Section {
                key: "otlp",
                message: "an endpoint needs tickwatch built with the `otlp` feature".into(),
            });
        }
        let listen = self.config.prometheus.listen.clone();
        #[cfg(not(feature = "http"))]
        if listen.is_some() {
            return Err(StartError::Section {
                key: "prometheus",
                message: "listen needs tickwatch built with the `http` feature".into(),
            });
        }
        #[allow(unused_mut)] // set below with the `http` feature
        let mut tw = Telemetry::start(
            self.config,
            self.sinks,
            self.tasks,
            self.monitor,
            self.security,
            self.log,
            super::StartLive {
                sink_set,
                code_rules,
                policy_text: built.policy_text,
                #[cfg(feature = "otlp")]
                otlp: otlp.as_ref().map(|x| x.control()),
            },
        )?;
        #[cfg(feature = "otlp")]
        if let Some(x) = otlp {
            tw.export_metrics_to(&x);
            tw.otlp.set(x);
        }
        #[cfg(feature = "http")]
        if let Some(addr) = listen {
            let server = tw
                .serve_metrics(addr.as_str())
                .map_err(|e| StartError::Section {
                    key: "prometheus",
                    message: format!("cannot serve on {addr}: {e}"),
                })?;
            tw.endpoint = Some((server.local_addr(), std::sync::Mutex::new(server)));
        }
        Ok(tw)
    }
}

/// Why [`TelemetryBuilder::start`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// `ring_capacity` is not a power of two between 128 bytes and 1 GiB: pick one, such as
    /// 65536.
    RingCapacity {
        /// What was asked for.
        requested: usize,
    },
    /// `max_string_len` is above 65,535 bytes (the record's length prefix): lower it.
    MaxStringLen {
        /// What was asked for.
        requested: usize,
    },
    /// `max_series` is 0 or above `u32::MAX`: pick a cap in between.
    MaxSeries {
        /// What was asked for.
        requested: usize,
    },
    /// A duration option is outside its range (`aggregation_interval`, `monitor_tick` and
    /// `flush_interval`: 1 ms to 1 day; `idle_interval` and `max_idle_interval`: 10 µs to 1 s,
    /// with `idle_interval` at most `max_idle_interval`; `block_timeout`: non-zero): pick a
    /// value in between.
    Interval {
        /// Which option.
        option: &'static str,
        /// What was asked for.
        requested: Duration,
        /// The shortest accepted.
        min: Duration,
        /// The longest accepted.
        max: Duration,
    },
    /// `latency_buckets` is not 1 to 64 strictly increasing, non-zero durations (each below
    /// ~584 years): fix the list, or leave the default.
    LatencyBuckets {
        /// How many bounds were given.
        count: usize,
        /// The first offending bound (zero, not above the previous one, or too large);
        /// `None` when the count is the problem.
        index: Option<usize>,
    },
    /// A per-target level names no module path (empty, or with whitespace, `"` or `=`):
    /// give the target alone, `target_level("engine::book", Level::Warn)`.
    TargetLevel {
        /// The target given.
        target: String,
    },
    /// The collector thread could not be spawned (the OS refused a thread).
    Spawn(std::io::Error),
    /// The collector's CPU set ([`collector_placement`](TelemetryBuilder::collector_placement))
    /// names a CPU out of range, or the OS refused it (offline, or outside this process's
    /// cpuset): the error says which.
    Placement(crate::PinError),
    /// An alert rule is invalid: the error names the rule and what to fix.
    AlertRules(RuleError),
    /// A configuration section that names parts (`routes`, `sinks`, `security`) is invalid,
    /// or a file it names cannot be opened: the message says which and why.
    Section {
        /// The section.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A built-in health component's name (`tickwatch.*`, see
    /// [`monitoring::component`](crate::health::component)) is already registered in the
    /// [`Health`](crate::health::Health) given to the builder: give each instance its own
    /// registry, or rename your component.
    HealthComponent(RegisterHealthError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::RingCapacity { requested } => write!(
                f,
                "ring_capacity {requested} is not a power of two between {MIN_RING_CAPACITY} and {MAX_RING_CAPACITY} bytes: use e.g. 65536"
            ),
            StartError::MaxStringLen { requested } => {
                write!(f, "max_string_len {requested} exceeds 65535 bytes: lower it")
            }
            StartError::MaxSeries { requested } => {
                write!(f, "max_series {requested} must be between 1 and {}", u32::MAX)
            }
            StartError::Interval {
                option,
                requested,
                min,
                max,
            } if *max == Duration::MAX => {
                write!(f, "{option} {requested:?} must be at least {min:?}")
            }
            StartError::Interval {
                option,
                requested,
                min,
                max,
            } => write!(
                f,
                "{option} {requested:?} must be between {min:?} and {max:?}"
            ),
            StartError::TargetLevel { target } => write!(
                f,
                "target level {target:?} names no module path: give the target alone, as \"engine::book\" = \"warn\""
            ),
            StartError::LatencyBuckets { count, index: None } => write!(
                f,
                "latency_buckets has {count} bounds: give 1 to {MAX_LATENCY_BUCKETS}"
            ),
            StartError::LatencyBuckets {
                index: Some(i), ..
            } => write!(
                f,
                "latency_buckets bound #{i} is zero, not above the previous bound, or too large: give strictly increasing non-zero durations"
            ),
            StartError::Spawn(e) => write!(f, "could not spawn the collector thread: {e}"),
            StartError::Placement(e) => write!(f, "could not place the collector thread: {e}"),
            StartError::AlertRules(e) => write!(f, "invalid alert rule: {e}"),
            StartError::Section { key, message } => write!(f, "{key}: {message}"),
            StartError::HealthComponent(e) => {
                write!(f, "could not register a built-in health component: {e}")
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Spawn(e) => Some(e),
            StartError::Placement(e) => Some(e),
            StartError::AlertRules(e) => Some(e),
            StartError::HealthComponent(e) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("config", &self.config)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}
