//! Encryption at rest: a segment's frames sealed under a [`KeyRing`].
//!
//! A sealed segment has [`FLAG_ENCRYPTED`] in its header, and every frame after the header is
//! a `SEALED` frame whose payload is a frame counter (u64, from 0 in each segment) and an
//! AES-256-GCM envelope ([`EncryptedData`]: key id, nonce, ciphertext, tag) of the inner
//! frame's type and payload. The associated data binds the segment's sequence number and the
//! counter, so a frame moved to another segment or position does not decrypt, and the
//! counters, in the clear, show a dropped or reordered frame even where the rest decrypts.
//! The frame's CRC-32C still covers the outer bytes, so a torn write is found without the
//! key. The trailer (the footer's offset) stays in the clear; the footer frame is sealed
//! with the next counter like any other, so readers that open it in turn see a frame dropped
//! just before it.

use super::format::{self, frame};
use crate::security::crypto::{CryptoError, EncryptedData, KeyRing, Plaintext};

/// Header flag: the segment's frames are sealed.
pub(crate) const FLAG_ENCRYPTED: u32 = 1;

/// The associated data of frame `counter` of segment `seq`.
fn aad(seq: u64, counter: u64) -> [u8; 32] {
    let mut a = [0u8; 32];
    a[..16].copy_from_slice(b"tickwatch seg v1");
    a[16..24].copy_from_slice(&seq.to_le_bytes());
    a[24..].copy_from_slice(&counter.to_le_bytes());
    a
}

/// Appends frame `counter` of segment `seq` (inner type `ty`, `payload`) sealed under the
/// ring's active key.
fn seal(
    ring: &KeyRing,
    seq: u64,
    counter: u64,
    ty: u8,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let mut inner = Vec::with_capacity(1 + payload.len());
    inner.push(ty);
    inner.extend_from_slice(payload);
    let sealed = ring.encrypt_data_with_aad(&inner, &aad(seq, counter))?;
    let at = format::begin_frame(out, frame::SEALED);
    out.extend_from_slice(&counter.to_le_bytes());
    out.extend_from_slice(sealed.as_bytes());
    format::end_frame(out, at);
    Ok(())
}

/// Appends a frame of type `ty`: sealed as frame `counter` of segment `seq` when a ring is
/// given, plain otherwise. The one place the writer and recovery make frames.
pub(crate) fn append_frame(
    ring: Option<&KeyRing>,
    seq: u64,
    counter: u64,
    ty: u8,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    match ring {
        Some(ring) => seal(ring, seq, counter, ty, payload, out),
        None => {
            let at = format::begin_frame(out, ty);
            out.extend_from_slice(payload);
            format::end_frame(out, at);
            Ok(())
        }
    }
}

/// Why a frame could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unopened {
    /// A plain frame in a sealed segment, a sealed one in a plain segment, or a sealed
    /// payload too short to hold a counter: damage or tampering.
    Misplaced,
    /// The segment is sealed and no key ring was given.
    NoKeyRing,
    /// Authentication failed: the wrong ring, or a frame altered, moved or replayed.
    Decrypt,
}

/// Opens a segment's frames in order: plain frames as they are, sealed ones decrypted.
#[derive(Debug)]
pub(crate) struct Opener<'r> {
    ring: Option<&'r KeyRing>,
    seq: u64,
    encrypted: bool,
    next: u64,
    plain: Option<Plaintext>,
    random: bool,
    /// Sealed frames whose counter was not the next one (a frame dropped, moved or
    /// reordered before it).
    pub(crate) out_of_order: u64,
}

impl<'r> Opener<'r> {
    /// For the segment whose header gave sequence `seq` and `flags`.
    pub(crate) fn new(ring: Option<&'r KeyRing>, seq: u64, flags: u32) -> Self {
        Opener {
            ring,
            seq,
            encrypted: flags & FLAG_ENCRYPTED != 0,
            next: 0,
            plain: None,
            random: false,
            out_of_order: 0,
        }
    }

    /// Frames will be read out of order (a query reading only some index entries): their
    /// counters are not checked against each other.
    pub(crate) fn random_access(&mut self) {
        self.random = true;
    }

    /// Whether the segment's frames are sealed.
    pub(crate) fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The counter the next sealed frame should carry.
    pub(crate) fn next_counter(&self) -> u64 {
        self.next
    }

    /// The inner type and payload of a frame of type `ty`.
    pub(crate) fn open<'a>(
        &'a mut self,
        ty: u8,
        payload: &'a [u8],
    ) -> Result<(u8, &'a [u8]), Unopened> {
        if !self.encrypted {
            return if ty == frame::SEALED {
                Err(Unopened::Misplaced)
            } else {
                Ok((ty, payload))
            };
        }
        if ty != frame::SEALED || payload.len() < 8 {
            return Err(Unopened::Misplaced);
        }
        let counter = u64::from_le_bytes(payload[..8].try_into().map_err(|_| Unopened::Misplaced)?);
        if counter != self.next && !self.random {
            self.out_of_order += 1;
        }
        self.next = counter.wrapping_add(1);
        let ring = self.ring.ok_or(Unopened::NoKeyRing)?;
        let env = EncryptedData::from_bytes(&payload[8..]).map_err(|_| Unopened::Decrypt)?;
        let plain = ring
            .decrypt_data_with_aad(&env, &aad(self.seq, counter))
            .map_err(|_| Unopened::Decrypt)?;
        if plain.is_empty() {
            return Err(Unopened::Decrypt);
        }
        let plain = self.plain.insert(plain);
        Ok((plain[0], &plain[1..]))
    }
}
