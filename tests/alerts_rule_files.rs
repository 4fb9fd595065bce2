//! Rule files (TOML and JSON): every kind loads to the rule written in code; every kind of
//! mistake is refused with an error naming the rule.

use std::time::Duration;
use tickwatch::alerts::*;

const TOML: &str = r#"
[[rules]]
name = "spread_wide"
kind = "gauge"
series = "spread"
tags = { venue = "XNAS" }
stat = "max"
op = ">="
bound = 0.05
for = "30s"
severity = "critical"
message = "spread above 5 bp"
labels = { team = "risk", desk = "eq" }
annotations = { runbook = "https://wiki/spread" }

[[rules]]
name = "rejects_high"
kind = "counter_rate"
series = "rejects"
op = ">"
bound = 5

[[rules]]
name = "order_slow"
kind = "latency"
series = "order_roundtrip"
stat = "p999"
over = "total"
above = "1.5ms"
severity = "info"

[[rules]]
name = "feed_silent"
kind = "absent"
series = "ticks"
for = "5m"
"#;

fn expected() -> Vec<Rule> {
    vec![
        Rule::new(
            "spread_wide",
            Expr::Gauge {
                selector: Selector::new("spread").tag("venue", "XNAS"),
                stat: GaugeStat::Max,
                op: Op::Ge,
                bound: 0.05,
            },
        )
        .for_(Duration::from_secs(30))
        .severity(Severity::Critical)
        .message("spread above 5 bp")
        .label("desk", "eq")
        .label("team", "risk")
        .annotation("runbook", "https://wiki/spread"),
        Rule::new(
            "rejects_high",
            Expr::CounterRate {
                selector: Selector::new("rejects"),
                op: Op::Gt,
                bound: 5.0,
            },
        ),
        Rule::new(
            "order_slow",
            Expr::Latency {
                selector: Selector::new("order_roundtrip"),
                stat: LatencyStat::P999,
                horizon: Horizon::Total,
                above: Duration::from_micros(1500),
            },
        )
        .severity(Severity::Info),
        Rule::new(
            "feed_silent",
            Expr::Absent {
                selector: Selector::new("ticks"),
            },
        )
        .for_(Duration::from_secs(300)),
    ]
}

#[test]
fn toml_loads_every_kind() {
    assert_eq!(load_rules_toml(TOML).unwrap(), expected());
}

#[test]
fn json_loads_the_same_rules() {
    let json = r#"{"rules": [
      {"name": "spread_wide", "kind": "gauge", "series": "spread", "tags": {"venue": "XNAS"},
       "stat": "max", "op": ">=", "bound": 0.05, "for": "30s", "severity": "critical",
       "message": "spread above 5 bp", "labels": {"team": "risk", "desk": "eq"},
       "annotations": {"runbook": "https://wiki/spread"}},
      {"name": "rejects_high", "kind": "counter_rate", "series": "rejects", "op": ">", "bound": 5},
      {"name": "order_slow", "kind": "latency", "series": "order_roundtrip", "stat": "p999",
       "over": "total", "above": "1.5ms", "severity": "info"},
      {"name": "feed_silent", "kind": "absent", "series": "ticks", "for": "5m"}
    ]}"#;
    assert_eq!(load_rules_json(json).unwrap(), expected());
}

/// A one-rule TOML document named `bad` with `body` as its other fields.
fn one(body: &str) -> Result<Vec<Rule>, LoadRulesError> {
    load_rules_toml(&format!("[[rules]]\nname = \"bad\"\n{body}"))
}

