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

// ---------------------------------------------------------------- Wycheproof

// ---------------------------------------------------------------- envelope

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

// ---------------------------------------------------------------- rotation, exhaustion

#[test]
fn rotation_keeps_old_data_readable_and_retire_makes_it_unknown() {
    let ring = KeyRing::builder().key("a", key(1)).build().unwrap();
    let before = ring.encrypt_data(b"before").unwrap();
    assert_eq!(before.key_id(), "a");
    ring.rotate_to("b", key(2)).unwrap();
    let after = ring.encrypt_data(b"after").unwrap();
    assert_eq!(after.key_id(), "b");
    assert_eq!(&ring.decrypt_data(&before).unwrap()[..], b"before");
    assert_eq!(&ring.decrypt_data(&after).unwrap()[..], b"after");
    let generated = ring.rotate().unwrap();
    assert!(generated.starts_with("k-"));
    assert_eq!(ring.active_key_id().as_deref(), Some(generated.as_str()));
    assert_eq!(
        ring.key_ids(),
        vec!["a".to_string(), "b".into(), generated.clone()]
    );

    assert!(matches!(
        ring.retire(&generated),
        Err(KeyRingError::RetireActive { .. })
    ));
    ring.retire("a").unwrap();
    assert_eq!(
        ring.decrypt_data(&before),
        Err(CryptoError::UnknownKey { key_id: "a".into() })
    );
    assert_eq!(&ring.decrypt_data(&after).unwrap()[..], b"after");
    assert!(matches!(
        ring.retire("a"),
        Err(KeyRingError::UnknownKey { .. })
    ));
    assert!(matches!(
        ring.rotate_to("b", key(3)),
        Err(KeyRingError::DuplicateKeyId { .. })
    ));
    ring.activate("b").unwrap();
    assert_eq!(ring.encrypt_data(b"x").unwrap().key_id(), "b");
}

#[test]
fn exhaustion_refuses_under_the_refuse_policy() {
    let ring = KeyRing::builder()
        .key("a", key(1))
        .use_budget(3)
        .build()
        .unwrap();
    for _ in 0..3 {
        ring.encrypt_data(b"x").unwrap();
    }
    for _ in 0..2 {
        assert_eq!(
            ring.encrypt_data(b"x"),
            Err(CryptoError::KeyExhausted { key_id: "a".into() })
        );
    }
    let mut buf = [0u8; 4];
    assert!(matches!(
        ring.encrypt_in_place(&mut buf, b""),
        Err(CryptoError::KeyExhausted { .. })
    ));
    assert_eq!(ring.key_uses("a"), Some(3));
    // Decryption is unaffected; a rotation lets encryption resume.
    ring.rotate_to("b", key(2)).unwrap();
    assert_eq!(ring.encrypt_data(b"x").unwrap().key_id(), "b");
}

#[test]
fn exhaustion_rotates_under_the_rotate_policy() {
    let ring = KeyRing::builder()
        .key("a", key(1))
        .use_budget(2)
        .on_exhaustion(Exhaustion::Rotate)
        .build()
        .unwrap();
    let e: Vec<_> = (0..7).map(|i| ring.encrypt_data(&[i]).unwrap()).collect();
    let ids: Vec<&str> = e.iter().map(|x| x.key_id()).collect();
    assert_eq!(&ids[..2], &["a", "a"]);
    assert_ne!(ids[2], "a");
    assert_eq!(ids[2], ids[3]);
    assert_ne!(ids[4], ids[2]);
    assert_eq!(ring.auto_rotations(), 3);
    for (i, x) in e.iter().enumerate() {
        assert_eq!(&ring.decrypt_data(x).unwrap()[..], &[i as u8]);
    }
    // A named key is never rotated away from.
    assert_eq!(
        ring.encrypt_data_with(b"x", "a"),
        Err(CryptoError::KeyExhausted { key_id: "a".into() })
    );
}

