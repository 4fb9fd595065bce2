//! How an instance's monitoring is configured and started: the builder options for health,
//! resource sampling and alerts, the state the instance's handles share with the collector,
//! and the collector tasks that run them.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::config::MonitoringConfig;
use super::parts::{log_route, route_sink};
use super::reload::{AlertsLive, Slot, Thresholds};
use super::{StartError, TelemetryBuilder};
use crate::alerts::{
    ActiveAlert, Alert, AlertPipeline, AlertRouter, AlertSink, Alerts, AlertsConfig, Rule,
    RuleEngine, Severity, SeverityFilter, SystemClock, COLLECTOR_RESTARTED, SINK_CONDITION,
};
use crate::health::{
    component, CollectorPolicy, CostBudget, Health, HealthHandle, ResourceThresholds, RingPolicy,
    SelfWatch, SinkConditions, SinkPolicy, Staleness, Status,
};
use crate::metrics::{CollectorEvents, CollectorTask, Snapshot, TickContext};
use crate::pipeline::Shared;
use crate::sink::SinkNotice;
use crate::time::WallClock;

enum Route {
    Sink(String, SeverityFilter, Box<dyn AlertSink>),
    Log(SeverityFilter),
}

/// The monitoring half of a [`TelemetryBuilder`] that is not data (the data is
/// [`MonitoringConfig`] and [`AlertsConfig`] in the builder's [`Config`](super::Config)).
#[derive(Default)]
pub(crate) struct MonitorSetup {
    health: Option<Health>,
    /// The wall clock of the alert manager and of the default health registry.
    clock: Option<Arc<dyn WallClock>>,
    pub(crate) rules: Vec<Rule>,
    routes: Vec<Route>,
    /// The configuration's `[[routes]]`, added after the code's.
    pub(crate) config_routes: Vec<super::RouteSpec>,
}

/// What the instance's handles share with its collector tasks.
pub(crate) struct MonitorShared {
    pub(crate) health: Health,
    pub(crate) alerts: Arc<Alerts>,
    /// Pending and firing rule instances, published by the alert task every tick.
    pub(crate) rule_alerts: ArcSwap<Vec<ActiveAlert>>,
    /// The collector's own component: set unhealthy when the collector exits.
    pub(crate) collector_health: OnceLock<HealthHandle>,
    /// The per-sink component names registered at start (for a failed start's clean-up).
    sink_components: OnceLock<Vec<String>>,
    /// Per sink (by position), the degraded condition it last reported, if any.
    sink_conditions: SinkConditions,
    /// Thresholds a reload hands the self-watch task.
    pub(crate) live_thresholds: Slot<Thresholds>,
    /// Rules and routes a reload hands the alert task.
    pub(crate) live_alerts: Slot<AlertsLive>,
    /// Whether the alert router has a route: `send_alert` refuses (`Refusal::NoRoute`)
    /// rather than accept an alert nobody would hear of.
    pub(crate) routed: std::sync::atomic::AtomicBool,
}

impl MonitorShared {
    /// What the collector tells the monitoring layer: its exit, its restarts, the sinks'
    /// notices (health and alerts; all on the collector thread).
    pub(crate) fn collector_events(self: &Arc<Self>) -> CollectorEvents {
        let on_exit = {
            let mon = self.clone();
            Box::new(move || {
                if let Some(h) = mon.collector_health.get() {
                    h.set(Status::Unhealthy, "collector stopped (instance shut down)");
                }
            })
        };
        let on_restart = {
            let mon = self.clone();
            Box::new(move |restarts: u64, why: &str| {
                let message = format!(
                    "the collector panicked outside a sink and was restarted ({restarts} restarts since start): {why}"
                );
                if let Some(h) = mon.collector_health.get() {
                    h.set(Status::Degraded, &message);
                }
                // Rate limited or deduplicated into the active alert when restarts repeat.
                let _ = mon.alerts.send_alert(Alert::new(
                    COLLECTOR_RESTARTED,
                    Severity::Critical,
                    message,
                ));
            })
        };
        let on_sink_notice = {
            let mon = self.clone();
            Box::new(move |i: usize, notice: SinkNotice| {
                let name = mon
                    .sink_components
                    .get()
                    .and_then(|names| names.get(i))
                    .cloned()
                    .unwrap_or_else(|| format!("{}{i}", component::SINK_PREFIX));
                mon.sink_conditions
                    .set(i, notice.degraded.then(|| notice.message.clone()));
                if notice.degraded {
                    let alert = Alert::new(SINK_CONDITION, Severity::Warning, notice.message)
                        .label("sink", name);
                    let _ = mon.alerts.send_alert(alert);
                } else {
                    mon.alerts.resolve(SINK_CONDITION, &[("sink", &name)]);
                }
            })
        };
        CollectorEvents {
            on_exit,
            on_restart,
            on_sink_notice,
        }
    }

