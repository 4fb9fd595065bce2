//! The configuration file: every example parses; every unknown key, wrong type and
//! out-of-range value is refused with the key and its line; environment overrides; the
//! round trip; `tickwatch-log check-config`.

use std::process::Command;
use std::time::Duration;

use tickwatch::{Backpressure, Config, ConfigSource, Level};

#[path = "common/temp.rs"]
mod temp;

const EXAMPLE: &str = include_str!("../examples/tickwatch.toml");

#[test]
fn the_annotated_example_parses_and_says_what_it_sets() {
    let c = Config::from_toml(EXAMPLE).unwrap();
    assert_eq!(c.pipeline.level, Level::Info);
    assert_eq!(c.pipeline.backpressure, Backpressure::Block);
    assert_eq!(c.pipeline.ring_capacity, 256 * 1024);
    assert_eq!(c.pipeline.flush_interval, Duration::from_millis(100));
    assert_eq!(c.monitoring.resource_interval, Some(Duration::from_secs(1)));
    // The [otlp] section is there with its endpoint commented out: no export.
    assert_eq!(c.otlp.endpoint, None);
    let with_otlp = EXAMPLE.replace("# endpoint = ", "endpoint = ");
    let c = Config::from_toml(&with_otlp).unwrap();
    assert_eq!(c.otlp.endpoint.as_deref(), Some("http://127.0.0.1:4318"));
    assert_eq!(c.otlp.interval, Duration::from_secs(10));
    assert_eq!(c.otlp.timeout, Duration::from_secs(5));
}

#[test]
fn the_otlp_section_and_its_override() {
    use tickwatch::export::otlp_section::{Compression, Protocol};
    let text = "[otlp]\nendpoint = \"http://c:4318\"\nprotocol = \"http/json\"\n\
                compression = \"gzip\"\ninterval = \"15s\"\ntimeout = \"2s\"\n\
                headers = { \"x-api-key\" = \"k\" }\n";
    let c = Config::from_toml(text).unwrap();
    assert_eq!(c.otlp.endpoint.as_deref(), Some("http://c:4318"));
    assert_eq!(c.otlp.protocol, Protocol::HttpJson);
    assert_eq!(c.otlp.compression, Compression::Gzip);
    assert_eq!(c.otlp.interval, Duration::from_secs(15));
    assert_eq!(c.otlp.timeout, Duration::from_secs(2));
    assert_eq!(
        c.otlp.headers.get("x-api-key").map(String::as_str),
        Some("k")
    );
    assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    let env = [("TICKWATCH_OTLP__ENDPOINT", "http://other:4318")];
    let c = Config::from_toml_with_env(text, env).unwrap();
    assert_eq!(c.otlp.endpoint.as_deref(), Some("http://other:4318"));
}

