//! Health through a running instance: the built-in components next to the application's, the
//! worst one winning, and each built-in component reacting to what it watches (a failing
//! sink, a collector stuck in a sink, a stopped collector, ring drops, resource sampling).
//!
//! No timed assertions: every wait polls with a generous deadline; the collector ticks every
//! 10 ms so the waits are short.

#[path = "common/poll.rs"]
mod poll;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tickwatch::health::component::{ALERTS, BUDGET, COLLECTOR, RESOURCES, RINGS, SINKS};
use tickwatch::health::{CollectorPolicy, Health, HealthStatus, SinkPolicy, Status};
use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{Batch, Sink, SinkError};
use tickwatch::{Backpressure, StartError, Telemetry, TelemetryBuilder};

const TICK: Duration = Duration::from_millis(10);
const DEADLINE: Duration = Duration::from_secs(20);

fn builder() -> TelemetryBuilder {
    Telemetry::builder().monitor_tick(TICK)
}

/// Calls `f` until it returns `Some`, every millisecond, for at most [`DEADLINE`].
fn poll<T>(f: impl FnMut() -> Option<T>) -> Option<T> {
    poll::poll_every(DEADLINE, Duration::from_millis(1), f)
}

fn status_of(h: &HealthStatus, name: &str) -> Status {
    h.component(name)
        .unwrap_or_else(|| panic!("no component {name} in {h:#?}"))
        .status
}

/// Waits until `name` reports `want`; panics with the last answer otherwise.
fn wait_for(tw: &Telemetry, name: &str, want: Status, mut between: impl FnMut()) -> HealthStatus {
    let mut last = None;
    poll(|| {
        between();
        let h = tw.get_system_health();
        let ok = status_of(&h, name) == want;
        last = Some(h.clone());
        ok.then_some(h)
    })
    .unwrap_or_else(|| panic!("{name} never became {want:?}; last answer: {last:#?}"))
}

/// Waits until the collector has judged every component once: none is `Unknown` (pending)
/// any more. A fresh instance is pending, not healthy; the components leave it at the first
/// tick (with resource sampling on, at the first sample, taken at that tick).
fn wait_first_tick(tw: &Telemetry) {
    let mut last = None;
    poll(|| {
        let h = tw.get_system_health();
        let judged = h.components.iter().all(|c| c.status != Status::Unknown);
        last = Some(h);
        judged.then_some(())
    })
    .unwrap_or_else(|| panic!("some component was never judged: {last:#?}"));
}

#[test]
fn builtin_components_and_own_checks_are_listed_and_the_worst_wins() {
    let tw = builder().start().unwrap();
    tw.health()
        .register_check("exchange_link", || (Status::Healthy, "connected"))
        .unwrap();
    let h = tw.get_system_health();
    for name in [
        COLLECTOR,
        RINGS,
        SINKS,
        ALERTS,
        RESOURCES,
        BUDGET,
        "exchange_link",
    ] {
        assert!(h.component(name).is_some(), "{name} missing from {h:#?}");
    }
    // The overall status is always the worst component's.
    let worst = h.components.iter().map(|c| c.status).max().unwrap();
    assert_eq!(h.status, worst, "{h:#?}");

    // A pushed component of ours going unhealthy makes the whole unhealthy, and back.
    let feed = tw.health().register_pushed("feed", None).unwrap();
    feed.set(Status::Unhealthy, "no quotes");
    let h = tw.get_system_health();
    assert_eq!(h.status, Status::Unhealthy, "{h:#?}");
    feed.set(Status::Healthy, "quotes flowing");
    assert_ne!(tw.get_system_health().status, Status::Unhealthy);
    tw.shutdown().unwrap();
}

#[test]
fn a_degraded_check_degrades_an_otherwise_healthy_instance() {
    // Without resource sampling no CPU budget can degrade the instance on a busy machine:
    // every built-in component is healthy, so the check alone decides.
    let tw = builder().resource_sampling(None).start().unwrap();
    wait_first_tick(&tw);
    let h = tw.get_system_health();
    assert_eq!(h.status, Status::Healthy, "{h:#?}");
    tw.health()
        .register_check("risk_engine", || (Status::Degraded, "limits stale"))
        .unwrap();
    let h = tw.get_system_health();
    assert_eq!(status_of(&h, "risk_engine"), Status::Degraded);
    assert_eq!(h.status, Status::Degraded, "{h:#?}");
    tw.shutdown().unwrap();
}

