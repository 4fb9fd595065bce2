//! Severity routing, sink failures counted (never propagated), the log sink's events, and
//! the pipeline a collector tick drives.

#[path = "common/snapshots.rs"]
mod snapshots;

use snapshots::*;
use std::sync::{Arc, Mutex};
use tickwatch::alerts::*;
use tickwatch::logging::{Level, Value};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

fn note(name: &str, severity: Severity, transition: Transition) -> Notification {
    Notification {
        id: AlertId(7),
        name: name.into(),
        severity,
        transition,
        message: format!("{name} happened"),
        labels: vec![("venue".into(), "XNAS".into())],
        annotations: vec![("runbook".into(), "http://wiki".into())],
        starts_at: t(0),
        ends_at: (transition == Transition::Resolved).then(|| t(5)),
        value: Some(1.5),
        source: AlertSource::Rule,
    }
}

type Seen = Arc<Mutex<Vec<(String, Transition)>>>;

fn recorder() -> (Seen, CallbackSink<impl FnMut(&Notification) + Send>) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    (
        seen,
        CallbackSink::new(move |n: &Notification| {
            s.lock().unwrap().push((n.name.clone(), n.transition))
        }),
    )
}

fn names(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn each_route_gets_its_severities() {
    let (pager, pager_sink) = recorder();
    let (chat, chat_sink) = recorder();
    let (info, info_sink) = recorder();
    let (all, all_sink) = recorder();
    let mut router = AlertRouter::new();
    router
        .route(
            "pager",
            SeverityFilter::at_least(Severity::Critical),
            pager_sink,
        )
        .route(
            "chat",
            SeverityFilter::at_least(Severity::Warning),
            chat_sink,
        )
        .route("info", SeverityFilter::only(&[Severity::Info]), info_sink)
        .route("all", SeverityFilter::all(), all_sink);
    for (name, sev) in [
        ("i", Severity::Info),
        ("w", Severity::Warning),
        ("c", Severity::Critical),
    ] {
        router.dispatch(&note(name, sev, Transition::Firing));
    }
    // A resolve goes where its firing went.
    assert_eq!(
        router.dispatch(&note("c", Severity::Critical, Transition::Resolved)),
        3
    );
    assert_eq!(names(&pager), vec!["c", "c"]);
    assert_eq!(names(&chat), vec!["w", "c", "c"]);
    assert_eq!(names(&info), vec!["i"]);
    assert_eq!(names(&all), vec!["i", "w", "c", "c"]);
    assert_eq!(pager.lock().unwrap()[1].1, Transition::Resolved);
    let delivered: Vec<u64> = router.stats().iter().map(|s| s.delivered).collect();
    assert_eq!(delivered, vec![2, 3, 1, 4]);
    assert_eq!(router.errors(), 0);
}

struct Failing;
impl AlertSink for Failing {
    fn notify(&mut self, _: &Notification) -> Result<(), AlertSinkError> {
        Err(AlertSinkError::QueueFull)
    }
    fn flush(&mut self) -> Result<(), AlertSinkError> {
        Err(AlertSinkError::Timeout)
    }
}

struct Panicking;
impl AlertSink for Panicking {
    fn notify(&mut self, _: &Notification) -> Result<(), AlertSinkError> {
        panic!("sink bug")
    }
}

#[test]
fn sink_errors_and_panics_are_counted_and_others_still_deliver() {
    let (seen, ok) = recorder();
    let mut router = AlertRouter::new();
    router
        .route("failing", SeverityFilter::all(), Failing)
        .route("panicking", SeverityFilter::all(), Panicking)
        .route("ok", SeverityFilter::all(), ok);
    assert_eq!(
        router.dispatch(&note("x", Severity::Warning, Transition::Firing)),
        1
    );
    assert_eq!(names(&seen), vec!["x"]);
    assert_eq!(router.errors(), 2);
    let stats = router.stats();
    assert_eq!(
        stats[0].last_error.as_deref(),
        Some(AlertSinkError::QueueFull.to_string().as_str())
    );
    assert_eq!(stats[1].last_error.as_deref(), Some("sink panicked"));
    assert_eq!(router.flush(), 1);
    assert_eq!(router.errors(), 3);
}

#[test]
fn log_sink_levels_and_fields() {
    type Logged = Vec<(Level, String, String, Vec<(String, String)>)>;
    let logged: Arc<Mutex<Logged>> = Arc::default();
    let l = logged.clone();
    let mut sink = LogSink::with(move |e| {
        let fields = e
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.lock()
            .unwrap()
            .push((e.level, e.target.to_string(), e.message.to_string(), fields));
    });
    for (sev, tr) in [
        (Severity::Critical, Transition::Firing),
        (Severity::Warning, Transition::Firing),
        (Severity::Info, Transition::Firing),
        (Severity::Critical, Transition::Resolved),
    ] {
        sink.notify(&note("spread_wide", sev, tr)).unwrap();
    }
    let logged = logged.lock().unwrap();
    let levels: Vec<Level> = logged.iter().map(|e| e.0).collect();
    assert_eq!(
        levels,
        vec![Level::Error, Level::Warn, Level::Info, Level::Info]
    );
    let (_, target, message, fields) = &logged[3];
    assert_eq!(
        (target.as_str(), message.as_str()),
        ("tickwatch::alerts", "spread_wide happened")
    );
    let f = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(f("alertname"), Some("spread_wide"));
    assert_eq!(f("severity"), Some("critical"));
    assert_eq!(f("state"), Some("resolved"));
    assert_eq!(f("alert_id"), Some("7"));
    assert_eq!(f("value"), Some("1.5"));
    assert_eq!(f("label.venue"), Some("XNAS"));
    assert_eq!(f("annotation.runbook"), Some("http://wiki"));
    assert_eq!(
        f("ends_at_ns"),
        Some(t(5).unix_nanos().to_string().as_str())
    );
    assert_eq!(
        logged[0].3.iter().find(|(n, _)| n == "ends_at_ns"),
        None,
        "firing has no end"
    );
}

#[test]
fn log_sink_into_a_telemetry_instance() {
    let mem = MemorySink::new();
    let tw = Arc::new(Telemetry::builder().sink(mem.clone()).start().unwrap());
    let into = tw.clone();
    let mut sink = LogSink::with(move |e| into.log_event(e));
    sink.notify(&note("disk_full", Severity::Warning, Transition::Firing))
        .unwrap();
    tw.flush().unwrap();
    let events: Vec<_> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event {
                level,
                message,
                fields,
                ..
            } => Some((level, message, fields)),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1);
    let (level, message, fields) = &events[0];
    assert_eq!(
        (*level, message.as_str()),
        (Level::Warn, "disk_full happened")
    );
    assert!(
        fields.contains(&("alertname".to_string(), Value::Str("disk_full".into()))),
        "{fields:?}"
    );
}

