//! End to end against Debian's `prometheus-alertmanager` on 127.0.0.1: a firing rule posted
//! through the Alertmanager sink shows up in `GET /api/v2/alerts` with our labels, and its
//! resolve takes it out of the active list.

#[path = "common/poll.rs"]
mod poll;
#[path = "common/snapshots.rs"]
mod snapshots;

use snapshots::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tickwatch::alerts::*;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// The running Alertmanager and its scratch directory; killed (by PID) and removed on drop.
struct Alertmanager {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running Alertmanager. Panics with the install command when the binary is missing: the
/// tests that need it are `#[ignore]`d and run by `.ci/run` (which installs it) with
/// `--ignored`, so a missing tool fails, never skips.
fn start() -> Alertmanager {
    assert!(
        Path::new(BINARY).exists(),
        "{BINARY} is missing: `sudo apt-get install prometheus-alertmanager`"
    );
    // One directory per server: the tests of this file run in parallel in one process.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tickwatch-am-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let am = Alertmanager {
        child,
        dir,
        url: format!("http://127.0.0.1:{port}"),
    };
    let ready = poll(Duration::from_secs(15), || {
        ureq::get(format!("{}/-/ready", am.url))
            .call()
            .is_ok()
            .then_some(())
    });
    assert!(
        ready.is_some(),
        "Alertmanager did not become ready on {}",
        am.url
    );
    am
}

fn poll<T>(timeout: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll::poll_every(timeout, Duration::from_millis(100), f)
}

/// The active alerts named `name`, as Alertmanager lists them; `None` if it did not answer
/// with a JSON list (so that "absent" is never concluded from a dead server).
fn listed(am: &Alertmanager, name: &str) -> Option<Vec<serde_json::Value>> {
    let mut resp = ureq::get(format!("{}/api/v2/alerts", am.url)).call().ok()?;
    let body = resp.body_mut().read_to_string().ok()?;
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
    Some(
        all.into_iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .collect(),
    )
}

#[test]
#[ignore = "needs Alertmanager (apt install prometheus-alertmanager); .ci/run runs it with --ignored"]
fn a_firing_rule_reaches_alertmanager_and_its_resolve_clears_it() {
    let am = start();
    let sink = AlertmanagerSink::start(AlertmanagerConfig {
        generator_url: Some("http://tickwatch.test/rules".into()),
        ..AlertmanagerConfig::new(am.url.clone())
    })
    .unwrap();
    let stats = sink.stats_handle();
    let mut router = AlertRouter::new();
    router.route(
        "alertmanager",
        SeverityFilter::at_least(Severity::Warning),
        sink,
    );
    let rule = Rule::new(
        "tickwatch_e2e_spread_wide",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    )
    .severity(Severity::Critical)
    .label("team", "risk")
    .message("spread above 5 bp")
    .annotation("runbook", "https://wiki/spread");
    let mut pipeline = AlertPipeline::new(RuleEngine::new(vec![rule]).unwrap(), router);

    let now = || SystemClock.now();
    let high = snapshot(vec![gauge("spread", &[("venue", "XNAS")], 0.09, &[0.09])]);
    assert_eq!(pipeline.tick(&high, now()), 1);
    assert_eq!(
        pipeline.router_mut().flush(),
        0,
        "{:?}",
        pipeline.router().stats()
    );

    let alert = poll(Duration::from_secs(10), || {
        listed(&am, "tickwatch_e2e_spread_wide")?.pop()
    })
    .expect("the firing alert never appeared in GET /api/v2/alerts");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["team"], "risk");
    assert_eq!(alert["labels"]["venue"], "XNAS");
    assert_eq!(alert["annotations"]["summary"], "spread above 5 bp");
    assert_eq!(alert["annotations"]["runbook"], "https://wiki/spread");
    assert_eq!(alert["generatorURL"], "http://tickwatch.test/rules");
    assert_eq!(alert["status"]["state"], "active");

    let low = snapshot(vec![gauge("spread", &[("venue", "XNAS")], 0.01, &[0.01])]);
    assert_eq!(pipeline.tick(&low, now()), 1);
    assert_eq!(pipeline.router_mut().flush(), 0);
    let cleared = poll(Duration::from_secs(10), || {
        listed(&am, "tickwatch_e2e_spread_wide")?
            .is_empty()
            .then_some(())
    });
    assert!(
        cleared.is_some(),
        "the resolved alert is still listed as active"
    );

    let s = stats.stats();
    assert_eq!(
        (s.queued, s.posted, s.failed, s.queue_full),
        (2, 2, 0, 0),
        "{s:?}"
    );
    assert_eq!(pipeline.router().errors(), 0);
}

