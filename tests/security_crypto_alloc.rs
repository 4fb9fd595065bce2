//! The in-place path allocates nothing, and `encrypt_data` allocates exactly once (the
//! envelope, sized for header, ciphertext and tag): a counting global allocator (per test
//! binary, hence this file) counts allocations made by the calling thread after warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickwatch::security::crypto::{KeyRing, SecretKey};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call to `System` unchanged; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn in_place_encrypt_and_decrypt_allocate_nothing() {
    let ring = KeyRing::builder()
        .key("k1", SecretKey::from_bytes(&[7; 32]).unwrap())
        .build()
        .unwrap();
    let aad = b"venue=XNAS";
    let long_aad = vec![1u8; 1000];
    let mut buf = [0u8; 1024];
    // Warm-up: this thread's slot in the ring's key cache and its nonce block, arc-swap's
    // per-thread debt list, the long-AAD scratch buffer.
    for _ in 0..100 {
        let h = ring.encrypt_in_place(&mut buf, aad).unwrap();
        ring.decrypt_in_place(&h, &mut buf, aad).unwrap();
        let h = ring.encrypt_in_place(&mut buf, &long_aad).unwrap();
        ring.decrypt_in_place(&h, &mut buf, &long_aad).unwrap();
    }
    let before = allocs();
    for i in 0..10_000u32 {
        buf[..4].copy_from_slice(&i.to_le_bytes());
        let a: &[u8] = if i % 2 == 0 { aad } else { &long_aad };
        let h = ring.encrypt_in_place(&mut buf, a).unwrap();
        ring.decrypt_in_place(&h, &mut buf, a).unwrap();
        assert_eq!(&buf[..4], &i.to_le_bytes());
    }
    let during = allocs() - before;
    // The counter itself must work: a Vec allocates.
    let v = std::hint::black_box(vec![0u8; 10]);
    drop(v);
    assert!(allocs() > before + during, "allocation counter is live");
    assert_eq!(during, 0, "allocations during 10,000 in-place round trips");
}

#[test]
fn encrypt_data_allocates_exactly_once_per_envelope() {
    let ring = KeyRing::builder()
        .key("k1", SecretKey::from_bytes(&[7; 32]).unwrap())
        .build()
        .unwrap();
    let data = [5u8; 1000];
    for _ in 0..100 {
        drop(ring.encrypt_data(&data).unwrap());
    }
    let before = allocs();
    let mut total = 0;
    for _ in 0..1_000 {
        let e = ring.encrypt_data(&data).unwrap();
        total += e.as_bytes().len();
        drop(e);
    }
    let during = allocs() - before;
    assert!(total > 1_000 * data.len());
    assert_eq!(during, 1_000, "allocations for 1,000 envelopes");
}