    /// Removes the built-in components from the registry: for a start that failed after
    /// [`MonitorSetup::into_tasks`] registered them (the collector could not be spawned).
    pub(crate) fn unregister_builtins(&self) {
        for name in self.sink_components.get().into_iter().flatten() {
            self.health.unregister(name);
        }
        for name in [
            component::COLLECTOR,
            component::RINGS,
            component::SINKS,
            component::ALERTS,
            component::RESOURCES,
            component::BUDGET,
        ] {
            self.health.unregister(name);
        }
    }
}

impl MonitorSetup {
    /// The shared half, built before the instance's state.
    pub(crate) fn shared(&mut self, alerts: AlertsConfig) -> MonitorShared {
        MonitorShared {
            health: self.health.take().unwrap_or_else(|| match &self.clock {
                Some(c) => Health::with_clock(c.clone()),
                None => Health::default(),
            }),
            alerts: Arc::new(Alerts::new(
                alerts,
                self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
            )),
            rule_alerts: ArcSwap::from_pointee(Vec::new()),
            collector_health: OnceLock::new(),
            sink_components: OnceLock::new(),
            sink_conditions: SinkConditions::default(),
            live_thresholds: Slot::default(),
            live_alerts: Slot::default(),
            routed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Registers the built-in health components and builds the collector tasks. Runs before
    /// the collector is spawned, so a bad rule or a taken component name fails `start()`.
    pub(crate) fn into_tasks(
        self,
        config: MonitoringConfig,
        shared: &Arc<Shared>,
        m: &Arc<MonitorShared>,
        sink_names: &[&str],
    ) -> Result<Vec<Box<dyn CollectorTask>>, StartError> {
        let engine = RuleEngine::new(self.rules).map_err(StartError::AlertRules)?;
        // Before any component is registered: a route that cannot start fails `start()`
        // with the registry untouched.
        let config_sinks = self
            .config_routes
            .iter()
            .map(|r| Ok((r.name.clone(), r.filter(), route_sink(r, shared)?)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|message| StartError::Section {
                key: "routes",
                message,
            })?;
        // The names registered so far: a failed start unregisters them, so the caller's
        // registry (`TelemetryBuilder::health`) is left as it was and a retry can succeed.
        let taken: RefCell<Vec<String>> = RefCell::new(Vec::new());
        let reg = |name: &str, stale| {
            let handle = m
                .health
                .register_pushed(name, stale)
                .map_err(StartError::HealthComponent)?;
            taken.borrow_mut().push(name.to_owned());
            Ok::<_, StartError>(handle)
        };
        let sink_components = sink_component_names(sink_names);
        let registered = (|| {
            let collector = reg(component::COLLECTOR, Some(config.collector.staleness()))?;
            // Everything else the collector pushes goes stale with it: only degraded, so a
            // stopped collector shows as one red component rather than a wall of them.
            let stale = Some(Staleness::degraded_after(config.collector.stale_after));
            let watch = SelfWatch {
                collector,
                rings: reg(component::RINGS, stale)?,
                sinks: reg(component::SINKS, stale)?,
                each_sink: sink_components
                    .iter()
                    .map(|name| reg(name, stale))
                    .collect::<Result<_, _>>()?,
                resources: config
                    .resource_interval
                    .map(|_| reg(component::RESOURCES, stale))
                    .transpose()?,
                budget: config
                    .resource_interval
                    .map(|_| reg(component::BUDGET, stale))
                    .transpose()?,
                conditions: m.sink_conditions.clone(),
            };
            Ok((watch, reg(component::ALERTS, stale)?))
        })();
        let (watch, alerts_health) = match registered {
            Ok(handles) => handles,
            Err(e) => {
                for name in taken.take() {
                    m.health.unregister(&name);
                }
                return Err(e);
            }
        };
        let _ = m.sink_components.set(sink_components);
        let collector = watch.collector.clone();
        let _ = m.collector_health.set(collector);
        let mut router = AlertRouter::new();
        for (name, filter, sink) in config_sinks {
            router.route(name, filter, sink);
        }
        for route in self.routes {
            match route {
                Route::Sink(name, filter, sink) => {
                    router.route(name, filter, sink);
                }
                Route::Log(filter) => {
                    router.route("log", filter, log_route(shared));
                }
            }
        }
        m.routed
            .store(!router.is_empty(), std::sync::atomic::Ordering::Release);
        let pipeline = AlertPipeline::new(engine, router).with_manager(m.alerts.clone());
        let watch = watch.into_task(
            config.resource_interval,
            shared.config.monitor_tick,
            config.collector,
            config.rings,
            config.sinks,
            config.resources,
            config.budget,
        );
        Ok(vec![
            Box::new(LiveWatch {
                watch,
                monitor: m.clone(),
            }),
            Box::new(AlertTask {
                pipeline,
                health: alerts_health,
                monitor: m.clone(),
                router_errors: 0,
                published_empty: true,
                config_routes: self.config_routes.iter().map(|r| r.name.clone()).collect(),
            }),
        ])
    }
}

/// `tickwatch.sink.<name>` for each sink, in order; a name seen before gets `#<position>`
/// appended, so two sinks of one type are two components.
fn sink_component_names(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let base = format!("{}{name}", component::SINK_PREFIX);
            if names[..i].contains(name) {
                format!("{base}#{i}")
            } else {
                base
            }
        })
        .collect()
}

/// Runs the alert pipeline on the collector's tick: drains `send_alert`'s outbox, evaluates
/// the rules against the tick's snapshot, hands notifications to the alert sinks, and
/// publishes the rule instances for [`crate::Telemetry::active_alerts`].
struct AlertTask {
    pipeline: AlertPipeline,
    health: HealthHandle,
    monitor: Arc<MonitorShared>,
    router_errors: u64,
    published_empty: bool,
    /// The names of the routes the configuration added (a reload replaces them).
    config_routes: Vec<String>,
}

/// The self-watch task, taking a reload's thresholds at the start of a tick.
struct LiveWatch {
    watch: crate::health::SelfWatchTask,
    monitor: Arc<MonitorShared>,
}

impl CollectorTask for LiveWatch {
    fn tick(&mut self, ctx: &mut TickContext<'_>) {
        if let Some((generation, t)) = self.monitor.live_thresholds.take() {
            self.watch
                .set_policies(t.collector, t.rings, t.sinks, t.resources, t.budget);
            self.monitor.live_thresholds.done(generation);
        }
        self.watch.tick(ctx);
    }

