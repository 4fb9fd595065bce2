//! Live reload (`Telemetry::reload`, `watch_config`): what changes live takes effect while
//! threads record, nothing recorded is lost, a refused reload keeps the running
//! configuration exactly, and every reload is audited.

#[path = "common/temp.rs"]
mod temp;
use temp::temp_dir;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwatch::alerts::{Severity, CONFIG_RELOAD_FAILED};
use tickwatch::health::{component, Status};
use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{Batch, Record, Sink, SinkError};
use tickwatch::{Config, Level, ReloadError, Telemetry};

/// Counts what reaches the sinks: events by level, and the reload audit records.
#[derive(Clone, Default)]
struct Tally {
    events: Arc<AtomicU64>,
    info_events: Arc<AtomicU64>,
    audits: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Sink for Tally {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let thread = batch.thread().index;
        for r in batch.iter_non_samples() {
            match r.to_record(thread) {
                Record::Event { level, .. } => {
                    self.events.fetch_add(1, Relaxed);
                    if level == Level::Info {
                        self.info_events.fetch_add(1, Relaxed);
                    }
                }
                Record::Audit {
                    actor,
                    action,
                    outcome,
                    ..
                } if action == "config.reload" => {
                    self.audits.lock().unwrap().push((actor, outcome, action));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "tally"
    }
}

/// Stops recording threads however the reloading side ends (a failed assertion too), so
/// the scope can join them and the failure is reported.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

const RULES_A: &str = r#"
[[rules]]
name = "spread_wide"
kind = "gauge"
series = "spread"
op = ">"
bound = 0.5
"#;

/// Variant A: info and up, one rule that fires (spread is 1.0). Variant B: warn and up,
/// no rules, other thresholds.
fn variants() -> (Config, Config) {
    let base = "[pipeline]\nmonitor_tick = \"1ms\"\nring_capacity = 4096\n";
    let a = Config::from_toml(&format!("{base}level = \"info\"\n{RULES_A}")).unwrap();
    let b = Config::from_toml(&format!(
        "{base}level = \"warn\"\n[pipeline.targets]\n\"reload::quiet\" = \"error\"\n[monitoring.budget]\nlogging_cpu_ratio = 0.5\n"
    ))
    .unwrap();
    (a, b)
}

fn counter_total(tw: &Telemetry, name: &str) -> u64 {
    match tw.snapshot().find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Counter(c)) => c.total,
        other => panic!("{name}: {other:?}"),
    }
}

fn rule_firing(tw: &Telemetry) -> bool {
    tw.active_alerts().iter().any(|a| a.name == "spread_wide")
}

/// Waits (bounded) for `cond`; the bound is generous for a loaded CI machine, the
/// assertion is what the condition says.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_thousand_reloads_under_four_recording_threads_lose_nothing_and_are_each_audited() {
    let reloads = if cfg!(miri) { 10 } else { 1000 };
    let (a, b) = variants();
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(a.clone())
        .sink(tally.clone())
        .start()
        .unwrap();
    tw.metric("spread", &[]).record(1.0);
    eventually("the rule fires under variant A", || rule_firing(&tw));

