//! The process-wide key ring behind the seed's free functions [`encrypt_data`] and
//! [`decrypt_data`].

use std::sync::{Arc, OnceLock};

use super::envelope::EncryptedData;
use super::error::CryptoError;
use super::keyring::KeyRing;
use super::plaintext::Plaintext;

static GLOBAL_RING: OnceLock<Arc<KeyRing>> = OnceLock::new();

/// Installs `ring` as the process's key ring, behind [`encrypt_data`] and [`decrypt_data`].
/// A process has one; a second call gives the ring back as `Err` (keep using
/// [`global_key_ring`], and rotate it rather than replacing it).
///
/// ```
/// use std::sync::Arc;
/// use tickwatch::security::crypto::{self, KeyRing, SecretKey};
/// let ring = KeyRing::builder().key("app-1", SecretKey::generate()?).build()?;
/// crypto::install_key_ring(Arc::new(ring)).expect("first install");
/// let sealed = crypto::encrypt_data(b"api secret", "app-1")?;
/// assert_eq!(&crypto::decrypt_data(&sealed)?[..], b"api secret");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn install_key_ring(ring: Arc<KeyRing>) -> Result<(), Arc<KeyRing>> {
    GLOBAL_RING.set(ring)
}

/// The installed key ring, if any.
pub fn global_key_ring() -> Option<&'static Arc<KeyRing>> {
    GLOBAL_RING.get()
}

/// [`KeyRing::encrypt_data_with`] on the installed ring: encrypts `data` under key `key_id`.
pub fn encrypt_data(data: &[u8], key_id: &str) -> Result<EncryptedData, CryptoError> {
    GLOBAL_RING
        .get()
        .ok_or(CryptoError::NoKeyRing)?
        .encrypt_data_with(data, key_id)
}

/// [`KeyRing::decrypt_data`] on the installed ring.
pub fn decrypt_data(data: &EncryptedData) -> Result<Plaintext, CryptoError> {
    GLOBAL_RING
        .get()
        .ok_or(CryptoError::NoKeyRing)?
        .decrypt_data(data)
}
