//! Logs encrypted at rest: [`EncryptedJsonLinesSink`] writes, [`read_encrypted_log`] and
//! [`EncryptedLogReader`] read back.
//!
//! # File format
//!
//! A sequence of frames, one per batch the collector delivered:
//!
//! ```text
//! frame = len (u32 little-endian) || envelope (len bytes, EncryptedData::to_bytes)
//! ```
//!
//! Each envelope's plaintext is the batch's JSON lines exactly as
//! [`crate::sink::JsonLinesSink`] writes them, and its associated data is [`LOG_AAD`]. A frame
//! cannot be altered, or moved to another kind of envelope, without detection; whole frames
//! could still be dropped or reordered by someone with write access to the file (there is no
//! chaining between frames).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use zeroize::{Zeroize, Zeroizing};

use super::envelope::EncryptedData;
use super::error::AtRestError;
use super::keyring::KeyRing;
use super::plaintext::Plaintext;
use crate::sink::{Batch, JsonLinesSink, Sink, SinkError};

/// Associated data of every log frame's envelope.
pub const LOG_AAD: &[u8] = b"tickwatch-log-v1";

/// Longest frame the reader accepts (256 MiB): a longer announced length means corruption.
pub const MAX_FRAME_LEN: u32 = 256 << 20;

/// A `Write` into a shared in-memory buffer.
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`Sink`] writing each batch as JSON lines (the [`JsonLinesSink`] format), encrypted as
/// one envelope per batch under the ring's active key and appended as a frame `len (u32 LE) ||
/// envelope` (see [the format](crate::security::crypto#encrypted-log-format)).
///
/// If the ring refuses to encrypt (e.g. [`super::CryptoError::KeyExhausted`]), the batch is
/// not written and the failure is counted in [`crate::Stats::sink_errors`]: give the ring
/// [`super::Exhaustion::Rotate`] or rotate it in time.
///
/// The plaintext staging buffer is zeroed after each batch. (The inner `JsonLinesSink`'s own
/// 64 KiB write buffer may keep stale plaintext in memory until the sink is dropped.)
///
/// ```
/// use std::sync::Arc;
/// use tickwatch::security::crypto::{read_encrypted_log, EncryptedJsonLinesSink, KeyRing};
/// let dir = std::env::temp_dir().join(format!("tw-doc-{}", std::process::id()));
/// let path = dir.join("log.enc");
/// let ring = Arc::new(KeyRing::generate()?);
/// let tw = tickwatch::Telemetry::builder()
///     .sink(EncryptedJsonLinesSink::create(&path, ring.clone())?)
///     .start()?;
/// tw.log_metric("position", 1.5, &[("venue", "XNAS")]);
/// tw.shutdown()?;
/// let json = read_encrypted_log(&path, &ring)?;
/// assert!(String::from_utf8_lossy(&json).contains("\"name\":\"position\""));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EncryptedJsonLinesSink {
    ring: Arc<KeyRing>,
    json: JsonLinesSink,
    staged: Arc<Mutex<Vec<u8>>>,
    out: Box<dyn Write + Send>,
    frame: Vec<u8>,
}

impl EncryptedJsonLinesSink {
    /// Appends frames to `out`.
    pub fn new(out: impl Write + Send + 'static, ring: Arc<KeyRing>) -> Self {
        let staged = Arc::new(Mutex::new(Vec::new()));
        Self {
            ring,
            json: JsonLinesSink::new(SharedBuf(staged.clone())),
            staged,
            out: Box::new(out),
            frame: Vec::new(),
        }
    }

    /// Appends frames to the file at `path`, creating it and its parent directories.
    pub fn create(path: impl AsRef<Path>, ring: Arc<KeyRing>) -> io::Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self::new(file, ring))
    }
}

impl std::fmt::Debug for EncryptedJsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedJsonLinesSink")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl Sink for EncryptedJsonLinesSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.json.write(batch)?;
        self.json.flush()?;
        let mut plain = std::mem::take(&mut *self.staged.lock());
        if plain.is_empty() {
            return Ok(());
        }
        let sealed = self.ring.encrypt_data_with_aad(&plain, LOG_AAD);
        plain.zeroize();
        // Give the (now zeroed, empty) buffer back so its capacity is reused.
        *self.staged.lock() = plain;
        let sealed = sealed.map_err(SinkError::new)?;
        let bytes = sealed.as_bytes();
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_LEN)
            .ok_or_else(|| SinkError::new("batch too large for one encrypted frame"))?;
        self.frame.clear();
        self.frame.extend_from_slice(&len.to_le_bytes());
        self.frame.extend_from_slice(bytes);
        self.out.write_all(&self.frame)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }

    fn name(&self) -> &str {
        "encrypted-json-lines"
    }
}

/// Iterates over an encrypted log's frames, yielding each batch's JSON lines. Stops for good
/// after the first error.
pub struct EncryptedLogReader<'r, R> {
    input: R,
    ring: &'r KeyRing,
    offset: u64,
    frame: u64,
    done: bool,
}

impl<R> std::fmt::Debug for EncryptedLogReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key ring shows no key material in its own Debug; the input is opaque.
        f.debug_struct("EncryptedLogReader")
            .field("offset", &self.offset)
            .field("frame", &self.frame)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'r, R: Read> EncryptedLogReader<'r, R> {
    /// Reads frames from `input` (wrap a file in a `BufReader`).
    pub fn new(input: R, ring: &'r KeyRing) -> Self {
        Self {
            input,
            ring,
            offset: 0,
            frame: 0,
            done: false,
        }
    }

    fn next_frame(&mut self) -> Result<Option<Plaintext>, AtRestError> {
        let (offset, frame) = (self.offset, self.frame);
        let mut len = [0u8; 4];
        let got = read_full(&mut self.input, &mut len)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 {
            return Err(AtRestError::Truncated { offset, frame });
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME_LEN {
            return Err(AtRestError::FrameTooLarge { offset, frame, len });
        }
        let mut body = Vec::new();
        (&mut self.input).take(len as u64).read_to_end(&mut body)?;
        if body.len() < len as usize {
            return Err(AtRestError::Truncated { offset, frame });
        }
        let at = |source| AtRestError::Frame {
            offset,
            frame,
            source,
        };
        let env = EncryptedData::from_bytes(&body).map_err(at)?;
        let plain = self.ring.decrypt_data_with_aad(&env, LOG_AAD).map_err(at)?;
        self.offset += 4 + len as u64;
        self.frame += 1;
        Ok(Some(plain))
    }
}

impl<R: Read> Iterator for EncryptedLogReader<'_, R> {
    type Item = Result<Plaintext, AtRestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_frame() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a whole encrypted log back into JSON lines (every frame's plaintext, in order).
/// Fails with a typed error at the first truncated, corrupt or undecryptable frame.
pub fn read_encrypted_log(
    path: impl AsRef<Path>,
    ring: &KeyRing,
) -> Result<Plaintext, AtRestError> {
    let file = io::BufReader::new(File::open(path)?);
    let mut out = Zeroizing::new(Vec::new());
    for batch in EncryptedLogReader::new(file, ring) {
        out.extend_from_slice(&batch?);
    }
    Ok(Plaintext::new(out))
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
