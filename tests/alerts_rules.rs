//! The rule engine's state machine (inactive -> pending -> firing -> resolved) with the time
//! passed in, one notification per transition, one instance per matching series.

#[path = "common/snapshots.rs"]
mod snapshots;

use snapshots::*;
use std::time::Duration;
use tickwatch::alerts::*;

fn spread_rule(for_secs: u64) -> Rule {
    Rule::new(
        "spread_wide",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    )
    .for_(Duration::from_secs(for_secs))
    .severity(Severity::Critical)
    .label("team", "risk")
    .message("spread above 5 bp")
}

fn spread(venue: &str, v: f64) -> tickwatch::metrics::SeriesSnapshot {
    gauge("spread", &[("venue", venue)], v, &[v])
}

fn kinds(ns: &[Notification]) -> Vec<(Transition, Vec<(String, String)>)> {
    ns.iter()
        .map(|n| (n.transition, n.labels.clone()))
        .collect()
}

fn labels(l: &[(&str, &str)]) -> Vec<(String, String)> {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn pending_then_firing_after_for_then_resolved_once_each() {
    let mut e = RuleEngine::new(vec![spread_rule(30)]).unwrap();
    let high = snapshot(vec![spread("XNAS", 0.08)]);
    let low = snapshot(vec![spread("XNAS", 0.01)]);

    assert!(e.evaluate(&high, t(0)).is_empty(), "pending, not firing");
    assert_eq!(e.active()[0].state, AlertState::Pending);
    assert!(
        e.evaluate(&high, t(29)).is_empty(),
        "not firing before `for`"
    );
    let fired = e.evaluate(&high, t(30));
    assert_eq!(fired.len(), 1);
    let n = &fired[0];
    assert_eq!(n.transition, Transition::Firing);
    assert_eq!(n.name, "spread_wide");
    assert_eq!(n.severity, Severity::Critical);
    assert_eq!(n.message, "spread above 5 bp");
    assert_eq!(n.labels, labels(&[("team", "risk"), ("venue", "XNAS")]));
    assert_eq!(n.value, Some(0.08));
    assert_eq!(n.starts_at, t(30));
    assert_eq!(n.ends_at, None);
    assert_eq!(e.active()[0].state, AlertState::Firing);

    for s in 31..40 {
        assert!(
            e.evaluate(&high, t(s)).is_empty(),
            "still firing: no repeat"
        );
    }
    let resolved = e.evaluate(&low, t(40));
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].transition, Transition::Resolved);
    assert_eq!(
        resolved[0].id, n.id,
        "a resolve names the instance that fired"
    );
    assert_eq!(resolved[0].ends_at, Some(t(40)));
    assert_eq!(
        resolved[0].value,
        Some(0.08),
        "the last value that held the condition"
    );
    assert!(e.evaluate(&low, t(41)).is_empty(), "one resolve only");
    assert!(e.active().is_empty());
    let s = e.stats();
    assert_eq!(
        (s.notifications, s.pending, s.firing, s.evaluations),
        (2, 0, 0, 14)
    );
}

#[test]
fn pending_returns_to_inactive_silently_and_restarts_its_clock() {
    let mut e = RuleEngine::new(vec![spread_rule(10)]).unwrap();
    let high = snapshot(vec![spread("XNAS", 0.08)]);
    let low = snapshot(vec![spread("XNAS", 0.01)]);
    assert!(e.evaluate(&high, t(0)).is_empty());
    assert!(
        e.evaluate(&low, t(5)).is_empty(),
        "pending -> inactive: no notification"
    );
    assert!(e.active().is_empty());
    assert!(e.evaluate(&high, t(6)).is_empty());
    // 10 s after the first true tick but only 4 s after the current pending began.
    assert!(e.evaluate(&high, t(10)).is_empty());
    assert_eq!(e.evaluate(&high, t(16)).len(), 1);
}

#[test]
fn zero_for_fires_on_the_first_true_tick() {
    let mut e = RuleEngine::new(vec![spread_rule(0)]).unwrap();
    let fired = e.evaluate(&snapshot(vec![spread("XNAS", 0.08)]), t(0));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].transition, Transition::Firing);
}

