//! Raw AES-256-GCM through the crate's own seal/open (the envelope path's core), for known
//! answer tests such as Wycheproof. Not a stable API; never use it to encrypt: nonces here
//! come from the caller.

use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::Zeroizing;

use super::envelope::{self, NONCE_LEN, TAG_LEN};
use super::error::CryptoError;
use super::key::SecretKey;
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
