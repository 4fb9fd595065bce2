//! Restart time after `kill -9` (issue 11, point 6): how long from a process's start to its
//! first accepted record and to `get_system_health()` reading healthy, with a large
//! encrypted segment log cut by the kill and a persisted key file to reopen.
//!
//! ```text
//! cargo run --release --example restart_time            # a 1 GiB log, 5 restarts per tick
//! cargo run --release --example restart_time -- --quick # a 128 MiB log, 3 restarts
//! ```
//!
//! The example runs itself as child processes. A writer child fills the log (AES-256-GCM
//! frames under a ring persisted with `KeyRingBuilder::persist`, the key-encryption key in
//! `TICKWATCH_KEK`) and is killed with SIGKILL while it writes. Then, in each round, a new
//! child starts: it opens the key file, opens the log (recovery cuts the torn tail), starts an
//! instance, records one sample, and polls health every millisecond; it prints each moment
//! as it reaches it, keeps writing, and is killed in turn. The parent timestamps the lines
//! from the moment it spawned the child, so process start-up is included.
//!
//! The writer also spools to a `recovery::Spool` whose sink is down, until the spool is full
//! (64 MiB). The last restart opens it with the sink back up: health turns healthy only once
//! the spool has been replayed (a spool holding records reads degraded).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwatch::health::Status;
use tickwatch::recovery::{SpoolFull, SpoolOptions};
use tickwatch::security::crypto::{KeyRing, SecretKey};
use tickwatch::sink::{Batch, Record, Replay, Sink, SinkError};
use tickwatch::store::SegmentLog;
use tickwatch::{Backpressure, Telemetry};

const KEK_VAR: &str = "TICKWATCH_KEK";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--child-write") => child_write(Path::new(&args[2]), args[3].parse()?),
        Some("--child-restart") => child_restart(Path::new(&args[2]), &args[3]),
        _ => parent(args.iter().any(|a| a == "--quick")),
    }
}

fn paths(root: &Path) -> (PathBuf, PathBuf) {
    (root.join("log"), root.join("keys.tw"))
}

/// The sink the spool holds records for: down while the writer runs, up after.
struct Target {
    up: bool,
}

impl Sink for Target {
    fn write(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        match self.up {
            true => Ok(()),
            false => Err(SinkError::new("down")),
        }
    }
    fn write_records(&mut self, _: &[Record], _: Replay) -> Result<(), SinkError> {
        match self.up {
            true => Ok(()),
            false => Err(SinkError::new("down")),
        }
    }
}

const SPOOL_BYTES: u64 = 64 << 20;

fn spool(
    root: &Path,
    up: bool,
) -> Result<tickwatch::recovery::Spool<Target>, Box<dyn std::error::Error>> {
    Ok(SpoolOptions::new(root.join("spool"))
        .max_bytes(SPOOL_BYTES)
        .when_full(SpoolFull::DropNewest)
        .retry_after(Duration::from_millis(1), Duration::from_millis(100))
        .open(Target { up })?)
}

