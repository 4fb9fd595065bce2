//! The resource sampler on the real process (Linux): each reading moves when the process
//! does the corresponding thing; and on a missing or fake procfs. One `#[test]` on purpose:
//! thread and descriptor counts are process-wide, so a second test running in parallel in
//! this binary would move them too.
//! The parsers on fixed and garbage texts are unit tests (`src/resources/tests.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use tickwatch::resources::{PipelineCounters, ResourceSample, ResourceSampler, SampleError};
use tickwatch::Timestamp;

fn now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Timestamp::from_unix_nanos(d.as_nanos() as u64)
}

fn sample(s: &mut ResourceSampler) -> ResourceSample {
    s.sample(now(), &PipelineCounters::default())
        .expect("sampling /proc")
}

#[test]
#[cfg(target_os = "linux")] // the sampler reads /proc
fn sampler_on_the_real_process() {
    let mut sampler = ResourceSampler::new();
    let first = sample(&mut sampler);
    assert!(first.resident_bytes > 0);
    assert!(first.threads >= 1);
    assert!(first.cores >= 1);
    assert_eq!(
        first.process_cpu_ratio, None,
        "no interval on a first sample"
    );

    resident_memory_grows_when_touched(&mut sampler);
    threads_are_counted(&mut sampler);
    descriptors_are_counted(&mut sampler);
    cpu_time_grows_and_ticks_are_user_hz(&mut sampler);
    pipeline_counters_become_rates(&mut sampler);
    missing_or_garbled_procfs_is_a_typed_error();
}

fn resident_memory_grows_when_touched(sampler: &mut ResourceSampler) {
    const SIZE: usize = 64 << 20;
    let before = sample(sampler).resident_bytes;
    // `vec![0; n]` would map zero pages without touching them: write one byte per page.
    let mut block: Vec<u8> = Vec::with_capacity(SIZE);
    block.resize(SIZE, 1);
    for i in (0..SIZE).step_by(4096) {
        block[i] = (i >> 12) as u8;
    }
    std::hint::black_box(&block);
    let during = sample(sampler).resident_bytes;
    assert!(
        during >= before + (48 << 20),
        "RSS {before} -> {during} after touching 64 MiB"
    );
    drop(block);
}

fn threads_are_counted(sampler: &mut ResourceSampler) {
    const N: u64 = 5;
    let before = sample(sampler).threads;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let started = std::sync::Arc::new(std::sync::Barrier::new(N as usize + 1));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (rx, started) = (rx.clone(), started.clone());
            std::thread::spawn(move || {
                started.wait();
                // Parked until the sender is dropped.
                let _ = rx.lock().unwrap().recv();
            })
        })
        .collect();
    started.wait();
    let during = sample(sampler).threads;
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(during, before + N, "threads {before} -> {during}");
}

fn descriptors_are_counted(sampler: &mut ResourceSampler) {
    const K: u64 = 7;
    let before = sample(sampler).open_fds;
    let files: Vec<std::fs::File> = (0..K)
        .map(|_| std::fs::File::open(env!("CARGO_MANIFEST_DIR")).unwrap())
        .collect();
    let during = sample(sampler).open_fds;
    drop(files);
    let after = sample(sampler).open_fds;
    assert_eq!(during, before + K, "fds {before} -> {during}");
    assert_eq!(after, before, "fds back after closing");
}

/// Spins this thread until the sampler sees its CPU time grow by 200 ms. The process's CPU
/// (from `/proc/self/stat`, in ticks the sampler assumes to be 1/100 s) must then have grown
/// by about as much as this thread's (from schedstat, in nanoseconds): a wrong tick rate
/// would be off by a factor of 10 or more. Compares two CPU counters, not wall time.
fn cpu_time_grows_and_ticks_are_user_hz(sampler: &mut ResourceSampler) {
    let before = sample(sampler);
    let thread_before = before
        .collector_cpu_secs
        .expect("per-thread CPU time in /proc/thread-self");
    let mut x = 0u64;
    let mut last = before.clone();
    for round in 0.. {
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
        last = sample(sampler);
        if last.collector_cpu_secs.unwrap() - thread_before >= 0.2 {
            break;
        }
        assert!(round < 100_000, "this thread's CPU time never grew");
    }
    let thread_cpu = last.collector_cpu_secs.unwrap() - thread_before;
    let process_cpu = last.process_cpu_secs - before.process_cpu_secs;
    assert!(
        last.process_cpu_secs > before.process_cpu_secs,
        "process CPU time grew"
    );
    let ratio = process_cpu / thread_cpu;
    assert!(
        (0.5..2.0).contains(&ratio),
        "process CPU {process_cpu:.3} s vs this thread {thread_cpu:.3} s: is CLK_TCK 100?"
    );
    let r = last
        .collector_cpu_ratio
        .expect("a rate after the first sample");
    assert!(r > 0.0, "busy thread has a CPU ratio");
}

