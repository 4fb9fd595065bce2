//! Key ring, envelope and AEAD core: Wycheproof vectors through the crate's own path, tamper
//! and truncation of every envelope field, rotation, retirement, exhaustion, nonce uniqueness,
//! key loaders' bad inputs, audit records, serde and property round trips.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use tickwatch::security::crypto::{
    CryptoError, Encoding, EncryptedData, Exhaustion, KeyError, KeyRing, KeyRingError, SecretKey,
};
use tickwatch::sink::{MemorySink, Record};
use tickwatch::Telemetry;

mod audit;
mod envelope;
mod key_loaders;
mod nonces;
mod properties;
mod rotation;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// Ring with keys "k0" (active) and "k1": a flip of '0' to '1' in an envelope's key id names
/// another key that exists.
fn two_key_ring() -> KeyRing {
    KeyRing::builder()
        .key("k1", key(1))
        .key("k0", key(0))
        .active("k0")
        .build()
        .unwrap()
}

#[test]
fn ring_and_envelope_are_thread_safe_types() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<KeyRing>();
    send_sync::<EncryptedData>();
    send_sync::<SecretKey>();
}
