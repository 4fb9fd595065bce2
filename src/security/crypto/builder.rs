//! [`KeyRingBuilder`]: where a ring's keys come from and how it behaves.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::entry::KeyEntry;
use super::error::KeyRingError;
use super::key::{read_key_file, validate_key_id, SecretKey};
use super::key_file::{KeyFileError, WrappedKeyFile};
use super::keyring::{Exhaustion, KeyRing, DEFAULT_USE_BUDGET, MAX_USE_BUDGET};
use super::published::{Published, State};
use crate::fsio::{LogFs, StdFs};
use crate::security::audit::AuditSlot;
use crate::AuditLog;

/// Where a builder's key comes from.
pub(super) enum Source {
    Key(String, SecretKey),
    Generate(String),
    File(PathBuf),
    Wrapped(PathBuf, SecretKey),
    Env(String, String),
}

/// Configures a [`KeyRing`]; see [`KeyRing::builder`]. Loading happens in
/// [`KeyRingBuilder::build`], which reports the first problem.
#[must_use]
pub struct KeyRingBuilder {
    pub(super) audit: Option<AuditLog>,
    pub(super) budget: u64,
    pub(super) exhaustion: Exhaustion,
    pub(super) sources: Vec<Source>,
    pub(super) active: Option<String>,
    pub(super) persist: Option<WrappedKeyFile>,
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
    /// No keys, no audit log, [`DEFAULT_USE_BUDGET`], [`Exhaustion::Refuse`].
    pub(super) fn new() -> Self {
        KeyRingBuilder {
            audit: None,
            budget: DEFAULT_USE_BUDGET,
            exhaustion: Exhaustion::Refuse,
            sources: Vec::new(),
            active: None,
            persist: None,
        }
    }

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

    /// Adds every key of a wrapped key file (one a ring with [`KeyRingBuilder::persist`]
    /// wrote) opened under `kek`, without persisting to it: for readers of an encrypted log
    /// (`tickwatch-log --keys FILE --kek-env VAR`). Its active key becomes the active one
    /// unless [`KeyRingBuilder::active`] says otherwise.
    pub fn wrapped_key_file(mut self, path: impl Into<PathBuf>, kek: SecretKey) -> Self {
        self.sources.push(Source::Wrapped(path.into(), kek));
        self
    }

    /// Adds the key held (hex or base64) in environment variable `var`.
    pub fn key_env(mut self, id: impl Into<String>, var: impl Into<String>) -> Self {
        self.sources.push(Source::Env(id.into(), var.into()));
        self
    }

    /// Keeps the ring's keys in `path`, wrapped (AES-256-GCM) under the key-encryption key
    /// `kek` (take it from the environment with [`SecretKey::from_env`] or from a file with
    /// [`SecretKey::from_file`], never from beside the key file). At build, the file's keys
    /// are loaded if it exists, then the builder's other keys whose ids it lacks; its active
    /// key stays active unless [`KeyRingBuilder::active`] says otherwise. The file is then
    /// written, and rewritten on every change (add, rotate, activate, retire, automatic
    /// rotation) before the change takes effect: write a temporary file, `fdatasync`, rename
    /// it over the file, sync the directory. A crash at any step leaves a file that opens
    /// every envelope the ring sealed, and a failed write leaves the ring unchanged
    /// ([`KeyRingError::KeyFile`]). No key byte is written in clear; a wrong `kek` is
    /// [`KeyFileError::WrongKekOrDamaged`](super::KeyFileError::WrongKekOrDamaged).
    ///
    /// ```
    /// use tickwatch::security::crypto::{KeyRing, SecretKey};
    /// # let dir = std::env::temp_dir().join(format!("tw-doc-keys-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("keys.tw");
    /// let kek = SecretKey::generate()?; // in production: SecretKey::from_env("TICKWATCH_KEK")
    /// let ring = KeyRing::builder().generated_key("k1").persist(&path, kek.clone()).build()?;
    /// let sealed = ring.encrypt_data(b"fill 42")?;
    /// ring.rotate()?; // written to the file before the new key is used
    /// drop(ring);
    /// let again = KeyRing::builder().persist(&path, kek).build()?; // after a restart
    /// assert_eq!(&again.decrypt_data(&sealed)?[..], b"fill 42");
    /// assert_eq!(again.key_ids().len(), 2);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persist(self, path: impl Into<PathBuf>, kek: SecretKey) -> Self {
        self.persist_with(path, kek, Arc::new(StdFs))
    }

    /// [`KeyRingBuilder::persist`] through the file layer `fs` (a test's fault injector).
    pub fn persist_with(
        mut self,
        path: impl Into<PathBuf>,
        kek: SecretKey,
        fs: Arc<dyn LogFs>,
    ) -> Self {
        self.persist = Some(WrappedKeyFile::new(path.into(), &kek, fs));
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
            state: Published::new(State::default()),
            writer: parking_lot::Mutex::new(()),
            audit: AuditSlot::new(self.audit),
            budget: self.budget,
            exhaustion: self.exhaustion,
            decrypt_failures: AtomicU64::new(0),
            auto_rotations: AtomicU64::new(0),
            key_file: self.persist,
        };
        let loaded = Self::load(self.sources, self.active, ring.key_file.as_ref())
            .and_then(|state| ring.persist(&state).map(|()| state));
        match loaded {
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

    fn load(
        sources: Vec<Source>,
        active: Option<String>,
        file: Option<&WrappedKeyFile>,
    ) -> Result<State, KeyRingError> {
        let mut state = State::default();
        let keep = file.is_some();
        let add = |state: &mut State, id: &str, key: &SecretKey| {
            validate_key_id(id)?;
            state.insert(KeyEntry::new(id, key, keep)?)
        };
        let mut active = active;
        let mut from_file = false;
        let mut wrapped_active = None;
        if let Some(file) = file {
            let read = file.read().map_err(|source| KeyRingError::KeyFile {
                path: file.path().to_owned(),
                source,
            })?;
            if let Some(contents) = read {
                for (id, key) in &contents.keys {
                    add(&mut state, id, key)?;
                }
                active = active.or(contents.active);
                from_file = true;
            }
        }
        // With a key file, a key the file already has is not added again (the builder's keys
        // are for the first start).
        let known = |state: &State, id: &str| from_file && state.keys.contains_key(id);
        for s in sources {
            match s {
                Source::Key(id, _) | Source::Generate(id) | Source::Env(id, _)
                    if known(&state, &id) => {}
                Source::Key(id, key) => {
                    add(&mut state, &id, &key)?;
                }
                Source::Generate(id) => {
                    add(&mut state, &id, &SecretKey::generate()?)?;
                }
                Source::File(path) => {
                    for (id, key) in read_key_file(&path)? {
                        if !known(&state, &id) {
                            add(&mut state, &id, &key)?;
                        }
                    }
                }
                Source::Env(id, var) => {
                    add(&mut state, &id, &SecretKey::from_env(&var)?)?;
                }
                Source::Wrapped(path, kek) => {
                    let file = WrappedKeyFile::new(path.clone(), &kek, Arc::new(StdFs));
                    let contents = file
                        .read()
                        .and_then(|c| {
                            c.ok_or(KeyFileError::Io(std::io::ErrorKind::NotFound.into()))
                        })
                        .map_err(|source| KeyRingError::KeyFile { path, source })?;
                    for (id, key) in &contents.keys {
                        if !known(&state, id) {
                            add(&mut state, id, key)?;
                        }
                    }
                    if contents.active.is_some() {
                        wrapped_active = contents.active;
                    }
                }
            }
        }
        state.active = match active.or(wrapped_active) {
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
