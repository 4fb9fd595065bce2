//! Per-target event levels (`TelemetryBuilder::target_level`, `[pipeline.targets]`): a
//! target and its submodules recorded at their rule's level, above or below the
//! instance's, for `event!`, `log_event` and the `tracing` layer; filtered events are not
//! calls.

use tickwatch::sink::{MemorySink, Record};
use tickwatch::{event, Config, Event, Level, StartError, Telemetry};

mod engine {
    pub mod book {
        pub fn log(tw: &tickwatch::Telemetry) {
            tickwatch::info!(tw, "book info");
            tickwatch::warn!(tw, "book warn");
        }
    }
    pub mod risk {
        pub fn log(tw: &tickwatch::Telemetry) {
            tickwatch::debug!(tw, "risk debug");
            tickwatch::trace!(tw, "risk trace");
        }
    }
}

fn messages(mem: &MemorySink) -> Vec<String> {
    mem.records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

fn instance(mem: &MemorySink) -> Telemetry {
    Telemetry::builder()
        .level(Level::Info)
        .target_level("target_levels::engine::book", Level::Warn)
        .target_level("target_levels::engine::risk", Level::Debug)
        .target_level("gateway", Level::Error)
        .sink(mem.clone())
        .start()
        .unwrap()
}

#[test]
fn event_macros_follow_their_module_s_rule_above_or_below_the_instance_level() {
    let mem = MemorySink::new();
    let tw = instance(&mem);
    for _ in 0..3 {
        engine::book::log(&tw);
        engine::risk::log(&tw);
        event!(tw, Level::Info, "root info");
        event!(tw, Level::Debug, "root debug");
        let lvl = std::hint::black_box(Level::Debug);
        event!(tw, lvl, "root debug, level in a variable");
    }
    tw.flush().unwrap();
    let got = messages(&mem);
    assert_eq!(
        got,
        ["book warn", "risk debug", "root info"].repeat(3),
        "{got:?}"
    );
    // Filtered events are not calls: three of each kept, nothing dropped.
    let st = tw.stats();
    assert_eq!((st.accepted, st.dropped, st.delivered), (9, 0, 9), "{st:?}");
}

#[test]
fn log_event_and_tracing_follow_the_rules_too() {
    #[cfg(feature = "tracing")]
    use tracing_subscriber::layer::SubscriberExt;
    let mem = MemorySink::new();
    let tw = instance(&mem);
    for (target, level, message) in [
        (
            "gateway::fix",
            Level::Warn,
            "dropped: gateway is error only",
        ),
        ("gateway", Level::Error, "gateway error"),
        ("gateway2", Level::Info, "gateway2 info: not covered"),
    ] {
        tw.log_event(&Event {
            level,
            target,
            message,
            fields: &[],
        });
    }
    // The same rules apply to what the `tracing` layer hears.
    #[cfg(feature = "tracing")]
    {
        let subscriber = tracing_subscriber::registry().with(tw.tracing_layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "gateway::fix", "tracing warn: dropped");
            tracing::error!(target: "gateway::fix", "tracing error");
            tracing::debug!(target: "target_levels::engine::risk", "tracing risk debug");
            tracing::debug!(target: "elsewhere", "tracing debug: dropped");
        });
    }
    tw.flush().unwrap();
    let mut expected = vec!["gateway error", "gateway2 info: not covered"];
    if cfg!(feature = "tracing") {
        expected.extend(["tracing error", "tracing risk debug"]);
    }
    assert_eq!(messages(&mem), expected);
}

#[test]
fn targets_come_from_the_file_and_bad_ones_are_refused() {
    let c = Config::from_toml(
        "[pipeline]\nlevel = \"info\"\n\n[pipeline.targets]\n\"engine::book\" = \"warn\"\nhyper = \"error\"\n",
    )
    .unwrap();
    assert_eq!(c.pipeline.targets.get("engine::book"), Some(&Level::Warn));
    assert_eq!(c.pipeline.targets.get("hyper"), Some(&Level::Error));
    assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    let e = Config::from_toml("[pipeline.targets]\nhyper = \"loud\"\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.key.as_deref(), Some("pipeline.targets.hyper"), "{e}");
    let e = Telemetry::builder()
        .target_level("engine=warn", Level::Warn)
        .start()
        .unwrap_err();
    assert!(matches!(e, StartError::TargetLevel { .. }), "{e}");
    assert!(e.to_string().contains("give the target alone"), "{e}");
}
