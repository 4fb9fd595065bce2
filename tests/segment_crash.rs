//! `kill -9` at random moments: a child process writes events numbered 0, 1, 2, ... into a
//! segment log and reports through a pipe the last number it has flushed; the parent kills
//! it, recovers the log, and checks that what is left is exactly a prefix of the sequence
//! (no gap, no duplicate, no corrupt record) that holds everything the child had flushed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tickwatch::sink::Record;
use tickwatch::store::{LogReader, SegmentLog};
use tickwatch::{event, Level, Telemetry, Value};

const CHILD_ENV: &str = "TICKWATCH_CRASH_CHILD_DIR";

/// The child: runs only when the parent sets the variable.
#[test]
#[ignore = "the child process of the kill -9 tests; does nothing on its own"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = SegmentLog::options(&dir)
        .segment_bytes(16 * 1024)
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    let mut out = std::io::stdout().lock();
    for seq in 0u64.. {
        event!(
            tw,
            Level::Info,
            "tick",
            seq = seq,
            pad = "some text to fill frames"
        );
        if seq % 64 == 63 {
            tw.flush().unwrap();
            use std::io::Write;
            writeln!(out, "{seq}").unwrap();
            out.flush().unwrap();
        }
    }
}

fn run_rounds(rounds: u32) {
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545F4914F6CDD1Du64 ^ u64::from(std::process::id());
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut total_cut, mut recovered) = (0u64, 0u64);
    for round in 0..rounds {
        let dir = std::env::temp_dir().join(format!(
            "tw-crash-{}-{round}-{}",
            std::process::id(),
            next() % 1_000_000
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read the child's reports on a thread; kill after a random delay once it writes.
        let reader = std::thread::spawn(move || {
            let mut last: Option<u64> = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(n) = line.trim().parse::<u64>() {
                    last = Some(n);
                }
            }
            last
        });
        let started = Instant::now();
        // Wait for the log to exist, then a random 0-40 ms more.
        while std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(next() % 40_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let flushed = reader.join().unwrap();
        let report = SegmentLog::options(&dir).open().unwrap().recovery().clone();
        total_cut += report.bytes_cut;
        recovered += report.recovered_segments;
        check_prefix(&dir, flushed, round);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "{rounds} kill -9 rounds: {recovered} segments recovered, {total_cut} bytes cut in all"
    );
}

fn check_prefix(dir: &Path, flushed: Option<u64>, round: u32) {
    let r = LogReader::open(dir).unwrap();
    let v = r.verify().unwrap();
    assert!(v.ok() && v.torn_tail.is_none(), "round {round}: {v:?}");
    let mut seqs = Vec::new();
    r.for_each(|rec, _| {
        // The collector's own records (none expected in 40 ms) are not numbered.
        if let Record::Event { fields, .. } = rec {
            match fields.first() {
                Some((name, Value::U64(n))) if name == "seq" => seqs.push(*n),
                other => panic!("round {round}: unexpected field {other:?}"),
            }
        }
    })
    .unwrap();
    for (i, s) in seqs.iter().enumerate() {
        assert_eq!(*s, i as u64, "round {round}: a gap or a duplicate at {i}");
    }
    if let Some(f) = flushed {
        assert!(
            seqs.len() as u64 > f,
            "round {round}: flushed up to {f} but only {} records survived",
            seqs.len()
        );
    }
}

#[test]
fn kill_9_leaves_a_prefix_that_holds_everything_flushed() {
    run_rounds(200);
}

#[test]
#[ignore = "1,000 rounds, about a minute: run by hand, result in the closing note"]
fn kill_9_a_thousand_times() {
    run_rounds(1000);
}
