//! The procfs parsers on fixed texts and on garbage, and the rate arithmetic on fixed
//! readings (the real `/proc` is exercised by `tests/resources.rs`).

use proptest::prelude::*;

use super::procfs::{parse_schedstat, parse_stat, parse_status, Stat, Status};
use super::*;

/// A real `/proc/self/stat` line (from `cat` on Linux 6.x) with the name replaced by one
/// holding spaces and parentheses: utime 1520, stime 307, 9 threads.
const STAT: &str = "1234 (my (weird) name) S 31565 31565 29544 0 -1 4194304 97 0 0 0 1520 307 0 0 20 0 9 0 1069642 3133440 357 18446744073709551615 94227500949504 94227500969385 140736320665200 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94227500985392 94227500987008 94227706015744 140736320666338 140736320666358 140736320666358 140736320667627 0\n";

const STATUS: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t31567\nVmPeak:\t    3060 kB\nVmSize:\t    3060 kB\nVmHWM:\t    1428 kB\nVmRSS:\t    1428 kB\nRssAnon:\t       0 kB\nThreads:\t1\nSigQ:\t0/7823\n";

#[test]
fn stat_with_spaces_and_parentheses_in_the_name() {
    assert_eq!(
        parse_stat(STAT),
        Ok(Stat {
            utime_ticks: 1520,
            stime_ticks: 307,
            num_threads: 9
        })
    );
}

#[test]
fn stat_name_with_a_closing_parenthesis_and_numbers() {
    // The fields must be counted from the last `)`: a name like `a) 1 2 3 (b` would shift
    // a parser that splits on the first one.
    let line = STAT.replace("(my (weird) name)", "(a) 1 2 3 (b)");
    assert_eq!(parse_stat(&line).map(|s| s.utime_ticks), Ok(1520));
}

#[test]
fn stat_truncated_or_garbled() {
    assert_eq!(parse_stat(""), Err("comm"));
    assert_eq!(parse_stat("1234 no parenthesis S 1 2 3"), Err("comm"));
    let cut: String = STAT.split(' ').take(14).collect::<Vec<_>>().join(" ");
    assert_eq!(parse_stat(&cut), Err("utime"));
    let bad = STAT.replace(" 1520 ", " 15x0 ");
    assert_eq!(parse_stat(&bad), Err("utime"));
    let neg = STAT.replace(" 307 ", " -307 ");
    assert_eq!(parse_stat(&neg), Err("stime"));
    let short: String = STAT.split(' ').take(21).collect::<Vec<_>>().join(" ");
    assert_eq!(parse_stat(&short), Err("num_threads"));
}

#[test]
fn status_fields() {
    assert_eq!(
        parse_status(STATUS),
        Ok(Status {
            resident_bytes: 1428 * 1024,
            threads: 1
        })
    );
}

#[test]
fn status_missing_or_bad_fields() {
    assert_eq!(parse_status(""), Err("VmRSS"));
    assert_eq!(parse_status("VmRSS:\t 12 kB\n"), Err("Threads"));
    assert_eq!(parse_status("Threads:\t3\n"), Err("VmRSS"));
    assert_eq!(parse_status("VmRSS:\t 12 MB\nThreads:\t3\n"), Err("VmRSS"));
    assert_eq!(parse_status("VmRSS:\t 12\nThreads:\t3\n"), Err("VmRSS"));
    assert_eq!(
        parse_status("VmRSS:\t 12 kB\nThreads:\tmany\n"),
        Err("Threads")
    );
    // kB * 1024 overflowing u64 is malformed, not a wrapped number.
    let huge = format!("VmRSS:\t{} kB\nThreads:\t1\n", u64::MAX);
    assert_eq!(parse_status(&huge), Err("VmRSS"));
}

#[test]
fn schedstat() {
    assert_eq!(parse_schedstat("283883 157051 2\n"), Ok(283_883));
    assert_eq!(parse_schedstat(""), Err("run time"));
    assert_eq!(parse_schedstat("abc 1 2"), Err("run time"));
}

