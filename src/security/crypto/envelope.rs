//! The envelope: a versioned, self-describing byte format for one AES-256-GCM ciphertext, and
//! the single AEAD core (seal / open) every path of the crate goes through.
//!
//! # Format, version 1
//!
//! ```text
//! offset  size   field
//! 0       1      version = 1
//! 1       1      n = key id length, 1..=64
//! 2       n      key id, ASCII from A-Z a-z 0-9 - _ .
//! 2+n     12     nonce: 4-byte random per-key prefix || 8-byte big-endian counter
//! 14+n    L      ciphertext (L = plaintext length, may be 0)
//! 14+n+L  16     GCM tag
//! ```
//!
//! The associated data authenticated with every envelope is
//! `b"tickwatch-envelope" || version || n || key id || zeros || caller AAD`, the zeros padding
//! the part before the caller's AAD to a multiple of 16 bytes: changing the version or the key
//! id breaks authentication, and the length byte keeps `(id, aad)` pairs unambiguous
//! (`("ab", "c")` and `("a", "bc")` authenticate differently). The padding makes the key's
//! part whole GHASH blocks: a partial last block costs `aes-gcm` a padded copy (~25-50 ns per
//! call, measured), the zeros cost nothing.

use std::cell::RefCell;
use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::CryptoError;
use super::key::{is_id_byte, MAX_KEY_ID_LEN};

/// The format version this build writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;
/// Nonce length in bytes (96 bits, the only length GCM handles without hashing the nonce).
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes (128 bits).
pub const TAG_LEN: usize = 16;
/// Domain-separation prefix of the associated data.
pub(crate) const AAD_DOMAIN: &[u8] = b"tickwatch-envelope";
/// AES-GCM's plaintext limit (2^39 - 256 bits).
const MAX_PLAINTEXT: u64 = (1 << 36) - 32;

/// An encrypted message in the envelope format (see
/// [the format](crate::security::crypto#envelope-format)): version, key id and nonce travel
/// with the ciphertext.
///
/// ```text
/// offset  size   field
/// 0       1      version = 1
/// 1       1      n = key id length, 1..=64
/// 2       n      key id, ASCII from A-Z a-z 0-9 - _ .
/// 2+n     12     nonce: 4-byte random per-key prefix || 8-byte big-endian counter
/// 14+n    L      ciphertext (L = plaintext length, may be 0)
/// 14+n+L  16     GCM tag
/// ```
///
/// The associated data is `b"tickwatch-envelope" || version || n || key id || zeros || caller
/// AAD`, the zeros padding the part before the caller's AAD to a multiple of 16 bytes.
///
/// Serde: serialized as one base64 string (standard alphabet, padded) of
/// [`EncryptedData::to_bytes`].
///
/// ```
/// use tickwatch::security::crypto::{EncryptedData, KeyRing};
/// let ring = KeyRing::generate()?;
/// let e = ring.encrypt_data(b"order 42 filled")?;
/// let back = EncryptedData::from_bytes(&e.to_bytes())?;
/// assert_eq!(&ring.decrypt_data(&back)?[..], b"order 42 filled");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedData {
    /// The whole encoding.
    bytes: Vec<u8>,
}

impl EncryptedData {
    /// Parses an envelope. Checks the structure only; authenticity is checked on decryption.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        parse(bytes)?;
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    /// The encoding (a copy of [`EncryptedData::as_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoding, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The format version (1).
    pub fn version(&self) -> u8 {
        self.bytes[0]
    }

    /// The id of the key it was encrypted under.
    pub fn key_id(&self) -> &str {
        let n = self.bytes[1] as usize;
        // Validated ASCII at construction.
        std::str::from_utf8(&self.bytes[2..2 + n]).unwrap_or("")
    }