fn pipeline_counters_become_rates(sampler: &mut ResourceSampler) {
    let t0 = now();
    sampler
        .sample(
            t0,
            &PipelineCounters {
                delivered: 1_000,
                dropped: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let t1 = Timestamp::from_unix_nanos(t0.unix_nanos() + 500_000_000);
    let mut p = PipelineCounters {
        delivered: 6_000,
        dropped: 9,
        sink_ns: 100_000_000,
        ..Default::default()
    };
    p.add_lane(4096, 65536);
    let s = sampler.sample(t1, &p).unwrap();
    assert_eq!(s.records_per_second, Some(10_000.0));
    assert_eq!(s.dropped, 7);
    // The collector thread (here: this thread) was awake the whole 500 ms and 100 ms of it
    // was inside sinks, so the sinks are charged a fifth of the thread's measured CPU and the
    // collector's own work the rest, whatever that CPU was.
    let cpu = s
        .collector_cpu_ratio
        .expect("this thread's CPU is readable");
    let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
    assert!(close(s.sink_cpu_ratio, cpu * 0.2), "{s:?}");
    assert!(close(s.collector_own_cpu_ratio, cpu * 0.8), "{s:?}");
    assert_eq!(s.sink_secs, 0.1);
    let gauges = s.gauges();
    let get = |n: &str| gauges.iter().find(|(g, _)| *g == n).map(|&(_, v)| v);
    assert_eq!(get("tickwatch_records_per_second"), Some(10_000.0));
    assert_eq!(get("tickwatch_sink_cpu_ratio"), s.sink_cpu_ratio);
    assert_eq!(get("tickwatch_resource_sample_interval_seconds"), Some(0.5));
    // Running totals are counters (exported from `Stats` and the collector's CPU total),
    // not gauges.
    assert_eq!(get("tickwatch_dropped"), None);
    assert_eq!(get("tickwatch_collector_cpu_seconds"), None);
    assert_eq!(get("tickwatch_ring_high_water_ratio"), Some(0.0625));
    assert_eq!(get("tickwatch_process_threads"), Some(s.threads as f64));
    assert_eq!(
        get("tickwatch_process_resident_bytes"),
        Some(s.resident_bytes as f64)
    );
    for name in [
        "tickwatch_process_cpu_ratio",
        "tickwatch_process_open_fds",
        "tickwatch_collector_cpu_ratio",
        "tickwatch_collector_own_cpu_ratio",
    ] {
        assert!(get(name).is_some(), "{name} published");
    }
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ResourceSample>(&json).unwrap(), s);
}

fn missing_or_garbled_procfs_is_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("tickwatch-procfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let e = ResourceSampler::with_proc_root(&dir)
        .sample(now(), &PipelineCounters::default())
        .unwrap_err();
    assert!(
        matches!(&e, SampleError::Unavailable { path, .. } if path.ends_with("self/stat")),
        "{e:?}"
    );
    assert!(e.to_string().contains("procfs"), "{e}");

    std::fs::create_dir_all(dir.join("self/fd")).unwrap();
    std::fs::write(dir.join("self/stat"), "not a stat line").unwrap();
    let e = ResourceSampler::with_proc_root(&dir)
        .sample(now(), &PipelineCounters::default())
        .unwrap_err();
    assert!(
        matches!(&e, SampleError::Malformed { field: "comm", .. }),
        "{e:?}"
    );

    std::fs::write(
        dir.join("self/stat"),
        "1 (x) S 0 0 0 0 -1 0 0 0 0 0 250 50 0 0 20 0 3 0 0 0 0",
    )
    .unwrap();
    std::fs::write(dir.join("self/status"), "VmRSS:\t8 kB\n").unwrap();
    let e = ResourceSampler::with_proc_root(&dir)
        .sample(now(), &PipelineCounters::default())
        .unwrap_err();
    assert!(
        matches!(
            &e,
            SampleError::Malformed {
                field: "Threads",
                ..
            }
        ),
        "{e:?}"
    );

    // A complete fake procfs: no per-thread files, so no collector CPU, but no error.
    std::fs::write(dir.join("self/status"), "VmRSS:\t8 kB\nThreads:\t3\n").unwrap();
    std::fs::write(dir.join("self/fd/0"), "").unwrap();
    let s = ResourceSampler::with_proc_root(&dir)
        .sample(now(), &PipelineCounters::default())
        .unwrap();
    assert_eq!(
        (s.resident_bytes, s.threads, s.open_fds, s.process_cpu_secs),
        (8192, 3, 1, 3.0)
    );
    assert_eq!(s.collector_cpu_secs, None);
    std::fs::remove_dir_all(&dir).unwrap();
}