#[test]
fn an_unreachable_alertmanager_is_retried_then_counted() {
    // Nothing listens on this port (bound, then released).
    let port = free_port();
    let mut sink = AlertmanagerSink::start(AlertmanagerConfig {
        retries: 2,
        backoff: Duration::from_millis(1),
        request_timeout: Duration::from_secs(2),
        ..AlertmanagerConfig::new(format!("http://127.0.0.1:{port}"))
    })
    .unwrap();
    let stats = sink.stats_handle();
    let n = Notification {
        id: AlertId(1),
        name: "x".into(),
        severity: Severity::Critical,
        transition: Transition::Firing,
        message: String::new(),
        labels: vec![],
        annotations: vec![],
        starts_at: t(0),
        ends_at: None,
        value: None,
        source: AlertSource::Manual,
    };
    sink.notify(&n).unwrap();
    sink.flush().unwrap();
    let s = stats.stats();
    assert_eq!(
        (s.requests, s.retries, s.failed, s.posted),
        (3, 2, 1, 0),
        "{s:?}"
    );
    assert!(s.last_error.is_some());
    sink.shutdown().unwrap();
}

/// The same path through a running instance: a rule evaluated on the collector's tick,
/// routed to an `AlertmanagerSink` with `alert_route`, shows up in `GET /api/v2/alerts`
/// once its gauge goes over the bound, and leaves the active list when it goes back under.
#[test]
#[ignore = "needs Alertmanager (apt install prometheus-alertmanager); .ci/run runs it with --ignored"]
fn a_firing_rule_of_an_instance_shows_up_in_alertmanager() {
    let am = start();
    let sink = AlertmanagerSink::start(AlertmanagerConfig::new(am.url.clone())).unwrap();
    let stats = sink.stats_handle();
    let rule = Rule::new(
        "tickwatch_e2e_instance_spread",
        Expr::Gauge {
            selector: Selector::new("spread"),
            stat: GaugeStat::Last,
            op: Op::Gt,
            bound: 0.05,
        },
    )
    .severity(Severity::Critical)
    .message("spread above 5 bp");
    let tw = tickwatch::Telemetry::builder()
        .monitor_tick(Duration::from_millis(20))
        .resource_sampling(None)
        .alert_rules([rule])
        .alert_route("am", SeverityFilter::all(), sink)
        .start()
        .unwrap();
    tw.log_metric("spread", 0.09, &[("venue", "XNAS")]);
    tw.flush().unwrap();
    let alert = poll(Duration::from_secs(15), || {
        listed(&am, "tickwatch_e2e_instance_spread")?.pop()
    })
    .unwrap_or_else(|| {
        panic!(
            "the firing rule never appeared in GET /api/v2/alerts; sink {:?}, active {:?}",
            stats.stats(),
            tw.active_alerts()
        )
    });
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["venue"], "XNAS");
    assert_eq!(alert["annotations"]["summary"], "spread above 5 bp");
    assert_eq!(alert["status"]["state"], "active");

    tw.log_metric("spread", 0.01, &[("venue", "XNAS")]);
    tw.flush().unwrap();
    let cleared = poll(Duration::from_secs(15), || {
        listed(&am, "tickwatch_e2e_instance_spread")?
            .is_empty()
            .then_some(())
    });
    assert!(
        cleared.is_some(),
        "the resolved rule is still listed as active"
    );
    tw.shutdown().unwrap();
    let s = stats.stats();
    assert_eq!((s.posted, s.failed), (2, 0), "{s:?}");
}