    /// The 96-bit nonce.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        let at = 2 + self.bytes[1] as usize;
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&self.bytes[at..at + NONCE_LEN]);
        n
    }

    /// The ciphertext without the tag (as long as the plaintext).
    pub fn ciphertext(&self) -> &[u8] {
        let at = 2 + self.bytes[1] as usize + NONCE_LEN;
        &self.bytes[at..self.bytes.len() - TAG_LEN]
    }

    /// The 128-bit authentication tag.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&self.bytes[self.bytes.len() - TAG_LEN..]);
        t
    }

    /// The header (everything but the ciphertext).
    pub fn header(&self) -> EnvelopeHeader {
        let id = self.key_id().as_bytes();
        let mut key_id = [0u8; MAX_KEY_ID_LEN];
        key_id[..id.len()].copy_from_slice(id);
        EnvelopeHeader {
            key_id,
            key_id_len: id.len() as u8,
            nonce: self.nonce(),
            tag: self.tag(),
        }
    }

    /// Assembles an envelope from an in-place encryption's header and ciphertext.
    pub fn from_parts(header: &EnvelopeHeader, ciphertext: &[u8]) -> Self {
        let id = header.key_id().as_bytes();
        let mut bytes = Vec::with_capacity(overhead(id.len()) + ciphertext.len());
        write_prefix(&mut bytes, id, &header.nonce);
        bytes.extend_from_slice(ciphertext);
        bytes.extend_from_slice(&header.tag);
        Self { bytes }
    }

    pub(crate) fn from_raw(bytes: Vec<u8>) -> Self {
        debug_assert!(parse(&bytes).is_ok());
        Self { bytes }
    }
}

impl fmt::Debug for EncryptedData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedData")
            .field("version", &self.version())
            .field("key_id", &self.key_id())
            .field("ciphertext_len", &self.ciphertext().len())
            .finish()
    }
}

impl serde::Serialize for EncryptedData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.bytes))
    }
}

impl<'de> serde::Deserialize<'de> for EncryptedData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EncryptedData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string holding a tickwatch envelope")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EncryptedData, E> {
                let bytes = STANDARD
                    .decode(v)
                    .map_err(|e| E::custom(format_args!("envelope is not base64: {e}")))?;
                EncryptedData::from_bytes(&bytes).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// What an in-place encryption produces besides the ciphertext: key id, nonce and tag, held
/// inline (no allocation). Keep it with the ciphertext; [`EncryptedData::from_parts`] turns
/// the two into an envelope.
// Aligned (96 bytes): the encryption path moves it by value, and a byte-aligned layout made
// those moves unaligned partial copies that stall store-to-load forwarding (~10 ns a call).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct EnvelopeHeader {
    key_id: [u8; MAX_KEY_ID_LEN],
    tag: [u8; TAG_LEN],
    nonce: [u8; NONCE_LEN],
    key_id_len: u8,
}

impl EnvelopeHeader {
    /// A placeholder (no key id) for the encryption path to overwrite.
    pub(crate) const EMPTY: Self = Self {
        key_id: [0; MAX_KEY_ID_LEN],
        tag: [0; TAG_LEN],
        nonce: [0; NONCE_LEN],
        key_id_len: 0,
    };

    /// The header of key `id` with a zero nonce and tag: kept per key, completed by
    /// [`EnvelopeHeader::sealed`] (a fixed-size copy instead of copying the id per call).
    pub(crate) fn template(id: &str) -> Self {
        let mut key_id = [0u8; MAX_KEY_ID_LEN];
        key_id[..id.len()].copy_from_slice(id.as_bytes());
        Self {
            key_id,
            tag: [0; TAG_LEN],
            nonce: [0; NONCE_LEN],
            key_id_len: id.len() as u8,
        }
    }

    /// This header with `nonce` and `tag` filled in.
    #[inline]
    pub(crate) fn sealed(&self, nonce: [u8; NONCE_LEN], tag: [u8; TAG_LEN]) -> Self {
        Self {
            nonce,
            tag,
            ..*self
        }
    }

    /// The format version (1).
    pub fn version(&self) -> u8 {
        ENVELOPE_VERSION
    }

    /// The id of the key used.
    pub fn key_id(&self) -> &str {
        std::str::from_utf8(&self.key_id[..self.key_id_len as usize]).unwrap_or("")
    }

    /// The nonce.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        self.nonce
    }

    /// The authentication tag.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        self.tag
    }
}

impl fmt::Debug for EnvelopeHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeHeader")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Bytes an envelope adds to a plaintext under a key id of `id_len` bytes.
pub(crate) const fn overhead(id_len: usize) -> usize {
    2 + id_len + NONCE_LEN + TAG_LEN
}

pub(crate) fn write_prefix(out: &mut Vec<u8>, id: &[u8], nonce: &[u8; NONCE_LEN]) {
    out.push(ENVELOPE_VERSION);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(nonce);
}

