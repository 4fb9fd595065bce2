//! Key material ([`SecretKey`]), key ids, and the loaders: OS randomness, hex, base64, key
//! files and environment variables.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use zeroize::{Zeroize, Zeroizing};

use super::error::{Encoding, KeyError};

/// Length of an AES-256 key in bytes.
pub const KEY_LEN: usize = 32;

/// Longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 64;

/// Standard alphabet, padding optional when decoding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A 32-byte AES-256 key. Wiped from memory when dropped; its `Debug` shows no material.
///
/// ```
/// use tickwatch::security::crypto::SecretKey;
/// let k = SecretKey::from_hex(&"00".repeat(32)).unwrap();
/// assert_eq!(format!("{k:?}"), "SecretKey(..)");
/// assert!(SecretKey::from_base64("c2hvcnQ=").is_err()); // 5 bytes, not 32
/// ```
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::getrandom(&mut k[..]).map_err(KeyError::Random)?;
        Ok(Self(k))
    }

    /// Exactly 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::WrongLength {
                encoding: Encoding::Raw,
                decoded_len: bytes.len(),
            });
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(bytes);
        Ok(Self(k))
    }

    /// 64 hexadecimal digits (either case; surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(position) = s.bytes().position(|b| !b.is_ascii_hexdigit()) {
            return Err(KeyError::InvalidCharacter {
                encoding: Encoding::Hex,
                position,
            });
        }
        if !s.len().is_multiple_of(2) {
            return Err(KeyError::InvalidEncoding {
                encoding: Encoding::Hex,
                reason: "odd number of hex digits",
            });
        }
        if s.len() != 2 * KEY_LEN {
            return Err(KeyError::WrongLength {
                encoding: Encoding::Hex,
                decoded_len: s.len() / 2,
            });
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
            k[i] = (hex_val(pair[0]) << 4) | hex_val(pair[1]);
        }
        Ok(Self(k))
    }

    /// Standard base64 of 32 bytes (44 characters with `=` padding, 43 without; surrounding
    /// whitespace ignored).
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        // Room for any over-long input up to 48 bytes; longer inputs are reported by length.
        let mut buf = Zeroizing::new([0u8; 48]);
        if s.len() > 64 {
            return Err(KeyError::WrongLength {
                encoding: Encoding::Base64,
                decoded_len: s.trim_end_matches('=').len() * 3 / 4,
            });
        }
        match BASE64_LENIENT.decode_slice(s, &mut buf[..]) {
            Ok(n) if n == KEY_LEN => Self::from_bytes(&buf[..n]),
            Ok(n) => Err(KeyError::WrongLength {
                encoding: Encoding::Base64,
                decoded_len: n,
            }),
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => Err(KeyError::WrongLength {
                encoding: Encoding::Base64,
                decoded_len: s.trim_end_matches('=').len() * 3 / 4,
            }),
            Err(base64::DecodeSliceError::DecodeError(e)) => Err(match e {
                base64::DecodeError::InvalidByte(position, _)
                | base64::DecodeError::InvalidLastSymbol(position, _) => {
                    KeyError::InvalidCharacter {
                        encoding: Encoding::Base64,
                        position,
                    }
                }
                base64::DecodeError::InvalidLength(_) => KeyError::InvalidEncoding {
                    encoding: Encoding::Base64,
                    reason: "impossible number of base64 characters",
                },
                base64::DecodeError::InvalidPadding => KeyError::InvalidEncoding {
                    encoding: Encoding::Base64,
                    reason: "bad `=` padding",
                },
            }),
        }
    }

    /// Hex if the string holds only hex digits, base64 otherwise (a random base64 key holds
    /// only hex digits with probability (22/64)^43, about 10^-20).
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(KeyError::Empty);
        }
        if t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Self::from_hex(t)
        } else {
            Self::from_base64(t)
        }
    }

    /// The key in the environment variable `var`, as hex or base64 ([`SecretKey::parse`]).
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        match std::env::var(var) {
            Ok(v) => {
                let v = Zeroizing::new(v);
                Self::parse(&v)
            }
            Err(std::env::VarError::NotPresent) => Err(KeyError::EnvVarMissing {
                var: var.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::EnvVarNotUnicode {
                var: var.to_owned(),
            }),
        }
    }

    /// The key held (hex or base64, [`SecretKey::parse`]) in the file at `path`, such as a
    /// key-encryption key mounted from a secret store. Surrounding whitespace is ignored.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Self::parse(text.trim())
    }

    /// The key as standard padded base64, for writing a key file. Handle with care: this is
    /// the secret itself (wiped when the returned string is dropped).
    pub fn expose_base64(&self) -> super::SecretText {
        super::SecretText::new(Zeroizing::new(STANDARD.encode(&self.0[..])))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Checks a key id: 1 to [`MAX_KEY_ID_LEN`] bytes from `A-Z a-z 0-9 - _ .`.
pub fn validate_key_id(id: &str) -> Result<(), KeyError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > MAX_KEY_ID_LEN {
        "longer than 64 bytes"
    } else if !id.bytes().all(is_id_byte) {
        "contains a character other than A-Z a-z 0-9 - _ ."
    } else {
        return Ok(());
    };
    Err(KeyError::InvalidKeyId {
        key_id: id.chars().take(80).collect(),
        reason,
    })
}

pub(crate) fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Parses a key file's text (see [`super::KeyRingBuilder::key_file`] for the format).
pub(crate) fn parse_key_file(
    path: &Path,
    text: &str,
) -> Result<Vec<(String, SecretKey)>, KeyError> {
    let mut keys: Vec<(String, SecretKey)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |source: KeyError| KeyError::KeyFileLine {
            path: path.to_owned(),
            line: i + 1,
            source: Box::new(source),
        };
        let (id, key) = line
            .split_once('=')
            .ok_or_else(|| at(KeyError::MissingSeparator))?;
        let id = id.trim();
        validate_key_id(id).map_err(at)?;
        if keys.iter().any(|(k, _)| k == id) {
            return Err(at(KeyError::DuplicateKeyId {
                key_id: id.to_owned(),
            }));
        }
        let key = SecretKey::parse(key).map_err(at)?;
        keys.push((id.to_owned(), key));
    }
    if keys.is_empty() {
        return Err(KeyError::EmptyKeyFile {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}

/// Reads and parses a key file.
pub(crate) fn read_key_file(path: &Path) -> Result<Vec<(String, SecretKey)>, KeyError> {
    let mut text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let r = parse_key_file(path, &text);
    text.zeroize();
    r
}
