//! Encryption: AES-256-GCM under a rotating key ring, versioned envelopes, encrypted logs.
//!
//! * [`KeyRing`]: keys by id, one active for encryption, older ones for decryption; nonces made
//!   inside the crate (per-key random prefix + counter); a per-key use budget; every ring
//!   operation audited.
//! * [`EncryptedData`]: the versioned envelope (version, key id, nonce, ciphertext, tag) with
//!   the version and key id bound into the associated data (see [Envelope
//!   format](#envelope-format)).
//! * [`SecretKey`]: key material, wiped on drop, loaded from OS randomness, hex, base64, a key
//!   file or an environment variable.
//! * [`EncryptedJsonLinesSink`] and [`read_encrypted_log`]: JSON-lines logs encrypted at rest.
//! * The seed's free functions [`crate::encrypt_data`] and [`crate::decrypt_data`] use the
//!   ring given to [`crate::TelemetryBuilder::key_ring`] of the installed instance.
//!
//! AES-GCM itself is the `aes-gcm` crate's; nothing here reimplements it.
//!
//! # Encrypted log format
//!
//! ```text
//! frame = len (u32 little-endian) || envelope (len bytes), one frame per delivered batch
//! envelope plaintext = the batch's JSON lines (JsonLinesSink format); caller AAD = LOG_AAD
//! ```
//!
//! A frame cannot be altered without detection; whole frames could still be dropped or
//! reordered by someone with write access to the file (frames are not chained).
//!
//! # Envelope format
//!
//! ```text
//! version (u8 = 1) | key id length n (u8, 1..=64) | key id (n bytes) | nonce (12) | ciphertext | tag (16)
//! AAD = b"tickwatch-envelope" || version || n || key id || zeros to 16n bytes || caller AAD
//! ```
//!
//! ```
//! use tickwatch::security::crypto::{CryptoError, KeyRing};
//! let ring = KeyRing::generate()?;
//! let sealed = ring.encrypt_data_with_aad(b"position 1.5", b"account 7")?;
//! assert_eq!(&ring.decrypt_data_with_aad(&sealed, b"account 7")?[..], b"position 1.5");
//! assert_eq!(ring.decrypt_data_with_aad(&sealed, b"account 8"), Err(CryptoError::Decrypt));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod at_rest;
mod builder;
mod entry;
mod envelope;
mod error;
mod key;
mod key_file;
mod keyring;
mod nonce;
mod plaintext;
mod published;
#[cfg(test)]
mod raw;
mod rotation;

pub use at_rest::{
    read_encrypted_log, EncryptedJsonLinesSink, EncryptedLogReader, LOG_AAD, MAX_FRAME_LEN,
};
pub use builder::KeyRingBuilder;
pub use envelope::{EncryptedData, EnvelopeHeader, ENVELOPE_VERSION, NONCE_LEN, TAG_LEN};
pub use error::{AtRestError, CryptoError, Encoding, KeyError, KeyRingError};
pub use key::{validate_key_id, SecretKey, KEY_LEN, MAX_KEY_ID_LEN};
pub use key_file::KeyFileError;
pub use keyring::{Exhaustion, KeyRing, DEFAULT_USE_BUDGET, MAX_USE_BUDGET};
pub use plaintext::{Plaintext, SecretText};