#[test]
fn one_instance_per_matching_series_each_with_its_own_state() {
    let rule = spread_rule(0).label("venue", "override-not-applied-to-key");
    // Rule labels win over series tags of the same key; here keep the series' venue.
    let rule = Rule {
        labels: labels(&[("team", "risk")]),
        ..rule
    };
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    let s1 = snapshot(vec![
        spread("XNAS", 0.08),
        spread("XLON", 0.01),
        spread("XPAR", 0.09),
        gauge("other", &[("venue", "XNAS")], 9.0, &[9.0]),
    ]);
    let mut fired = kinds(&e.evaluate(&s1, t(0)));
    fired.sort();
    assert_eq!(
        fired,
        vec![
            (
                Transition::Firing,
                labels(&[("team", "risk"), ("venue", "XNAS")])
            ),
            (
                Transition::Firing,
                labels(&[("team", "risk"), ("venue", "XPAR")])
            ),
        ]
    );
    // XPAR recovers, XLON breaches, XNAS stays: one resolve, one firing.
    let s2 = snapshot(vec![
        spread("XNAS", 0.08),
        spread("XLON", 0.07),
        spread("XPAR", 0.0),
    ]);
    let mut next = kinds(&e.evaluate(&s2, t(1)));
    next.sort();
    assert_eq!(
        next,
        vec![
            (
                Transition::Firing,
                labels(&[("team", "risk"), ("venue", "XLON")])
            ),
            (
                Transition::Resolved,
                labels(&[("team", "risk"), ("venue", "XPAR")])
            ),
        ]
    );
    assert_eq!(e.stats().firing, 2);
}

#[test]
fn rule_labels_override_series_tags() {
    let rule = spread_rule(0).label("venue", "ALL");
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    let fired = e.evaluate(&snapshot(vec![spread("XNAS", 0.08)]), t(0));
    assert_eq!(
        fired[0].labels,
        labels(&[("team", "risk"), ("venue", "ALL")])
    );
}

#[test]
fn tag_matchers_select_series() {
    let rule = Rule::new(
        "nas_only",
        Expr::Gauge {
            selector: Selector::new("spread").tag("venue", "XNAS"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    );
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    let s = snapshot(vec![
        spread("XLON", 0.09),
        gauge("spread", &[("venue", "XNAS"), ("desk", "a")], 0.09, &[0.09]),
    ]);
    let fired = e.evaluate(&s, t(0));
    assert_eq!(
        fired.len(),
        1,
        "extra tags still match; other venues do not"
    );
    assert_eq!(fired[0].labels, labels(&[("desk", "a"), ("venue", "XNAS")]));
}

#[test]
fn a_firing_series_that_vanishes_or_loses_its_window_resolves() {
    let rule = Rule::new(
        "spread_max",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Max,
            op: Op::Ge,
            bound: 1.0,
        },
    );
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    assert_eq!(
        e.evaluate(
            &snapshot(vec![gauge("spread", &[], 1.0, &[0.5, 1.0, 0.2])]),
            t(0)
        )
        .len(),
        1
    );
    // No sample in the window: no data, the condition is false.
    let r = e.evaluate(&snapshot(vec![gauge("spread", &[], 1.0, &[])]), t(1));
    assert_eq!(kinds(&r), vec![(Transition::Resolved, vec![])]);
    assert_eq!(
        e.evaluate(&snapshot(vec![gauge("spread", &[], 1.0, &[2.0])]), t(2))
            .len(),
        1
    );
    let r = e.evaluate(&snapshot(vec![]), t(3));
    assert_eq!(
        kinds(&r),
        vec![(Transition::Resolved, vec![])],
        "series gone"
    );
}

#[test]
fn gauge_window_statistics() {
    let rule = |name: &str, stat| {
        Rule::new(
            name,
            Expr::Gauge {
                selector: Selector::new("g"),
                stat,
                op: Op::Lt,
                bound: 2.0,
            },
        )
    };
    let mut e = RuleEngine::new(vec![
        rule("min", GaugeStat::Min),
        rule("max", GaugeStat::Max),
        rule("mean", GaugeStat::Mean),
        rule("last", GaugeStat::Last),
    ])
    .unwrap();
    // min 1, max 4, mean 2.5, last 3.
    let fired = e.evaluate(
        &snapshot(vec![gauge("g", &[], 0.0, &[1.0, 4.0, 2.0, 3.0])]),
        t(0),
    );
    let names: Vec<&str> = fired.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["min"]);
}

