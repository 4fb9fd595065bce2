//! The durable key file: a ring's keys wrapped (AES-256-GCM) under a key-encryption key, and
//! rewritten atomically on every change before the change takes effect.
//!
//! Format: the line `tickwatch-keyring 1`, then one line of standard base64 holding a random
//! 12-byte nonce and the sealed payload (the first line is the associated data). The
//! payload, once opened, is a clear-text key file as [`super::KeyRingBuilder::key_file`]
//! reads it, preceded by a `# active=<id>` line: no key byte is ever written in clear.
//!
//! A write is: create `<file>.tmp`, write, `fdatasync`, rename over the file, sync the
//! directory. A crash at any point leaves either the old file or the new one (plus, at
//! worst, a stale `.tmp` the next write replaces), and the ring uses a new key only once the
//! file holding it is durable, so the file always opens every envelope the ring sealed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::key::{parse_key_file, SecretKey};
use super::published::State;
use crate::fsio::LogFs;

const MAGIC: &str = "tickwatch-keyring 1";
const NONCE_LEN: usize = 12;

/// Why a key file could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing failed; the ring is unchanged.
    Io(io::Error),
    /// The file does not open under this key-encryption key: a wrong key-encryption key, or
    /// a damaged file. Check the variable or file the key-encryption key comes from.
    WrongKekOrDamaged,
    /// The file is not a tickwatch key file (its first line is not `tickwatch-keyring 1`).
    NotAKeyFile,
    /// The file opened but its content does not parse (a bug, or a file written by hand).
    Malformed(String),
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Io(e) => write!(f, "{e}"),
            KeyFileError::WrongKekOrDamaged => f.write_str(
                "does not open under this key-encryption key: the key-encryption key is wrong or the file is damaged",
            ),
            KeyFileError::NotAKeyFile => write!(f, "not a tickwatch key file (no {MAGIC:?} line)"),
            KeyFileError::Malformed(why) => write!(f, "malformed content: {why}"),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The keys a key file holds, and its active key's id.
pub(super) struct Contents {
    pub(super) keys: Vec<(String, SecretKey)>,
    pub(super) active: Option<String>,
}

/// Where a ring keeps its keys: a file, the key-encryption key, the file layer.
pub(super) struct WrappedKeyFile {
    path: PathBuf,
    kek: Aes256Gcm,
    fs: Arc<dyn LogFs>,
}

impl fmt::Debug for WrappedKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKeyFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WrappedKeyFile {
    pub(super) fn new(path: PathBuf, kek: &SecretKey, fs: Arc<dyn LogFs>) -> Self {
        WrappedKeyFile {
            path,
            kek: Aes256Gcm::new(kek.bytes().into()),
            fs,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's keys, or `None` if there is no file yet.
    pub(super) fn read(&self) -> Result<Option<Contents>, KeyFileError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KeyFileError::Io(e)),
        };
        let text = std::str::from_utf8(&text).map_err(|_| KeyFileError::NotAKeyFile)?;
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(KeyFileError::NotAKeyFile);
        }
        let sealed = STANDARD
            .decode(lines.next().unwrap_or("").trim())
            .map_err(|_| KeyFileError::WrongKekOrDamaged)?;
        if sealed.len() < NONCE_LEN {
            return Err(KeyFileError::WrongKekOrDamaged);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let plain = Zeroizing::new(
            self.kek
                .decrypt(
                    nonce.into(),
                    Payload {
                        msg: ct,
                        aad: MAGIC.as_bytes(),
                    },
                )
                .map_err(|_| KeyFileError::WrongKekOrDamaged)?,
        );
        let plain =
            std::str::from_utf8(&plain).map_err(|_| KeyFileError::Malformed("not UTF-8".into()))?;
        let active = plain
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# active="))
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let keys = parse_key_file(&self.path, plain)
            .map_err(|e| KeyFileError::Malformed(e.to_string()))?;
        Ok(Some(Contents { keys, active }))
    }

    /// Writes `state` durably and atomically (see the module docs).
    pub(super) fn write(&self, state: &State) -> Result<(), KeyFileError> {
        let mut plain = Zeroizing::new(String::new());
        plain.push_str("# active=");
        if let Some(a) = &state.active {
            plain.push_str(&a.id);
        }
        plain.push('\n');
        for id in &state.order {
            let Some(key) = state.keys.get(id).and_then(|e| e.material.as_ref()) else {
                return Err(KeyFileError::Malformed(format!(
                    "key {id:?} has no material to persist"
                )));
            };
            plain.push_str(id);
            plain.push('=');
            plain.push_str(&key.expose_base64());
            plain.push('\n');
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce)
            .map_err(|e| KeyFileError::Io(io::Error::other(e.to_string())))?;
        let ct = self
            .kek
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plain.as_bytes(),
                    aad: MAGIC.as_bytes(),
                },
            )
            .map_err(|_| KeyFileError::Io(io::Error::other("sealing the key file failed")))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ct.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ct);
        let text = format!("{MAGIC}\n{}\n", STANDARD.encode(&sealed));

        let tmp = self.tmp_path();
        // A stale temporary file (a crash mid-write) is replaced.
        match self.fs.remove(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KeyFileError::Io(e)),
        }
        let mut f = self.fs.create(&tmp).map_err(KeyFileError::Io)?;
        f.append(text.as_bytes()).map_err(KeyFileError::Io)?;
        f.sync().map_err(KeyFileError::Io)?;
        drop(f);
        self.fs.rename(&tmp, &self.path).map_err(KeyFileError::Io)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        self.fs.sync_dir(dir).map_err(KeyFileError::Io)
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}