    fn after_tick(&mut self) {
        self.watch.after_tick();
    }

    fn finish(&mut self) {
        self.watch.finish();
    }
}

impl AlertTask {
    /// A reload's rules and routes: rules identical to a running one keep its state, firing
    /// alerts of the others are resolved (and those notifications sent); the configuration's
    /// old routes are flushed and removed, its new ones added.
    fn apply(&mut self, live: AlertsLive, now: crate::Timestamp) {
        // Validated by the reload: cannot fail.
        if let Ok(resolved) = self.pipeline.engine_mut().replace_rules(live.rules, now) {
            self.pipeline.router_mut().dispatch_all(&resolved);
        }
        let router = self.pipeline.router_mut();
        for name in self.config_routes.drain(..) {
            router.remove(&name);
        }
        for (name, filter, sink) in live.routes {
            router.route(name.clone(), filter, sink);
            self.config_routes.push(name);
        }
        self.monitor
            .routed
            .store(!router.is_empty(), std::sync::atomic::Ordering::Release);
    }
}

impl CollectorTask for AlertTask {
    fn tick(&mut self, ctx: &mut TickContext<'_>) {
        let now = ctx.now();
        if let Some((generation, live)) = self.monitor.live_alerts.take() {
            self.apply(live, now);
            self.monitor.live_alerts.done(generation);
        }
        // Evaluate only: the sinks are called in `after_tick`, once the collector has released
        // the aggregates (a sink may then ask for a snapshot or render Prometheus).
        if self.pipeline.engine().rules().next().is_some() {
            let snapshot = ctx.snapshot();
            self.pipeline.evaluate(snapshot, now);
        } else {
            // No rules: only the manual alerts' outbox; no snapshot needed.
            let empty = Snapshot::empty(now);
            self.pipeline.evaluate(&empty, now);
        }
        let active = self.pipeline.engine().active();
        if !(active.is_empty() && self.published_empty) {
            self.published_empty = active.is_empty();
            self.monitor.rule_alerts.store(Arc::new(active));
        }
    }

    fn after_tick(&mut self) {
        self.pipeline.dispatch();
        let errors = self.pipeline.router().errors();
        let new = errors.saturating_sub(self.router_errors);
        self.router_errors = errors;
        if new > 0 {
            self.health.set(
                Status::Degraded,
                &format!("{new} alert notification(s) failed in the last tick"),
            );
        } else {
            self.health.set(Status::Healthy, "alert sinks ok");
        }
    }

    fn finish(&mut self) {
        self.pipeline.finish();
    }
}

impl TelemetryBuilder {
    /// Uses `health` as the instance's health registry, so the application's own components
    /// and tickwatch's appear in one [`HealthStatus`](crate::health::HealthStatus). By
    /// default the instance has a registry of its own ([`crate::Telemetry::health`]).
    ///
    /// The built-in component names ([`component`](crate::health::component)) can be
    /// registered once per registry: a second instance on the same registry, or one started
    /// after a shut-down instance whose components are still listed, fails `start()` with
    /// [`StartError::HealthComponent`] (unregister the `tickwatch.*` names first). A failed
    /// start leaves the registry as it was.
    pub fn health(mut self, health: Health) -> Self {
        self.monitor.health = Some(health);
        self
    }

