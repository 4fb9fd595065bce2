//! [`KeyRing`]: AES-256-GCM keys by id, one active for encryption, older ones kept for
//! decryption, lock-free on the encryption path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::builder::KeyRingBuilder;
use super::entry::KeyEntry;
use super::envelope::{self, EncryptedData, EnvelopeHeader, NONCE_LEN, TAG_LEN};
use super::error::{CryptoError, KeyRingError};
use super::key_file::WrappedKeyFile;
use super::nonce::ThreadNonces;
use super::plaintext::Plaintext;
use super::published::Published;
use super::rotation::new_key_id;
use crate::security::audit::AuditSlot;
use crate::{Audit, AuditLog};

/// Default number of encryptions allowed per key: 2^31.
///
/// NIST SP 800-38D (section 8.3) caps a GCM key at 2^32 invocations when nonces are random or
/// not provably unique across every instance that holds the key. This crate's nonces are unique
/// within one process (a counter), but the same key loaded from a file into several processes
/// or restarts relies on a random 96-bit starting point; half the NIST cap leaves a safety
/// margin for those cases. At a million encryptions a second that is ~36 minutes per key, so
/// a busy process should enable [`Exhaustion::Rotate`] or rotate on a schedule.
pub const DEFAULT_USE_BUDGET: u64 = 1 << 31;

/// Largest accepted use budget, 2^62: the nonce counter starts below 2^62 and so can never
/// wrap within a key's life.
pub const MAX_USE_BUDGET: u64 = 1 << 62;

/// What an encryption does when the active key has used up its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exhaustion {
    /// Refuse with [`CryptoError::KeyExhausted`] until someone rotates (default: keys are then
    /// only ever ones you created and can store).
    #[default]
    Refuse,
    /// Generate a fresh key, make it active and carry on (audited as `auto_rotate`). The new
    /// key lives only in this process: data under it cannot be decrypted after a restart
    /// unless you persist it yourself. Suits in-process or short-lived data.
    Rotate,
}

/// AES-256-GCM keys by id: one active key encrypts, every key in the ring decrypts.
///
/// * **Key ids** are strings of 1 to 64 characters from `A-Z a-z 0-9 - _ .`; every envelope
///   carries its key's id, so an id must never be reused for different material.
/// * **Nonces** are made here, never by the caller: a random 32-bit prefix per key and a 64-bit
///   counter from a random start, so no nonce repeats during a key's life in this process.
///   Each thread encrypting under the active key takes counter values in blocks (one atomic
///   add per block; blocks grow from 1 to 64 values, or to `budget / 1024` if smaller) and
///   uses each value once; a block belongs to one thread and one key.
/// * **Use budget**: each key counts its encryptions and, past [`DEFAULT_USE_BUDGET`] (or the
///   builder's [`KeyRingBuilder::use_budget`]), refuses or rotates ([`Exhaustion`]). A block
///   counts whole against the budget when taken, so a key never exceeds its budget and may
///   stop up to `threads x block` encryptions short of it (values a rotation left unused);
///   [`KeyRing::key_uses`] counts only the values used.
/// * **Thread-safe**: all methods take `&self`. Changes (rotate, retire, ...) are serialised
///   among themselves and publish a new immutable snapshot (`arc-swap`); readers take no lock.
///   Encryption under the active key reads a per-thread cached reference to it, revalidated
///   with one atomic load, and takes its nonce with one atomic add: a rotation applies to
///   every encryption that starts after it returns.
/// * **Audit**: every ring operation (create, add, rotate, activate, retire, exhaustion,
///   automatic rotation) leaves exactly one [`Audit`] record with actor `"keyring"`, the key id
///   as resource and outcome `"ok"` or the reason it failed. Encryptions and decryptions are not
///   audited; failed decryptions are counted ([`KeyRing::decrypt_failures`]).
/// * Key material is wiped when the ring drops it ([`SecretKey`](super::SecretKey)); `Debug` shows ids only.
///
/// ```
/// use tickwatch::security::crypto::{KeyRing, SecretKey};
/// let ring = KeyRing::builder().key("2026-11", SecretKey::generate()?).build()?;
/// let old = ring.encrypt_data(b"fill 42")?;
/// ring.rotate_to("2026-12", SecretKey::generate()?)?;
/// assert_eq!(ring.encrypt_data(b"fill 43")?.key_id(), "2026-12");
/// assert_eq!(&ring.decrypt_data(&old)?[..], b"fill 42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyRing {
    pub(super) state: Published,
    pub(super) writer: parking_lot::Mutex<()>,
    pub(super) audit: AuditSlot,
    pub(super) budget: u64,
    pub(super) exhaustion: Exhaustion,
    pub(super) decrypt_failures: AtomicU64,
    pub(super) auto_rotations: AtomicU64,
    /// Where every change is written before it takes effect
    /// ([`KeyRingBuilder::persist`]).
    pub(super) key_file: Option<WrappedKeyFile>,
}

