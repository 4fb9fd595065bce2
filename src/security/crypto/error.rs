//! One error enum per operation: loading key material ([`KeyError`]), managing the ring
//! ([`KeyRingError`]), encrypting and decrypting ([`CryptoError`]), reading an encrypted log
//! ([`AtRestError`]). Each variant's documentation and `Display` say what to fix. No error
//! ever carries key material or plaintext.

use std::fmt;
use std::path::PathBuf;

/// How key material was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal digits (64 for a 32-byte key), upper or lower case.
    Hex,
    /// Standard base64 (`+/`), with or without `=` padding (43 or 44 characters).
    Base64,
    /// Raw bytes.
    Raw,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Raw => "raw",
        })
    }
}

/// Why key material or a key id could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// The key string was empty (or only whitespace): give 64 hex digits or 44 base64
    /// characters encoding 32 bytes, e.g. from `openssl rand -base64 32`.
    Empty,
    /// The key decoded to the wrong number of bytes: AES-256 needs exactly 32.
    WrongLength {
        /// How it was encoded.
        encoding: Encoding,
        /// How many bytes it decoded to.
        decoded_len: usize,
    },
    /// A character that is not part of the encoding (the character itself is not shown: it
    /// may be part of a secret).
    InvalidCharacter {
        /// The encoding expected.
        encoding: Encoding,
        /// Byte offset of the offending character in the (trimmed) string.
        position: usize,
    },
    /// The encoding is malformed as a whole (odd number of hex digits, bad base64 padding or
    /// length).
    InvalidEncoding {
        /// The encoding expected.
        encoding: Encoding,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key id must be 1 to 64 characters from `A-Z a-z 0-9 - _ .`.
    InvalidKeyId {
        /// The id given.
        key_id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same key id appears twice in one key file: give each key its own id.
    DuplicateKeyId {
        /// The repeated id.
        key_id: String,
    },
    /// A key-file line is not `id=key`: write one key per line as `id=<base64 or hex>`;
    /// blank lines and lines starting with `#` are ignored.
    MissingSeparator,
    /// The key file holds no key: add at least one `id=key` line.
    EmptyKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// A line of a key file is wrong; `source` says how.
    KeyFileLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        source: Box<KeyError>,
    },
    /// The key file could not be read: check the path and its permissions.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The environment variable is not set: export it (hex or base64 of 32 bytes).
    EnvVarMissing {
        /// The variable's name.
        var: String,
    },
    /// The environment variable is not valid Unicode: store the key as hex or base64.
    EnvVarNotUnicode {
        /// The variable's name.
        var: String,
    },
    /// The operating system's random generator failed: the system cannot make keys safely;
    /// check that `/dev/urandom` or `getrandom(2)` is available.
    Random(getrandom::Error),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => f.write_str(
                "empty key: give 64 hex digits or 44 base64 characters encoding 32 bytes",
            ),
            KeyError::WrongLength { encoding, decoded_len } => write!(
                f,
                "{encoding} key decodes to {decoded_len} bytes; AES-256 needs exactly 32 (64 hex digits or 44 base64 characters)"
            ),
            KeyError::InvalidCharacter { encoding, position } => write!(
                f,
                "invalid {encoding} character at offset {position} of the key"
            ),
            KeyError::InvalidEncoding { encoding, reason } => {
                write!(f, "malformed {encoding} key: {reason}")
            }
            KeyError::InvalidKeyId { key_id, reason } => write!(
                f,
                "invalid key id {key_id:?}: {reason} (1 to 64 characters from A-Z a-z 0-9 - _ .)"
            ),
            KeyError::DuplicateKeyId { key_id } => {
                write!(f, "key id {key_id:?} appears twice; give each key its own id")
            }
            KeyError::MissingSeparator => {
                f.write_str("expected `id=key` (key in base64 or hex); `#` starts a comment")
            }
            KeyError::EmptyKeyFile { path } => write!(
                f,
                "key file {} holds no key; add a line `id=<base64 key>`",
                path.display()
            ),
            KeyError::KeyFileLine { path, line, source } => {
                write!(f, "key file {} line {line}: {source}", path.display())
            }
            KeyError::Io { path, source } => {
                write!(f, "cannot read key file {}: {source}", path.display())
            }
            KeyError::EnvVarMissing { var } => write!(
                f,
                "environment variable {var} is not set; export it as the hex or base64 of a 32-byte key"
            ),
            KeyError::EnvVarNotUnicode { var } => write!(
                f,
                "environment variable {var} is not valid Unicode; store the key as hex or base64"
            ),
            KeyError::Random(e) => write!(f, "the OS random generator failed: {e}"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::KeyFileLine { source, .. } => Some(&**source),
            KeyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a key-ring operation (build, add, rotate, activate, retire) failed. The ring is left
/// as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyRingError {
    /// Key material or a key id could not be loaded; `source` says how.
    Key(KeyError),
    /// A key with this id is already in the ring: pick a new id (ids name keys forever, since
    /// envelopes carry them).
    DuplicateKeyId {
        /// The id.
        key_id: String,
    },
    /// No key with this id is in the ring: check [`super::KeyRing::key_ids`].
    UnknownKey {
        /// The id.
        key_id: String,
    },
    /// The active key cannot be retired: rotate or activate another key first.
    RetireActive {
        /// The id.
        key_id: String,
    },
    /// The ring's key file ([`super::KeyRingBuilder::persist`]) could not be read or written;
    /// on a change, the ring is unchanged (the new key is not used).
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: super::key_file::KeyFileError,
    },
}

