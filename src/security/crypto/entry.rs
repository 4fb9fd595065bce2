//! [`KeyEntry`]: one key of the ring with everything its envelopes need, made once when the
//! key enters the ring (cipher, constant associated data, header template, nonce state).

use std::sync::atomic::AtomicBool;

use aes_gcm::{Aes256Gcm, KeyInit};

use super::envelope::{AadHeader, EnvelopeHeader};
use super::error::KeyError;
use super::key::SecretKey;
use super::nonce::NonceSpace;

/// One key: its cipher (the expanded key) and its nonce state.
pub(super) struct KeyEntry {
    pub(super) id: Box<str>,
    pub(super) cipher: Aes256Gcm,
    /// The associated data's constant part under this key (domain, version, id).
    pub(super) aad: AadHeader,
    /// The in-place path's header under this key, nonce and tag left zero.
    pub(super) header: EnvelopeHeader,
    pub(super) nonces: NonceSpace,
    /// Whether the refusal for exhaustion was already audited.
    pub(super) exhaustion_reported: AtomicBool,
    /// The key itself, kept only by a ring that persists its keys (to rewrite its key file;
    /// wiped on drop).
    pub(super) material: Option<SecretKey>,
}

impl KeyEntry {
    /// An entry; `keep`: hold on to the key material (a ring with a key file).
    pub(super) fn new(id: &str, key: &SecretKey, keep: bool) -> Result<Self, KeyError> {
        Ok(Self {
            material: keep.then(|| key.clone()),
            id: id.into(),
            cipher: Aes256Gcm::new(key.bytes().into()),
            aad: AadHeader::new(id.as_bytes()),
            header: EnvelopeHeader::template(id),
            nonces: NonceSpace::generate()?,
            exhaustion_reported: AtomicBool::new(false),
        })
    }
}