/// (file, the key the error must name, its line, a word the message must contain).
const REFUSED: &[(&str, &str, usize, &str)] = &[
    (
        "[pipline]\nlevel = \"info\"\n",
        "pipline",
        1,
        "unknown field",
    ),
    (
        "[pipeline]\nring_capacty = 65536\n",
        "pipeline.ring_capacty",
        2,
        "unknown field",
    ),
    (
        "# comment\n[pipeline]\nlevel = \"info\"\nring_capacity = \"big\"\n",
        "pipeline.ring_capacity",
        4,
        "invalid type",
    ),
    (
        "[pipeline]\nlevel = \"loud\"\n",
        "pipeline.level",
        2,
        "unknown variant",
    ),
    (
        "[pipeline]\nbackpressure = \"spill\"\n",
        "pipeline.backpressure",
        2,
        "unknown variant",
    ),
    (
        "[pipeline]\nflush_interval = \"fast\"\n",
        "pipeline.flush_interval",
        2,
        "",
    ),
    (
        "[pipeline]\nring_capacity = 100\n",
        "pipeline.ring_capacity",
        2,
        "power of two",
    ),
    (
        "[pipeline]\nlevel = \"info\"\nflush_interval = \"0s\"\n",
        "pipeline.flush_interval",
        3,
        "flush_interval",
    ),
    (
        "[pipeline]\nmax_series = 0\n",
        "pipeline.max_series",
        2,
        "max_series",
    ),
    (
        "[monitoring]\nresource_intervl = \"1s\"\n",
        "monitoring.resource_intervl",
        2,
        "unknown field",
    ),
    (
        "[monitoring]\nbudget = { monitoring_cpu_ratio = 0.05, bogus = 1 }\n",
        "monitoring.budget.bogus",
        2,
        "unknown field",
    ),
    (
        "[alerts]\nper_nam = 3\n",
        "alerts.per_nam",
        2,
        "unknown field",
    ),
    (
        "[otlp]\nendpoint = \"http://c:4318\"\nendpont = \"x\"\n",
        "otlp.endpont",
        3,
        "unknown field",
    ),
    (
        "[otlp]\nprotocol = \"grpc\"\n",
        "otlp.protocol",
        2,
        "unknown variant",
    ),
    ("[otlp]\ninterval = \"often\"\n", "otlp.interval", 2, ""),
    ("[otlp]\nheaders = 3\n", "otlp.headers", 2, "invalid type"),
    (
        "[pipeline]\nlevel = \"info\"\n\n[[rules]]\nname = \"a\"\nkind = \"gauge\"\nseries = \"s\"\nop = \">\"\nbound = 1.0\n\n[[rules]]\nname = \"b\"\nkind = \"gauge\"\nseries = \"s\"\nop = \"~\"\nbound = 1.0\n",
        "rules[1]",
        11,
        "op",
    ),
    (
        "[[routes]]\nname = \"r\"\nto = \"log\"\n[[routes]]\nname = \"r\"\nto = \"log\"\n",
        "routes",
        1,
        "used twice",
    ),
    (
        "[[routes]]\nname = \"r\"\nto = \"pager\"\n",
        "routes.to",
        3,
        "unknown variant",
    ),
    (
        "[[sinks]]\nkind = \"stdout\"\n[[sinks]]\nkind = \"stdout\"\n",
        "sinks",
        1,
        "used twice",
    ),
    (
        "[[sinks]]\nkind = \"kafka\"\n",
        "sinks.kind",
        2,
        "unknown variant",
    ),
    (
        "[security]\nauthz_polcy = \"p.toml\"\n",
        "security.authz_polcy",
        2,
        "unknown field",
    ),
];

#[test]
fn every_refused_file_names_the_key_and_its_line() {
    for (text, key, line, word) in REFUSED {
        let e = Config::from_toml(text).expect_err(text);
        assert_eq!(e.source, ConfigSource::File, "{text}");
        assert_eq!(e.key.as_deref(), Some(*key), "{text}: {e}");
        assert_eq!(e.line, Some(*line), "{text}: {e}");
        assert!(e.message.contains(word), "{text}: {e}");
        let shown = e.to_string();
        assert!(shown.contains(&format!("line {line}")), "{shown}");
        assert!(shown.contains(key), "{shown}");
    }
}

