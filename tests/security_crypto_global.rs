//! The process-wide key ring and the seed's free functions (own binary: global state).

use std::sync::Arc;

use tickwatch::security::crypto::{self, CryptoError, KeyRing, SecretKey};

#[test]
fn free_functions_use_the_installed_ring() {
    assert_eq!(crypto::encrypt_data(b"x", "a"), Err(CryptoError::NoKeyRing));
    let ring = Arc::new(
        KeyRing::builder()
            .key("a", SecretKey::generate().unwrap())
            .key("b", SecretKey::generate().unwrap())
            .build()
            .unwrap(),
    );
    crypto::install_key_ring(ring.clone()).unwrap();
    assert!(crypto::install_key_ring(ring.clone()).is_err());
    let e = crypto::encrypt_data(b"secret", "a").unwrap();
    assert_eq!(e.key_id(), "a");
    assert_eq!(&crypto::decrypt_data(&e).unwrap()[..], b"secret");
    assert_eq!(&ring.decrypt_data(&e).unwrap()[..], b"secret");
    assert_eq!(
        crypto::encrypt_data(b"x", "c"),
        Err(CryptoError::UnknownKey { key_id: "c".into() })
    );
    assert!(Arc::ptr_eq(crypto::global_key_ring().unwrap(), &ring));
}