    let stop = AtomicBool::new(false);
    let adds = AtomicU64::new(0);
    let (report_ok, checks) = std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for _ in 0..4 {
            s.spawn(|| {
                let orders = tw.counter("orders", &[]);
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    orders.add(1);
                    tickwatch::info!(&tw, "working", n = n);
                    n += 1;
                }
                adds.fetch_add(n, Relaxed);
            });
        }
        let mut checks = 0;
        for i in 0..reloads {
            let (next, level_after) = if i % 2 == 0 {
                (b.clone(), Level::Warn)
            } else {
                (a.clone(), Level::Info)
            };
            let report = tw.reload(next).expect("both variants are valid and live");
            assert!(report.in_force, "reload {i} not in force: {report:?}");
            // Filters: in force when reload returns, on every thread.
            assert_eq!(
                tw.enabled(Level::Info),
                level_after == Level::Info,
                "reload {i}"
            );
            if i % 100 >= 98 || i + 2 >= reloads {
                // Rules: the alert task swapped them at its tick; the next evaluation
                // shows the firing rule (variant A) or its resolution (variant B).
                let want = level_after == Level::Info;
                eventually(&format!("rule firing == {want} after reload {i}"), || {
                    rule_firing(&tw) == want
                });
                checks += 1;
            }
        }
        (true, checks)
    });
    assert!(report_ok && checks >= 2);
    tw.flush().unwrap();

    // Conservation: every add arrived, nothing dropped, everything accepted delivered.
    let stats = tw.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.accepted, stats.delivered, "{stats:?}");
    assert_eq!(counter_total(&tw, "orders"), adds.load(Relaxed));
    // One audit record per reload, each applied, in order.
    let audits = tally.audits.lock().unwrap().clone();
    assert_eq!(audits.len(), reloads, "one audit record per reload");
    assert!(audits
        .iter()
        .all(|(actor, outcome, _)| actor == "Telemetry::reload" && outcome == "applied"));
    // The filter did act: some info events were recorded (variant A) and the last
    // reload left variant B (warn) or A in force as asked.
    assert!(tally.info_events.load(Relaxed) > 0);
    let last = if reloads % 2 == 1 { &b } else { &a };
    assert_eq!(&tw.config(), last);
}

#[test]
fn a_level_reload_filters_the_very_next_event() {
    let (a, b) = variants();
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(a)
        .sink(tally.clone())
        .start()
        .unwrap();
    for _ in 0..50 {
        tw.reload(b.clone()).unwrap();
        tickwatch::info!(&tw, "filtered");
        tickwatch::warn!(&tw, "kept");
        let mut again = b.clone();
        again.pipeline.level = Level::Info;
        tw.reload(again).unwrap();
        tickwatch::info!(&tw, "kept too");
    }
    tw.flush().unwrap();
    assert_eq!(tally.events.load(Relaxed), 100);
    assert_eq!(tally.info_events.load(Relaxed), 50);
}

#[test]
fn a_per_target_reload_reaches_call_sites_already_decided() {
    mod quiet {
        pub fn log(tw: &tickwatch::Telemetry) {
            tickwatch::warn!(tw, "quiet warn");
        }
    }
    let (a, b) = variants();
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(a)
        .sink(tally.clone())
        .start()
        .unwrap();
    quiet::log(&tw); // decided (recorded) under A
    tw.reload(b).unwrap(); // "reload::quiet" at error
    quiet::log(&tw);
    tw.flush().unwrap();
    assert_eq!(tally.events.load(Relaxed), 1);
}