/// A sink whose every write fails.
struct FailingSink;

impl Sink for FailingSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        Err(SinkError::new("disk full"))
    }
}

#[test]
fn a_failing_sink_degrades_the_sinks_component() {
    let tw = builder()
        .resource_sampling(None)
        .sink(FailingSink)
        // Degraded, never escalated to unhealthy: the test waits for one exact status.
        .sink_policy(SinkPolicy {
            unhealthy_after_intervals: 0,
            ..SinkPolicy::default()
        })
        .start()
        .unwrap();
    wait_first_tick(&tw);
    assert_eq!(status_of(&tw.get_system_health(), SINKS), Status::Healthy);
    let mut i = 0.0;
    let h = wait_for(&tw, SINKS, Status::Degraded, || {
        // Keep records flowing: the component judges the errors of the last tick.
        i += 1.0;
        tw.log_metric("spread", i, &[]);
        tw.flush().unwrap();
    });
    assert!(h.status >= Status::Degraded, "{h:#?}");
    assert!(
        h.component(SINKS).unwrap().message.contains("error"),
        "{h:#?}"
    );
    assert!(tw.stats().sink_errors > 0);
    tw.shutdown().unwrap();
}

#[test]
fn each_sink_has_its_own_component_and_only_the_failing_one_degrades() {
    let tw = builder()
        .resource_sampling(None)
        .sink(tickwatch::sink::MemorySink::new())
        .sink(FailingSink)
        .sink(tickwatch::sink::MemorySink::new())
        .sink_policy(SinkPolicy {
            unhealthy_after_intervals: 0,
            ..SinkPolicy::default()
        })
        .start()
        .unwrap();
    // `FailingSink` keeps the trait's default name; the second memory sink is told apart.
    let (failing, mem, mem2) = (
        "tickwatch.sink.sink",
        "tickwatch.sink.memory",
        "tickwatch.sink.memory#2",
    );
    wait_first_tick(&tw);
    let h = tw.get_system_health();
    for name in [failing, mem, mem2] {
        assert_eq!(status_of(&h, name), Status::Healthy, "{h:#?}");
    }
    let mut i = 0.0;
    let h = wait_for(&tw, failing, Status::Degraded, || {
        i += 1.0;
        tw.log_metric("spread", i, &[]);
        tw.flush().unwrap();
    });
    assert_eq!(status_of(&h, failing), Status::Degraded, "{h:#?}");
    assert_eq!(status_of(&h, mem), Status::Healthy, "{h:#?}");
    assert_eq!(status_of(&h, mem2), Status::Healthy, "{h:#?}");
    tw.shutdown().unwrap();
}

/// A gate the test closes and opens; the sink waits at it inside `write`.
#[derive(Clone, Default)]
struct Gate {
    state: Arc<(Mutex<(bool, bool)>, Condvar)>, // (closed, a write is waiting)
}

impl Gate {
    fn close(&self) {
        self.state.0.lock().unwrap().0 = true;
    }
    fn open(&self) {
        self.state.0.lock().unwrap().0 = false;
        self.state.1.notify_all();
    }
    fn waiting(&self) -> bool {
        self.state.0.lock().unwrap().1
    }
}

/// Opens the gate however the test ends, so a failing assertion never leaves the collector
/// stuck (and the test binary hanging at shutdown).
struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// A sink that blocks in `write` while its gate is closed (at most a minute, so that a
/// broken test cannot hang forever).
struct GatedSink(Gate);

impl Sink for GatedSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        let (lock, cv) = &*self.0.state;
        let mut s = lock.lock().unwrap();
        let end = Instant::now() + Duration::from_secs(60);
        while s.0 && Instant::now() < end {
            s.1 = true;
            s = cv.wait_timeout(s, Duration::from_millis(50)).unwrap().0;
        }
        s.1 = false;
        Ok(())
    }
}