impl fmt::Display for KeyRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRingError::Key(e) => write!(f, "cannot load key: {e}"),
            KeyRingError::DuplicateKeyId { key_id } => write!(
                f,
                "key id {key_id:?} is already in the ring; choose a new id"
            ),
            KeyRingError::UnknownKey { key_id } => {
                write!(f, "no key {key_id:?} in the ring")
            }
            KeyRingError::RetireActive { key_id } => write!(
                f,
                "key {key_id:?} is the active key; rotate or activate another key before retiring it"
            ),
            KeyRingError::KeyFile { path, source } => {
                write!(f, "key file {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for KeyRingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyRingError::Key(e) => Some(e),
            KeyRingError::KeyFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<KeyError> for KeyRingError {
    fn from(e: KeyError) -> Self {
        KeyRingError::Key(e)
    }
}

/// Why an encryption or decryption failed.
///
/// Authentication failure is deliberately one opaque variant ([`CryptoError::Decrypt`]): it
/// does not say whether the key, the nonce, the associated data or the ciphertext was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ring has no active key: build it with a key, or call
    /// [`super::KeyRing::rotate`] / [`super::KeyRing::activate`].
    NoActiveKey,
    /// The envelope names a key that is not (or no longer) in the ring: load that key, or
    /// accept that data under a retired key is gone.
    UnknownKey {
        /// The id the envelope names.
        key_id: String,
    },
    /// The key has reached its use budget (NIST SP 800-38D): rotate to a new key, or build the
    /// ring with [`super::Exhaustion::Rotate`].
    KeyExhausted {
        /// The exhausted key.
        key_id: String,
    },
    /// Authentication failed: wrong key, wrong associated data, or the envelope was altered.
    /// No plaintext is released.
    Decrypt,
    /// The bytes are not an envelope: `reason` says which part is wrong.
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The envelope's format version is not one this build reads (it reads version 1):
    /// upgrade, or check that the bytes are an envelope at all.
    UnsupportedVersion(u8),
    /// The message is too long for AES-GCM (more than 2^36 - 32 bytes): split it.
    TooLong,
    /// The free functions [`crate::encrypt_data`] and [`crate::decrypt_data`] found no key
    /// ring: give one to [`TelemetryBuilder::key_ring`](crate::TelemetryBuilder::key_ring)
    /// and [`install`](crate::install) that builder.
    NoKeyRing,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::NoActiveKey => {
                f.write_str("the key ring has no active key; add, rotate or activate one")
            }
            CryptoError::UnknownKey { key_id } => {
                write!(f, "no key {key_id:?} in the ring (never loaded, or retired)")
            }
            CryptoError::KeyExhausted { key_id } => write!(
                f,
                "key {key_id:?} reached its use budget; rotate to a new key (or enable automatic rotation)"
            ),
            CryptoError::Decrypt => f.write_str("decryption failed: data not authentic"),
            CryptoError::Malformed { reason } => write!(f, "malformed envelope: {reason}"),
            CryptoError::UnsupportedVersion(v) => write!(
                f,
                "unsupported envelope version {v}; this build reads version 1"
            ),
            CryptoError::TooLong => f.write_str("message too long for AES-GCM; split it"),
            CryptoError::NoKeyRing => f.write_str(
                "no key ring configured: give one to TelemetryBuilder::key_ring and tickwatch::install that builder",
            ),
        }
    }
}

impl std::error::Error for CryptoError {}

/// Why an encrypted log could not be read back.
#[derive(Debug)]
#[non_exhaustive]
pub enum AtRestError {
    /// The file could not be read: check the path and permissions.
    Io(std::io::Error),
    /// The file ends inside a frame (a crash during a write, or a cut file): everything
    /// before `offset` was read; the rest is lost or must be recovered by hand.
    Truncated {
        /// Byte offset where the incomplete frame starts.
        offset: u64,
        /// 0-based index of the frame.
        frame: u64,
    },
    /// A frame header announces an implausible length (more than
    /// [`super::MAX_FRAME_LEN`]): the file is corrupt or not an encrypted log.
    FrameTooLarge {
        /// Byte offset of the frame.
        offset: u64,
        /// 0-based index of the frame.
        frame: u64,
        /// The length announced.
        len: u32,
    },
    /// A frame did not decrypt: altered, or under a key that is not in the ring.
    Frame {
        /// Byte offset of the frame.
        offset: u64,
        /// 0-based index of the frame.
        frame: u64,
        /// Why.
        source: CryptoError,
    },
}

impl fmt::Display for AtRestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtRestError::Io(e) => write!(f, "cannot read the encrypted log: {e}"),
            AtRestError::Truncated { offset, frame } => write!(
                f,
                "encrypted log truncated: frame {frame} at byte {offset} is incomplete"
            ),
            AtRestError::FrameTooLarge { offset, frame, len } => write!(
                f,
                "frame {frame} at byte {offset} announces {len} bytes: corrupt file or not an encrypted log"
            ),
            AtRestError::Frame {
                offset,
                frame,
                source,
            } => write!(f, "frame {frame} at byte {offset}: {source}"),
        }
    }
}

impl std::error::Error for AtRestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AtRestError::Io(e) => Some(e),
            AtRestError::Frame { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<std::io::Error> for AtRestError {
    fn from(e: std::io::Error) -> Self {
        AtRestError::Io(e)
    }
}
