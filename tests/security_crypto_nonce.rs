//! The encryption path's per-thread state: the cached active key (revalidated by generation)
//! and the per-thread blocks of nonce counter values. Nonces stay unique per key across
//! threads, blocks and rotations; a thread holding a cached key sees a rotation; a block
//! counts whole against the use budget and the budget is never exceeded.

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

use tickwatch::security::crypto::{CryptoError, Exhaustion, KeyRing, SecretKey};

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// A thread that encrypts (in place, 8 bytes) on command and answers with the key id, or
/// the error: lets a test interleave two threads' encryptions deterministically.
struct Worker {
    tx: mpsc::Sender<()>,
    rx: mpsc::Receiver<Result<String, CryptoError>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn spawn(ring: Arc<KeyRing>) -> Self {
        let (tx, commands) = mpsc::channel::<()>();
        let (answers, rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            for () in commands {
                let mut buf = [7u8; 8];
                let r = ring
                    .encrypt_in_place(&mut buf, b"")
                    .map(|h| h.key_id().to_owned());
                if answers.send(r).is_err() {
                    return;
                }
            }
        });
        Self {
            tx,
            rx,
            handle: Some(handle),
        }
    }

    fn encrypt(&self) -> Result<String, CryptoError> {
        self.tx.send(()).unwrap();
        self.rx.recv().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

#[test]
fn nonces_stay_unique_per_key_across_threads_blocks_and_rotations() {
    // Default budget: blocks grow to 64 values per thread.
    let ring = Arc::new(KeyRing::builder().key("r0", key(0)).build().unwrap());
    let threads = 4;
    let per = 3000;
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let ring = ring.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut seen = Vec::with_capacity(per);
                for i in 0..per {
                    let mut buf = (i as u64).to_le_bytes();
                    let h = ring.encrypt_in_place(&mut buf, b"").unwrap();
                    seen.push((h.key_id().to_owned(), h.nonce()));
                }
                seen
            })
        })
        .collect();
    start.wait();
    // Rotations while the threads encrypt, and a return to an earlier key: its counter goes
    // on from where it was, whatever blocks the threads held under it before.
    for k in 1..=4u8 {
        ring.rotate_to(&format!("r{k}"), key(k)).unwrap();
    }
    ring.activate("r0").unwrap();
    let mut all = HashSet::new();
    let mut n = 0;
    for h in handles {
        for pair in h.join().unwrap() {
            assert!(
                all.insert(pair.clone()),
                "nonce repeated under a key: {pair:?}"
            );
            n += 1;
        }
    }
    assert_eq!(n, threads * per);
    // Use counts are exact once no encryption is running: unused block values are not counted.
    let counted: u64 = ring
        .key_ids()
        .iter()
        .map(|id| ring.key_uses(id).unwrap())
        .sum();
    assert_eq!(counted, (threads * per) as u64);
}

#[test]
fn a_thread_holding_a_cached_key_sees_a_rotation() {
    let ring = Arc::new(KeyRing::builder().key("a", key(1)).build().unwrap());
    let worker = Worker::spawn(ring.clone());
    // The worker caches "a" (and a block of nonces under it).
    assert_eq!(worker.encrypt().unwrap(), "a");
    assert_eq!(worker.encrypt().unwrap(), "a");
    ring.rotate_to("b", key(2)).unwrap();
    assert_eq!(worker.encrypt().unwrap(), "b");
    ring.activate("a").unwrap();
    assert_eq!(worker.encrypt().unwrap(), "a");
    // A change that leaves the active key alone (adding a key) keeps it too.
    ring.add_key("c", key(3)).unwrap();
    assert_eq!(worker.encrypt().unwrap(), "a");
    assert_eq!(ring.key_uses("a"), Some(4));
    assert_eq!(ring.key_uses("b"), Some(1));
}

#[test]
fn a_block_counts_whole_against_the_budget_which_is_never_exceeded() {
    // Budget 2048: blocks of at most 2 values (budget / 1024).
    let budget = 2048u64;
    let ring = Arc::new(
        KeyRing::builder()
            .key("a", key(1))
            .use_budget(budget)
            .build()
            .unwrap(),
    );
    let worker = Worker::spawn(ring.clone());
    // The worker takes a block of 1, then a block of 2 of which it uses 1: 3 values taken.
    worker.encrypt().unwrap();
    worker.encrypt().unwrap();
    assert_eq!(ring.key_uses("a"), Some(2));
    // This thread gets the rest.
    let mut buf = [0u8; 8];
    let mut made = 0u64;
    while ring.encrypt_in_place(&mut buf, b"").is_ok() {
        made += 1;
    }
    assert_eq!(made, budget - 3);
    assert_eq!(
        ring.encrypt_data(b"x"),
        Err(CryptoError::KeyExhausted { key_id: "a".into() })
    );
    assert_eq!(ring.key_uses("a"), Some(budget - 1));
    // The worker's last value is still its own, and then the key is spent for it too.
    assert_eq!(worker.encrypt().unwrap(), "a");
    assert_eq!(
        worker.encrypt(),
        Err(CryptoError::KeyExhausted { key_id: "a".into() })
    );
    assert_eq!(ring.key_uses("a"), Some(budget));
}

#[test]
fn an_automatic_rotation_moves_other_threads_off_their_blocks() {
    let budget = 2048u64;
    let ring = Arc::new(
        KeyRing::builder()
            .key("a", key(1))
            .use_budget(budget)
            .on_exhaustion(Exhaustion::Rotate)
            .build()
            .unwrap(),
    );
    let worker = Worker::spawn(ring.clone());
    worker.encrypt().unwrap();
    worker.encrypt().unwrap(); // holds one unused value under "a"
    let mut buf = [0u8; 8];
    while ring.encrypt_in_place(&mut buf, b"").unwrap().key_id() == "a" {}
    assert_eq!(ring.auto_rotations(), 1);
    let new = ring.active_key_id().unwrap();
    assert_ne!(new, "a");
    // The worker's leftover value under "a" is abandoned: new data uses the new key.
    assert_eq!(worker.encrypt().unwrap(), new);
    assert_eq!(ring.key_uses("a"), Some(budget - 1));
}
