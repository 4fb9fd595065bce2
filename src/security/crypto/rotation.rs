//! How a [`KeyRing`] changes: keys added, rotated, activated and retired, automatic
//! rotation, and the key file written before each change takes effect.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::entry::KeyEntry;
use super::error::{CryptoError, KeyError, KeyRingError};
use super::key::{validate_key_id, SecretKey};
use super::keyring::KeyRing;
use super::published::State;

impl KeyRing {
    /// Writes `state` to the key file, if the ring has one: before `state` is published, so
    /// that no key is used before the file that holds it is durable.
    pub(super) fn persist(&self, state: &State) -> Result<(), KeyRingError> {
        match &self.key_file {
            None => Ok(()),
            Some(file) => file.write(state).map_err(|source| KeyRingError::KeyFile {
                path: file.path().to_owned(),
                source,
            }),
        }
    }

    /// The key file's path, if the ring persists its keys.
    pub fn key_file_path(&self) -> Option<&std::path::Path> {
        self.key_file.as_ref().map(|f| f.path())
    }

    /// Applies a change to a copy of the state, writes it to the key file if there is one,
    /// and publishes it; audits the result.
    fn change(
        &self,
        action: &str,
        resource: &str,
        f: impl FnOnce(&mut State) -> Result<String, KeyRingError>,
    ) -> Result<(), KeyRingError> {
        let _w = self.writer.lock();
        let mut next = State::clone(&self.state.load());
        match f(&mut next).and_then(|detail| self.persist(&next).map(|()| detail)) {
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
            s.insert(KeyEntry::new(id, &key, self.key_file.is_some())?)?;
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
            s.active = Some(s.insert(KeyEntry::new(id, &key, self.key_file.is_some())?)?);
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

    /// Replaces the exhausted active key `old` with a fresh one, unless another thread did.
    #[cold]
    pub(super) fn auto_rotate(&self, old: &str) -> Result<(), CryptoError> {
        let _w = self.writer.lock();
        let current = self.state.load();
        if current.active.as_ref().is_none_or(|e| &*e.id != old) {
            return Ok(());
        }
        let made = new_key_id().and_then(|id| {
            let key = SecretKey::generate()?;
            KeyEntry::new(&id, &key, self.key_file.is_some())
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
        if let Err(e) = self.persist(&next) {
            self.record("auto_rotate", &entry.id, "error", &e.to_string());
            return Err(CryptoError::KeyExhausted {
                key_id: old.to_owned(),
            });
        }
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
}

fn outcome_of(e: &KeyRingError) -> &'static str {
    match e {
        KeyRingError::Key(_) => "bad_key",
        KeyRingError::DuplicateKeyId { .. } => "duplicate_key_id",
        KeyRingError::UnknownKey { .. } => "unknown_key",
        KeyRingError::RetireActive { .. } => "active_key",
        KeyRingError::KeyFile { .. } => "key_file",
    }
}

/// `k-` and 16 random hex digits.
pub(super) fn new_key_id() -> Result<String, KeyError> {
    let mut r = [0u8; 8];
    getrandom::getrandom(&mut r).map_err(KeyError::Random)?;
    Ok(format!("k-{:016x}", u64::from_le_bytes(r)))
}
