//! Logs encrypted at rest: the decrypted file equals what a plain `JsonLinesSink` wrote, holds
//! no plaintext, and tampering or truncation gives a typed error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tickwatch::security::crypto::{
    read_encrypted_log, AtRestError, CryptoError, EncryptedJsonLinesSink, EncryptedLogReader,
    KeyRing, SecretKey,
};
use tickwatch::sink::JsonLinesSink;
use tickwatch::{event, Audit, Level, Telemetry};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log file in a directory of its own, removed with the directory when dropped.
struct TempLog(PathBuf);

impl std::ops::Deref for TempLog {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempLog {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn temp_log(name: &str) -> TempLog {
    let d = std::env::temp_dir().join(format!("tickwatch-at-rest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempLog(d.join("log.enc"))
}

const SECRET: &str = "ACCOUNT-7731-SECRET-STRATEGY";

/// Writes the same records through a plain and an encrypted sink; returns (plain, path, ring).
fn write_log(name: &str) -> (Vec<u8>, TempLog, Arc<KeyRing>) {
    let path = temp_log(name);
    let ring = Arc::new(
        KeyRing::builder()
            .key("log-1", SecretKey::generate().unwrap())
            .build()
            .unwrap(),
    );
    let plain = Shared::default();
    let tw = Telemetry::builder()
        .sink(JsonLinesSink::new(plain.clone()))
        .sink(EncryptedJsonLinesSink::create(&path, ring.clone()).unwrap())
        .start()
        .unwrap();
    for round in 0..5u64 {
        for i in 0..50u64 {
            tw.log_metric("position", i as f64 * 0.5, &[("venue", "XNAS")]);
            event!(tw, Level::Info, "order filled", order_id = i, note = SECRET);
        }
        tw.audit(&Audit {
            actor: "alice",
            action: "cancel_order",
            resource: SECRET,
            outcome: "allowed",
            ..Default::default()
        });
        tw.flush().unwrap();
        let _ = round;
    }
    tw.shutdown().unwrap();
    let plain = plain.0.lock().unwrap().clone();
    (plain, path, ring)
}

#[test]
fn decrypted_log_equals_plain_json_lines_and_file_has_no_plaintext() {
    let (plain, path, ring) = write_log("equal");
    assert!(!plain.is_empty());
    let back = read_encrypted_log(&path, &ring).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&back),
        String::from_utf8_lossy(&plain)
    );
    let raw = std::fs::read(&path).unwrap();
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(!has(SECRET.as_bytes()));
    assert!(!has(b"order filled"));
    assert!(!has(b"position"));
    // More than one frame (one per flush at least).
    let frames = EncryptedLogReader::new(&raw[..], &ring).count();
    assert!(frames >= 5, "{frames} frames");
}

#[test]
fn tampering_and_truncation_give_typed_errors() {
    let (_, path, ring) = write_log("tamper");
    let raw = std::fs::read(&path).unwrap();
    let read = |bytes: &[u8]| -> Result<Vec<u8>, AtRestError> {
        let mut out = Vec::new();
        for b in EncryptedLogReader::new(bytes, &ring) {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    };
    assert!(read(&raw).is_ok());
    // A flipped byte in the first frame's ciphertext.
    let mut t = raw.clone();
    t[60] ^= 0x01;
    assert!(matches!(
        read(&t),
        Err(AtRestError::Frame {
            frame: 0,
            offset: 0,
            source: CryptoError::Decrypt
        })
    ));
    // A flipped byte in the last frame's tag.
    let mut t = raw.clone();
    let n = t.len();
    t[n - 1] ^= 0x80;
    assert!(matches!(
        read(&t),
        Err(AtRestError::Frame {
            source: CryptoError::Decrypt,
            ..
        })
    ));
    // Every truncation inside the first frame.
    let first = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize + 4;
    for cut in 1..first {
        assert!(
            matches!(
                read(&raw[..cut]),
                Err(AtRestError::Truncated {
                    frame: 0,
                    offset: 0
                })
            ),
            "cut at {cut}"
        );
    }
    // Truncated after whole frames: the last partial frame is reported at its offset.
    assert!(matches!(
        read(&raw[..first + 3]),
        Err(AtRestError::Truncated { frame: 1, offset }) if offset == first as u64
    ));
    // An absurd length.
    let mut t = raw.clone();
    t[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(read(&t), Err(AtRestError::FrameTooLarge { .. })));
    // A wrong version inside a frame.
    let mut t = raw.clone();
    t[4] = 9;
    assert!(matches!(
        read(&t),
        Err(AtRestError::Frame {
            source: CryptoError::UnsupportedVersion(9),
            ..
        })
    ));
    // Another ring cannot read it.
    let other = KeyRing::builder()
        .key("log-1", SecretKey::generate().unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        read_encrypted_log(&path, &other),
        Err(AtRestError::Frame {
            source: CryptoError::Decrypt,
            ..
        })
    ));
    assert!(matches!(
        read_encrypted_log("/nonexistent/log.enc", &ring),
        Err(AtRestError::Io(_))
    ));
    // The empty file is an empty log.
    assert!(read(&[]).unwrap().is_empty());
}

#[test]
fn envelope_of_another_purpose_does_not_pass_as_a_log_frame() {
    let ring = KeyRing::generate().unwrap();
    let e = ring
        .encrypt_data(b"{\"kind\":\"forged\"}\n")
        .unwrap()
        .into_bytes();
    let mut file = (e.len() as u32).to_le_bytes().to_vec();
    file.extend_from_slice(&e);
    let r: Result<Vec<_>, _> = EncryptedLogReader::new(&file[..], &ring).collect();
    assert!(matches!(
        r,
        Err(AtRestError::Frame {
            source: CryptoError::Decrypt,
            ..
        })
    ));
}

#[test]
fn log_stays_readable_across_automatic_rotations() {
    use tickwatch::security::crypto::Exhaustion;
    let path = temp_log("rotate");
    let ring = Arc::new(
        KeyRing::builder()
            .key("log-1", SecretKey::generate().unwrap())
            .use_budget(2)
            .on_exhaustion(Exhaustion::Rotate)
            .build()
            .unwrap(),
    );
    let tw = Telemetry::builder()
        .sink(EncryptedJsonLinesSink::create(&path, ring.clone()).unwrap())
        .start()
        .unwrap();
    for i in 0..6u64 {
        tw.log_metric("round", i as f64, &[]);
        tw.flush().unwrap();
    }
    tw.shutdown().unwrap();
    assert!(ring.auto_rotations() >= 2, "{}", ring.auto_rotations());
    let text = String::from_utf8(read_encrypted_log(&path, &ring).unwrap().to_vec()).unwrap();
    assert_eq!(text.lines().count(), 6);
}
