//! Alerts through a running instance: `send_alert` and `resolve_alert` reaching a callback
//! route once per transition, deduplication and rate limits, rules on gauges and latency
//! percentiles evaluated on the collector's tick, the log route, severity routing, and an
//! invalid rule refused at start.
//!
//! "Exactly one" is proved without timing: after the transition under test, a marker alert
//! is sent and awaited. The tick drains the outbox oldest first and evaluates the rules in
//! the same tick, so once a second marker (sent after the first arrived) has arrived, every
//! notification the earlier ticks could produce has been delivered.

#[path = "common/poll.rs"]
mod poll;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::alerts::*;
use tickwatch::sink::{MemorySink, Record};
use tickwatch::{Level, StartError, Telemetry, TelemetryBuilder};

const TICK: Duration = Duration::from_millis(10);
const DEADLINE: Duration = Duration::from_secs(20);

fn builder() -> TelemetryBuilder {
    Telemetry::builder()
        .monitor_tick(TICK)
        .resource_sampling(None)
}

/// Calls `f` until it returns `Some`, every millisecond, for at most [`DEADLINE`].
fn poll<T>(f: impl FnMut() -> Option<T>) -> Option<T> {
    poll::poll_every(DEADLINE, Duration::from_millis(1), f)
}

/// What a callback route received.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Notification>>>);

impl Inbox {
    fn sink(&self) -> CallbackSink<impl FnMut(&Notification) + Send + 'static> {
        let inbox = self.0.clone();
        CallbackSink::new(move |n: &Notification| inbox.lock().unwrap().push(n.clone()))
    }
    fn all(&self) -> Vec<Notification> {
        self.0.lock().unwrap().clone()
    }
    fn of(&self, name: &str, t: Transition) -> Vec<Notification> {
        self.all()
            .into_iter()
            .filter(|n| n.name == name && n.transition == t)
            .collect()
    }
    /// Waits until at least `count` notifications `name`/`t` have arrived.
    fn wait(&self, name: &str, t: Transition, count: usize) -> Vec<Notification> {
        poll(|| {
            let got = self.of(name, t);
            (got.len() >= count).then_some(got)
        })
        .unwrap_or_else(|| panic!("no {t:?} notification for {name}: {:#?}", self.all()))
    }
}

/// Sends a marker and waits for it, twice: every notification earlier ticks produced has
/// then been delivered.
fn settle(tw: &Telemetry, inbox: &Inbox) {
    for _ in 0..2 {
        let name = format!("marker_{}", inbox.all().len());
        let r = tw.send_alert(Alert::new(name.as_str(), Severity::Critical, "marker"));
        assert!(matches!(r, AlertResponse::Accepted { .. }), "{r:?}");
        inbox.wait(&name, Transition::Firing, 1);
    }
}

/// No per-name or global rate limit: the markers must never be refused.
fn unlimited() -> AlertsConfig {
    AlertsConfig {
        per_name: None,
        global: None,
        ..AlertsConfig::default()
    }
}

#[test]
fn send_dedup_and_resolve_notify_once_per_transition() {
    let inbox = Inbox::default();
    let tw = builder()
        .alerts_config(unlimited())
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    let alert = Alert::new("feed_gap", Severity::Warning, "no XNAS quotes").label("venue", "XNAS");
    let AlertResponse::Accepted { id } = tw.send_alert(alert.clone()) else {
        panic!("not accepted")
    };
    let firing = inbox.wait("feed_gap", Transition::Firing, 1);
    assert_eq!(firing[0].id, id);
    assert_eq!(firing[0].source, AlertSource::Manual);
    assert_eq!(firing[0].labels, vec![("venue".into(), "XNAS".into())]);

    assert_eq!(
        tw.send_alert(alert.clone()),
        AlertResponse::Deduplicated { id, count: 2 }
    );
    let active = tw.active_alerts();
    let a = active.iter().find(|a| a.name == "feed_gap").unwrap();
    assert_eq!((a.id, a.count, a.state), (id, 2, AlertState::Firing));
    settle(&tw, &inbox);
    assert_eq!(inbox.of("feed_gap", Transition::Firing).len(), 1);

    assert_eq!(tw.resolve_alert("feed_gap", &[("venue", "XNAS")]), Some(id));
    assert_eq!(tw.resolve_alert("feed_gap", &[("venue", "XNAS")]), None);
    let resolved = inbox.wait("feed_gap", Transition::Resolved, 1);
    assert_eq!(resolved[0].id, id);
    assert!(resolved[0].ends_at.is_some());
    settle(&tw, &inbox);
    assert_eq!(inbox.of("feed_gap", Transition::Resolved).len(), 1);
    assert_eq!(inbox.of("feed_gap", Transition::Firing).len(), 1);
    assert!(tw.active_alerts().iter().all(|a| a.name != "feed_gap"));

    let s = tw.alert_stats();
    assert_eq!((s.deduplicated, s.resolved), (1, 1), "{s:?}");
    tw.shutdown().unwrap();
}