#[test]
fn a_refused_reload_keeps_the_running_configuration_exactly_and_is_reported() {
    let (a, b) = variants();
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(a.clone())
        .sink(tally.clone())
        .start()
        .unwrap();
    let before = tw.config();

    // A key fixed at start, beside a live one: the whole reload is refused.
    let mut bigger = b.clone();
    bigger.pipeline.ring_capacity = 1 << 20;
    match tw.reload(bigger) {
        Err(ReloadError::NotLive { key, why }) => {
            assert_eq!(key, "pipeline.ring_capacity");
            assert!(why.contains("ring"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tw.config(), before);
    assert!(
        tw.enabled(Level::Info),
        "the level of the refused config was not applied"
    );
    let health = tw.get_system_health();
    let c = health
        .component(component::CONFIG)
        .expect("registered at the first reload");
    assert_eq!(c.status, Status::Degraded);
    assert!(
        c.message.contains("pipeline.ring_capacity"),
        "{}",
        c.message
    );
    let alert = tw
        .active_alerts()
        .into_iter()
        .find(|a| a.name == CONFIG_RELOAD_FAILED)
        .expect("a refused reload raises an alert");
    assert_eq!(alert.severity, Severity::Warning);

    // An invalid rule (read without the checks, as a caller might build one): refused,
    // naming the rule, and nothing changes.
    let bad: Config = toml::from_str(&format!(
        "[pipeline]\nmonitor_tick = \"1ms\"\nring_capacity = 4096\nlevel = \"warn\"\n{}",
        RULES_A.replace("op = \">\"", "op = \"~\"")
    ))
    .unwrap();
    match tw.reload(bad) {
        Err(ReloadError::Rules(e)) => assert_eq!(e.rule, "spread_wide"),
        other => panic!("{other:?}"),
    }
    assert_eq!(tw.config(), before);
    assert!(tw.enabled(Level::Info));

    // A good reload afterwards: healthy again, the alert resolved.
    tw.reload(b).unwrap();
    let health = tw.get_system_health();
    assert_eq!(
        health.component(component::CONFIG).unwrap().status,
        Status::Healthy
    );
    assert!(!tw
        .active_alerts()
        .iter()
        .any(|a| a.name == CONFIG_RELOAD_FAILED));
    tw.flush().unwrap();
    let audits = tally.audits.lock().unwrap().clone();
    let outcomes: Vec<&str> = audits.iter().map(|(_, o, _)| o.as_str()).collect();
    assert_eq!(outcomes, ["refused", "refused", "applied"]);
}

/// The `n` field of every event line in a JSON-lines file.
fn event_ns(path: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "event")
        .filter_map(|v| v["fields"]["n"].as_u64())
        .collect()
}

fn with_sink(base: &str, path: &std::path::Path) -> Config {
    Config::from_toml(&format!(
        "{base}[[sinks]]\nkind = \"json_lines\"\nname = \"orders\"\npath = {:?}\n",
        path.display().to_string()
    ))
    .unwrap()
}

#[test]
fn the_sink_set_changes_live_and_every_record_lands_once() {
    let dir = temp_dir("sinks");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let base = "[pipeline]\nmonitor_tick = \"1ms\"\nlevel = \"info\"\n";
    let tw = Telemetry::from_config(with_sink(base, &a)).unwrap();
    let total = if cfg!(miri) { 50 } else { 20_000u64 };
    let swapped = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for n in 0..total {
                tickwatch::info!(&tw, "fill", n = n);
            }
        });
        // The swap lands while the writer is mid-stream.
        std::thread::sleep(Duration::from_millis(2));
        let report = tw.reload(with_sink(base, &b)).unwrap();
        writer.join().unwrap();
        report
    });
    assert_eq!(swapped.changed, ["sinks"]);
    assert!(swapped.in_force);
    tw.flush().unwrap();
    // The removed sink was flushed when it left: its file is complete now.
    let (in_a, in_b) = (event_ns(&a), event_ns(&b));
    let mut all: Vec<u64> = in_a.iter().chain(&in_b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..total).collect::<Vec<_>>(),
        "each record exactly once"
    );
    // One thread's records in ring order: everything before the swap in a, after it in b.
    if let (Some(last_a), Some(first_b)) = (in_a.last(), in_b.first()) {
        assert!(last_a < first_b, "{last_a} then {first_b}");
    }
    assert!(
        !in_b.is_empty(),
        "records after the swap reached the new sink"
    );
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sink_that_cannot_open_refuses_the_reload_and_keeps_the_old_one() {
    let dir = temp_dir("sink-bad");
    let a = dir.join("a.jsonl");
    let base = "[pipeline]\nlevel = \"info\"\n";
    let tw = Telemetry::from_config(with_sink(base, &a)).unwrap();
    let missing = dir.join("no/such/dir/b.jsonl");
    match tw.reload(with_sink(base, &missing)) {
        Err(ReloadError::Sink { name, .. }) => assert_eq!(name, "orders"),
        other => panic!("{other:?}"),
    }
    tickwatch::info!(&tw, "still here", n = 7u64);
    tw.flush().unwrap();
    assert_eq!(event_ns(&a), [7]);
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sinks_cannot_change_on_an_instance_built_without_a_configuration() {
    let dir = temp_dir("no-set");
    let tw = Telemetry::builder().level(Level::Info).start().unwrap();
    let mut next = tw.config();
    next.sinks = with_sink("", &dir.join("a.jsonl")).sinks;
    assert!(matches!(tw.reload(next), Err(ReloadError::NoSinkSet)));
    // Levels still change live on such an instance.
    let mut next = tw.config();
    next.pipeline.level = Level::Error;
    tw.reload(next).unwrap();
    assert!(!tw.enabled(Level::Warn));
    std::fs::remove_dir_all(&dir).ok();
}

const POLICY_ALLOW: &str = r#"
[[roles]]
name = "trader"
permissions = [{ action = "cancel_order", resource = "orders/**" }]

[[users]]
id = "alice"
roles = ["trader"]
"#;

#[test]
fn the_authorization_policy_file_reloads_with_the_configuration() {
    let dir = temp_dir("authz");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY_ALLOW).unwrap();
    let config = Config::from_toml(&format!(
        "[security]\nauthz_policy = {:?}\n",
        policy.display().to_string()
    ))
    .unwrap();
    let tw = Telemetry::from_config(config.clone()).unwrap();
    let authz = tw
        .authorizer()
        .expect("created from the policy file")
        .clone();
    assert!(authz
        .authorize_action("alice", "cancel_order", "orders/XNAS/1")
        .is_allowed());

    // The same configuration, the file edited: the reload reads it again.
    std::fs::write(&policy, POLICY_ALLOW.replace("cancel_order", "read")).unwrap();
    let report = tw.reload(config.clone()).unwrap();
    assert_eq!(report.changed, ["security.authz_policy"]);
    assert!(!authz
        .authorize_action("alice", "cancel_order", "orders/XNAS/1")
        .is_allowed());
    assert!(authz
        .authorize_action("alice", "read", "orders/XNAS/1")
        .is_allowed());

    // A broken file: refused, the running policy kept.
    std::fs::write(&policy, "[[roles]]\nname = \n").unwrap();
    assert!(matches!(tw.reload(config), Err(ReloadError::Policy(_))));
    assert!(authz
        .authorize_action("alice", "read", "orders/XNAS/1")
        .is_allowed());
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_watched_file_reloads_on_change_and_a_bad_edit_is_refused() {
    let dir = temp_dir("watch");
    let file = dir.join("tickwatch.toml");
    let info = "[pipeline]\nmonitor_tick = \"1ms\"\nlevel = \"info\"\n";
    std::fs::write(&file, info).unwrap();
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(Config::load(&file).unwrap())
        .sink(tally.clone())
        .start()
        .unwrap();
    let watch = tw.watch_config(&file, Duration::from_millis(5)).unwrap();
    assert!(tw.enabled(Level::Info));

    std::fs::write(&file, info.replace("info", "error")).unwrap();
    eventually("the edit applies", || watch.stats().applied == 1);
    assert!(!tw.enabled(Level::Warn));

    // Not TOML any more: refused, the running configuration kept, reported.
    std::fs::write(&file, "[pipeline\nlevel = 3\n").unwrap();
    eventually("the bad edit is refused", || watch.stats().refused == 1);
    assert!(!tw.enabled(Level::Warn) && tw.enabled(Level::Error));
    assert_eq!(
        tw.get_system_health()
            .component(component::CONFIG)
            .unwrap()
            .status,
        Status::Degraded
    );
    // A fixed key changed in the file: refused too, naming it.
    std::fs::write(&file, format!("{info}ring_capacity = 4096\n")).unwrap();
    eventually("the fixed-key edit is refused", || {
        watch.stats().refused == 2
    });
    assert!(!tw.enabled(Level::Warn));
    watch.stop();
    tw.flush().unwrap();
    let audits = tally.audits.lock().unwrap().clone();
    assert_eq!(audits.len(), 3);
    assert!(audits
        .iter()
        .all(|(actor, _, _)| actor.starts_with("file:")));
    let outcomes: Vec<&str> = audits.iter().map(|(_, o, _)| o.as_str()).collect();
    assert_eq!(outcomes, ["applied", "refused", "refused"]);
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn health_thresholds_change_at_the_next_tick() {
    // A thread floods a tiny ring, so every interval has drops: the default policy (any
    // drop) keeps the rings component degraded; a reload that tolerates a billion drops
    // per interval makes it healthy, and it stays so.
    let tw = Telemetry::from_config(
        Config::from_toml(
            "[pipeline]\nmonitor_tick = \"1ms\"\nring_capacity = 128\nbackpressure = \"drop\"\n[monitoring]\nresource_interval = \"off\"\n",
        )
        .unwrap(),
    )
    .unwrap();
    let rings = || {
        tw.get_system_health()
            .component(component::RINGS)
            .map(|c| c.status)
    };
    let steadily = |want: Status| {
        let mut in_a_row = 0;
        eventually(&format!("rings {want:?} for 20 checks in a row"), || {
            in_a_row = if rings() == Some(want) {
                in_a_row + 1
            } else {
                0
            };
            in_a_row >= 20
        });
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let m = tw.metric("m", &[]);
            while !stop.load(Relaxed) {
                m.record(1.0);
            }
        });
        let _stop = StopOnDrop(&stop);
        steadily(Status::Degraded);
        let mut tolerant = tw.config();
        tolerant.monitoring.rings.degraded_drops = 1_000_000_000;
        let report = tw.reload(tolerant).unwrap();
        assert_eq!(report.changed, ["monitoring.rings.degraded_drops"]);
        steadily(Status::Healthy);
    });
    assert!(tw.stats().dropped > 0, "the tiny ring dropped throughout");
}

