//! The Prometheus text exposition: hostile names and values through promtool and our own
//! checker, the naming rules, and the conflict rule.

mod prometheus_support;

use prometheus_support::{check, counter, gauge, latency, promtool, snapshot};
use tickwatch::export::{
    render_prometheus_string, PrometheusRenderer, CONFLICTS_METRIC, REFUSED_SERIES_METRIC,
};
use tickwatch::metrics::SeriesKind;
use tickwatch::metrics::{Bucket, Description, SeriesValue, Unit};

/// tickwatch's own families: conflicts, refused series and the five `OWN_COUNTERS`.
const OWN_FAMILIES: usize = 7;
/// Their samples in a snapshot with no collector CPU reading (that counter is header-only).
const OWN_SAMPLES: usize = 6;

const BOUNDS: [f64; 5] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];

fn hostile() -> tickwatch::metrics::Snapshot {
    let samples = [500, 2_000, 2_000, 40_000, 900_000, 5_000_000, 70_000_000];
    snapshot(vec![
        counter("orders_filled", &[("venue", "XNAS")], 42),
        counter(
            "orders_filled",
            &[("venue", "quote\"back\\slash\nnewline")],
            7,
        ),
        counter("orders_filled", &[("venue", "ünïcödé 日本 🚀")], 1),
        counter("already_total", &[], 3),
        counter("2fast", &[("", "empty key")], 5),
        counter("", &[("k", "")], 9),
        counter("weird name\"\\\n", &[("key with spaces", "v")], 2),
        gauge("position", &[("book", "a")], SeriesKind::Metric, -1.5),
        gauge("position", &[("book", "b")], SeriesKind::Metric, f64::NAN),
        gauge(
            "position",
            &[("book", "c")],
            SeriesKind::Metric,
            f64::INFINITY,
        ),
        gauge(
            "position",
            &[("book", "d")],
            SeriesKind::Metric,
            f64::NEG_INFINITY,
        ),
        gauge(
            "cpu.use%",
            &[("__internal", "x"), ("9lives", "y")],
            SeriesKind::Resource,
            0.25,
        ),
        gauge("latência", &[("é", "ç")], SeriesKind::Metric, 1e300),
        latency("order_rtt", &[("venue", "XNAS")], &samples, &BOUNDS),
        latency(
            "order_rtt",
            &[("venue", "new\nline")],
            &samples[..3],
            &BOUNDS,
        ),
        latency("fill_seconds", &[], &[], &BOUNDS),
        latency("no_buckets", &[], &samples, &[]),
        // Duplicates after sanitizing: each of these is left out as a conflict.
        counter("orders-filled", &[("venue", "XNAS")], 1000),
        gauge("orders_filled_total", &[], SeriesKind::Metric, 1.0),
        gauge("order_rtt_seconds_count", &[], SeriesKind::Metric, 1.0),
        gauge(
            "position",
            &[("book", "a"), ("book", "z")],
            SeriesKind::Metric,
            2.0,
        ),
    ])
}

#[test]
#[ignore = "needs promtool (apt install prometheus); .ci/run runs it with --ignored"]
fn hostile_snapshot_passes_promtool_without_lint_problems() {
    let text = render_prometheus_string(&hostile());
    if std::env::var_os("DUMP_EXPOSITION").is_some() {
        eprintln!("{text}");
    }
    let (code, output) = promtool(&text);
    assert_eq!(
        code, 0,
        "promtool check metrics failed:\n{output}\n---\n{text}"
    );
    assert!(
        output.trim().is_empty(),
        "promtool reported:\n{output}\n---\n{text}"
    );
}