#[test]
fn exhaustion_rotates_once_under_concurrency() {
    let ring = Arc::new(
        KeyRing::builder()
            .key("a", key(1))
            .use_budget(1000)
            .on_exhaustion(Exhaustion::Rotate)
            .build()
            .unwrap(),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                (0..1000)
                    .map(|_| ring.encrypt_data(b"x").unwrap().nonce())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut n = 0;
    let mut set = HashSet::new();
    for h in handles {
        for nonce in h.join().unwrap() {
            n += 1;
            set.insert(nonce);
        }
    }
    assert_eq!(set.len(), n);
    // 4000 encryptions at 1000 per key: 3 or 4 rotations (never one per racing thread).
    assert!(
        (3..=4).contains(&ring.auto_rotations()),
        "{}",
        ring.auto_rotations()
    );
}

// ---------------------------------------------------------------- nonces

#[test]
fn nonces_never_repeat_across_threads() {
    let ring = Arc::new(two_key_ring());
    let threads = 8;
    let per = 20_000;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut v = Vec::with_capacity(per);
                let mut buf = [0u8; 8];
                for _ in 0..per {
                    v.push(ring.encrypt_in_place(&mut buf, b"").unwrap().nonce());
                }
                v
            })
        })
        .collect();
    let mut set = HashSet::new();
    for h in handles {
        for n in h.join().unwrap() {
            assert!(set.insert(n), "nonce repeated");
        }
    }
    assert_eq!(set.len(), threads * per);
    assert_eq!(ring.key_uses("k0"), Some((threads * per) as u64));
}

#[test]
fn two_rings_with_the_same_key_start_from_different_nonces() {
    let a = KeyRing::builder().key("k", key(5)).build().unwrap();
    let b = KeyRing::builder().key("k", key(5)).build().unwrap();
    assert_ne!(
        a.encrypt_data(b"x").unwrap().nonce(),
        b.encrypt_data(b"x").unwrap().nonce()
    );
}

// ---------------------------------------------------------------- key loaders

#[test]
fn hex_and_base64_loaders_accept_good_keys() {
    let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let from_hex = SecretKey::from_hex(hex).unwrap();
    let from_b64 = SecretKey::from_base64(b64).unwrap();
    let unpadded = SecretKey::from_base64(b64.trim_end_matches('=')).unwrap();
    assert_eq!(from_hex.expose_base64().as_str(), b64);
    assert_eq!(from_b64.expose_base64().as_str(), b64);
    assert_eq!(unpadded.expose_base64().as_str(), b64);
    assert_eq!(SecretKey::parse(hex).unwrap().expose_base64().as_str(), b64);
    assert_eq!(
        SecretKey::parse(&format!(" {b64}\n"))
            .unwrap()
            .expose_base64()
            .as_str(),
        b64
    );
    assert_eq!(format!("{from_hex:?}"), "SecretKey(..)");
}

#[test]
fn key_loaders_reject_bad_inputs_with_typed_errors() {
    use KeyError::*;
    let wl = |e: KeyError, enc: Encoding, n: usize| {
        assert!(
            matches!(e, WrongLength { encoding, decoded_len } if encoding == enc && decoded_len == n),
            "{e:?}"
        )
    };
    assert!(matches!(SecretKey::from_hex(""), Err(Empty)));
    assert!(matches!(SecretKey::from_hex("  "), Err(Empty)));
    assert!(matches!(SecretKey::from_base64(""), Err(Empty)));
    assert!(matches!(SecretKey::parse(""), Err(Empty)));
    wl(
        SecretKey::from_hex(&"ab".repeat(31)).unwrap_err(),
        Encoding::Hex,
        31,
    );
    wl(
        SecretKey::from_hex(&"ab".repeat(33)).unwrap_err(),
        Encoding::Hex,
        33,
    );
    wl(
        SecretKey::parse(&"ab".repeat(16)).unwrap_err(),
        Encoding::Hex,
        16,
    );
    assert!(matches!(
        SecretKey::from_hex(&"a".repeat(63)),
        Err(InvalidEncoding {
            encoding: Encoding::Hex,
            ..
        })
    ));
    assert!(matches!(
        SecretKey::from_hex(&format!("{}zz", "ab".repeat(31))),
        Err(InvalidCharacter {
            encoding: Encoding::Hex,
            position: 62
        })
    ));
    wl(
        SecretKey::from_base64("c2hvcnQ=").unwrap_err(),
        Encoding::Base64,
        5,
    );
    wl(
        SecretKey::from_base64(&"A".repeat(48)).unwrap_err(),
        Encoding::Base64,
        36,
    );
    wl(
        SecretKey::from_base64(&"A".repeat(400)).unwrap_err(),
        Encoding::Base64,
        300,
    );
    assert!(matches!(
        SecretKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8="),
        Err(InvalidCharacter {
            encoding: Encoding::Base64,
            position: 40
        })
    ));
    assert!(matches!(
        SecretKey::from_base64("A"),
        Err(InvalidEncoding {
            encoding: Encoding::Base64,
            ..
        })
    ));
    wl(
        SecretKey::from_bytes(&[0; 16]).unwrap_err(),
        Encoding::Raw,
        16,
    );
    // Errors never show key material.
    let e = SecretKey::from_hex(&format!("{}zz", "ab".repeat(31))).unwrap_err();
    assert!(!e.to_string().contains("abab"));
}

