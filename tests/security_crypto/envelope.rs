//! Wycheproof vectors through the crate's own path; tamper and truncation of every envelope field.

use super::*;

#[test]
fn envelope_layout_is_as_documented() {
    let ring = two_key_ring();
    let e = ring.encrypt_data(b"hello").unwrap();
    let b = e.to_bytes();
    assert_eq!(b[0], 1);
    assert_eq!(b[1], 2);
    assert_eq!(&b[2..4], b"k0");
    assert_eq!(&b[4..16], &e.nonce());
    assert_eq!(b.len(), 2 + 2 + 12 + 5 + 16);
    assert_eq!(e.ciphertext().len(), 5);
    assert_ne!(e.ciphertext(), b"hello");
    assert_eq!(&b[b.len() - 16..], &e.tag());
}

/// Every single-bit flip anywhere in an envelope gives the error its field calls for.
#[test]
fn every_bit_flip_is_caught_with_the_right_error() {
    let ring = two_key_ring();
    let e = ring
        .encrypt_data_with_aad(b"fill 42 @ 101.25", b"acct")
        .unwrap();
    let b = e.to_bytes();
    let id_end = 2 + 2;
    let mut seen_other_key = 0;
    for byte in 0..b.len() {
        for bit in 0..8 {
            let mut t = b.clone();
            t[byte] ^= 1 << bit;
            let r = EncryptedData::from_bytes(&t)
                .and_then(|x| ring.decrypt_data_with_aad(&x, b"acct").map(|_| ()));
            let err = r.expect_err("a flipped envelope must not decrypt");
            match byte {
                0 => assert_eq!(err, CryptoError::UnsupportedVersion(1 ^ (1 << bit))),
                1 => assert!(
                    matches!(
                        err,
                        CryptoError::Malformed { .. } | CryptoError::UnknownKey { .. }
                    ),
                    "length byte flip: {err:?}"
                ),
                2..=3 => {
                    match &err {
                        CryptoError::Malformed { .. } | CryptoError::UnknownKey { .. } => {}
                        // "k0" -> "k1": a key that exists, but the AAD binds the id.
                        CryptoError::Decrypt => seen_other_key += 1,
                        other => panic!("key id flip: {other:?}"),
                    }
                }
                _ => {
                    assert!(byte >= id_end);
                    assert_eq!(err, CryptoError::Decrypt, "byte {byte} bit {bit}");
                }
            }
        }
    }
    assert_eq!(
        seen_other_key, 1,
        "the flip k0 -> k1 is caught by authentication"
    );
    assert!(ring.decrypt_failures() > 0);
}

#[test]
fn envelope_under_another_existing_key_id_fails_authentication() {
    let ring = two_key_ring();
    let mut b = ring.encrypt_data(b"x").unwrap().to_bytes();
    b[3] = b'1';
    let e = EncryptedData::from_bytes(&b).unwrap();
    assert_eq!(e.key_id(), "k1");
    assert_eq!(ring.decrypt_data(&e), Err(CryptoError::Decrypt));
}

#[test]
fn every_truncation_is_malformed() {
    let ring = two_key_ring();
    let b = ring.encrypt_data(b"some plaintext").unwrap().to_bytes();
    for len in 0..b.len() {
        let r = EncryptedData::from_bytes(&b[..len]);
        match r {
            Err(CryptoError::Malformed { .. }) => {}
            // Cutting into the ciphertext still leaves a well-formed (shorter) envelope,
            // which authentication rejects.
            Ok(e) => {
                assert!(len >= 2 + 2 + 12 + 16, "len {len} parsed");
                assert_eq!(ring.decrypt_data(&e), Err(CryptoError::Decrypt));
            }
            Err(other) => panic!("len {len}: {other:?}"),
        }
    }
    assert!(matches!(
        EncryptedData::from_bytes(&[]),
        Err(CryptoError::Malformed { .. })
    ));
}

