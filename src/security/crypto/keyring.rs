//! [`KeyRing`]: AES-256-GCM keys by id, one active for encryption, older ones kept for
//! decryption, lock-free on the encryption path.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use aes_gcm::{Aes256Gcm, KeyInit};
use arc_swap::ArcSwap;
use zeroize::Zeroizing;

use super::envelope::{self, EncryptedData, EnvelopeHeader, NONCE_LEN, TAG_LEN};
use super::error::{CryptoError, KeyError, KeyRingError};
use super::key::{read_key_file, validate_key_id, SecretKey};
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

/// One key: its cipher (the expanded key) and its nonce state.
struct KeyEntry {
    id: Box<str>,
    cipher: Aes256Gcm,
    /// Random per-key nonce prefix.
    prefix: [u8; 4],
    /// Random starting point of the 64-bit counter, below 2^62 so it never wraps.
    start: u64,
    /// Encryptions reserved so far (including refused attempts past the budget).
    uses: AtomicU64,
    /// Whether the refusal for exhaustion was already audited.
    exhaustion_reported: AtomicBool,
}

impl KeyEntry {
    fn new(id: &str, key: &SecretKey) -> Result<Self, KeyError> {
        let mut r = Zeroizing::new([0u8; 12]);
        getrandom::getrandom(&mut r[..]).map_err(KeyError::Random)?;
        let mut prefix = [0u8; 4];
        prefix.copy_from_slice(&r[..4]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&r[4..]);
        Ok(Self {
            id: id.into(),
            cipher: Aes256Gcm::new(key.bytes().into()),
            prefix,
            start: u64::from_le_bytes(s) >> 2,
            uses: AtomicU64::new(0),
            exhaustion_reported: AtomicBool::new(false),
        })
    }

    #[inline]
    fn nonce(&self, n: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.prefix);
        nonce[4..].copy_from_slice(&self.start.wrapping_add(n).to_be_bytes());
        nonce
    }
}

/// An immutable snapshot of the ring; replaced whole on every change.
#[derive(Clone, Default)]
struct State {
    keys: HashMap<Box<str>, Arc<KeyEntry>>,
    /// Ids in the order they were added.
    order: Vec<Box<str>>,
    active: Option<Arc<KeyEntry>>,
}

impl State {
    fn insert(&mut self, entry: KeyEntry) -> Result<Arc<KeyEntry>, KeyRingError> {
        if self.keys.contains_key(&entry.id) {
            return Err(KeyRingError::DuplicateKeyId {
                key_id: entry.id.to_string(),
            });
        }
        let e = Arc::new(entry);
        self.order.push(e.id.clone());
        self.keys.insert(e.id.clone(), e.clone());
        Ok(e)
    }
}

/// AES-256-GCM keys by id: one active key encrypts, every key in the ring decrypts.
///
/// * **Key ids** are strings of 1 to 64 characters from `A-Z a-z 0-9 - _ .`; every envelope
///   carries its key's id, so an id must never be reused for different material.
/// * **Nonces** are made here, never by the caller: a random 32-bit prefix per key and a 64-bit
///   counter from a random start, so no nonce repeats during a key's life in this process.
/// * **Use budget**: each key counts its encryptions and, past [`DEFAULT_USE_BUDGET`] (or the
///   builder's [`KeyRingBuilder::use_budget`]), refuses or rotates ([`Exhaustion`]).
/// * **Thread-safe**: all methods take `&self`. Encryption and decryption read an immutable
///   snapshot through an [`ArcSwap`] (no lock) and bump one atomic counter; changes (rotate,
///   retire, ...) are serialised among themselves and publish a new snapshot.
/// * **Audit**: every ring operation (create, add, rotate, activate, retire, exhaustion,
///   automatic rotation) leaves exactly one [`Audit`] record with actor `"keyring"`, the key id
///   as resource and outcome `"ok"` or the reason it failed. Encryptions and decryptions are not
///   audited; failed decryptions are counted ([`KeyRing::decrypt_failures`]).
/// * Key material is wiped when the ring drops it ([`SecretKey`]); `Debug` shows ids only.
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
    state: ArcSwap<State>,
    writer: parking_lot::Mutex<()>,
    audit: Option<AuditLog>,
    budget: u64,
    exhaustion: Exhaustion,
    decrypt_failures: AtomicU64,
    auto_rotations: AtomicU64,
}

/// Where a builder's key comes from.
enum Source {
    Key(String, SecretKey),
    Generate(String),
    File(PathBuf),
    Env(String, String),
}