#[test]
fn env_loader_reports_missing_and_bad_variables() {
    let var = "TICKWATCH_TEST_KEY_MISSING_7f3a";
    std::env::remove_var(var);
    assert!(matches!(
        SecretKey::from_env(var),
        Err(KeyError::EnvVarMissing { var: v }) if v == var
    ));
    let bad = "TICKWATCH_TEST_KEY_BAD_7f3a";
    std::env::set_var(bad, "not a key");
    assert!(matches!(
        SecretKey::from_env(bad),
        Err(KeyError::InvalidCharacter { .. })
    ));
    let good = "TICKWATCH_TEST_KEY_GOOD_7f3a";
    std::env::set_var(good, "00".repeat(32));
    let ring = KeyRing::builder().key_env("env", good).build().unwrap();
    assert_eq!(ring.active_key_id().as_deref(), Some("env"));
    assert!(matches!(
        KeyRing::builder().key_env("env", var).build(),
        Err(KeyRingError::Key(KeyError::EnvVarMissing { .. }))
    ));
}

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tickwatch-crypto-{}", std::process::id()))
}

/// Removes this file's temporary directory when the test ends, passing or failing.
struct RemoveTempDir;

impl Drop for RemoveTempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(temp_dir());
    }
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn key_file_loads_and_names_bad_lines() {
    let _cleanup = RemoveTempDir;
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let good = temp_file(
        "good.keys",
        &format!("# ring\n\nold = {b64}\nnew={}\n", "11".repeat(32)),
    );
    let ring = KeyRing::builder().key_file(&good).build().unwrap();
    assert_eq!(ring.key_ids(), vec!["old".to_string(), "new".into()]);
    assert_eq!(ring.active_key_id().as_deref(), Some("new"));

    let line_err = |text: &str| -> (usize, KeyError) {
        let p = temp_file("bad.keys", text);
        match KeyRing::builder().key_file(&p).build() {
            Err(KeyRingError::Key(KeyError::KeyFileLine { line, source, .. })) => (line, *source),
            other => panic!("{text:?}: {other:?}"),
        }
    };
    let (l, e) = line_err(&format!("a={b64}\nno separator here\n"));
    assert_eq!(l, 2);
    assert!(matches!(e, KeyError::MissingSeparator));
    let (l, e) = line_err(&format!("# c\na={b64}\na={b64}\n"));
    assert_eq!(l, 3);
    assert!(matches!(e, KeyError::DuplicateKeyId { .. }));
    let (l, e) = line_err(&format!("bad id!={b64}\n"));
    assert_eq!(l, 1);
    assert!(matches!(e, KeyError::InvalidKeyId { .. }));
    let (l, e) = line_err("a=c2hvcnQ=\n");
    assert_eq!(l, 1);
    assert!(matches!(e, KeyError::WrongLength { decoded_len: 5, .. }));
    let (_, e) = line_err("a=\n");
    assert!(matches!(e, KeyError::Empty));
    let (_, e) = line_err(&format!("={b64}\n"));
    assert!(matches!(e, KeyError::InvalidKeyId { .. }));

    let empty = temp_file("empty.keys", "# nothing\n\n");
    assert!(matches!(
        KeyRing::builder().key_file(&empty).build(),
        Err(KeyRingError::Key(KeyError::EmptyKeyFile { .. }))
    ));
    assert!(matches!(
        KeyRing::builder()
            .key_file("/nonexistent/tickwatch.keys")
            .build(),
        Err(KeyRingError::Key(KeyError::Io { .. }))
    ));
    // Key file plus a key with the same id: duplicate.
    assert!(matches!(
        KeyRing::builder()
            .key_file(&good)
            .key("old", key(1))
            .build(),
        Err(KeyRingError::DuplicateKeyId { .. })
    ));
    assert!(matches!(
        KeyRing::builder().key("a", key(1)).active("b").build(),
        Err(KeyRingError::UnknownKey { .. })
    ));
    assert!(matches!(
        KeyRing::builder().key("x".repeat(65), key(1)).build(),
        Err(KeyRingError::Key(KeyError::InvalidKeyId { .. }))
    ));
}