/// Checks an envelope's structure; returns the key id length.
pub(crate) fn parse(bytes: &[u8]) -> Result<usize, CryptoError> {
    let Some(&version) = bytes.first() else {
        return Err(CryptoError::Malformed { reason: "empty" });
    };
    if version != ENVELOPE_VERSION {
        return Err(CryptoError::UnsupportedVersion(version));
    }
    let Some(&n) = bytes.get(1) else {
        return Err(CryptoError::Malformed {
            reason: "ends before the key id length",
        });
    };
    let n = n as usize;
    if n == 0 || n > MAX_KEY_ID_LEN {
        return Err(CryptoError::Malformed {
            reason: "key id length not in 1..=64",
        });
    }
    if bytes.len() < overhead(n) {
        return Err(CryptoError::Malformed {
            reason: "shorter than header, nonce and tag",
        });
    }
    if !bytes[2..2 + n].iter().all(|&b| is_id_byte(b)) {
        return Err(CryptoError::Malformed {
            reason: "key id has a character other than A-Z a-z 0-9 - _ .",
        });
    }
    Ok(n)
}

/// Longest [`AadHeader`]: domain, version, id length, id, padded to whole 16-byte blocks.
const MAX_AAD_HEADER: usize = (AAD_DOMAIN.len() + 2 + MAX_KEY_ID_LEN).next_multiple_of(16);

/// The part of the associated data that is the same for every envelope under one key,
/// `b"tickwatch-envelope" || version || n || key id || zeros` (to a multiple of 16 bytes),
/// computed once when the key enters the ring so that sealing an envelope without caller AAD
/// passes it as it is (no copy per call). Its bytes after the domain, `version || n || key
/// id`, are also the envelope's first bytes.
#[derive(Clone, Copy)]
pub(crate) struct AadHeader {
    bytes: [u8; MAX_AAD_HEADER],
    /// End of `version || n || key id`.
    prefix_end: u8,
    /// `prefix_end` rounded up to a multiple of 16.
    len: u8,
}

impl AadHeader {
    /// The header of key `id` (1..=64 bytes, checked by the caller).
    pub(crate) fn new(id: &[u8]) -> Self {
        debug_assert!(!id.is_empty() && id.len() <= MAX_KEY_ID_LEN);
        let d = AAD_DOMAIN.len();
        let mut bytes = [0u8; MAX_AAD_HEADER];
        bytes[..d].copy_from_slice(AAD_DOMAIN);
        bytes[d] = ENVELOPE_VERSION;
        bytes[d + 1] = id.len() as u8;
        bytes[d + 2..d + 2 + id.len()].copy_from_slice(id);
        let prefix_end = d + 2 + id.len();
        Self {
            bytes,
            prefix_end: prefix_end as u8,
            len: prefix_end.next_multiple_of(16) as u8,
        }
    }

    /// `b"tickwatch-envelope" || version || n || key id || zeros`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// `version || n || key id`: an envelope's bytes before the nonce.
    pub(crate) fn envelope_prefix(&self) -> &[u8] {
        &self.bytes[AAD_DOMAIN.len()..self.prefix_end as usize]
    }
}

thread_local! {
    static AAD_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the full associated data of an envelope: the key's `header` followed by the
/// caller's `aad`. Without caller AAD that is the header itself; otherwise the two are joined
/// on the stack up to 256 bytes and beyond that in a per-thread buffer reused across calls (so
/// only the first call with a longer AAD on a thread allocates).
#[inline]
pub(crate) fn with_full_aad<R>(header: &AadHeader, aad: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let header = header.as_bytes();
    if aad.is_empty() {
        return f(header);
    }
    let len = header.len() + aad.len();
    let fill = |out: &mut [u8]| {
        let (h, rest) = out.split_at_mut(header.len());
        h.copy_from_slice(header);
        rest.copy_from_slice(aad);
    };
    if len <= 256 {
        let mut buf = [0u8; 256];
        fill(&mut buf[..len]);
        return f(&buf[..len]);
    }
    AAD_SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            v.clear();
            v.resize(len, 0);
            fill(&mut v[..]);
            f(&v[..])
        }
        Err(_) => {
            let mut v = vec![0u8; len];
            fill(&mut v);
            f(&v)
        }
    })
}

/// The one AEAD encryption of the crate: AES-256-GCM over `buf` in place.
#[inline(always)]
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    if buf.len() as u64 > MAX_PLAINTEXT {
        return Err(CryptoError::TooLong);
    }
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
        .map_err(|_| CryptoError::TooLong)?;
    Ok(tag.into())
}

/// The one AEAD decryption of the crate: AES-256-GCM over `buf` in place. On failure `buf` is
/// zeroed, so no byte of a forged message is ever released.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), CryptoError> {
    match cipher.decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
    {
        Ok(()) => Ok(()),
        Err(_) => {
            zeroize::Zeroize::zeroize(buf);
            Err(CryptoError::Decrypt)
        }
    }
}