/// Configures a [`KeyRing`]; see [`KeyRing::builder`]. Loading happens in
/// [`KeyRingBuilder::build`], which reports the first problem.
#[must_use]
pub struct KeyRingBuilder {
    audit: Option<AuditLog>,
    budget: u64,
    exhaustion: Exhaustion,
    sources: Vec<Source>,
    active: Option<String>,
}

impl fmt::Debug for KeyRingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRingBuilder")
            .field("budget", &self.budget)
            .field("exhaustion", &self.exhaustion)
            .field("sources", &self.sources.len())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl KeyRingBuilder {
    /// Records every ring operation into `log`.
    pub fn audit(mut self, log: AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// Encryptions allowed per key (clamped to 1..=[`MAX_USE_BUDGET`]; default
    /// [`DEFAULT_USE_BUDGET`]). Raise it above 2^32 only if every copy of a key lives in this
    /// one process (see [`DEFAULT_USE_BUDGET`]).
    pub fn use_budget(mut self, budget: u64) -> Self {
        self.budget = budget.clamp(1, MAX_USE_BUDGET);
        self
    }

    /// What happens when the active key's budget runs out (default [`Exhaustion::Refuse`]).
    pub fn on_exhaustion(mut self, policy: Exhaustion) -> Self {
        self.exhaustion = policy;
        self
    }

    /// Adds a key.
    pub fn key(mut self, id: impl Into<String>, key: SecretKey) -> Self {
        self.sources.push(Source::Key(id.into(), key));
        self
    }

    /// Adds a fresh random key.
    pub fn generated_key(mut self, id: impl Into<String>) -> Self {
        self.sources.push(Source::Generate(id.into()));
        self
    }

    /// Adds every key of a key file: UTF-8 text, one key per line as `id=key` with the key in
    /// standard base64 or hex (32 bytes); blank lines and lines starting with `#` are ignored;
    /// whitespace around id and key is ignored. Ids must be unique. Unless
    /// [`KeyRingBuilder::active`] says otherwise, the last key added (so the file's last line)
    /// becomes active: append new keys at the end when rotating.
    ///
    /// ```text
    /// # tickwatch key ring
    /// 2026-11=9tbOe3Yj0pQ1pYH9Qm5Y8oGIRJv6nUmkxA4h9Wl8cXU=
    /// 2026-12=1f3a9d0c6b5e4f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a
    /// ```
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push(Source::File(path.into()));
        self
    }

    /// Adds the key held (hex or base64) in environment variable `var`.
    pub fn key_env(mut self, id: impl Into<String>, var: impl Into<String>) -> Self {
        self.sources.push(Source::Env(id.into(), var.into()));
        self
    }

    /// Makes key `id` the active one (default: the last key added).
    pub fn active(mut self, id: impl Into<String>) -> Self {
        self.active = Some(id.into());
        self
    }

    /// Loads every key and builds the ring (one `create` audit record, success or not).
    pub fn build(self) -> Result<KeyRing, KeyRingError> {
        let ring = KeyRing {
            state: ArcSwap::from_pointee(State::default()),
            writer: parking_lot::Mutex::new(()),
            audit: self.audit,
            budget: self.budget,
            exhaustion: self.exhaustion,
            decrypt_failures: AtomicU64::new(0),
            auto_rotations: AtomicU64::new(0),
        };
        match Self::load(self.sources, self.active) {
            Ok(state) => {
                let active = state.active.as_ref().map_or("", |e| &e.id).to_owned();
                let detail = format!("keys={}", state.order.join(","));
                ring.state.store(Arc::new(state));
                ring.record("create", &active, "ok", &detail);
                Ok(ring)
            }
            Err(e) => {
                ring.record("create", "", "error", &e.to_string());
                Err(e)
            }
        }
    }

    fn load(sources: Vec<Source>, active: Option<String>) -> Result<State, KeyRingError> {
        let mut state = State::default();
        let add = |state: &mut State, id: &str, key: &SecretKey| {
            validate_key_id(id)?;
            state.insert(KeyEntry::new(id, key)?)
        };
        for s in sources {
            match s {
                Source::Key(id, key) => {
                    add(&mut state, &id, &key)?;
                }
                Source::Generate(id) => {
                    add(&mut state, &id, &SecretKey::generate()?)?;
                }
                Source::File(path) => {
                    for (id, key) in read_key_file(&path)? {
                        add(&mut state, &id, &key)?;
                    }
                }
                Source::Env(id, var) => {
                    add(&mut state, &id, &SecretKey::from_env(&var)?)?;
                }
            }
        }
        state.active = match active {
            Some(id) => Some(
                state
                    .keys
                    .get(id.as_str())
                    .cloned()
                    .ok_or(KeyRingError::UnknownKey { key_id: id })?,
            ),
            None => state.order.last().map(|id| state.keys[id].clone()),
        };
        Ok(state)
    }
}

