//! `EncryptedData::from_bytes` never panics on any input; whatever parses round-trips through
//! `to_bytes` and decrypts (under a fixed key ring) to an error or a plaintext, never a panic.
//! The in-place opener must agree with the owned path.
#![no_main]

use std::sync::OnceLock;

use tickwatch::security::crypto::{EncryptedData, KeyRing, SecretKey};

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::builder()
            .key("k0", SecretKey::from_bytes(&[0; 32]).unwrap())
            .key("k1", SecretKey::from_bytes(&[1; 32]).unwrap())
            .build()
            .unwrap()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ring = ring();
    match EncryptedData::from_bytes(data) {
        Ok(e) => {
            assert_eq!(e.to_bytes(), data);
            let _ = (e.key_id(), e.nonce(), e.tag(), e.ciphertext(), e.header());
            let owned = ring.decrypt_data(&e);
            let mut buf = data.to_vec();
            let in_place = ring.open_in_place(&mut buf, b"").map(|p| p.to_vec());
            assert_eq!(owned.is_ok(), in_place.is_ok());
            if let (Ok(a), Ok(b)) = (owned, in_place) {
                assert_eq!(&a[..], &b[..]);
            }
        }
        Err(_) => {
            let mut buf = data.to_vec();
            assert!(ring.open_in_place(&mut buf, b"").is_err());
        }
    }
});
