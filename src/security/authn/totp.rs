//! TOTP second factor (RFC 6238 over RFC 4226 HOTP): SHA1/SHA256/SHA512, 6 to 8 digits,
//! 30-second steps from T0 = 0, one step of skew either way, each step accepted at most once.

use std::fmt;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::security::crypto::{Plaintext, SecretText};

/// Length of a TOTP time step in seconds (RFC 6238's default X).
pub const TOTP_STEP_SECS: u64 = 30;
/// Shortest accepted secret in bytes (RFC 4226 §4 requires at least 128 bits).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest accepted secret in bytes.
pub const MAX_SECRET_LEN: usize = 128;

/// The HMAC hash of a TOTP secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TotpAlgorithm {
    /// HMAC-SHA1 (what authenticator apps use by default).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// HMAC of `msg` under `key` with `alg`'s hash: the function TOTP uses (exposed so it can be
/// checked against Wycheproof's vectors).
pub fn hmac(alg: TotpAlgorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        TotpAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
        TotpAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
        TotpAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg),
    }
}

/// A TOTP secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpSecretError {
    /// Not RFC 4648 base32 (A-Z, 2-7, optional `=` padding): re-copy the secret.
    Base32 {
        /// Byte offset of the first bad character, or the length when the length is wrong.
        at: usize,
    },
    /// Shorter than [`MIN_SECRET_LEN`] bytes: generate a longer secret.
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// Longer than [`MAX_SECRET_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Digits outside 6..=8: use 6, 7 or 8.
    Digits(u32),
}

impl fmt::Display for TotpSecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TotpSecretError::Base32 { at } => write!(f, "invalid base32 at byte {at}"),
            TotpSecretError::TooShort { len } => {
                write!(f, "secret of {len} bytes is shorter than {MIN_SECRET_LEN}")
            }
            TotpSecretError::TooLong { len } => {
                write!(f, "secret of {len} bytes is longer than {MAX_SECRET_LEN}")
            }
            TotpSecretError::Digits(d) => write!(f, "{d} digits; use 6, 7 or 8"),
        }
    }
}

impl std::error::Error for TotpSecretError {}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Decodes RFC 4648 base32 (case-insensitive, trailing `=` padding optional, no whitespace).
pub fn base32_decode(s: &str) -> Result<Plaintext, TotpSecretError> {
    let body = s.trim_end_matches('=');
    // Lengths that no whole number of bytes produces.
    if matches!(body.len() % 8, 1 | 3 | 6) {
        return Err(TotpSecretError::Base32 { at: body.len() });
    }
    if s.len() != body.len() && !s.len().is_multiple_of(8) {
        return Err(TotpSecretError::Base32 { at: s.len() });
    }
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() * 5 / 8));
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for (i, c) in body.bytes().enumerate() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return Err(TotpSecretError::Base32 { at: i }),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    acc.zeroize();
    Ok(Plaintext::new(out))
}

/// Encodes bytes as RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> SecretText {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(5) * 8));
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(B32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    acc.zeroize();
    SecretText::new(out)
}

/// A user's TOTP secret, its hash and its code length. Wiped on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret {
    key: Zeroizing<Vec<u8>>,
    algorithm: TotpAlgorithm,
    digits: u32,
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSecret")
            .field("key", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish()
    }
}

impl TotpSecret {
    /// A secret from raw bytes (16 to 128 of them), for `digits` (6 to 8) digit codes.
    pub fn from_bytes(
        key: &[u8],
        algorithm: TotpAlgorithm,
        digits: u32,
    ) -> Result<Self, TotpSecretError> {
        if !(6..=8).contains(&digits) {
            return Err(TotpSecretError::Digits(digits));
        }
        if key.len() < MIN_SECRET_LEN {
            return Err(TotpSecretError::TooShort { len: key.len() });
        }
        if key.len() > MAX_SECRET_LEN {
            return Err(TotpSecretError::TooLong { len: key.len() });
        }
        Ok(TotpSecret {
            key: Zeroizing::new(key.to_vec()),
            algorithm,
            digits,
        })
    }

    /// A secret from RFC 4648 base32 (what authenticator apps show).
    pub fn from_base32(
        s: &str,
        algorithm: TotpAlgorithm,
        digits: u32,
    ) -> Result<Self, TotpSecretError> {
        let key = base32_decode(s)?;
        Self::from_bytes(&key, algorithm, digits)
    }

    /// A fresh random 20-byte SHA1 secret for 6-digit codes.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new(vec![0u8; 20]);
        getrandom::getrandom(&mut key)?;
        Ok(TotpSecret {
            key,
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
        })
    }

    /// The secret in base32 (to enrol an authenticator app, or to store it).
    pub fn to_base32(&self) -> SecretText {
        base32_encode(&self.key)
    }

    /// The HMAC hash.
    pub fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }

    /// Code length.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The RFC 4226 HOTP value for `counter` (dynamic truncation, modulo 10^digits).
    pub fn hotp(&self, counter: u64) -> u32 {
        let mut mac = Zeroizing::new(hmac(self.algorithm, &self.key, &counter.to_be_bytes()));
        let off = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = (u32::from(mac[off] & 0x7f) << 24)
            | (u32::from(mac[off + 1]) << 16)
            | (u32::from(mac[off + 2]) << 8)
            | u32::from(mac[off + 3]);
        mac.zeroize();
        bin % 10u32.pow(self.digits)
    }

    /// The code at Unix time `unix_secs`, zero-padded to `digits`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.format(self.hotp(unix_secs / TOTP_STEP_SECS))
    }

    fn format(&self, v: u32) -> String {
        format!("{v:0width$}", width = self.digits as usize)
    }

    /// Checks `code` at `unix_secs` against steps T-1, T, T+1 (all three compared in constant
    /// time) and returns the matching step, if any, that is later than `last_used_step`.
    /// Recording the returned step as used is the caller's job (see [`TotpVerdict`]).
    pub fn verify(&self, code: &str, unix_secs: u64, last_used_step: Option<u64>) -> TotpVerdict {
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return TotpVerdict::Malformed;
        }
        let now = unix_secs / TOTP_STEP_SECS;
        let mut matched: Option<u64> = None;
        for step in [now.wrapping_sub(1), now, now + 1] {
            if step > now + 1 {
                continue; // now == 0: no step before it
            }
            let expect = Zeroizing::new(self.format(self.hotp(step)));
            let eq: bool = expect.as_bytes().ct_eq(code.as_bytes()).into();
            if eq && matched.is_none() {
                matched = Some(step);
            }
        }
        match (matched, last_used_step) {
            (None, _) => TotpVerdict::Wrong,
            (Some(s), Some(last)) if s <= last => TotpVerdict::Replayed,
            (Some(s), _) => TotpVerdict::Accepted { step: s },
        }
    }
}

/// What [`TotpSecret::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpVerdict {
    /// Right code for `step`, which was not used before: record it as the last used step.
    Accepted {
        /// The matching time step (Unix time / 30).
        step: u64,
    },
    /// Right code, but its step (or a later one) was already used: a replay.
    Replayed,
    /// No step within one of now matches.
    Wrong,
    /// Not `digits` ASCII digits.
    Malformed,
}
