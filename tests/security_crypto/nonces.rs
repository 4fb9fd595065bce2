//! Nonce uniqueness.

use super::*;

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