impl KeyRing {
    /// A builder: no keys, no audit log, [`DEFAULT_USE_BUDGET`], [`Exhaustion::Refuse`].
    pub fn builder() -> KeyRingBuilder {
        KeyRingBuilder {
            audit: None,
            budget: DEFAULT_USE_BUDGET,
            exhaustion: Exhaustion::Refuse,
            sources: Vec::new(),
            active: None,
        }
    }

    /// A ring with one fresh random key (id generated), no audit log, default budget.
    pub fn generate() -> Result<KeyRing, KeyRingError> {
        Self::builder().generated_key(new_key_id()?).build()
    }

    /// An empty ring recording into `log`; add keys with [`KeyRing::add_key`] or
    /// [`KeyRing::rotate`].
    pub fn with_audit(log: AuditLog) -> Result<KeyRing, KeyRingError> {
        Self::builder().audit(log).build()
    }

    fn record(&self, action: &str, resource: &str, outcome: &str, detail: &str) {
        if let Some(log) = &self.audit {
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

    /// Applies a change to a copy of the state and publishes it; audits the result.
    fn change(
        &self,
        action: &str,
        resource: &str,
        f: impl FnOnce(&mut State) -> Result<String, KeyRingError>,
    ) -> Result<(), KeyRingError> {
        let _w = self.writer.lock();
        let mut next = State::clone(&self.state.load());
        match f(&mut next) {
            Ok(detail) => {
                self.state.store(Arc::new(next));
                self.record(action, resource, "ok", &detail);
                Ok(())
            }
            Err(e) => {
                self.record(action, resource, outcome_of(&e), &e.to_string());
                Err(e)
            }
        }
    }

    /// Adds a key for decryption (and later activation); the active key is unchanged.
    pub fn add_key(&self, id: &str, key: SecretKey) -> Result<(), KeyRingError> {
        self.change("add", id, |s| {
            validate_key_id(id)?;
            s.insert(KeyEntry::new(id, &key)?)?;
            Ok(String::new())
        })
    }

    /// Adds `key` under a new `id` and makes it the active key; the previous keys stay for
    /// decryption.
    pub fn rotate_to(&self, id: &str, key: SecretKey) -> Result<(), KeyRingError> {
        self.change("rotate", id, |s| {
            validate_key_id(id)?;
            let previous = s
                .active
                .as_ref()
                .map_or(String::new(), |e| e.id.to_string());
            s.active = Some(s.insert(KeyEntry::new(id, &key)?)?);
            Ok(format!("previous={previous}"))
        })
    }

    /// Generates a fresh key under a generated id (`k-` and 16 hex digits), makes it active and
    /// returns its id.
    pub fn rotate(&self) -> Result<String, KeyRingError> {
        let id = match new_key_id() {
            Ok(id) => id,
            Err(e) => {
                let e = KeyRingError::Key(e);
                self.record("rotate", "", "error", &e.to_string());
                return Err(e);
            }
        };
        match SecretKey::generate() {
            Ok(key) => self.rotate_to(&id, key).map(|()| id),
            Err(e) => {
                let e = KeyRingError::Key(e);
                self.record("rotate", &id, "error", &e.to_string());
                Err(e)
            }
        }
    }

    /// Makes an existing key the active one.
    pub fn activate(&self, id: &str) -> Result<(), KeyRingError> {
        self.change("activate", id, |s| {
            let e = s.keys.get(id).cloned().ok_or(KeyRingError::UnknownKey {
                key_id: id.to_owned(),
            })?;
            s.active = Some(e);
            Ok(String::new())
        })
    }

    /// Removes a key for good: data under it no longer decrypts ([`CryptoError::UnknownKey`]).
    /// The active key cannot be retired.
    pub fn retire(&self, id: &str) -> Result<(), KeyRingError> {
        self.change("retire", id, |s| {
            if !s.keys.contains_key(id) {
                return Err(KeyRingError::UnknownKey {
                    key_id: id.to_owned(),
                });
            }
            if s.active.as_ref().is_some_and(|e| &*e.id == id) {
                return Err(KeyRingError::RetireActive {
                    key_id: id.to_owned(),
                });
            }
            s.keys.remove(id);
            s.order.retain(|k| &**k != id);
            Ok(String::new())
        })
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

    /// Encryptions made with key `id` (capped at the budget), if it is in the ring.
    pub fn key_uses(&self, id: &str) -> Option<u64> {
        let s = self.state.load();
        s.keys
            .get(id)
            .map(|e| e.uses.load(Relaxed).min(self.budget))
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

    /// Reserves a nonce under the active key (or `key_id`) and runs `f` with the key.
    #[inline]
    fn with_encryption_key<R>(
        &self,
        key_id: Option<&str>,
        mut f: impl FnMut(&Aes256Gcm, &str, [u8; NONCE_LEN]) -> Result<R, CryptoError>,
    ) -> Result<R, CryptoError> {
        loop {
            let state = self.state.load();
            let entry = match key_id {
                None => state.active.as_deref().ok_or(CryptoError::NoActiveKey)?,
                Some(id) => {
                    state
                        .keys
                        .get(id)
                        .map(|e| &**e)
                        .ok_or_else(|| CryptoError::UnknownKey {
                            key_id: id.to_owned(),
                        })?
                }
            };
            let n = entry.uses.fetch_add(1, Relaxed);
            if n < self.budget {
                return f(&entry.cipher, &entry.id, entry.nonce(n));
            }
            if key_id.is_none() && self.exhaustion == Exhaustion::Rotate {
                let id: Box<str> = entry.id.clone();
                drop(state);
                self.auto_rotate(&id)?;
                continue;
            }
            if !entry.exhaustion_reported.swap(true, Relaxed) {
                self.record(
                    "exhausted",
                    &entry.id,
                    "refused",
                    &format!("budget={}", self.budget),
                );
            }
            return Err(CryptoError::KeyExhausted {
                key_id: entry.id.to_string(),
            });
        }
    }

    /// Replaces the exhausted active key `old` with a fresh one, unless another thread did.
    #[cold]
    fn auto_rotate(&self, old: &str) -> Result<(), CryptoError> {
        let _w = self.writer.lock();
        let current = self.state.load();
        if !current.active.as_ref().is_some_and(|e| &*e.id == old) {
            return Ok(());
        }
        let made = new_key_id().and_then(|id| {
            let key = SecretKey::generate()?;
            KeyEntry::new(&id, &key)
        });
        let mut next = State::clone(&current);
        let entry = match made.map_err(KeyRingError::Key).and_then(|e| next.insert(e)) {
            Ok(e) => e,
            Err(e) => {
                self.record("auto_rotate", old, "error", &e.to_string());
                return Err(CryptoError::KeyExhausted {
                    key_id: old.to_owned(),
                });
            }
        };
        next.active = Some(entry.clone());
        self.state.store(Arc::new(next));
        self.auto_rotations.fetch_add(1, Relaxed);
        self.record(
            "auto_rotate",
            &entry.id,
            "ok",
            &format!("previous={old} budget={}", self.budget),
        );
        Ok(())
    }

    /// Runs `f` with the key `id` for decryption; counts authentication failures.
    #[inline]
    fn with_decryption_key<R>(
        &self,
        id: &str,
        f: impl FnOnce(&Aes256Gcm) -> Result<R, CryptoError>,
    ) -> Result<R, CryptoError> {
        let state = self.state.load();
        // Most data is under the active key: a string comparison spares hashing the id.
        let entry = match &state.active {
            Some(a) if *a.id == *id => a,
            _ => state.keys.get(id).ok_or_else(|| CryptoError::UnknownKey {
                key_id: id.to_owned(),
            })?,
        };
        let r = f(&entry.cipher);
        if matches!(r, Err(CryptoError::Decrypt)) {
            self.decrypt_failures.fetch_add(1, Relaxed);
        }
        r
    }

    fn encrypt_impl(
        &self,
        data: &[u8],
        key_id: Option<&str>,
        aad: &[u8],
    ) -> Result<EncryptedData, CryptoError> {
        self.with_encryption_key(key_id, |cipher, id, nonce| {
            let mut out = Vec::with_capacity(envelope::overhead(id.len()) + data.len());
            envelope::write_prefix(&mut out, id.as_bytes(), &nonce);
            let at = out.len();
            out.extend_from_slice(data);
            let tag = envelope::with_full_aad(id.as_bytes(), aad, |full| {
                envelope::seal(cipher, &nonce, full, &mut out[at..])
            })?;
            out.extend_from_slice(&tag);
            Ok(EncryptedData::from_raw(out))
        })
    }

    /// Encrypts `data` under the active key.
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
    pub fn decrypt_data(&self, data: &EncryptedData) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.decrypt_data_with_aad(data, &[])
    }

    /// Decrypts an envelope made with associated data `aad`. Any authentication failure is
    /// the one opaque [`CryptoError::Decrypt`] and releases no plaintext.
    pub fn decrypt_data_with_aad(
        &self,
        data: &EncryptedData,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let id = data.key_id();
        self.with_decryption_key(id, |cipher| {
            let mut out = Zeroizing::new(data.ciphertext().to_vec());
            envelope::with_full_aad(id.as_bytes(), aad, |full| {
                envelope::open(cipher, &data.nonce(), full, &mut out, &data.tag())
            })?;
            Ok(out)
        })
    }

    /// Encrypts `buf` in place under the active key, binding `aad`; returns what decryption
    /// needs besides the ciphertext. Allocates nothing (unless `aad` is longer than ~170 bytes,
    /// and then only on a thread's first such call).
    pub fn encrypt_in_place(
        &self,
        buf: &mut [u8],
        aad: &[u8],
    ) -> Result<EnvelopeHeader, CryptoError> {
        self.with_encryption_key(None, |cipher, id, nonce| {
            let tag = envelope::with_full_aad(id.as_bytes(), aad, |full| {
                envelope::seal(cipher, &nonce, full, buf)
            })?;
            Ok(EnvelopeHeader::new(id, nonce, tag))
        })
    }

    /// Decrypts in place what [`KeyRing::encrypt_in_place`] produced. On failure `buf` is
    /// zeroed. Allocates nothing on success or authentication failure.
    pub fn decrypt_in_place(
        &self,
        header: &EnvelopeHeader,
        buf: &mut [u8],
        aad: &[u8],
    ) -> Result<(), CryptoError> {
        let id = header.key_id();
        self.with_decryption_key(id, |cipher| {
            envelope::with_full_aad(id.as_bytes(), aad, |full| {
                envelope::open(cipher, &header.nonce(), full, buf, &header.tag())
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
        self.with_decryption_key(id, |cipher| {
            envelope::with_full_aad(id.as_bytes(), aad, |full| {
                envelope::open(cipher, &nonce, full, ct, &t)
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
            .field("audited", &self.audit.is_some())
            .finish()
    }
}

fn outcome_of(e: &KeyRingError) -> &'static str {
    match e {
        KeyRingError::Key(_) => "bad_key",
        KeyRingError::DuplicateKeyId { .. } => "duplicate_key_id",
        KeyRingError::UnknownKey { .. } => "unknown_key",
        KeyRingError::RetireActive { .. } => "active_key",
    }
}

/// `k-` and 16 random hex digits.
fn new_key_id() -> Result<String, KeyError> {
    let mut r = [0u8; 8];
    getrandom::getrandom(&mut r).map_err(KeyError::Random)?;
    Ok(format!("k-{:016x}", u64::from_le_bytes(r)))
}

#[doc(hidden)]
/// Raw AES-256-GCM through the crate's own seal/open (the envelope path's core), for known
/// answer tests such as Wycheproof. Not a stable API; never use it to encrypt: nonces here
/// come from the caller.
pub mod raw {
    use super::*;

    fn cipher(key: &[u8]) -> Result<Aes256Gcm, CryptoError> {
        let k = SecretKey::from_bytes(key).map_err(|_| CryptoError::Malformed {
            reason: "key is not 32 bytes",
        })?;
        Ok(Aes256Gcm::new(k.bytes().into()))
    }

    fn nonce(n: &[u8]) -> Result<[u8; NONCE_LEN], CryptoError> {
        n.try_into().map_err(|_| CryptoError::Malformed {
            reason: "nonce is not 12 bytes",
        })
    }

    /// Encrypts; returns ciphertext || tag.
    pub fn seal(key: &[u8], nonce_: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let c = cipher(key)?;
        let mut buf = pt.to_vec();
        let tag = envelope::seal(&c, &nonce(nonce_)?, aad, &mut buf)?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// Decrypts ciphertext || tag.
    pub fn open(
        key: &[u8],
        nonce_: &[u8],
        aad: &[u8],
        ct_tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let c = cipher(key)?;
        if ct_tag.len() < TAG_LEN {
            return Err(CryptoError::Malformed {
                reason: "shorter than a tag",
            });
        }
        let (ct, tag) = ct_tag.split_at(ct_tag.len() - TAG_LEN);
        let mut buf = Zeroizing::new(ct.to_vec());
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag);
        envelope::open(&c, &nonce(nonce_)?, aad, &mut buf, &t)?;
        Ok(buf)
    }
}