impl KeyRing {
    /// A builder: no keys, no audit log, [`DEFAULT_USE_BUDGET`], [`Exhaustion::Refuse`].
    pub fn builder() -> KeyRingBuilder {
        KeyRingBuilder::new()
    }

    /// A ring with one fresh random key (id generated), no audit log, default budget.
    pub fn generate() -> Result<KeyRing, KeyRingError> {
        Self::builder().generated_key(new_key_id()?).build()
    }

    /// Records into `log` from now on, unless an audit log was given at construction (the
    /// instance this is installed with attaches its own).
    pub(crate) fn attach_audit(&self, log: AuditLog) {
        self.audit.attach(log);
    }

    /// An empty ring recording into `log`; add keys with [`KeyRing::add_key`] or
    /// [`KeyRing::rotate`].
    pub fn with_audit(log: AuditLog) -> Result<KeyRing, KeyRingError> {
        Self::builder().audit(log).build()
    }

    pub(super) fn record(&self, action: &str, resource: &str, outcome: &str, detail: &str) {
        if let Some(log) = self.audit.get() {
            log.record(&Audit {
                actor: "keyring",
                action,
                resource,
                outcome,
                rule: "",
                detail,
            });
        }
    }

    /// The active key's id, if any.
    pub fn active_key_id(&self) -> Option<String> {
        self.state.load().active.as_ref().map(|e| e.id.to_string())
    }

    /// Every key's id, in the order added.
    pub fn key_ids(&self) -> Vec<String> {
        self.state
            .load()
            .order
            .iter()
            .map(|k| k.to_string())
            .collect()
    }

    /// Whether key `id` is in the ring.
    pub fn contains(&self, id: &str) -> bool {
        self.state.load().keys.contains_key(id)
    }

    /// Encryptions made with key `id`, if it is in the ring: exact when no encryption is in
    /// progress, an estimate while other threads encrypt. Counter values that threads took in
    /// blocks but have not used are not counted here, though they do count against the
    /// budget (see [`KeyRing`]'s use budget).
    pub fn key_uses(&self, id: &str) -> Option<u64> {
        let s = self.state.load();
        s.keys.get(id).map(|e| e.nonces.used(self.budget))
    }

    /// Encryptions allowed per key.
    pub fn use_budget(&self) -> u64 {
        self.budget
    }

    /// Decryptions refused because authentication failed, since the ring was built.
    pub fn decrypt_failures(&self) -> u64 {
        self.decrypt_failures.load(Relaxed)
    }

    /// Automatic rotations ([`Exhaustion::Rotate`]) since the ring was built.
    pub fn auto_rotations(&self) -> u64 {
        self.auto_rotations.load(Relaxed)
    }

    /// Takes a nonce under the active key (or `key_id`) and runs `f` with the key.
    // Always inlined (the cold parts are functions of their own): returned through a call, the
    // 32-byte `Result` was copied with a store-forwarding stall on every encryption.
    #[inline(always)]
    fn with_encryption_key<R>(
        &self,
        key_id: Option<&str>,
        mut f: impl FnMut(&KeyEntry, [u8; NONCE_LEN]) -> Result<R, CryptoError>,
    ) -> Result<R, CryptoError> {
        loop {
            // Set (cold) when the key's budget is spent; `r` is then `KeyExhausted`.
            let mut spent: Option<Arc<KeyEntry>> = None;
            let r = match key_id {
                None => self.state.with_active(|active, nonces| match active {
                    Some(entry) => self.reserve(entry, nonces, &mut spent, &mut f),
                    None => Err(CryptoError::NoActiveKey),
                }),
                Some(id) => {
                    let state = self.state.load();
                    match state.keys.get(id) {
                        Some(entry) => self.reserve(entry, None, &mut spent, &mut f),
                        None => Err(CryptoError::UnknownKey {
                            key_id: id.to_owned(),
                        }),
                    }
                }
            };
            match spent {
                None => return r,
                Some(entry) => {
                    if !self.on_spent(&entry, key_id.is_none())? {
                        return r;
                    }
                }
            }
        }
    }