proptest! {
    #[test]
    fn parsers_never_panic_on_any_text(text in any::<String>()) {
        let _ = crate::resources::parse_proc_texts(&text);
    }

    #[test]
    fn parsers_never_panic_on_mutated_real_texts(
        base in prop::sample::select(vec![STAT, STATUS, "283883 157051 2\n"]),
        cut in 0usize..400,
        insert in "[ ()\t\n0-9a-zA-Z:é]{0,8}",
    ) {
        let mut text = base.to_string();
        let at = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
        text.insert_str(at, &insert);
        let _ = crate::resources::parse_proc_texts(&text);
        let _ = crate::resources::parse_proc_texts(&text[..at]);
    }
}

fn readings(cpu_ticks: u64, thread_cpu_ns: Option<u64>) -> ProcReadings {
    ProcReadings {
        cpu_ticks,
        resident_bytes: 1 << 20,
        threads: 4,
        open_fds: 9,
        thread_cpu_ns,
    }
}

fn at_secs(s: u64) -> Timestamp {
    Timestamp::from_unix_nanos(s * 1_000_000_000)
}

#[test]
fn rates_come_from_the_previous_sample() {
    let mut sampler = ResourceSampler::with_proc_root("/nonexistent");
    sampler.cores = 4;
    let me = std::thread::current().id();
    let p0 = PipelineCounters {
        delivered: 1_000,
        dropped: 5,
        ..Default::default()
    };
    let first = sampler.sample_from(at_secs(10), readings(100, Some(0)), &p0, me);
    assert_eq!(first.process_cpu_ratio, None);
    assert_eq!(first.records_per_second, None);
    assert_eq!(first.collector_cpu_ratio, None);
    assert_eq!(first.dropped, 0);
    assert_eq!(first.process_cpu_secs, 1.0);

    let mut p1 = PipelineCounters {
        delivered: 21_000,
        dropped: 8,
        sink_ns: 60_000_000,
        sleep_ns: 1_900_000_000,
        ..Default::default()
    };
    p1.add_lane(512, 1024);
    p1.add_lane(300, 400);
    // 2 s later: 300 ticks = 3 s of CPU (1.5 cores), 0.1 s on this thread, awake 0.1 s (it
    // slept 1.9 s), 60 ms of which inside the sinks.
    let s = sampler.sample_from(at_secs(12), readings(400, Some(100_000_000)), &p1, me);
    assert_eq!(s.interval_secs, 2.0);
    assert_eq!(s.process_cpu_ratio, Some(1.5));
    assert_eq!(s.process_cpu_ratio_all_cores, Some(0.375));
    assert_eq!(s.records_per_second, Some(10_000.0));
    assert_eq!(s.collector_cpu_ratio, Some(0.05));
    assert!((s.sink_cpu_ratio.unwrap() - 0.03).abs() < 1e-12);
    assert!((s.collector_own_cpu_ratio.unwrap() - 0.02).abs() < 1e-12);
    assert_eq!(s.sink_secs, 0.06);
    assert_eq!(s.dropped, 3);
    assert_eq!(s.dropped_total, 8);
    assert_eq!(s.ring_high_water_bytes, 512);
    assert_eq!(s.ring_high_water_ratio, 0.75);
}

#[test]
fn no_rates_when_time_goes_backwards_or_the_thread_changes() {
    let mut sampler = ResourceSampler::with_proc_root("/nonexistent");
    let me = std::thread::current().id();
    let other = std::thread::spawn(|| std::thread::current().id())
        .join()
        .unwrap();
    let p = PipelineCounters::default();
    sampler.sample_from(at_secs(10), readings(100, Some(0)), &p, me);
    let back = sampler.sample_from(at_secs(9), readings(200, Some(10)), &p, me);
    assert_eq!(back.process_cpu_ratio, None);
    let moved = sampler.sample_from(at_secs(11), readings(300, Some(20)), &p, other);
    assert!(moved.process_cpu_ratio.is_some());
    assert_eq!(moved.collector_cpu_ratio, None, "a different thread's CPU");
}