#[test]
fn hostile_snapshot_passes_our_checks() {
    let text = render_prometheus_string(&hostile());
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    // Escaping round-trips exactly, UTF-8 included.
    assert_eq!(
        ex.find(
            "orders_filled_total",
            &[("venue", "quote\"back\\slash\nnewline")]
        ),
        Some(7.0)
    );
    assert_eq!(
        ex.find("orders_filled_total", &[("venue", "ünïcödé 日本 🚀")]),
        Some(1.0)
    );
    assert_eq!(
        ex.find("order_rtt_seconds_count", &[("venue", "new\nline")]),
        Some(3.0)
    );
    // Names: `_total` not doubled, leading digit, empty name, empty key, empty value.
    assert_eq!(ex.find("already_total", &[]), Some(3.0));
    assert_eq!(ex.find("_2fast_total", &[("_", "empty key")]), Some(5.0));
    assert_eq!(ex.find("unnamed_total", &[]), Some(9.0));
    assert_eq!(
        ex.find("weird_name____total", &[("key_with_spaces", "v")]),
        Some(2.0)
    );
    assert_eq!(
        ex.find("cpu_use_", &[("_internal", "x"), ("_9lives", "y")]),
        Some(0.25)
    );
    assert_eq!(ex.find("lat_ncia", &[("_", "ç")]), Some(1e300));
    assert!(ex.find("position", &[("book", "b")]).unwrap().is_nan());
    assert_eq!(ex.find("position", &[("book", "c")]), Some(f64::INFINITY));
    assert_eq!(
        ex.find("position", &[("book", "d")]),
        Some(f64::NEG_INFINITY)
    );
    // Types and help (the original name, escaped).
    assert_eq!(ex.types["orders_filled_total"], "counter");
    assert_eq!(ex.types["position"], "gauge");
    assert_eq!(ex.types["order_rtt_seconds"], "histogram");
    assert_eq!(ex.types["fill_seconds"], "histogram");
    assert!(ex.help["weird_name____total"].ends_with("weird name\"\\\n"));
    // Three conflicts: two duplicate series and one repeated label name (whose series then
    // duplicates `position{book="a"}`). Gauges named like a counter or a histogram's samples
    // are renamed, not left out.
    assert_eq!(ex.find(CONFLICTS_METRIC, &[]), Some(3.0));
    assert_eq!(ex.find("orders_filled_total_value", &[]), Some(1.0));
    assert_eq!(ex.find("order_rtt_seconds_count_value", &[]), Some(1.0));
    assert_eq!(
        ex.find("orders_filled_total", &[("venue", "XNAS")]),
        Some(42.0)
    );
    assert_eq!(ex.find("position", &[("book", "a")]), Some(-1.5));
    assert_eq!(ex.find("order_rtt_seconds_count", &[]), None);
}

#[test]
fn histograms_are_cumulative_seconds_with_inf_equal_to_count() {
    let samples = [500, 2_000, 2_000, 40_000, 900_000, 5_000_000, 70_000_000];
    let text = render_prometheus_string(&snapshot(vec![latency(
        "rt",
        &[("v", "a")],
        &samples,
        &BOUNDS,
    )]));
    let ex = check(&text).unwrap();
    let b = |le: &str| ex.find("rt_seconds_bucket", &[("v", "a"), ("le", le)]);
    assert_eq!(b("1e-6"), Some(1.0), "{text}");
    assert_eq!(b("0.00001"), Some(3.0));
    assert_eq!(b("0.0001"), Some(4.0));
    assert_eq!(b("0.001"), Some(5.0));
    assert_eq!(b("0.01"), Some(6.0));
    assert_eq!(b("+Inf"), Some(7.0));
    assert_eq!(ex.find("rt_seconds_count", &[("v", "a")]), Some(7.0));
    let sum = ex.find("rt_seconds_sum", &[("v", "a")]).unwrap();
    assert!((sum - 0.075_944_5).abs() < 1e-12, "{sum}");
}

#[test]
fn inconsistent_buckets_are_repaired_not_copied() {
    let mut s = latency("rt", &[], &[1_000, 2_000, 3_000], &[]);
    if let SeriesValue::Latency(l) = &mut s.value {
        l.buckets = vec![
            Bucket {
                le_secs: 2e-6,
                cumulative: 2,
            },
            Bucket {
                le_secs: f64::NAN,
                cumulative: 1,
            },
            Bucket {
                le_secs: 1e-6,
                cumulative: 1,
            }, // not above the previous bound
            Bucket {
                le_secs: 3e-6,
                cumulative: 1,
            }, // decreasing count
            Bucket {
                le_secs: 4e-6,
                cumulative: 99,
            }, // above the total
            Bucket {
                le_secs: f64::INFINITY,
                cumulative: 5,
            },
        ];
    }
    let text = render_prometheus_string(&snapshot(vec![s]));
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let les: Vec<_> = ex
        .samples
        .iter()
        .filter(|s| s.name == "rt_seconds_bucket")
        .map(|s| (s.labels[0].1.clone(), s.value))
        .collect();
    assert_eq!(
        les,
        [
            ("2e-6".into(), 2.0),
            ("3e-6".into(), 2.0),
            ("4e-6".into(), 3.0),
            ("+Inf".into(), 3.0)
        ]
    );
}

