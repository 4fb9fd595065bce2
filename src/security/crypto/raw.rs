//! Raw AES-256-GCM through the crate's own seal/open (the envelope path's core), for known
//! answer tests such as Wycheproof. Compiled for the crate's own tests only: nonces here come
//! from the caller, so it is no API at all.

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
pub(super) fn seal(
    key: &[u8],
    nonce_: &[u8],
    aad: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let c = cipher(key)?;
    let mut buf = pt.to_vec();
    let tag = envelope::seal(&c, &nonce(nonce_)?, aad, &mut buf)?;
    buf.extend_from_slice(&tag);
    Ok(buf)
}

/// Decrypts ciphertext || tag.
pub(super) fn open(
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

#[cfg(test)]
mod tests {
    use super::{open, seal as raw_seal};

    #[test]
    fn wycheproof_aes_256_gcm_through_the_crates_own_core() {
        use wycheproof::aead::{TestName, TestSet};
        let set = TestSet::load(TestName::AesGcm).unwrap();
        let (mut valid, mut must_fail) = (0usize, 0usize);
        for group in set
            .test_groups
            .iter()
            .filter(|g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128)
        {
            for t in &group.tests {
                let mut ct_tag = t.ct.to_vec();
                ct_tag.extend_from_slice(&t.tag);
                let opened = open(&t.key, &t.nonce, &t.aad, &ct_tag);
                if t.result.must_fail() {
                    must_fail += 1;
                    assert!(
                        opened.is_err(),
                        "tc {} ({}) must fail but decrypted",
                        t.tc_id,
                        t.comment
                    );
                } else {
                    valid += 1;
                    let pt = opened.unwrap_or_else(|e| panic!("tc {} failed: {e}", t.tc_id));
                    assert_eq!(&pt[..], &t.pt[..], "tc {} plaintext", t.tc_id);
                    let sealed = raw_seal(&t.key, &t.nonce, &t.aad, &t.pt).unwrap();
                    assert_eq!(sealed, ct_tag, "tc {} ciphertext", t.tc_id);
                }
            }
        }
        eprintln!("wycheproof AES-256-GCM/96/128: {valid} valid, {must_fail} must-fail");
        // The vectors in wycheproof 0.7 hold 66 cases with a 256-bit key, a 96-bit nonce and a
        // 128-bit tag: 39 valid, 27 that must fail (the anchors' "66" is the total).
        assert!(valid > 0 && must_fail > 0);
        assert_eq!((valid, must_fail), (39, 27));
    }
}