    /// The budget of `entry` is spent: rotates (under [`Exhaustion::Rotate`], for the active
    /// key) and returns `true` to retry, or audits the refusal (once per key) and returns
    /// `false`.
    #[cold]
    fn on_spent(&self, entry: &KeyEntry, active: bool) -> Result<bool, CryptoError> {
        if active && self.exhaustion == Exhaustion::Rotate {
            self.auto_rotate(&entry.id)?;
            return Ok(true);
        }
        if !entry.exhaustion_reported.swap(true, Relaxed) {
            self.record(
                "exhausted",
                &entry.id,
                "refused",
                &format!("budget={}", self.budget),
            );
        }
        Ok(false)
    }

    /// Takes the next counter value of `entry` (from this thread's block if given, else
    /// directly) and runs `f`; or sets `spent` and fails if the budget is used up.
    #[inline(always)]
    fn reserve<R>(
        &self,
        entry: &Arc<KeyEntry>,
        nonces: Option<&mut Option<ThreadNonces>>,
        spent: &mut Option<Arc<KeyEntry>>,
        f: &mut impl FnMut(&KeyEntry, [u8; NONCE_LEN]) -> Result<R, CryptoError>,
    ) -> Result<R, CryptoError> {
        let space = &entry.nonces;
        let n = match nonces {
            Some(thread) => thread
                .get_or_insert_with(|| ThreadNonces::new(space))
                .take(space, self.budget),
            None => space.take_one(self.budget),
        };
        match n {
            Some(n) => f(entry, space.nonce(n)),
            None => {
                *spent = Some(entry.clone());
                Err(CryptoError::KeyExhausted {
                    key_id: entry.id.to_string(),
                })
            }
        }
    }

    /// Runs `f` with the key `id` for decryption; counts authentication failures.
    #[inline]
    fn with_decryption_key<R>(
        &self,
        id: &str,
        f: impl FnOnce(&KeyEntry) -> Result<R, CryptoError>,
    ) -> Result<R, CryptoError> {
        // Most data is under the active key: this thread's cached reference to it spares the
        // snapshot load, and a string comparison spares hashing the id.
        let r = match self.state.with_active(|active, _| match active {
            Some(a) if *a.id == *id => Ok(f(a)),
            _ => Err(f),
        }) {
            Ok(r) => r,
            Err(f) => {
                let state = self.state.load();
                let entry = state.keys.get(id).ok_or_else(|| CryptoError::UnknownKey {
                    key_id: id.to_owned(),
                })?;
                f(entry)
            }
        };
        if matches!(r, Err(CryptoError::Decrypt)) {
            self.decrypt_failures.fetch_add(1, Relaxed);
        }
        r
    }

    #[inline]
    fn encrypt_impl(
        &self,
        data: &[u8],
        key_id: Option<&str>,
        aad: &[u8],
    ) -> Result<EncryptedData, CryptoError> {
        self.with_encryption_key(key_id, |entry, nonce| {
            // One allocation, sized for the whole envelope; encrypted in place inside it.
            let prefix = entry.aad.envelope_prefix();
            let mut out = Vec::with_capacity(prefix.len() + NONCE_LEN + data.len() + TAG_LEN);
            out.extend_from_slice(prefix);
            out.extend_from_slice(&nonce);
            let at = out.len();
            out.extend_from_slice(data);
            let tag = envelope::with_full_aad(&entry.aad, aad, |full| {
                envelope::seal(&entry.cipher, &nonce, full, &mut out[at..])
            })?;
            out.extend_from_slice(&tag);
            Ok(EncryptedData::from_raw(out))
        })
    }

    /// Encrypts `data` under the active key.
    #[inline]
    pub fn encrypt_data(&self, data: &[u8]) -> Result<EncryptedData, CryptoError> {
        self.encrypt_impl(data, None, &[])
    }

    /// Encrypts `data` under the active key, binding `aad` (which is not stored: the same
    /// bytes must be given to decrypt).
    pub fn encrypt_data_with_aad(
        &self,
        data: &[u8],
        aad: &[u8],
    ) -> Result<EncryptedData, CryptoError> {
        self.encrypt_impl(data, None, aad)
    }