#[test]
fn a_collector_stuck_in_a_sink_turns_unhealthy_and_recovers() {
    let gate = Gate::default();
    let _open = OpenOnDrop(gate.clone());
    let tw = builder()
        .resource_sampling(None)
        .sink(GatedSink(gate.clone()))
        .collector_policy(CollectorPolicy {
            stale_after: Duration::from_millis(200),
            ..CollectorPolicy::default()
        })
        .start()
        .unwrap();
    wait_first_tick(&tw);
    assert_eq!(
        status_of(&tw.get_system_health(), COLLECTOR),
        Status::Healthy
    );

    gate.close();
    tw.log_metric("spread", 1.0, &[]);
    poll(|| gate.waiting().then_some(())).expect("the sink never received the record");
    // The collector is inside the sink: it cannot tick, its status goes stale.
    let h = wait_for(&tw, COLLECTOR, Status::Unhealthy, || {});
    assert_eq!(h.status, Status::Unhealthy, "{h:#?}");
    assert!(gate.waiting(), "the sink let go before the check");

    gate.open();
    let h = wait_for(&tw, COLLECTOR, Status::Healthy, || {});
    assert_ne!(h.status, Status::Unhealthy, "{h:#?}");
    tw.shutdown().unwrap();
}

#[test]
fn after_shutdown_the_collector_component_is_unhealthy() {
    let tw = builder().resource_sampling(None).start().unwrap();
    wait_first_tick(&tw);
    let health = tw.health();
    assert_eq!(
        status_of(&health.get_system_health(), COLLECTOR),
        Status::Healthy
    );
    tw.shutdown().unwrap();
    // No wait: shutdown returns after the collector has marked itself stopped.
    let h = health.get_system_health();
    let c = h.component(COLLECTOR).unwrap();
    assert_eq!(c.status, Status::Unhealthy, "{h:#?}");
    assert!(c.message.contains("stopped"), "{h:#?}");
    assert_eq!(h.status, Status::Unhealthy);
}

#[test]
fn drops_into_a_tiny_ring_degrade_the_rings_component() {
    let tw = builder()
        .resource_sampling(None)
        .ring_capacity(256)
        .backpressure(Backpressure::Drop)
        .start()
        .unwrap();
    wait_first_tick(&tw);
    assert_eq!(status_of(&tw.get_system_health(), RINGS), Status::Healthy);
    let spread = tw.metric("spread", &[]);
    let h = wait_for(&tw, RINGS, Status::Degraded, || {
        // A burst far larger than the ring: the rings judge the drops of the last tick.
        for i in 0..2_000 {
            spread.record(i as f64);
        }
    });
    assert!(tw.stats().dropped > 0);
    assert!(
        h.component(RINGS).unwrap().message.contains("dropped"),
        "{h:#?}"
    );
    tw.shutdown().unwrap();
}

/// The last value of a gauge series named `name` in the instance's snapshot.
fn gauge_last(tw: &Telemetry, name: &str) -> Option<f64> {
    tw.snapshot()
        .series
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| match &s.value {
            SeriesValue::Gauge(g) => Some(g.total.last),
            _ => None,
        })
}

#[test]
fn resource_sampling_publishes_process_gauges() {
    let tw = builder()
        .resource_sampling(Some(Duration::from_millis(20)))
        .start()
        .unwrap();
    let (resident, threads) = poll(|| {
        Some((
            gauge_last(&tw, "tickwatch_process_resident_bytes")?,
            gauge_last(&tw, "tickwatch_process_threads")?,
        ))
    })
    .expect("the resource gauges never appeared in the snapshot");
    assert!(resident > 0.0, "resident bytes {resident}");
    assert!(threads >= 1.0, "threads {threads}");
    let h = tw.get_system_health();
    assert!(h.component(RESOURCES).is_some() && h.component(BUDGET).is_some());
    tw.shutdown().unwrap();
}

#[test]
fn without_resource_sampling_there_are_no_process_gauges() {
    let tw = builder().resource_sampling(None).start().unwrap();
    // Several ticks, so that a sampler running anyway would have published.
    let mut seen = 0;
    let mut last = None;
    poll(|| {
        let at = tw.get_system_health().component(COLLECTOR)?.updated_at;
        if last.is_some_and(|l| l != at) {
            seen += 1;
        }
        last = Some(at);
        (seen >= 3).then_some(())
    })
    .expect("the collector did not tick three times");
    let snap = tw.snapshot();
    let own: Vec<_> = snap
        .series
        .iter()
        .filter(|s| s.name.starts_with("tickwatch_process_"))
        .map(|s| &s.name)
        .collect();
    assert!(own.is_empty(), "{own:?}");
    let h = tw.get_system_health();
    assert!(h.component(RESOURCES).is_none(), "{h:#?}");
    assert!(h.component(BUDGET).is_none(), "{h:#?}");
    assert!(h.component(COLLECTOR).is_some());
    tw.shutdown().unwrap();
}

