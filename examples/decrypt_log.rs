//! Encrypted logs at rest, end to end.
//!
//! * `cargo run --example decrypt_log` writes a small encrypted log (a `Telemetry` with an
//!   `EncryptedJsonLinesSink`) and a key file into a temporary directory, then reads the log
//!   back with a key ring loaded from that key file, prints the JSON lines to stdout and removes
//!   the directory.
//! * `cargo run --example decrypt_log -- FILE KEYFILE` decrypts an existing log `FILE` with the
//!   keys in `KEYFILE` (lines `id=<base64 or hex key>`) and prints its JSON lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tickwatch::security::crypto::{read_encrypted_log, EncryptedJsonLinesSink, KeyRing, SecretKey};
use tickwatch::{event, Level, Telemetry};

fn main() {
    if let Err(e) = run() {
        eprintln!("decrypt_log: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo = args.is_empty();
    let (log, keys) = match args.as_slice() {
        [log, keys] => (PathBuf::from(log), PathBuf::from(keys)),
        [] => write_demo()?,
        _ => {
            eprintln!("usage: decrypt_log [FILE KEYFILE]");
            std::process::exit(2);
        }
    };
    let ring = KeyRing::builder().key_file(&keys).build()?;
    let json = read_encrypted_log(&log, &ring)?;
    std::io::stdout().lock().write_all(&json)?;
    eprintln!(
        "decrypted {} bytes of JSON lines from {} ({} bytes on disk)",
        json.len(),
        log.display(),
        std::fs::metadata(&log)?.len()
    );
    if demo {
        // The demo's key file and log were ours: leave nothing behind.
        if let Some(dir) = log.parent() {
            std::fs::remove_dir_all(dir)?;
        }
        eprintln!(
            "removed the demo's {}",
            log.parent().unwrap_or(&log).display()
        );
    }
    Ok(())
}

/// Writes a key file and an encrypted log; returns their paths.
fn write_demo() -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tickwatch-decrypt-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let keys = dir.join("log.keys");
    let log = dir.join("telemetry.log.enc");
    let _ = std::fs::remove_file(&log);

    let key = SecretKey::generate()?;
    write_key_file(&keys, "log-2026-11", &key)?;
    let ring = Arc::new(KeyRing::builder().key("log-2026-11", key).build()?);

    let tw = Telemetry::builder()
        .sink(EncryptedJsonLinesSink::create(&log, ring)?)
        .start()?;
    tw.log_metric("position", 1.5, &[("venue", "XNAS")]);
    tw.measure_latency("order_roundtrip", std::time::Duration::from_nanos(850));
    event!(
        tw,
        Level::Info,
        "order filled",
        order_id = 42u64,
        px = 101.25,
        venue = "XNAS"
    );
    tw.shutdown()?;
    eprintln!("wrote {} and {}", log.display(), keys.display());
    Ok((log, keys))
}

/// `id=<base64>`, readable by the owner only (on Unix).
fn write_key_file(path: &Path, id: &str, key: &SecretKey) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(
        f,
        "# tickwatch log key ring: id=base64 key, last line is active"
    )?;
    writeln!(f, "{id}={}", key.expose_base64().as_str())
}