#[test]
fn nan_never_satisfies_a_condition() {
    let mut e = RuleEngine::new(vec![spread_rule(0)]).unwrap();
    assert!(e
        .evaluate(&snapshot(vec![spread("XNAS", f64::NAN)]), t(0))
        .is_empty());
}

#[test]
fn counter_rate_rule() {
    let rule = Rule::new(
        "rejects_high",
        Expr::CounterRate {
            selector: Selector::new("rejects"),
            op: Op::Gt,
            bound: 5.0,
        },
    );
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    assert!(
        e.evaluate(&snapshot(vec![counter("rejects", &[], None)]), t(0))
            .is_empty(),
        "no window: no data"
    );
    assert!(e
        .evaluate(&snapshot(vec![counter("rejects", &[], Some(5))]), t(1))
        .is_empty());
    let f = e.evaluate(&snapshot(vec![counter("rejects", &[], Some(6))]), t(2));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].value, Some(6.0));
    // A gauge of the same name is another kind: ignored, so the counter's absence resolves.
    let r = e.evaluate(
        &snapshot(vec![gauge("rejects", &[], 100.0, &[100.0])]),
        t(3),
    );
    assert_eq!(r[0].transition, Transition::Resolved);
}

#[test]
fn latency_percentile_rule_window_and_total() {
    let rule = |name: &str, horizon| {
        Rule::new(
            name,
            Expr::Latency {
                selector: Selector::new("rt"),
                stat: LatencyStat::P99,
                horizon,
                above: Duration::from_micros(250),
            },
        )
    };
    let mut e = RuleEngine::new(vec![
        rule("win", Horizon::Window),
        rule("tot", Horizon::Total),
    ])
    .unwrap();
    let f = e.evaluate(
        &snapshot(vec![latency("rt", &[], Some(300_000), 100_000)]),
        t(0),
    );
    assert_eq!(
        f.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        vec!["win"]
    );
    assert_eq!(f[0].value, Some(300_000.0));
    // Exactly at the bound is not above it; no window sample: no data.
    let f = e.evaluate(&snapshot(vec![latency("rt", &[], None, 250_001)]), t(1));
    let mut got: Vec<_> = f.iter().map(|n| (n.name.as_str(), n.transition)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![("tot", Transition::Firing), ("win", Transition::Resolved)]
    );
    let f = e.evaluate(
        &snapshot(vec![latency("rt", &[], Some(250_000), 250_000)]),
        t(2),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].name.as_str(), f[0].transition),
        ("tot", Transition::Resolved)
    );
}

#[test]
fn absent_rule_missing_series_and_empty_window() {
    let rule = Rule::new(
        "feed_silent",
        Expr::Absent {
            selector: Selector::new("ticks").tag("venue", "XNAS"),
        },
    )
    .for_(Duration::from_secs(5))
    .label("team", "md");
    let mut e = RuleEngine::new(vec![rule]).unwrap();
    let ticks = |w: Option<u64>| counter("ticks", &[("venue", "XNAS")], w);
    // Before the first rollover a series that exists counts as present.
    assert!(e
        .evaluate(&early_snapshot(vec![ticks(None)]), t(0))
        .is_empty());
    assert!(e.evaluate(&snapshot(vec![ticks(Some(3))]), t(1)).is_empty());
    // Missing (another venue does not count): pending, then firing after 5 s.
    let other = counter("ticks", &[("venue", "XLON")], Some(3));
    assert!(e.evaluate(&snapshot(vec![other.clone()]), t(2)).is_empty());
    let f = e.evaluate(&snapshot(vec![other]), t(7));
    assert_eq!(
        kinds(&f),
        vec![(
            Transition::Firing,
            labels(&[("team", "md"), ("venue", "XNAS")])
        )]
    );
    assert_eq!(f[0].value, None);
    // Present but silent for the window: still absent, nothing new.
    assert!(e.evaluate(&snapshot(vec![ticks(Some(0))]), t(8)).is_empty());
    let r = e.evaluate(&snapshot(vec![ticks(Some(1))]), t(9));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].transition, Transition::Resolved);
}