fn ring(root: &Path) -> Result<Arc<KeyRing>, Box<dyn std::error::Error>> {
    let (_, keys) = paths(root);
    let kek = SecretKey::from_env(KEK_VAR)?;
    Ok(Arc::new(
        KeyRing::builder()
            .generated_key("k0")
            .persist(keys, kek)
            .build()?,
    ))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Fills the log to `bytes`, says so, and writes on until it is killed.
fn child_write(root: &Path, bytes: u64) -> Result<(), Box<dyn std::error::Error>> {
    let (log, _) = paths(root);
    let ring = ring(root)?;
    let tw = Telemetry::builder()
        .ring_capacity(1 << 22)
        .backpressure(Backpressure::Block)
        .aggregation(false)
        .resource_sampling(None)
        .segment_log(SegmentLog::options(&log).encrypt(ring).open()?)
        .sink(spool(root, false)?)
        .start()?;
    let m = tw.metric("px", &[("venue", "XNAS")]);
    let mut said = false;
    let mut i = 0u64;
    loop {
        for _ in 0..200_000 {
            m.record(i as f64);
            i += 1;
        }
        if !said && dir_bytes(&log) >= bytes && dir_bytes(&root.join("spool")) >= SPOOL_BYTES {
            println!("ready {i}");
            said = true;
        }
    }
}

/// Starts over after a kill: prints `accepted` and `healthy` (microseconds since main) and
/// what recovery did, then writes until it is killed.
fn child_restart(root: &Path, arg: &str) -> Result<(), Box<dyn std::error::Error>> {
    let with_spool = arg.ends_with("+spool");
    let tick_ms: u64 = arg.trim_end_matches("+spool").parse()?;
    let t0 = Instant::now();
    let (log, _) = paths(root);
    let ring = ring(root)?;
    let keys_us = t0.elapsed().as_micros();
    let seg = SegmentLog::options(&log).encrypt(ring).open()?;
    let recovery = seg.recovery().clone();
    let open_us = t0.elapsed().as_micros();
    let mut builder = Telemetry::builder()
        .monitor_tick(Duration::from_millis(tick_ms))
        .segment_log(seg);
    let (mut spooled, mut handle) = (0, None);
    if with_spool {
        let s = spool(root, true)?;
        spooled = s.handle().stats().records;
        handle = Some(s.handle());
        builder = builder.sink(s);
    }
    let spool_us = t0.elapsed().as_micros();
    let tw = builder.start()?;
    let m = tw.metric("px", &[("venue", "XNAS")]);
    m.record(1.0);
    println!(
        "accepted {} keys {keys_us} open {open_us} spool {spool_us} ({spooled} records) segments {} bytes_cut {}",
        t0.elapsed().as_micros(),
        recovery.segments,
        recovery.bytes_cut
    );
    // An engine keeps recording, here 20,000 samples a second (its batches also drive the
    // spool's replay); at most 20 s.
    let mut i = 0.0;
    let mut drained = None;
    loop {
        for _ in 0..20 {
            m.record(i);
            i += 1.0;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            println!("never healthy: {:?}", tw.get_system_health());
            std::process::exit(1);
        }
        if drained.is_none() && handle.as_ref().is_none_or(|h| h.stats().records == 0) {
            drained = Some(t0.elapsed().as_micros());
        }
        if tw.get_system_health().status == Status::Healthy {
            println!(
                "healthy {} spool_drained {}",
                t0.elapsed().as_micros(),
                drained.unwrap_or(0)
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    loop {
        m.record(i);
        i += 1.0;
        if (i as u64).is_multiple_of(10_000) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

struct Round {
    accepted: Duration,
    healthy: Duration,
    line: String,
}

fn spawn(root: &Path, mode: &str, arg: &str, kek: &str) -> std::io::Result<std::process::Child> {
    Command::new(std::env::current_exe()?)
        .args([mode, root.to_str().unwrap_or("."), arg])
        .env(KEK_VAR, kek)
        .stdout(Stdio::piped())
        .spawn()
}

fn restart(root: &Path, arg: &str, kek: &str) -> Result<Round, Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let mut child = spawn(root, "--child-restart", arg, kek)?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let accepted_line = lines.next().ok_or("child died")??;
    let accepted = t0.elapsed();
    let healthy_line = lines.next().ok_or("child died")??;
    let healthy = t0.elapsed();
    // Let it write a little, then kill it mid-write: the next round recovers from that.
    std::thread::sleep(Duration::from_millis(50));
    child.kill()?;
    child.wait()?;
    Ok(Round {
        accepted,
        healthy,
        line: format!("{accepted_line}; {healthy_line}"),
    })
}

fn parent(quick: bool) -> Result<(), Box<dyn std::error::Error>> {
    let bytes: u64 = if quick { 128 << 20 } else { 1 << 30 };
    let rounds = if quick { 3 } else { 5 };
    let root = std::env::temp_dir().join(format!("tw-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let kek = "4b".repeat(32);
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let mut writer = spawn(&root, "--child-write", &bytes.to_string(), &kek)?;
        let mut lines = BufReader::new(writer.stdout.take().ok_or("no stdout")?).lines();
        lines.next().ok_or("the writer died")??;
        std::thread::sleep(Duration::from_millis(100));
        writer.kill()?;
        writer.wait()?;
        let (log, _) = paths(&root);
        println!(
            "log: {:.2} GiB of encrypted segments in {}, a full spool of {} MiB, writer killed with SIGKILL mid-write; key file persisted",
            dir_bytes(&log) as f64 / (1u64 << 30) as f64,
            log.display(),
            dir_bytes(&root.join("spool")) >> 20
        );
        println!(
            "{:<28} {:>14} {:>14} {:>14} {:>14}",
            "monitor_tick", "accepted p50", "accepted max", "healthy p50", "healthy max"
        );
        // The spool is replayed by the last row's one restart (the sink is back up then).
        for (arg, label, n) in [
            ("1000", "1 s", rounds),
            ("100", "100 ms", rounds),
            ("100+spool", "100 ms, full spool", 1),
        ] {
            let mut got = Vec::new();
            for _ in 0..n {
                let r = restart(&root, arg, &kek)?;
                eprintln!("  {label}: {}", r.line);
                got.push(r);
            }
            let pick = |f: fn(&Round) -> Duration| {
                let mut v: Vec<Duration> = got.iter().map(f).collect();
                v.sort();
                (v[v.len() / 2], v[v.len() - 1])
            };
            let (a50, amax) = pick(|r| r.accepted);
            let (h50, hmax) = pick(|r| r.healthy);
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
            println!(
                "{:<28} {:>14} {:>14} {:>14} {:>14}",
                format!("{label} ({n} restarts)"),
                ms(a50),
                ms(amax),
                ms(h50),
                ms(hmax)
            );
        }
        Ok(())
    })();
    std::fs::remove_dir_all(&root)?;
    result
}