#[test]
fn debug_never_shows_key_material() {
    let ring = KeyRing::builder().key("a", key(0xAB)).build().unwrap();
    let d = format!("{ring:?} {:?}", KeyRing::builder().key("b", key(0xAB)));
    assert!(d.contains("\"a\""));
    assert!(!d.to_lowercase().contains("abab"));
    assert!(!d.contains("171"));
}

// ---------------------------------------------------------------- audit

#[test]
fn every_ring_operation_leaves_exactly_one_audit_record() {
    let mem = MemorySink::new();
    let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
    let ring = KeyRing::builder()
        .audit(tw.audit_log())
        .key("a", key(1))
        .use_budget(1)
        .build()
        .unwrap(); // create
    ring.add_key("b", key(2)).unwrap(); // add
    ring.rotate_to("c", key(3)).unwrap(); // rotate
    let _ = ring.rotate().unwrap(); // rotate
    ring.activate("c").unwrap(); // activate
    ring.retire("a").unwrap(); // retire
    assert!(ring.retire("a").is_err()); // retire (unknown_key)
    ring.encrypt_data(b"x").unwrap(); // not audited
    assert!(ring.encrypt_data(b"x").is_err()); // exhausted (refused)
    assert!(ring.encrypt_data(b"x").is_err()); // exhausted again: not audited twice
    let e = ring.encrypt_data_with(b"x", "b").unwrap();
    ring.decrypt_data(&e).unwrap(); // not audited
    assert!(KeyRing::builder()
        .audit(tw.audit_log())
        .key("bad id", key(1))
        .build()
        .is_err()); // create (error)
    let auto = KeyRing::builder()
        .audit(tw.audit_log())
        .key("z", key(1))
        .use_budget(1)
        .on_exhaustion(Exhaustion::Rotate)
        .build()
        .unwrap(); // create
    auto.encrypt_data(b"1").unwrap();
    auto.encrypt_data(b"2").unwrap(); // auto_rotate
    tw.flush().unwrap();
    let audits: Vec<(String, String, String)> = mem
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Audit {
                actor,
                action,
                resource,
                outcome,
                ..
            } => {
                assert_eq!(actor, "keyring");
                Some((action, resource, outcome))
            }
            _ => None,
        })
        .collect();
    let actions: Vec<(&str, &str)> = audits
        .iter()
        .map(|(a, _, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("create", "ok"),
            ("add", "ok"),
            ("rotate", "ok"),
            ("rotate", "ok"),
            ("activate", "ok"),
            ("retire", "ok"),
            ("retire", "unknown_key"),
            ("exhausted", "refused"),
            ("create", "error"),
            ("create", "ok"),
            ("auto_rotate", "ok"),
        ]
    );
    assert_eq!(audits[0].1, "a");
    assert_eq!(audits[2].1, "c");
    assert_eq!(audits[7].1, "c");
    tw.shutdown().unwrap();
}

// ---------------------------------------------------------------- serde, properties

#[test]
fn serde_round_trip() {
    let ring = two_key_ring();
    let e = ring.encrypt_data(b"serde").unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.starts_with('"'));
    let back: EncryptedData = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(&ring.decrypt_data(&back).unwrap()[..], b"serde");
    assert!(serde_json::from_str::<EncryptedData>("\"AQ==\"").is_err());
    assert!(serde_json::from_str::<EncryptedData>("\"***\"").is_err());
    assert!(serde_json::from_str::<EncryptedData>("42").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decrypt_inverts_encrypt(data in proptest::collection::vec(any::<u8>(), 0..2048),
                               aad in proptest::collection::vec(any::<u8>(), 0..300)) {
        let ring = two_key_ring();
        let e = ring.encrypt_data_with_aad(&data, &aad).unwrap();
        prop_assert_eq!(&ring.decrypt_data_with_aad(&e, &aad).unwrap()[..], &data[..]);
        let bytes = e.to_bytes();
        let back = EncryptedData::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes);
        prop_assert_eq!(&ring.decrypt_data_with_aad(&back, &aad).unwrap()[..], &data[..]);
        let mut buf = data.clone();
        let h = ring.encrypt_in_place(&mut buf, &aad).unwrap();
        ring.decrypt_in_place(&h, &mut buf, &aad).unwrap();
        prop_assert_eq!(buf, data);
    }

    #[test]
    fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let ring = two_key_ring();
        if let Ok(e) = EncryptedData::from_bytes(&bytes) {
            prop_assert_eq!(e.to_bytes(), bytes);
            prop_assert!(ring.decrypt_data(&e).is_err());
        }
    }
}