#[test]
fn the_configured_rate_limit_applies() {
    let tw = builder()
        .alerts_config(AlertsConfig {
            per_name: Some(RateLimit::new(1, Duration::from_secs(3600))),
            global: None,
            ..AlertsConfig::default()
        })
        .alert_log(SeverityFilter::all())
        .start()
        .unwrap();
    let a =
        |venue: &str| Alert::new("risk_limit", Severity::Critical, "near").label("venue", venue);
    assert!(matches!(
        tw.send_alert(a("XNAS")),
        AlertResponse::Accepted { .. }
    ));
    // Another label set of the same name shares the name's bucket, now empty.
    match tw.send_alert(a("XLON")) {
        AlertResponse::RateLimited { retry_after } => assert!(retry_after > Duration::ZERO),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // Another name has a bucket of its own.
    assert!(matches!(
        tw.send_alert(Alert::new("other", Severity::Info, "")),
        AlertResponse::Accepted { .. }
    ));
    assert_eq!(tw.alert_stats().rate_limited, 1);
    tw.shutdown().unwrap();
}

fn spread_rule(for_: Duration) -> Rule {
    Rule::new(
        "spread_wide",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    )
    .for_(for_)
    .severity(Severity::Critical)
    .label("team", "risk")
}

#[test]
fn a_gauge_rule_fires_and_resolves_on_the_collector() {
    let inbox = Inbox::default();
    let tw = builder()
        .alerts_config(unlimited())
        .alert_rules([spread_rule(Duration::ZERO)])
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    tw.log_metric("spread", 0.01, &[("venue", "XNAS")]);
    tw.flush().unwrap();
    settle(&tw, &inbox);
    assert!(inbox.of("spread_wide", Transition::Firing).is_empty());

    tw.log_metric("spread", 0.09, &[("venue", "XNAS")]);
    tw.flush().unwrap();
    let firing = inbox.wait("spread_wide", Transition::Firing, 1);
    let n = &firing[0];
    assert_eq!(n.source, AlertSource::Rule);
    assert_eq!(n.severity, Severity::Critical);
    assert_eq!(n.value, Some(0.09));
    assert!(n.labels.contains(&("venue".into(), "XNAS".into())), "{n:?}");
    assert!(n.labels.contains(&("team".into(), "risk".into())), "{n:?}");
    let active = poll(|| {
        let all = tw.active_alerts();
        all.iter().any(|a| a.name == "spread_wide").then_some(all)
    })
    .unwrap();
    let a = active.iter().find(|a| a.name == "spread_wide").unwrap();
    assert_eq!(
        (a.state, a.source, a.id),
        (AlertState::Firing, AlertSource::Rule, n.id)
    );

    tw.log_metric("spread", 0.02, &[("venue", "XNAS")]);
    tw.flush().unwrap();
    let resolved = inbox.wait("spread_wide", Transition::Resolved, 1);
    assert_eq!(resolved[0].id, n.id);
    settle(&tw, &inbox);
    assert_eq!(inbox.of("spread_wide", Transition::Firing).len(), 1);
    assert_eq!(inbox.of("spread_wide", Transition::Resolved).len(), 1);
    assert!(tw.active_alerts().iter().all(|a| a.name != "spread_wide"));
    tw.shutdown().unwrap();
}

#[test]
fn a_rule_with_for_is_pending_first_then_firing() {
    let hold = Duration::from_millis(500);
    let inbox = Inbox::default();
    let tw = builder()
        .alert_rules([spread_rule(hold)])
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    tw.log_metric("spread", 0.09, &[]);
    tw.flush().unwrap();
    let pending = poll(|| {
        tw.active_alerts()
            .into_iter()
            .find(|a| a.name == "spread_wide")
    })
    .expect("the rule never became active");
    assert_eq!(pending.state, AlertState::Pending, "{pending:?}");
    let firing = inbox.wait("spread_wide", Transition::Firing, 1);
    // Fired no earlier than `for` after it became pending (the engine's own timestamps).
    let held = firing[0].starts_at.unix_nanos() - pending.since.unix_nanos();
    assert!(held >= hold.as_nanos() as u64, "fired after {held} ns");
    assert_eq!(firing[0].id, pending.id);
    let now = poll(|| {
        tw.active_alerts()
            .into_iter()
            .find(|a| a.name == "spread_wide" && a.state == AlertState::Firing)
    });
    assert!(now.is_some(), "{:?}", tw.active_alerts());
    tw.shutdown().unwrap();
}

#[test]
fn a_latency_percentile_rule_fires_on_slow_samples_only() {
    let inbox = Inbox::default();
    let rule = Rule::new(
        "rtt_slow",
        Expr::Latency {
            selector: Selector::new("order_rtt"),
            stat: LatencyStat::P99,
            horizon: Horizon::Window,
            above: Duration::from_millis(1),
        },
    );
    let tw = builder()
        .aggregation_interval(Duration::from_millis(20))
        .alerts_config(unlimited())
        .alert_rules([rule])
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    let slow = tw.latency_with_tags("order_rtt", &[("venue", "slow")]);
    let fast = tw.latency_with_tags("order_rtt", &[("venue", "fast")]);
    let firing = poll(|| {
        // Samples in every window until one completes with them.
        for _ in 0..20 {
            slow.record(Duration::from_millis(5));
            fast.record(Duration::from_micros(10));
        }
        tw.flush().unwrap();
        let f = inbox.of("rtt_slow", Transition::Firing);
        (!f.is_empty()).then_some(f)
    })
    .expect("the latency rule never fired");
    let n = &firing[0];
    assert!(n.labels.contains(&("venue".into(), "slow".into())), "{n:?}");
    let v = n.value.expect("a latency rule reports its value");
    assert!((4.9e6..=5.1e6).contains(&v), "p99 {v} ns");
    // Keep the fast series' windows filled a while longer: it never fires.
    for _ in 0..3 {
        fast.record(Duration::from_micros(10));
        tw.flush().unwrap();
        settle(&tw, &inbox);
    }
    let fired: Vec<_> = inbox.of("rtt_slow", Transition::Firing);
    assert!(
        fired
            .iter()
            .all(|n| n.labels.contains(&("venue".into(), "slow".into()))),
        "{fired:#?}"
    );
    tw.shutdown().unwrap();
}

#[test]
fn the_log_route_records_alerts_as_events() {
    let mem = MemorySink::new();
    let tw = builder()
        .sink(mem.clone())
        .alert_log(SeverityFilter::all())
        .start()
        .unwrap();
    let r = tw
        .send_alert(Alert::new("feed_gap", Severity::Warning, "no quotes").label("venue", "XNAS"));
    assert!(matches!(r, AlertResponse::Accepted { .. }));
    let (level, message, fields) = poll(|| {
        tw.flush().unwrap();
        mem.records().into_iter().find_map(|r| match r {
            Record::Event {
                level,
                target,
                message,
                fields,
                ..
            } if target == LOG_TARGET => Some((level, message, fields)),
            _ => None,
        })
    })
    .expect("no alert event reached the record sink");
    assert_eq!(LOG_TARGET, "tickwatch::alerts");
    assert_eq!(level, Level::Warn);
    assert_eq!(message, "no quotes");
    let field = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| format!("{v:?}"))
            .unwrap_or_else(|| panic!("no field {k} in {fields:?}"))
    };
    assert!(field("alertname").contains("feed_gap"));
    assert!(field("label.venue").contains("XNAS"));
    tw.shutdown().unwrap();
}