fn problem(body: &str) -> RuleProblem {
    match one(body) {
        Err(LoadRulesError::Invalid(e)) => {
            assert_eq!(e.rule, "bad");
            assert!(e.to_string().contains("rule `bad`"), "{e}");
            e.problem
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn validation_errors_name_the_rule_and_the_fix() {
    let gauge = "kind = \"gauge\"\nseries = \"s\"\n";
    assert_eq!(
        problem(&format!("{gauge}op = \"=>\"\nbound = 1")),
        RuleProblem::BadValue {
            field: "op",
            got: "=>".into(),
            expected: "one of >, >=, <, <="
        }
    );
    assert_eq!(
        problem(&format!("{gauge}op = \">\"")),
        RuleProblem::Missing { field: "bound" }
    );
    assert_eq!(
        problem(&format!("{gauge}bound = 1.0")),
        RuleProblem::Missing { field: "op" }
    );
    assert_eq!(
        problem(&format!("{gauge}op = \">\"\nbound = 1\nabove = \"1ms\"")),
        RuleProblem::NotAllowed { field: "above" }
    );
    assert!(matches!(
        problem(&format!(
            "{gauge}op = \">\"\nbound = 1\nfor = \"5 parsecs\""
        )),
        RuleProblem::BadValue { field: "for", .. }
    ));
    assert!(matches!(
        problem(&format!(
            "{gauge}op = \">\"\nbound = 1\nseverity = \"page\""
        )),
        RuleProblem::BadValue {
            field: "severity",
            ..
        }
    ));
    assert!(matches!(
        problem(&format!("{gauge}stat = \"p99\"\nop = \">\"\nbound = 1")),
        RuleProblem::BadValue { field: "stat", .. }
    ));
    assert!(matches!(
        problem("kind = \"gauge\"\nseries = \"\"\nop = \">\"\nbound = 1"),
        RuleProblem::BadSeries
    ));
    assert_eq!(
        problem("kind = \"histogram\"\nseries = \"s\""),
        RuleProblem::UnknownKind {
            got: "histogram".into()
        }
    );
    assert_eq!(
        problem("kind = \"latency\"\nseries = \"s\"\nstat = \"p99\""),
        RuleProblem::Missing { field: "above" }
    );
    assert_eq!(
        problem("kind = \"absent\"\nseries = \"s\"\nop = \">\""),
        RuleProblem::NotAllowed { field: "op" }
    );
    assert!(matches!(
        problem("kind = \"latency\"\nseries = \"s\"\nstat = \"p99\"\nabove = \"fast\""),
        RuleProblem::BadValue { field: "above", .. }
    ));
}

#[test]
fn the_failing_rule_is_named_by_position_too() {
    let text = format!("{TOML}\n[[rules]]\nname = \"late\"\nkind = \"absent\"\nseries = \"\"\n");
    match load_rules_toml(&text) {
        Err(LoadRulesError::Invalid(e)) => {
            assert_eq!((e.index, e.rule.as_str()), (4, "late"));
            assert!(e.to_string().contains("rules[4]"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn structural_errors_come_from_the_parser_with_a_location() {
    // Unknown field (deny_unknown_fields), in TOML and JSON.
    match one("kind = \"absent\"\nseries = \"s\"\nthreshold = 3") {
        Err(LoadRulesError::Toml(e)) => assert!(e.to_string().contains("threshold"), "{e}"),
        other => panic!("{other:?}"),
    }
    match load_rules_json(
        r#"{"rules": [{"name": "x", "kind": "absent", "series": "s", "fo": "1s"}]}"#,
    ) {
        Err(LoadRulesError::Json(e)) => assert!(e.to_string().contains("fo"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Wrong type, missing required field, unknown top-level key.
    assert!(matches!(
        one("kind = \"gauge\"\nseries = \"s\"\nop = \">\"\nbound = \"high\""),
        Err(LoadRulesError::Toml(_))
    ));
    assert!(matches!(
        one("kind = \"absent\""),
        Err(LoadRulesError::Toml(_))
    ));
    assert!(matches!(
        load_rules_toml("[alerts]\n"),
        Err(LoadRulesError::Toml(_))
    ));
    assert!(matches!(
        load_rules_json("[1, 2"),
        Err(LoadRulesError::Json(_))
    ));
}

#[test]
fn an_empty_file_has_no_rules() {
    assert_eq!(load_rules_toml("").unwrap(), vec![]);
    assert_eq!(load_rules_json("{}").unwrap(), vec![]);
}

#[test]
fn durations() {
    let cases = [
        ("0", Some(Duration::ZERO)),
        ("15ns", Some(Duration::from_nanos(15))),
        ("250us", Some(Duration::from_micros(250))),
        ("250µs", Some(Duration::from_micros(250))),
        ("1.5ms", Some(Duration::from_micros(1500))),
        ("30s", Some(Duration::from_secs(30))),
        ("5m", Some(Duration::from_secs(300))),
        ("2h", Some(Duration::from_secs(7200))),
        ("", None),
        ("5", None),
        ("s", None),
        (".5s", None),
        ("-1s", None),
        ("1d", None),
        ("1e400s", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), want, "{text:?}");
    }
}