#[test]
fn counters_going_backwards_count_as_no_change() {
    let mut sampler = ResourceSampler::with_proc_root("/nonexistent");
    let me = std::thread::current().id();
    let p0 = PipelineCounters {
        delivered: 100,
        dropped: 50,
        ..Default::default()
    };
    sampler.sample_from(at_secs(1), readings(100, None), &p0, me);
    let s = sampler.sample_from(
        at_secs(2),
        readings(50, None),
        &PipelineCounters::default(),
        me,
    );
    assert_eq!(s.dropped, 0);
    assert_eq!(s.records_per_second, Some(0.0));
    assert_eq!(s.process_cpu_ratio, Some(0.0));
}

#[test]
fn the_collector_cpu_is_apportioned_by_the_sinks_share_of_its_awake_time() {
    let mut sampler = ResourceSampler::with_proc_root("/nonexistent");
    let me = std::thread::current().id();
    let at = |sink_ns, sleep_ns| PipelineCounters {
        sink_ns,
        sleep_ns,
        ..Default::default()
    };
    let close = |got: Option<f64>, want: f64| {
        let g = got.expect("a ratio");
        assert!((g - want).abs() < 1e-9, "got {g}, want {want}");
    };
    sampler.sample_from(at_secs(1), readings(0, Some(1_000_000_000)), &at(0, 0), me);
    // 1 s: asleep 600 ms, awake 400 ms, all of it on the CPU; 300 ms inside the sinks.
    let s = sampler.sample_from(
        at_secs(2),
        readings(0, Some(1_400_000_000)),
        &at(300_000_000, 600_000_000),
        me,
    );
    close(s.collector_cpu_ratio, 0.4);
    close(s.sink_cpu_ratio, 0.3);
    close(s.collector_own_cpu_ratio, 0.1);
    // 1 s on a busy machine: asleep 400 ms, awake 600 ms but only 400 ms of CPU (preempted
    // for 200 ms), 500 ms inside the sinks by the clock. Subtracting the sinks' wall time
    // from the CPU would leave the collector 0; apportioned, the sinks had 5/6 of the CPU.
    let s = sampler.sample_from(
        at_secs(3),
        readings(0, Some(1_800_000_000)),
        &at(800_000_000, 1_000_000_000),
        me,
    );
    close(s.sink_cpu_ratio, 0.4 * 5.0 / 6.0);
    close(s.collector_own_cpu_ratio, 0.4 / 6.0);
    // 1 s: a sink blocked on I/O for 900 ms of a 950 ms awake time while the thread used
    // 50 ms of CPU: the sinks are charged their share of that CPU, not their wait.
    let s = sampler.sample_from(
        at_secs(4),
        readings(0, Some(1_850_000_000)),
        &at(1_700_000_000, 1_050_000_000),
        me,
    );
    close(s.sink_cpu_ratio, 0.05 * 900.0 / 950.0);
    close(s.collector_own_cpu_ratio, 0.05 * 50.0 / 950.0);
    let gauges = s.gauges();
    let get = |n: &str| gauges.iter().find(|(g, _)| *g == n).map(|&(_, v)| v);
    close(get("tickwatch_sink_cpu_ratio"), 0.05 * 900.0 / 950.0);
    close(
        get("tickwatch_collector_own_cpu_ratio"),
        0.05 * 50.0 / 950.0,
    );
    assert_eq!(get("tickwatch_resource_sample_interval_seconds"), Some(1.0));
    // Totals are counters elsewhere, not gauges.
    assert_eq!(get("tickwatch_dropped"), None);
    assert_eq!(get("tickwatch_collector_cpu_seconds"), None);
}