#[test]
fn a_route_takes_only_the_severities_its_filter_accepts() {
    let (all, critical) = (Inbox::default(), Inbox::default());
    let tw = builder()
        .alerts_config(unlimited())
        .alert_route("all", SeverityFilter::all(), all.sink())
        .alert_route(
            "pager",
            SeverityFilter::at_least(Severity::Critical),
            critical.sink(),
        )
        .start()
        .unwrap();
    let _ = tw.send_alert(Alert::new("spread_wide", Severity::Warning, "wide"));
    all.wait("spread_wide", Transition::Firing, 1);
    let _ = tw.send_alert(Alert::new("exposure", Severity::Critical, "96%"));
    critical.wait("exposure", Transition::Firing, 1);
    all.wait("exposure", Transition::Firing, 1);
    let names: Vec<_> = critical.all().into_iter().map(|n| n.name).collect();
    assert_eq!(names, vec!["exposure".to_string()]);
    tw.shutdown().unwrap();
}

#[test]
fn an_invalid_rule_fails_start() {
    let bad = Rule::new(
        "",
        Expr::Absent {
            selector: Selector::new("heartbeat"),
        },
    );
    match builder().alert_rules([bad]).start() {
        Err(e @ StartError::AlertRules(_)) => {
            assert!(!e.to_string().is_empty());
        }
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("an unnamed rule was accepted"),
    }
}

#[test]
fn shutdown_delivers_alerts_sent_since_the_last_tick() {
    let inbox = Inbox::default();
    // No tick runs in this test's lifetime: only shutdown's final delivery can notify.
    let tw = Telemetry::builder()
        .monitor_tick(Duration::from_secs(3600))
        .resource_sampling(None)
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    let r = tw.send_alert(Alert::new("last_words", Severity::Critical, "going down"));
    assert!(matches!(r, AlertResponse::Accepted { .. }));
    tw.shutdown().unwrap();
    let got = inbox.of("last_words", Transition::Firing);
    assert_eq!(got.len(), 1, "{:#?}", inbox.all());
}

