//! The `tickwatch-log` command on a real log: what it prints, its exit codes, and that it
//! never changes the log it reads.

#[path = "common/temp.rs"]
mod temp;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use temp::temp_dir;

use tickwatch::sink::{JsonLinesSink, MemorySink};
use tickwatch::store::SegmentLog;
use tickwatch::{event, Level, Telemetry};

const BIN: &str = env!("CARGO_BIN_EXE_tickwatch-log");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Every file's bytes, to check that reading changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// A log of 300 events and 300 samples (three segments at least), and the JSON lines the
/// JSON sink wrote for the same records.
fn write_log(dir: &Path) -> (usize, Vec<serde_json::Value>) {
    let json_path = dir.with_extension("jsonl");
    let mem = MemorySink::new();
    let tw = Telemetry::builder()
        .sink(mem.clone())
        .sink(JsonLinesSink::create(&json_path).unwrap())
        .segment_log(SegmentLog::options(dir).segment_bytes(4096).open().unwrap())
        .resource_sampling(None)
        .start()
        .unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("strategy".into())
            .spawn_scoped(s, || {
                for i in 0..300u64 {
                    let level = if i % 10 == 0 {
                        Level::Warn
                    } else {
                        Level::Info
                    };
                    event!(&tw, level, "order {} done", i, order_id = i, venue = "XNAS");
                    tw.measure_latency("rtt", std::time::Duration::from_nanos(100 + i));
                    if i % 50 == 49 {
                        tw.flush().unwrap(); // a batch per 50: segments roll between batches
                    }
                }
            })
            .unwrap();
    });
    tw.flush().unwrap();
    drop(tw);
    let lines = std::fs::read_to_string(&json_path).unwrap();
    std::fs::remove_file(&json_path).unwrap();
    let json: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), mem.records().len());
    (json.len(), json)
}