#[test]
fn a_syntax_error_points_at_its_line() {
    let e = Config::from_toml("[pipeline]\nlevel = \"info\nring_capacity = 1\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn environment_overrides_win_over_the_file_and_name_themselves_when_wrong() {
    let text = "[pipeline]\nlevel = \"info\"\nring_capacity = 65536\n";
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let c = Config::from_toml_with_env(
        text,
        env(&[
            ("TICKWATCH_PIPELINE__LEVEL", "warn"),
            ("TICKWATCH_PIPELINE__RING_CAPACITY", "131072"),
            ("TICKWATCH_MONITORING__RESOURCE_INTERVAL", "2s"),
            ("TICKWATCH_MONITORING__BUDGET__LOGGING_CPU_RATIO", "0.03"),
            ("TICKWATCH_NOT_AN_OVERRIDE", "x"),
            ("HOME", "/root"),
        ]),
    )
    .unwrap();
    assert_eq!(c.pipeline.level, Level::Warn);
    assert_eq!(c.pipeline.ring_capacity, 131072);
    assert_eq!(c.monitoring.resource_interval, Some(Duration::from_secs(2)));
    assert_eq!(c.monitoring.budget.logging_cpu_ratio, 0.03);

    let e = Config::from_toml_with_env(text, env(&[("TICKWATCH_PIPELINE__LEVEL", "loud")]))
        .unwrap_err();
    assert_eq!(
        e.source,
        ConfigSource::Env("TICKWATCH_PIPELINE__LEVEL".into())
    );
    assert_eq!(e.key.as_deref(), Some("pipeline.level"));
    assert!(e
        .to_string()
        .starts_with("environment variable TICKWATCH_PIPELINE__LEVEL: "));

    let e = Config::from_toml_with_env(text, env(&[("TICKWATCH_PIPELINE__RING_SIZE", "1")]))
        .unwrap_err();
    assert_eq!(
        e.source,
        ConfigSource::Env("TICKWATCH_PIPELINE__RING_SIZE".into())
    );
    assert!(e.message.contains("ring_size"), "{e}");

    // An override is checked like the file: out of range is refused.
    let e = Config::from_toml_with_env(text, env(&[("TICKWATCH_PIPELINE__RING_CAPACITY", "100")]))
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("pipeline.ring_capacity"));
}

#[test]
fn config_to_toml_and_back_is_equal() {
    let mut c = Config::from_toml(EXAMPLE).unwrap();
    c.pipeline.level = Level::Debug;
    c.pipeline.flush_interval = Duration::from_millis(250);
    c.monitoring.resource_interval = None;
    // Every section that names parts, filled.
    let parts = Config::from_toml(
        "[[rules]]\nname = \"slow\"\nkind = \"latency\"\nseries = \"rt\"\nstat = \"p99\"\nabove = \"1ms\"\nlabels = { team = \"risk\" }\n\n[[routes]]\nname = \"log\"\nto = \"log\"\nmin_severity = \"critical\"\n\n[[sinks]]\nkind = \"json_lines\"\npath = \"/tmp/x.jsonl\"\nsamples = false\n\n[[sinks]]\nkind = \"stdout\"\n\n[security]\nauthz_policy = \"/etc/p.toml\"\n",
    )
    .unwrap();
    (c.rules, c.routes, c.sinks, c.security) =
        (parts.rules, parts.routes, parts.sinks, parts.security);
    assert_eq!((c.rules.len(), c.routes.len(), c.sinks.len()), (1, 1, 2));
    let text = c.to_toml();
    assert_eq!(Config::from_toml(&text).unwrap(), c, "{text}");
    assert_eq!(
        Config::from_toml(&Config::default().to_toml()).unwrap(),
        Config::default()
    );
}

#[test]
fn check_config_exits_0_on_a_valid_file_and_1_naming_the_key_and_line() {
    let dir = temp::temp_dir("check-config");
    let good = dir.join("good.toml");
    let bad = dir.join("bad.toml");
    std::fs::write(&good, EXAMPLE).unwrap();
    std::fs::write(&bad, "[pipeline]\nlevel = \"info\"\nring_capacty = 1\n").unwrap();
    let run = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_tickwatch-log"))
            .arg("check-config")
            .arg(path)
            .env_remove("TICKWATCH_PIPELINE__LEVEL")
            .output()
            .unwrap()
    };
    let ok = run(&good);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let refused = run(&bad);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let out = String::from_utf8_lossy(&refused.stdout);
    assert!(out.contains("line 3"), "{out}");
    assert!(out.contains("pipeline.ring_capacty"), "{out}");
    let missing = run(&dir.join("absent.toml"));
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn from_config_starts_an_instance_with_the_files_settings() {
    let c = Config::from_toml("[pipeline]\nlevel = \"warn\"\n").unwrap();
    let tw = tickwatch::Telemetry::from_config(c).unwrap();
    assert!(!tw.enabled(Level::Info));
    assert!(tw.enabled(Level::Warn));
    tw.shutdown().unwrap();
}