    /// The wall clock of the instance's alert manager (deduplication windows, rate limits,
    /// `auto_resolve`, and so `send_alert`'s and the rules' alerts) and of its default health
    /// registry: the system clock unless set. Tests give one
    /// [`ManualClock`](crate::ManualClock) here, to [`Health::with_clock`] and to the
    /// [`Authenticator`](crate::security::authn::Authenticator), and move them all at once.
    /// (The records' timestamps come from the tick clock, not from this one.)
    pub fn clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.monitor.clock = Some(clock);
        self
    }

    /// How often the collector samples the process's CPU, memory, threads and file
    /// descriptors and its own cost (published as `tickwatch_*` gauges and the
    /// `tickwatch.resources` and `tickwatch.budget` health components). `None` turns
    /// sampling off. Default every second; one sample costs ~40 µs (Linux `/proc`).
    ///
    /// Samples are taken on the collector's ticks
    /// ([`monitor_tick`](TelemetryBuilder::monitor_tick), default 1 s) at a fixed rate
    /// anchored at the first tick: each within half a tick of its due time, without drift,
    /// skipping only periods a stalled collector missed entirely. An interval shorter than
    /// the tick samples on every tick. The first sample's rates cover the time since start.
    pub fn resource_sampling(mut self, every: Option<Duration>) -> Self {
        self.config.monitoring.resource_interval = every;
        self
    }

    /// When the collector counts as stalled or lagging (the `tickwatch.collector` health
    /// component).
    pub fn collector_policy(mut self, policy: CollectorPolicy) -> Self {
        self.config.monitoring.collector = policy;
        self
    }

    /// How many drops per sampling interval degrade the `tickwatch.rings` component.
    pub fn ring_policy(mut self, policy: RingPolicy) -> Self {
        self.config.monitoring.rings = policy;
        self
    }

    /// How sink errors degrade the `tickwatch.sinks` component.
    pub fn sink_policy(mut self, policy: SinkPolicy) -> Self {
        self.config.monitoring.sinks = policy;
        self
    }

    /// Bounds on the process's resources (the `tickwatch.resources` component). Default:
    /// none.
    pub fn resource_thresholds(mut self, thresholds: ResourceThresholds) -> Self {
        self.config.monitoring.resources = thresholds;
        self
    }

    /// tickwatch's own cost budgets (the `tickwatch.budget` component). Default: monitoring
    /// (the collector's own CPU, sink time excluded) 5 % and logging (time inside the sinks)
    /// 2 % of a core; see [`CostBudget`].
    pub fn cost_budget(mut self, budget: CostBudget) -> Self {
        self.config.monitoring.budget = budget;
        self
    }

    /// Adds alert rules, evaluated on the collector every
    /// [`monitor_tick`](TelemetryBuilder::monitor_tick) against the aggregates (see
    /// [`crate::alerts`]; [`load_rules_toml`](crate::alerts::load_rules_toml) reads them from
    /// a file). An invalid rule fails `start()` with [`StartError::AlertRules`].
    pub fn alert_rules(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.monitor.rules.extend(rules);
        self
    }

    /// Sends the alert notifications `filter` accepts (rules' and `send_alert`'s, firing and
    /// resolved) to `sink`, on the collector thread, after each tick's evaluation and with
    /// the aggregates released: the sink may read the instance (`snapshot()`,
    /// `render_prometheus()`, `get_system_health()`, `stats()`); what it may not do is
    /// listed on [`Sink`](crate::sink::Sink) (no `flush()`, no `shutdown()`). While it runs
    /// no record is drained, so a sink doing I/O should hand off to a thread of its own, as
    /// [`AlertmanagerSink`](crate::alerts) does.
    pub fn alert_route(
        mut self,
        name: impl Into<String>,
        filter: SeverityFilter,
        sink: impl AlertSink + 'static,
    ) -> Self {
        self.monitor
            .routes
            .push(Route::Sink(name.into(), filter, Box::new(sink)));
        self
    }

    /// Logs the alert notifications `filter` accepts as events of this instance (target
    /// `tickwatch::alerts`; error for critical, warn for warning, info otherwise).
    pub fn alert_log(mut self, filter: SeverityFilter) -> Self {
        self.monitor.routes.push(Route::Log(filter));
        self
    }

    /// Limits of [`crate::Telemetry::send_alert`]: deduplication, rate limits, caps.
    pub fn alerts_config(mut self, config: AlertsConfig) -> Self {
        self.config.alerts = config;
        self
    }
}