#[test]
fn an_application_registry_holds_tickwatchs_components_too() {
    let health = Health::new();
    health
        .register_check("exchange_link", || (Status::Healthy, "connected"))
        .unwrap();
    let tw = builder()
        .resource_sampling(None)
        .health(health.clone())
        .start()
        .unwrap();
    let h = health.get_system_health();
    assert!(h.component(COLLECTOR).is_some(), "{h:#?}");
    assert!(h.component("exchange_link").is_some());
    // The instance's handle is the same registry.
    tw.health()
        .register_check("risk_engine", || (Status::Healthy, "ok"))
        .unwrap();
    assert!(health
        .get_system_health()
        .component("risk_engine")
        .is_some());
    tw.shutdown().unwrap();
}

#[test]
fn a_taken_component_name_fails_start_and_leaves_the_registry_as_it_was() {
    let health = Health::new();
    // Taken by the application: registered after the collector's own component, so a
    // failed start has registered some of its components already.
    health.register_pushed(ALERTS, None).unwrap();
    match builder().health(health.clone()).start() {
        Err(e @ StartError::HealthComponent(_)) => {
            assert!(e.to_string().contains(ALERTS), "{e}")
        }
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("started with a taken component name"),
    }
    let names: Vec<_> = health
        .get_system_health()
        .components
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        vec![ALERTS.to_string()],
        "left behind by a failed start"
    );
    // So the application can free the name and start again.
    assert!(health.unregister(ALERTS));
    let tw = builder().health(health.clone()).start().unwrap();
    assert!(health.get_system_health().component(ALERTS).is_some());
    tw.shutdown().unwrap();
}

#[test]
fn components_judged_per_sample_do_not_go_stale_between_samples() {
    // A collector policy stricter than the sampling interval: the rings, resources and
    // budget components are judged once per sample, but the collector ticks every 10 ms and
    // is alive throughout, so none of them may read "stale" in between.
    let stale_after = Duration::from_millis(150);
    let tw = builder()
        .resource_sampling(Some(Duration::from_millis(600)))
        .collector_policy(CollectorPolicy {
            stale_after,
            ..CollectorPolicy::default()
        })
        .start()
        .unwrap();
    wait_first_tick(&tw);
    // Watch across more than one sampling interval.
    // A look while the collector itself is stale (it did not run: a loaded machine) gives
    // no verdict; the test needs 20 looks with a verdict, watching for at most 10 s.
    let start = Instant::now();
    let (mut verdicts, mut looks) = (0, 0);
    while verdicts < 20 || start.elapsed() < Duration::from_millis(800) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "only {verdicts} of {looks} looks found the collector running: no verdict"
        );
        std::thread::sleep(Duration::from_millis(5));
        looks += 1;
        let h = tw.get_system_health();
        if h.component(COLLECTOR).unwrap().message.starts_with("stale") {
            continue;
        }
        verdicts += 1;
        for name in [RINGS, RESOURCES, BUDGET] {
            let c = h.component(name).unwrap();
            assert!(!c.message.starts_with("stale"), "{name}: {h:#?}");
        }
    }
    tw.shutdown().unwrap();
}

/// A sink that takes `delay` over every write while `slow` is set.
struct SlowSink {
    slow: Arc<AtomicBool>,
    delay: Duration,
}

impl Sink for SlowSink {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        if self.slow.load(SeqCst) {
            std::thread::sleep(self.delay);
        }
        Ok(())
    }
}

#[test]
fn a_collector_lagging_behind_the_producers_is_degraded() {
    let slow = Arc::new(AtomicBool::new(true));
    let tw = builder()
        .resource_sampling(None)
        .sink(SlowSink {
            slow: slow.clone(),
            delay: Duration::from_millis(60),
        })
        .collector_policy(CollectorPolicy {
            stale_after: Duration::from_secs(30),
            lag_degraded: Duration::from_millis(30),
            lag_unhealthy: Duration::from_secs(30),
            ..CollectorPolicy::default()
        })
        .start()
        .unwrap();
    let spread = tw.metric("spread", &[]);
    // Records keep arriving while the sink takes 60 ms per batch: the oldest undrained
    // record is older than 30 ms when the collector gets to it.
    let h = wait_for(&tw, COLLECTOR, Status::Degraded, || spread.record(1.0));
    assert!(
        h.component(COLLECTOR).unwrap().message.contains("lags"),
        "{h:#?}"
    );
    slow.store(false, SeqCst);
    wait_for(&tw, COLLECTOR, Status::Healthy, || spread.record(1.0));
    tw.shutdown().unwrap();
}