/// An alert sink whose every delivery fails.
struct RefusingSink;

impl AlertSink for RefusingSink {
    fn notify(&mut self, _: &Notification) -> Result<(), AlertSinkError> {
        Err(AlertSinkError::Failed("pager unreachable".into()))
    }
}

#[test]
fn a_failing_alert_sink_degrades_the_alerts_component() {
    use tickwatch::health::{component::ALERTS, Status};
    let tw = builder()
        .alerts_config(unlimited())
        .alert_route("pager", SeverityFilter::all(), RefusingSink)
        .start()
        .unwrap();
    let mut i = 0;
    let mut last = None;
    let h = poll(|| {
        // A new alert for every look: the component judges the failures of the last tick.
        i += 1;
        let _ = tw.send_alert(Alert::new(format!("a{i}"), Severity::Warning, ""));
        let h = tw.get_system_health();
        let c = h.component(ALERTS)?.clone();
        last = Some(h);
        (c.status == Status::Degraded).then_some(c)
    })
    .unwrap_or_else(|| panic!("tickwatch.alerts never degraded: {last:#?}"));
    assert!(h.message.contains("failed"), "{h:?}");
    tw.shutdown().unwrap();
}

#[test]
fn logging_alerts_into_a_full_ring_never_stalls_the_collector() {
    // Block is the producers' policy; the collector, logging alerts from its own tick, must
    // drop into its own full ring rather than wait for itself.
    let mem = MemorySink::new();
    let tw = builder()
        .ring_capacity(1024)
        .backpressure(tickwatch::Backpressure::Block)
        .flush_timeout(Duration::from_secs(20))
        .sink(mem.clone())
        .alerts_config(unlimited())
        .alert_log(SeverityFilter::all())
        .start()
        .unwrap();
    for i in 0..200 {
        let r = tw.send_alert(Alert::new(
            format!("burst_{i}"),
            Severity::Critical,
            "x".repeat(40),
        ));
        assert!(matches!(r, AlertResponse::Accepted { .. }), "{r:?}");
    }
    // Every notification is handed to the log route within a few ticks, logged or dropped.
    poll(|| {
        tw.flush().unwrap();
        let logged = mem
            .records()
            .iter()
            .filter(|r| matches!(r, Record::Event { target, .. } if target == LOG_TARGET))
            .count() as u64;
        (logged + tw.stats().dropped >= 200).then_some(())
    })
    .expect("the alert events were neither logged nor counted as dropped");
    // And the collector still works.
    tw.log_metric("after", 1.0, &[]);
    tw.flush().unwrap();
    assert!(mem
        .records()
        .iter()
        .any(|r| matches!(r, Record::Metric { name, .. } if name == "after")));
    tw.shutdown().unwrap();
}

#[test]
fn counter_rate_and_absence_rules_run_on_the_instance() {
    let inbox = Inbox::default();
    let rate = Rule::new(
        "orders_burst",
        Expr::CounterRate {
            selector: Selector::new("orders"),
            op: Op::Gt,
            bound: 100.0,
        },
    );
    let absent = Rule::new(
        "no_heartbeat",
        Expr::Absent {
            selector: Selector::new("heartbeat"),
        },
    );
    let tw = builder()
        .aggregation_interval(Duration::from_millis(20))
        .alerts_config(unlimited())
        .alert_rules([rate, absent])
        .alert_route("callback", SeverityFilter::all(), inbox.sink())
        .start()
        .unwrap();
    // No heartbeat series at all: the absence rule fires.
    inbox.wait("no_heartbeat", Transition::Firing, 1);
    let orders = tw.counter("orders", &[("venue", "XNAS")]);
    let heartbeat = tw.metric("heartbeat", &[]);
    let fired = poll(|| {
        // Far above 100/s in every window, and a heartbeat in every window.
        orders.add(1_000);
        heartbeat.record(1.0);
        tw.flush().unwrap();
        let f = inbox.of("orders_burst", Transition::Firing);
        let r = inbox.of("no_heartbeat", Transition::Resolved);
        (!f.is_empty() && !r.is_empty()).then_some(f)
    })
    .unwrap_or_else(|| panic!("rules did not fire and resolve: {:#?}", inbox.all()));
    let v = fired[0].value.expect("a rate rule reports its value");
    assert!(v > 100.0, "rate {v}");
    assert!(fired[0].labels.contains(&("venue".into(), "XNAS".into())));
    assert_eq!(inbox.of("no_heartbeat", Transition::Firing).len(), 1);
    tw.shutdown().unwrap();
}