#[test]
fn first_registered_wins_on_a_type_clash_in_either_order() {
    // A gauge in seconds and a latency both want `x_seconds`.
    let a = snapshot(vec![
        latency("x", &[], &[1_000], &[]),
        gauge("x_seconds", &[], SeriesKind::Metric, 2.0),
    ]);
    let b = snapshot(vec![
        gauge("x_seconds", &[], SeriesKind::Metric, 2.0),
        latency("x", &[], &[1_000], &[]),
    ]);
    let ea = check(&render_prometheus_string(&a)).unwrap();
    let eb = check(&render_prometheus_string(&b)).unwrap();
    assert_eq!(ea.types["x_seconds"], "histogram");
    assert_eq!(ea.find("x_seconds_count", &[]), Some(1.0));
    assert_eq!(eb.types["x_seconds"], "gauge");
    assert_eq!(eb.find("x_seconds", &[]), Some(2.0));
    assert_eq!(ea.find(CONFLICTS_METRIC, &[]), Some(1.0));
    assert_eq!(eb.find(CONFLICTS_METRIC, &[]), Some(1.0));
}

#[test]
fn histogram_sample_names_are_never_taken_by_gauges() {
    for series in [
        vec![
            latency("h", &[], &[1], &[]),
            gauge("h_seconds_count", &[], SeriesKind::Metric, 1.0),
        ],
        vec![
            gauge("h_seconds_count", &[], SeriesKind::Metric, 1.0),
            latency("h", &[], &[1], &[]),
        ],
        vec![
            gauge("h_seconds_bucket", &[], SeriesKind::Metric, 1.0),
            latency("h", &[], &[1], &[]),
        ],
    ] {
        let text = render_prometheus_string(&snapshot(series));
        let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The gauge is renamed (`_value`), so both are exported.
        assert_eq!(ex.find(CONFLICTS_METRIC, &[]), Some(0.0), "{text}");
        assert_eq!(ex.find("h_seconds_count", &[]), Some(1.0), "{text}");
        assert_eq!(ex.types.len(), 2 + OWN_FAMILIES, "{text}");
    }
}

#[test]
fn own_names_are_reserved_and_refused_series_exported() {
    let mut s = snapshot(vec![
        gauge(CONFLICTS_METRIC, &[], SeriesKind::Metric, 5.0),
        counter(REFUSED_SERIES_METRIC, &[], 5),
        counter("tickwatch_series_refused", &[("a", "b")], 5),
    ]);
    s.refused_series = 12;
    let text = render_prometheus_string(&s);
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(ex.find(CONFLICTS_METRIC, &[]), Some(3.0), "{text}");
    assert_eq!(ex.find(REFUSED_SERIES_METRIC, &[]), Some(12.0));
    assert_eq!(ex.samples.len(), OWN_SAMPLES);
}

#[test]
fn own_totals_are_counters() {
    let mut s = snapshot(vec![]);
    s.totals.accepted = 10;
    s.totals.dropped = 2;
    s.totals.delivered = 9;
    s.totals.sink_errors = 1;
    s.totals.collector_cpu_secs = Some(0.25);
    let text = render_prometheus_string(&s);
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for (name, value) in [
        ("tickwatch_records_accepted_total", 10.0),
        ("tickwatch_records_dropped_total", 2.0),
        ("tickwatch_records_delivered_total", 9.0),
        ("tickwatch_sink_errors_total", 1.0),
        ("tickwatch_collector_cpu_seconds_total", 0.25),
    ] {
        assert_eq!(ex.types[name], "counter", "{text}");
        assert_eq!(ex.find(name, &[]), Some(value), "{text}");
    }
}

#[test]
fn a_description_gives_help_and_unit() {
    let mut s = snapshot(vec![
        gauge("queue", &[], SeriesKind::Metric, 3.0),
        counter("sent", &[], 4),
    ]);
    s.descriptions = vec![
        Description {
            name: "queue".into(),
            help: "bytes waiting\nto be sent".into(),
            unit: Some(Unit::Bytes),
        },
        Description {
            name: "sent".into(),
            help: "bytes sent".into(),
            unit: Some(Unit::Bytes),
        },
    ];
    let text = render_prometheus_string(&s);
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(ex.find("queue_bytes", &[]), Some(3.0), "{text}");
    assert_eq!(ex.find("sent_bytes_total", &[]), Some(4.0), "{text}");
    assert!(
        text.contains("# HELP queue_bytes bytes waiting\\nto be sent\n"),
        "{text}"
    );
    assert!(
        text.contains("# HELP sent_bytes_total bytes sent\n"),
        "{text}"
    );
}

