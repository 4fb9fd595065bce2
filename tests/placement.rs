//! Thread placement: the collector's name and CPU set as the OS reports them, refused sets as
//! typed errors, and the low-latency (spinning) collector conserving every record.

use std::time::{Duration, Instant};

use tickwatch::sink::MemorySink;
use tickwatch::{PinError, StartError, Telemetry, ThreadPlacement, MAX_CPU};

/// The `(comm, Cpus_allowed_list)` of this process's thread named `name`, if there is one.
#[cfg(target_os = "linux")]
fn thread_named(name: &str) -> Option<(String, String)> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            let cpus = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
                .trim()
                .to_owned();
            return Some((comm.trim().to_owned(), cpus));
        }
    }
    None
}

#[cfg(target_os = "linux")]
#[test]
fn the_collector_runs_named_and_pinned() {
    let tw = Telemetry::builder()
        .collector_placement(ThreadPlacement::new().name("tw-coll-pin").cpus([0]))
        .start()
        .unwrap();
    let (name, cpus) = thread_named("tw-coll-pin").expect("a thread with the name given");
    assert_eq!(name, "tw-coll-pin");
    assert_eq!(cpus, "0");
    // It still collects.
    tw.counter("pinned_orders", &[]).add(3);
    tw.flush().unwrap();
    assert_eq!(tw.stats().delivered, tw.stats().accepted);
    tw.shutdown().unwrap();
    assert!(thread_named("tw-coll-pin").is_none(), "joined at shutdown");
}

#[test]
fn a_cpu_out_of_range_is_refused_at_start() {
    let err = Telemetry::builder()
        .collector_placement(ThreadPlacement::new().cpus([MAX_CPU + 1]))
        .start()
        .unwrap_err();
    assert!(
        matches!(err, StartError::Placement(PinError::CpuOutOfRange { cpu }) if cpu == MAX_CPU + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_cpu_the_machine_lacks_is_the_oss_refusal_not_a_silent_unpinned_thread() {
    // Below MAX_CPU, so it passes validation; no test machine has 1,000 CPUs.
    let err = Telemetry::builder()
        .collector_placement(ThreadPlacement::new().cpus([MAX_CPU - 3]))
        .start()
        .unwrap_err();
    assert!(
        matches!(err, StartError::Placement(PinError::Os(_))),
        "{err:?}"
    );
    // The builder is usable again: nothing was left registered.
    let tw = Telemetry::builder().start().unwrap();
    tw.shutdown().unwrap();
}

#[test]
fn placement_reads_from_a_config_file() {
    let c = tickwatch::Config::from_toml(
        "[pipeline]\ncollector_spin = \"2ms\"\n[pipeline.collector]\nname = \"md-collector\"\ncpus = [0]\n",
    )
    .unwrap();
    assert_eq!(c.pipeline.collector.name.as_deref(), Some("md-collector"));
    assert_eq!(c.pipeline.collector.cpus, vec![0]);
    assert_eq!(c.pipeline.collector_spin, Duration::from_millis(2));
    let e = tickwatch::Config::from_toml("[pipeline.collector]\ncpu = [0]\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("pipeline.collector.cpu"), "{e}");
    assert_eq!(e.line, Some(2), "{e}");
    let e = tickwatch::Config::from_toml("[pipeline]\ncollector_spin = \"2s\"\n").unwrap_err();
    assert!(e.to_string().contains("collector_spin"), "{e}");
}

/// Spin mode under several producer threads on a small ring that wraps and fills: every
/// call accounted for, and records reach the sink without waiting for an idle sleep.
#[test]
fn a_spinning_collector_conserves_every_record_and_delivers_promptly() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .ring_capacity(tickwatch::MIN_RING_CAPACITY * 8)
        .collector_spin(Duration::from_secs(1))
        // A long idle sleep: only the spin can deliver promptly.
        .idle_interval(Duration::from_millis(200))
        .max_idle_interval(Duration::from_millis(200))
        .sink(mem.clone())
        .start()
        .unwrap();
    let per_thread = if cfg!(miri) { 50 } else { 20_000 };
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let tw = &tw;
            s.spawn(move || {
                let c = tw.counter("spun", &[("t", ["a", "b", "c"][t as usize])]);
                for _ in 0..per_thread {
                    c.add(1);
                }
            });
        }
    });
    tw.flush().unwrap();
    let st = tw.stats();
    assert_eq!(st.accepted + st.dropped, 3 * per_thread, "{st:?}");
    assert_eq!(st.accepted, st.delivered, "{st:?}");
    // Prompt delivery: one record, no flush; the spin picks it up long before 200 ms.
    let _ = mem.take();
    let t0 = Instant::now();
    tw.counter("late", &[]).add(1);
    while mem.take().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_millis(150),
            "waited for the idle sleep"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    tw.shutdown().unwrap();
}
