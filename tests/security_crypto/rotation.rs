//! Rotation, retirement, exhaustion.

use super::*;

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