#[test]
fn le_and_quantile_tags_are_renamed_and_repeated_label_names_left_out() {
    let text = render_prometheus_string(&snapshot(vec![
        latency("h", &[("le", "5"), ("v", "1")], &[1], &[]),
        gauge(
            "g",
            &[("le", "5"), ("quantile", "0.5")],
            SeriesKind::Metric,
            1.0,
        ),
        counter("c", &[("a.b", "first"), ("a-b", "second")], 1),
    ]));
    let ex = check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        ex.find("h_seconds_count", &[("exported_le", "5"), ("v", "1")]),
        Some(1.0)
    );
    assert_eq!(
        ex.find("g", &[("exported_le", "5"), ("exported_quantile", "0.5")]),
        Some(1.0)
    );
    assert_eq!(ex.find("c_total", &[("a_b", "first")]), Some(1.0));
    assert_eq!(ex.find(CONFLICTS_METRIC, &[]), Some(1.0));
}

#[test]
fn families_are_contiguous_whatever_the_registration_order() {
    let text = render_prometheus_string(&snapshot(vec![
        counter("a", &[("n", "1")], 1),
        counter("b", &[], 1),
        counter("a", &[("n", "2")], 2),
    ]));
    check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let a_lines: Vec<_> = text.lines().filter(|l| l.starts_with("a_total")).collect();
    assert_eq!(a_lines, ["a_total{n=\"1\"} 1", "a_total{n=\"2\"} 2"]);
}

#[test]
fn a_reused_renderer_writes_the_same_text() {
    let snap = hostile();
    let mut r = PrometheusRenderer::new();
    let (mut a, mut b) = (String::new(), String::new());
    let first = r.render(&snap, &mut a);
    let second = r.render(&snap, &mut b);
    assert_eq!(a, b);
    assert_eq!(first, second);
    assert_eq!(first.conflicts, 3);
    assert_eq!(first.series, snap.series.len() - 2);
}

#[test]
fn an_empty_snapshot_renders_only_tickwatchs_own_families() {
    let text = render_prometheus_string(&snapshot(vec![]));
    let ex = check(&text).unwrap();
    assert_eq!(ex.samples.len(), OWN_SAMPLES);
    assert_eq!(ex.types.len(), OWN_FAMILIES);
}

#[test]
#[ignore = "needs promtool (apt install prometheus); .ci/run runs it with --ignored"]
fn an_empty_snapshot_passes_promtool() {
    let text = render_prometheus_string(&snapshot(vec![]));
    let (code, out) = promtool(&text);
    assert_eq!(code, 0, "{out}");
}

/// Names built from the words promtool's lint rules look for (types, abbreviated and
/// non-base units, reserved suffixes and labels, camelCase, colons), in every kind.
fn lint_bait() -> tickwatch::metrics::Snapshot {
    const WORDS: [&str; 40] = [
        "orders",
        "total",
        "bucket",
        "sum",
        "count",
        "counter",
        "gauge",
        "histogram",
        "summary",
        "s",
        "ms",
        "us",
        "ns",
        "sec",
        "b",
        "kb",
        "mb",
        "gb",
        "tb",
        "pb",
        "m",
        "h",
        "d",
        "milliseconds",
        "minutes",
        "kilobytes",
        "bits",
        "inches",
        "fahrenheit",
        "millicelsius",
        "kelvins",
        "seconds",
        "bytes",
        "orderRtt",
        "HTTPCode",
        "a:b",
        "le",
        "quantile",
        "_",
        "9lives",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        // xorshift64*: deterministic, so a failure reproduces.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    let mut series = Vec::new();
    for i in 0..3_000 {
        let words = 1 + next(4);
        let name: Vec<&str> = (0..words).map(|_| WORDS[next(WORDS.len())]).collect();
        let name = name.join(if next(3) == 0 { "" } else { "_" });
        let key = WORDS[next(WORDS.len())];
        let tags = [(key, "v")];
        series.push(match i % 4 {
            0 => counter(&name, &tags, 1),
            1 => gauge(&name, &tags, SeriesKind::Metric, 1.0),
            2 => gauge(&name, &tags, SeriesKind::Resource, 2.0),
            _ => latency(&name, &tags, &[1_000, 2_000_000], &BOUNDS),
        });
    }
    snapshot(series)
}

#[test]
fn lint_bait_passes_our_checks() {
    let text = render_prometheus_string(&lint_bait());
    check(&text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "needs promtool (apt install prometheus); .ci/run runs it with --ignored"]
fn lint_bait_passes_promtool_without_lint_problems() {
    let text = render_prometheus_string(&lint_bait());
    let (code, output) = promtool(&text);
    assert_eq!(code, 0, "promtool check metrics failed:\n{output}");
    assert!(output.trim().is_empty(), "promtool reported:\n{output}");
}
