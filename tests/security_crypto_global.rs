//! The seed's `encrypt_data`/`decrypt_data` free functions use the key ring given to the
//! installed builder (own binary: global state).

use std::sync::Arc;

use tickwatch::security::crypto::{CryptoError, KeyRing, SecretKey};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

#[test]
fn free_functions_use_the_installed_builders_key_ring() {
    // Nothing installed: the error names the builder call that is missing.
    let e = tickwatch::encrypt_data(b"x", "a").unwrap_err();
    assert_eq!(e, CryptoError::NoKeyRing);
    assert!(e.to_string().contains("TelemetryBuilder::key_ring"), "{e}");

    // An instance without a ring: the same.
    let guard = tickwatch::install(Telemetry::builder()).unwrap();
    assert_eq!(
        tickwatch::encrypt_data(b"x", "a"),
        Err(CryptoError::NoKeyRing)
    );
    drop(guard);

    // One install with a ring: it is used, and it records into the instance's audit log.
    let ring = Arc::new(
        KeyRing::builder()
            .key("a", SecretKey::generate().unwrap())
            .key("b", SecretKey::generate().unwrap())
            .build()
            .unwrap(),
    );
    let mem = MemorySink::new();
    let guard = tickwatch::install(
        Telemetry::builder()
            .key_ring(ring.clone())
            .sink(mem.clone()),
    )
    .unwrap();
    let tw = tickwatch::global().unwrap();
    assert!(Arc::ptr_eq(tw.key_ring().unwrap(), &ring));
    let e = tickwatch::encrypt_data(b"secret", "a").unwrap();
    assert_eq!(e.key_id(), "a");
    assert_eq!(&tickwatch::decrypt_data(&e).unwrap()[..], b"secret");
    assert_eq!(&ring.decrypt_data(&e).unwrap()[..], b"secret");
    assert_eq!(
        tickwatch::encrypt_data(b"x", "c"),
        Err(CryptoError::UnknownKey { key_id: "c".into() })
    );
    ring.rotate().unwrap();
    tw.flush().unwrap();
    assert!(
        mem.records()
            .iter()
            .any(|r| matches!(r, Record::Audit { actor, .. } if actor == "keyring")),
        "the ring's rotation is audited into the instance: {:?}",
        mem.records()
    );
    guard.shutdown().unwrap();

    // Uninstalled: the ring is gone from the free functions.
    assert_eq!(tickwatch::decrypt_data(&e), Err(CryptoError::NoKeyRing));
}