#[cfg(feature = "tracing")]
#[test]
fn tracing_events_follow_reloaded_levels() {
    use tracing_subscriber::layer::SubscriberExt;
    let (a, b) = variants(); // info, then warn
                             // Info everywhere, but the desk's target at warn: the floor stays at info, so only the
                             // call site's own decision can filter its info event.
    let mut desk_warn = a.clone();
    desk_warn
        .pipeline
        .targets
        .insert("desk".to_string(), Level::Warn);
    let tally = Tally::default();
    let tw = Telemetry::builder()
        .with_config(a.clone())
        .sink(tally.clone())
        .start()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(tw.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let log = || {
            tracing::info!(target: "desk", n = 1u64, "info from tracing");
            tracing::warn!(target: "desk", n = 2u64, "warn from tracing");
        };
        log(); // 2 recorded
        tw.reload(desk_warn.clone()).unwrap();
        log(); // 1: the info call site, already seen and admitted, is filtered now
        tw.reload(b.clone()).unwrap();
        log(); // 1: the instance's level is warn
        tw.reload(a.clone()).unwrap();
        log(); // 2 again
    });
    tw.flush().unwrap();
    assert_eq!(tally.events.load(Relaxed), 6);
    assert_eq!(tally.info_events.load(Relaxed), 2);
}

#[test]
fn a_watch_ends_with_its_instance() {
    let dir = temp_dir("watch-end");
    let file = dir.join("tickwatch.toml");
    std::fs::write(&file, "[pipeline]\nlevel = \"info\"\n").unwrap();
    let tw = Telemetry::from_config(Config::load(&file).unwrap()).unwrap();
    let watch = tw.watch_config(&file, Duration::from_millis(1)).unwrap();
    eventually("polling", || watch.stats().polls > 0);
    drop(tw);
    std::thread::sleep(Duration::from_millis(20));
    let polls = watch.stats().polls;
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        watch.stats().polls,
        polls,
        "no polling for a dropped instance"
    );
    drop(watch); // joins promptly
    std::fs::remove_dir_all(&dir).ok();
}