    /// Encrypts `data` under key `key_id` (which need not be active). Never rotates.
    pub fn encrypt_data_with(
        &self,
        data: &[u8],
        key_id: &str,
    ) -> Result<EncryptedData, CryptoError> {
        self.encrypt_impl(data, Some(key_id), &[])
    }

    /// Encrypts `data` under key `key_id`, binding `aad`.
    pub fn encrypt_data_with_key_aad(
        &self,
        data: &[u8],
        key_id: &str,
        aad: &[u8],
    ) -> Result<EncryptedData, CryptoError> {
        self.encrypt_impl(data, Some(key_id), aad)
    }

    /// Decrypts an envelope made without caller associated data.
    pub fn decrypt_data(&self, data: &EncryptedData) -> Result<Plaintext, CryptoError> {
        self.decrypt_data_with_aad(data, &[])
    }

    /// Decrypts an envelope made with associated data `aad`. Any authentication failure is
    /// the one opaque [`CryptoError::Decrypt`] and releases no plaintext.
    pub fn decrypt_data_with_aad(
        &self,
        data: &EncryptedData,
        aad: &[u8],
    ) -> Result<Plaintext, CryptoError> {
        self.with_decryption_key(data.key_id(), |entry| {
            let mut out = Zeroizing::new(data.ciphertext().to_vec());
            envelope::with_full_aad(&entry.aad, aad, |full| {
                envelope::open(&entry.cipher, &data.nonce(), full, &mut out, &data.tag())
            })?;
            Ok(Plaintext::new(out))
        })
    }

    /// Encrypts `buf` in place under the active key, binding `aad`; returns what decryption
    /// needs besides the ciphertext. Allocates nothing (unless `aad` is longer than ~170 bytes,
    /// and then only on a thread's first such call; and a thread's first encryption with the
    /// ring allocates its cache slot).
    #[inline]
    pub fn encrypt_in_place(
        &self,
        buf: &mut [u8],
        aad: &[u8],
    ) -> Result<EnvelopeHeader, CryptoError> {
        // Written in place rather than returned through the reservation's enums: moving the
        // 96-byte header through each layer cost more than the rest of the bookkeeping.
        let mut header = EnvelopeHeader::EMPTY;
        self.with_encryption_key(None, |entry, nonce| {
            let tag = envelope::with_full_aad(&entry.aad, aad, |full| {
                envelope::seal(&entry.cipher, &nonce, full, buf)
            })?;
            header = entry.header.sealed(nonce, tag);
            Ok(())
        })?;
        Ok(header)
    }

    /// Decrypts in place what [`KeyRing::encrypt_in_place`] produced. On failure `buf` is
    /// zeroed. Allocates nothing on success or authentication failure.
    pub fn decrypt_in_place(
        &self,
        header: &EnvelopeHeader,
        buf: &mut [u8],
        aad: &[u8],
    ) -> Result<(), CryptoError> {
        self.with_decryption_key(header.key_id(), |entry| {
            envelope::with_full_aad(&entry.aad, aad, |full| {
                envelope::open(&entry.cipher, &header.nonce(), full, buf, &header.tag())
            })
        })
    }

    /// Decrypts a whole envelope encoding in place and returns the plaintext, a sub-slice of
    /// `envelope`. On authentication failure the ciphertext region is zeroed.
    pub fn open_in_place<'a>(
        &self,
        envelope: &'a mut [u8],
        aad: &[u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let n = envelope::parse(envelope)?;
        let (head, rest) = envelope.split_at_mut(2 + n + NONCE_LEN);
        let (ct, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let id = std::str::from_utf8(&head[2..2 + n]).map_err(|_| CryptoError::Malformed {
            reason: "key id is not ASCII",
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&head[2 + n..]);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        self.with_decryption_key(id, |entry| {
            envelope::with_full_aad(&entry.aad, aad, |full| {
                envelope::open(&entry.cipher, &nonce, full, ct, &t)
            })
        })?;
        Ok(ct)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load();
        f.debug_struct("KeyRing")
            .field("keys", &s.order)
            .field("active", &s.active.as_ref().map(|e| &e.id))
            .field("use_budget", &self.budget)
            .field("on_exhaustion", &self.exhaustion)
            .field("audited", &self.audit.get().is_some())
            .finish()
    }
}