#[test]
fn a_baseline_before_spawn_gives_the_first_sample_rates_from_start() {
    // A fake procfs with only what the baseline reads: the process's stat.
    let dir = std::env::temp_dir().join(format!(
        "tickwatch-baseline-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("self")).unwrap();
    std::fs::write(
        dir.join("self/stat"),
        "1 (x) S 0 0 0 0 -1 0 0 0 0 0 100 20 0 0 20 0 3 0 0 0 0",
    )
    .unwrap();
    let mut sampler = ResourceSampler::with_proc_root(&dir);
    let start = PipelineCounters::default();
    sampler
        .baseline_before_spawn(at_secs(100), &start)
        .expect("baseline from a readable stat");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(sampler.last_thread_cpu_ns(), None, "no sample yet");
    // The first sample, on a thread spawned after the baseline: its CPU since creation is
    // the CPU since the baseline; drops, records and sink time count from 0.
    let collector = std::thread::spawn(|| std::thread::current().id())
        .join()
        .unwrap();
    let p = PipelineCounters {
        delivered: 5_000,
        dropped: 40,
        sink_ns: 10_000_000,
        sleep_ns: 900_000_000,
        ..Default::default()
    };
    let s = sampler.sample_from(at_secs(101), readings(150, Some(50_000_000)), &p, collector);
    assert_eq!(s.interval_secs, 1.0);
    assert_eq!(s.process_cpu_ratio, Some(0.3));
    assert_eq!(s.collector_cpu_ratio, Some(0.05));
    // Awake 100 ms, 10 ms of it in the sinks: a tenth of the 50 ms of CPU.
    assert!((s.sink_cpu_ratio.unwrap() - 0.005).abs() < 1e-12);
    assert!((s.collector_own_cpu_ratio.unwrap() - 0.045).abs() < 1e-12);
    assert_eq!(s.records_per_second, Some(5_000.0));
    assert_eq!(s.dropped, 40, "drops before the first sample count");
    assert_eq!(sampler.last_thread_cpu_ns(), Some(50_000_000));
    // From then on, the usual rule: the same thread only.
    let s = sampler.sample_from(
        at_secs(102),
        readings(150, Some(60_000_000)),
        &p,
        me_thread(),
    );
    assert_eq!(s.collector_cpu_ratio, None, "a different thread's CPU");
}

fn me_thread() -> std::thread::ThreadId {
    std::thread::current().id()
}

#[test]
fn a_measured_sink_cpu_splits_the_collector_cpu_directly() {
    let mut sampler = ResourceSampler::with_proc_root("/nonexistent");
    let me = std::thread::current().id();
    let at = |sink_ns, sleep_ns, sink_cpu_ns| PipelineCounters {
        sink_ns,
        sleep_ns,
        sink_cpu_ns,
        ..Default::default()
    };
    let close = |got: Option<f64>, want: f64| {
        let g = got.expect("a ratio");
        assert!((g - want).abs() < 1e-9, "got {g}, want {want}");
    };
    sampler.sample_from(
        at_secs(1),
        readings(0, Some(1_000_000_000)),
        &at(0, 0, Some(0)),
        me,
    );
    // 1 s: awake 600 ms, 400 ms of CPU; 500 ms inside the sinks by the clock (preempted
    // there) but 100 ms of CPU by the thread's CPU clock: the sinks cost 10 %, not 5/6.
    let s = sampler.sample_from(
        at_secs(2),
        readings(0, Some(1_400_000_000)),
        &at(500_000_000, 400_000_000, Some(100_000_000)),
        me,
    );
    close(s.collector_cpu_ratio, 0.4);
    close(s.sink_cpu_ratio, 0.1);
    close(s.collector_own_cpu_ratio, 0.3);
    // A sampled estimate above the thread's CPU (a lucky sample scaled up) is capped at it.
    let s = sampler.sample_from(
        at_secs(3),
        readings(0, Some(1_500_000_000)),
        &at(600_000_000, 800_000_000, Some(400_000_000)),
        me,
    );
    close(s.sink_cpu_ratio, 0.1);
    close(s.collector_own_cpu_ratio, 0.0);
    // No measurement in one of the two readings: back to apportioning by wall time.
    let s = sampler.sample_from(
        at_secs(4),
        readings(0, Some(1_900_000_000)),
        &at(800_000_000, 1_000_000_000, None),
        me,
    );
    close(s.sink_cpu_ratio, 0.4 * 200.0 / 800.0);
}