#[test]
fn wrong_version_and_unknown_key_are_typed() {
    let ring = two_key_ring();
    let mut b = ring.encrypt_data(b"x").unwrap().to_bytes();
    b[0] = 2;
    assert_eq!(
        EncryptedData::from_bytes(&b),
        Err(CryptoError::UnsupportedVersion(2))
    );
    let other = KeyRing::builder().key("zz", key(9)).build().unwrap();
    let e = other.encrypt_data(b"x").unwrap();
    assert_eq!(
        ring.decrypt_data(&e),
        Err(CryptoError::UnknownKey {
            key_id: "zz".into()
        })
    );
    assert_eq!(
        ring.encrypt_data_with(b"x", "nope"),
        Err(CryptoError::UnknownKey {
            key_id: "nope".into()
        })
    );
    let empty = KeyRing::builder().build().unwrap();
    assert_eq!(empty.encrypt_data(b"x"), Err(CryptoError::NoActiveKey));
}

#[test]
fn wrong_aad_fails_and_same_key_material_under_other_id_fails() {
    let ring = two_key_ring();
    let e = ring.encrypt_data_with_aad(b"x", b"a").unwrap();
    assert_eq!(
        ring.decrypt_data_with_aad(&e, b"b"),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(ring.decrypt_data(&e), Err(CryptoError::Decrypt));
    // Same material, different id: the id is authenticated.
    let twin = KeyRing::builder().key("k9", key(0)).build().unwrap();
    let mut b = e.to_bytes();
    b[3] = b'9';
    let moved = EncryptedData::from_bytes(&b).unwrap();
    assert_eq!(
        twin.decrypt_data_with_aad(&moved, b"a"),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn in_place_round_trip_and_failure_zeroes_the_buffer() {
    let ring = two_key_ring();
    let mut buf = *b"order 42: buy 100 @ 101.25";
    let h = ring.encrypt_in_place(&mut buf, b"aad").unwrap();
    assert_ne!(&buf, b"order 42: buy 100 @ 101.25");
    assert_eq!(h.key_id(), "k0");
    let env = EncryptedData::from_parts(&h, &buf);
    assert_eq!(
        &ring.decrypt_data_with_aad(&env, b"aad").unwrap()[..],
        b"order 42: buy 100 @ 101.25"
    );
    let mut ok = buf;
    ring.decrypt_in_place(&h, &mut ok, b"aad").unwrap();
    assert_eq!(&ok, b"order 42: buy 100 @ 101.25");
    let mut bad = buf;
    bad[0] ^= 1;
    assert_eq!(
        ring.decrypt_in_place(&h, &mut bad, b"aad"),
        Err(CryptoError::Decrypt)
    );
    assert!(bad.iter().all(|&b| b == 0), "buffer zeroed on failure");
    let mut bad_aad = buf;
    assert_eq!(
        ring.decrypt_in_place(&h, &mut bad_aad, b"aaX"),
        Err(CryptoError::Decrypt)
    );
    assert!(bad_aad.iter().all(|&b| b == 0));

    // A whole envelope opened in place.
    let mut wire = env.to_bytes();
    assert_eq!(
        ring.open_in_place(&mut wire, b"aad").unwrap(),
        b"order 42: buy 100 @ 101.25"
    );
    let mut wire = env.to_bytes();
    let n = wire.len();
    wire[n - 1] ^= 0x80;
    assert_eq!(
        ring.open_in_place(&mut wire, b"aad"),
        Err(CryptoError::Decrypt)
    );
    assert!(wire[16..n - 16].iter().all(|&b| b == 0));
}

#[test]
fn long_aad_is_bound_too() {
    let ring = two_key_ring();
    let aad = vec![7u8; 10_000];
    let e = ring.encrypt_data_with_aad(b"x", &aad).unwrap();
    assert_eq!(&ring.decrypt_data_with_aad(&e, &aad).unwrap()[..], b"x");
    let mut other = aad.clone();
    other[9_999] = 8;
    assert_eq!(
        ring.decrypt_data_with_aad(&e, &other),
        Err(CryptoError::Decrypt)
    );
}