#[test]
fn cat_prints_the_json_sinks_lines_and_stats_counts_them() {
    let dir = temp_dir("cli-cat");
    let (n, json) = write_log(&dir);
    let before = snapshot(&dir);
    let out = run(&["cat", dir.to_str().unwrap()]);
    assert!(out.status.success());
    let got: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), n);
    assert_eq!(got, json, "the same lines as the JSON-lines sink");
    let text = run(&["cat", dir.to_str().unwrap(), "--text"]);
    assert_eq!(String::from_utf8(text.stdout).unwrap().lines().count(), n);
    let stats = run(&["stats", dir.to_str().unwrap(), "--json"]);
    assert!(stats.status.success());
    let s: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(s["records"], n as u64);
    assert!(s["segments"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["bytes"].as_u64().unwrap() > 0);
    assert_eq!(s["first"], json[0]["ts"]);
    assert!(s["last"].is_string());
    assert_eq!(snapshot(&dir), before, "reading changed nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn query_prints_the_matches_and_says_where_the_error_is() {
    let dir = temp_dir("cli-query");
    write_log(&dir);
    let d = dir.to_str().unwrap();
    let out = run(&["query", d, "level>=warn order_id>=100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l["level"] == "WARN" && l["fields"]["order_id"].as_u64().unwrap() >= 100));
    let bad = run(&["query", d, "level>=warn order_id>=lots"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.contains("at byte 22") && err.contains("lots"), "{err}");
    let usage = run(&["frobnicate", d]);
    assert_eq!(usage.status.code(), Some(2));
    // A mistyped flag or a stray argument is a usage error, not ignored.
    for args in [
        &["stats", d, "--jsn"][..],
        &["cat", d, "--txt"],
        &["stats", d, "extra"],
    ] {
        let r = run(args);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}");
    }
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout)
        .unwrap()
        .starts_with("usage:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_passes_a_torn_tail_and_fails_real_damage() {
    let dir = temp_dir("cli-verify");
    write_log(&dir);
    let d = dir.to_str().unwrap();
    assert!(run(&["verify", d]).status.success());
    // A crash mid-write: the newest segment unsealed and cut inside a frame.
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let newest = segs.last().unwrap();
    let data = std::fs::read(newest).unwrap();
    let footer_at = u64::from_le_bytes(data[data.len() - 16..data.len() - 8].try_into().unwrap());
    std::fs::write(newest, &data[..footer_at as usize - 5]).unwrap();
    let before = snapshot(&dir);
    let out = run(&["verify", d]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("torn tail"), "{text}");
    assert_eq!(snapshot(&dir), before, "verify cut nothing");
    // A flipped byte in an older, sealed segment is damage.
    let oldest = &segs[0];
    let mut data = std::fs::read(oldest).unwrap();
    data[100] ^= 0x40;
    std::fs::write(oldest, &data).unwrap();
    let out = run(&["verify", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stdout).unwrap().contains("DAMAGED"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 50 Warn events (`order_id` 0..50) into an encrypted segment log in `dir`, sealed with the
/// ring of `key_file`.
fn write_encrypted_log(dir: &std::path::Path, key_file: &std::path::Path) {
    let ring = std::sync::Arc::new(
        tickwatch::security::crypto::KeyRing::builder()
            .key_file(key_file)
            .build()
            .unwrap(),
    );
    let tw = Telemetry::builder()
        .segment_log(SegmentLog::options(dir).encrypt(ring).open().unwrap())
        .resource_sampling(None)
        .start()
        .unwrap();
    for i in 0..50u64 {
        event!(&tw, Level::Warn, "sealed", order_id = i);
    }
    drop(tw);
}

#[test]
fn keys_open_an_encrypted_log_and_without_them_it_says_so() {
    let dir = temp_dir("cli-keys");
    let key_file = dir.with_extension("keys");
    std::fs::write(
        &key_file,
        "# test ring\nlog-1=9tbOe3Yj0pQ1pYH9Qm5Y8oGIRJv6nUmkxA4h9Wl8cXU=\n",
    )
    .unwrap();
    write_encrypted_log(&dir, &key_file);
    let (d, k) = (dir.to_str().unwrap(), key_file.to_str().unwrap());
    let out = run(&["cat", d, "--keys", k]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 50);
    let q = run(&["query", d, "order_id=7", "--keys", k]);
    assert_eq!(String::from_utf8(q.stdout).unwrap().lines().count(), 1);
    assert!(run(&["verify", d, "--keys", k]).status.success());
    // Without the keys: an error that says what to give, not an empty log.
    let out = run(&["cat", d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--keys"));
    let out = run(&["verify", d]);
    assert!(out.status.success(), "checksums hold");
    assert!(String::from_utf8(out.stdout).unwrap().contains("encrypted"));
    std::fs::remove_file(&key_file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrapped_key_file_opens_a_log_encrypted_across_a_rotation() {
    // The engine persists its ring (wrapped under a key-encryption key) and rotates while it
    // writes; the reader opens the log with the key file and the key-encryption key from the
    // environment, and the key file is not rewritten.
    use std::sync::Arc;
    use tickwatch::security::crypto::{KeyRing, SecretKey};
    let dir = temp_dir("cli-wrapped");
    let key_file = dir.with_extension("keyring");
    let kek_hex = "4b".repeat(32);
    let kek = SecretKey::parse(&kek_hex).unwrap();
    let ring = Arc::new(
        KeyRing::builder()
            .generated_key("k0")
            .persist(&key_file, kek)
            .build()
            .unwrap(),
    );
    let tw = Telemetry::builder()
        .segment_log(
            SegmentLog::options(&dir)
                .encrypt(ring.clone())
                .open()
                .unwrap(),
        )
        .resource_sampling(None)
        .start()
        .unwrap();
    for i in 0..40u64 {
        if i == 20 {
            tw.flush().unwrap();
            ring.rotate().unwrap();
        }
        event!(&tw, Level::Warn, "sealed", order_id = i);
    }
    drop(tw);
    let before = std::fs::read(&key_file).unwrap();
    let (d, k) = (dir.to_str().unwrap(), key_file.to_str().unwrap());
    // `cat` of `log` with the wrapped key file `keys` and the kek in the environment: the
    // number of lines printed, or the error.
    let cat = |log: &str, keys: &str, kek: &str| {
        let out = Command::new(BIN)
            .args(["cat", log, "--keys", keys, "--kek-env", "TW_TEST_KEK"])
            .env("TW_TEST_KEK", kek)
            .output()
            .unwrap();
        match out.status.success() {
            true => Ok(String::from_utf8(out.stdout).unwrap().lines().count()),
            false => Err((out.status.code(), String::from_utf8(out.stderr).unwrap())),
        }
    };
    assert_eq!(cat(d, k, &kek_hex), Ok(40));
    assert_eq!(std::fs::read(&key_file).unwrap(), before, "read only");
    // A backup with the key file restores on its own: the copy opens with the copied file.
    let dest = dir.with_extension("backup");
    let dest_s = dest.to_str().unwrap();
    let out = run(&["backup", d, dest_s, "--keys", k]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run(&["verify-backup", dest_s]).status.success());
    let copied_keys = dest.join(key_file.file_name().unwrap());
    assert_eq!(cat(dest_s, copied_keys.to_str().unwrap(), &kek_hex), Ok(40));
    std::fs::write(&copied_keys, b"tampered").unwrap();
    assert_eq!(run(&["verify-backup", dest_s]).status.code(), Some(1));
    std::fs::remove_dir_all(&dest).unwrap();
    // The wrong key-encryption key: a clear error naming it.
    let (code, err) = cat(d, k, &"11".repeat(32)).unwrap_err();
    assert_eq!(code, Some(2));
    assert!(err.contains("key-encryption key"), "{err}");
    std::fs::remove_file(&key_file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 10, audit 8: `cat`, `query` and `stats` say on stderr (exit 1) what they left out;
/// the wrong key ring is said as such; `verify` of a directory without segments fails. The
/// log is never changed.
#[test]
fn reads_say_what_they_left_out_and_the_wrong_ring_is_named() {
    let dir = temp_dir("cli-damage");
    let (n, _) = write_log(&dir);
    let d = dir.to_str().unwrap();
    // A whole log: exit 0, nothing on stderr but query's summary.
    let out = run(&["stats", d]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    // One byte flipped in the last records frame before the footer of the oldest segment.
    let mut data = std::fs::read(&segs[0]).unwrap();
    let k = data.len();
    let footer_at = u64::from_le_bytes(data[k - 16..k - 8].try_into().unwrap()) as usize;
    data[footer_at - 3] ^= 0x40;
    std::fs::write(&segs[0], &data).unwrap();
    let before = snapshot(&dir);
    let out = run(&["cat", d]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let printed = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!(printed < n && printed > 0);
    assert!(err.contains("1 damaged frames skipped"), "{err}");
    assert!(
        err.contains(&format!(
            "{} records counted by the segments' footers were not read",
            n - printed
        )),
        "{err}"
    );
    let out = run(&["stats", d, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["records"], printed as u64);
    assert_eq!(s["damage"]["corrupt_frames"], 1);
    assert_eq!(s["damage"]["lost_records"], (n - printed) as u64);
    let out = run(&["query", d, "order_id>=0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("1 damaged frames skipped"));
    assert_eq!(snapshot(&dir), before, "reading changed nothing");
    std::fs::remove_dir_all(&dir).unwrap();

    // A directory without segments is not a good log.
    let empty = temp_dir("cli-empty");
    let out = run(&["verify", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains(&format!("no segments in {}", empty.display())));
    std::fs::remove_dir_all(&empty).unwrap();

    // The wrong key ring: "decryption failed", exit 1, not an empty log.
    let dir = temp_dir("cli-wrongkeys");
    let (right, wrong) = (dir.with_extension("keys"), dir.with_extension("wrongkeys"));
    std::fs::write(
        &right,
        "log-1=9tbOe3Yj0pQ1pYH9Qm5Y8oGIRJv6nUmkxA4h9Wl8cXU=\n",
    )
    .unwrap();
    std::fs::write(
        &wrong,
        "log-1=8tbOe3Yj0pQ1pYH9Qm5Y8oGIRJv6nUmkxA4h9Wl8cXU=\n",
    )
    .unwrap();
    write_encrypted_log(&dir, &right);
    let (d, k) = (dir.to_str().unwrap(), wrong.to_str().unwrap());
    for args in [
        vec!["cat", d, "--keys", k],
        vec!["stats", d, "--json", "--keys", k],
        vec!["query", d, "order_id=7", "--keys", k],
    ] {
        let out = run(&args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("decryption failed: wrong key ring"),
            "{args:?}: {err}"
        );
    }
    let out = run(&["verify", d, "--keys", k]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("decryption failed: wrong key ring"), "{text}");
    assert!(!text.contains("checksum"), "{text}");
    std::fs::remove_file(&right).unwrap();
    std::fs::remove_file(&wrong).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