#[test]
fn pipeline_delivers_manual_and_rule_notifications_on_the_tick() {
    let (seen, sink) = recorder();
    let mut router = AlertRouter::new();
    router.route("all", SeverityFilter::all(), sink);
    let clock = Arc::new(ManualClock::new(t(0)));
    let manager = Arc::new(Alerts::new(AlertsConfig::default(), clock));
    let rule = Rule::new(
        "spread_wide",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    );
    let mut p = AlertPipeline::new(RuleEngine::new(vec![rule]).unwrap(), router)
        .with_manager(manager.clone());
    let _ = manager.send_alert(Alert::new("disk_full", Severity::Critical, ""));
    assert!(
        names(&seen).is_empty(),
        "nothing runs on the sender's thread"
    );
    let high = snapshot(vec![gauge("spread", &[], 0.09, &[0.09])]);
    assert_eq!(p.tick(&high, t(1)), 2);
    assert_eq!(names(&seen), vec!["disk_full", "spread_wide"]);
    assert_eq!(p.tick(&high, t(2)), 0);
    let _ = manager.resolve("disk_full", &[]);
    assert_eq!(p.finish(), 0);
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &("disk_full".to_string(), Transition::Resolved)
    );
    assert_eq!(p.engine().stats().firing, 1);
}
