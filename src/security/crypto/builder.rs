//! [`KeyRingBuilder`]: where a ring's keys come from and how it behaves.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::entry::KeyEntry;
use super::error::KeyRingError;
use super::key::{read_key_file, validate_key_id, SecretKey};
use super::keyring::{Exhaustion, KeyRing, DEFAULT_USE_BUDGET, MAX_USE_BUDGET};
use super::published::{Published, State};
use crate::security::audit::AuditSlot;
use crate::AuditLog;

/// Where a builder's key comes from.
pub(super) enum Source {
    Key(String, SecretKey),
    Generate(String),
    File(PathBuf),
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
            state: Published::new(State::default()),
            writer: parking_lot::Mutex::new(()),
            audit: AuditSlot::new(self.audit),
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