#[test]
fn instance_cap_refuses_and_counts() {
    let mut e = RuleEngine::new(vec![spread_rule(0)])
        .unwrap()
        .with_max_instances(2);
    let s = snapshot(vec![spread("A", 1.0), spread("B", 1.0), spread("C", 1.0)]);
    assert_eq!(e.evaluate(&s, t(0)).len(), 2);
    assert_eq!(e.stats().instances_refused, 1);
    // A recovers: its slot frees at the end of this tick, so C gets an instance on the next.
    let s2 = snapshot(vec![spread("A", 0.0), spread("B", 1.0), spread("C", 1.0)]);
    let r = kinds(&e.evaluate(&s2, t(1)));
    assert_eq!(
        r,
        vec![(
            Transition::Resolved,
            labels(&[("team", "risk"), ("venue", "A")])
        )]
    );
    let f = kinds(&e.evaluate(&s2, t(2)));
    assert_eq!(
        f,
        vec![(
            Transition::Firing,
            labels(&[("team", "risk"), ("venue", "C")])
        )]
    );
    assert_eq!(e.stats().firing, 2);
}

#[test]
fn engine_validates_rules_in_code_and_names_the_bad_one() {
    let bad = Rule::new(
        "bad_bound",
        Expr::Gauge {
            selector: Selector::new("x"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: f64::NAN,
        },
    );
    let err = RuleEngine::new(vec![spread_rule(0), bad]).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(err.rule, "bad_bound");
    assert_eq!(err.problem, RuleProblem::NonFiniteBound);
    assert!(err.to_string().contains("bad_bound"), "{err}");
    let empty = Rule::new(
        "",
        Expr::Absent {
            selector: Selector::new("x"),
        },
    );
    assert_eq!(
        RuleEngine::new(vec![empty]).unwrap_err().problem,
        RuleProblem::BadName
    );
}

#[test]
fn active_alerts_serialize() {
    let mut e = RuleEngine::new(vec![spread_rule(60)]).unwrap();
    let _ = e.evaluate(&snapshot(vec![spread("XNAS", 0.08)]), t(0));
    let json = serde_json::to_string(&e.active()).unwrap();
    assert!(json.contains(r#""state":"pending""#), "{json}");
    assert!(json.contains(r#""source":"rule""#), "{json}");
}

#[test]
fn replacing_rules_keeps_unchanged_ones_and_resolves_the_rest() {
    let other = Rule::new(
        "other",
        Expr::Absent {
            selector: Selector::new("ticks"),
        },
    );
    let mut e = RuleEngine::new(vec![spread_rule(0), other.clone()]).unwrap();
    let s = snapshot(vec![spread("XNAS", 0.08)]);
    assert_eq!(e.evaluate(&s, t(0)).len(), 2);
    // Same spread rule, changed `other` rule: only `other` resolves.
    let changed = other.severity(Severity::Critical);
    let r = e
        .replace_rules(vec![changed, spread_rule(0)], t(1))
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].name.as_str(), r[0].transition),
        ("other", Transition::Resolved)
    );
    // The kept instance does not fire again; the changed rule fires anew.
    let f = e.evaluate(&s, t(2));
    assert_eq!(
        f.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        vec!["other"]
    );
    assert_eq!(f[0].severity, Severity::Critical);
    // A bad set changes nothing.
    let bad = Rule::new(
        "",
        Expr::Absent {
            selector: Selector::new("x"),
        },
    );
    assert!(e.replace_rules(vec![bad], t(3)).is_err());
    assert_eq!(e.stats().firing, 2);
}
