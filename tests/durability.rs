//! Delivered records reach the file without any `flush()`: an error event shows up promptly
//! and a quiet process's records within `flush_interval`, seen from another process while
//! the writer is still running, and still there after the writer is killed with SIGKILL.
//!
//! The writer is this test binary run again as a child (`child_process_entry` below, which
//! does nothing unless `TICKWATCH_DURABILITY_CHILD` is set): it logs, then sleeps without
//! ever calling `flush()` or `shutdown()`, as a process about to crash would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tickwatch::sink::JsonLinesSink;
use tickwatch::{event, Level, Telemetry};

#[path = "common/poll.rs"]
mod poll;

const CHILD_ENV: &str = "TICKWATCH_DURABILITY_CHILD";
const PATH_ENV: &str = "TICKWATCH_DURABILITY_PATH";

/// The writer: runs only when re-executed by a test below; a no-op in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = std::env::var(PATH_ENV).expect("the parent sets the path");
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::create(&path).unwrap())
        // No monitoring noise: the file holds exactly what the writer logged.
        .resource_sampling(None)
        .start()
        .unwrap();
    match mode.as_str() {
        "error" => {
            // A busy moment, then the error that precedes the crash.
            let c = tw.counter("orders_sent", &[("venue", "XNAS")]);
            for _ in 0..100 {
                c.add(1);
            }
            event!(
                tw,
                Level::Error,
                "risk engine lost its feed",
                venue = "XNAS"
            );
        }
        "quiet" => {
            event!(tw, Level::Info, "heartbeat", seq = 1u64);
        }
        other => panic!("unknown mode {other}"),
    }
    eprintln!("child: logged, now waiting to be killed");
    // Never flush, never shut down: the parent kills us.
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(3);
}

/// Kills the child on drop, whatever the test's outcome.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL on Unix
        let _ = self.0.wait();
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "tickwatch-durability-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spawn_writer(mode: &str, path: &Path) -> Writer {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .env(PATH_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Writer(child)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (generously: a loaded machine) for a line containing `needle`.
fn wait_for_line(path: &Path, needle: &str) -> Option<Vec<String>> {
    poll::poll_every(Duration::from_secs(20), Duration::from_millis(20), || {
        let l = lines(path);
        l.iter().any(|x| x.contains(needle)).then_some(l)
    })
}

#[test]
fn an_error_event_reaches_the_file_before_the_crash() {
    let dir = Scratch::new("error");
    let path = dir.0.join("events.jsonl");
    let mut writer = spawn_writer("error", &path);
    let seen = wait_for_line(&path, "risk engine lost its feed");
    let before_kill = lines(&path);
    writer.0.kill().unwrap();
    writer.0.wait().unwrap();
    let seen = seen.unwrap_or_else(|| {
        panic!(
            "the error event never reached the file while the writer ran (file: {:?})",
            lines(&path)
        )
    });
    assert!(
        seen.iter().any(|l| l.contains("\"level\":\"ERROR\"")),
        "{seen:?}"
    );
    // Everything delivered before the error is in the file too, and every line is whole JSON.
    let after = lines(&path);
    assert!(after.len() >= before_kill.len());
    let counters = after
        .iter()
        .filter(|l| l.contains("\"kind\":\"counter\""))
        .count();
    assert_eq!(counters, 100, "{after:?}");
    for l in &after {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("ts").is_some(), "{l}");
    }
}

#[test]
fn a_quiet_process_s_records_reach_the_file_without_flush() {
    let dir = Scratch::new("quiet");
    let path = dir.0.join("events.jsonl");
    let writer = spawn_writer("quiet", &path);
    let seen = wait_for_line(&path, "heartbeat");
    drop(writer);
    let seen = seen.unwrap_or_else(|| {
        panic!(
            "an Info event logged by an idle process never reached the file (file: {:?})",
            lines(&path)
        )
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
}
