//! The ring's unit tests (std build; the loom models are in `mod.rs`).

use super::*;

/// Small sizes under Miri, where every step is interpreted.
const ROUNDS: usize = if cfg!(miri) { 300 } else { 100_000 };

fn push_u64(p: &mut Producer, v: u64, extra: usize) -> Result<(), PushError> {
    p.try_push(8 + extra, |b| {
        b[..8].copy_from_slice(&v.to_le_bytes());
        b[8..].fill(v as u8);
    })
}

fn drain(c: &mut Consumer, out: &mut Vec<(u64, usize)>) {
    if let Some(chunk) = c.read() {
        for f in chunk.frames() {
            let v = u64::from_le_bytes(f[..8].try_into().unwrap());
            assert!(f[8..].iter().all(|&b| b == v as u8), "payload bytes intact");
            out.push((v, f.len()));
        }
    }
}

#[test]
fn empty_ring_reads_nothing() {
    let (_p, mut c) = ring(64);
    assert!(c.read().is_none());
    assert_eq!(c.fill(), 0);
}

#[test]
fn push_then_pop_in_order() {
    let (mut p, mut c) = ring(256);
    for i in 0..5 {
        push_u64(&mut p, i, 0).unwrap();
    }
    let mut out = Vec::new();
    drain(&mut c, &mut out);
    assert_eq!(
        out.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(c.read().is_none());
}

#[test]
fn full_ring_refuses_then_accepts_after_release() {
    let (mut p, mut c) = ring(64);
    // 16-byte frames: exactly 4 fit.
    for i in 0..4 {
        push_u64(&mut p, i, 0).unwrap();
    }
    assert_eq!(push_u64(&mut p, 9, 0), Err(PushError::Full));
    let mut out = Vec::new();
    drain(&mut c, &mut out);
    assert_eq!(out.len(), 4);
    push_u64(&mut p, 4, 0).unwrap();
    drain(&mut c, &mut out);
    assert_eq!(out.last().unwrap().0, 4);
}

#[test]
fn too_large_is_refused_forever() {
    let (mut p, _c) = ring(64);
    assert_eq!(p.max_payload(), 24);
    assert_eq!(push_u64(&mut p, 1, 17), Err(PushError::TooLarge));
    assert!(push_u64(&mut p, 1, 16).is_ok());
}

#[test]
fn frames_never_straddle_and_wrap_correctly() {
    // Varying sizes force padding at the end of the buffer on many rounds.
    let (mut p, mut c) = ring(128);
    let mut out = Vec::new();
    let mut next = 0u64;
    let mut expect = 0u64;
    for round in 0..ROUNDS {
        let extra = (round * 7) % 41;
        match push_u64(&mut p, next, extra) {
            Ok(()) => next += 1,
            Err(PushError::Full) => {
                drain(&mut c, &mut out);
                for (v, _) in out.drain(..) {
                    assert_eq!(v, expect);
                    expect += 1;
                }
            }
            Err(PushError::TooLarge) => unreachable!("sizes are below max_payload"),
        }
    }
    drain(&mut c, &mut out);
    for (v, _) in out.drain(..) {
        assert_eq!(v, expect);
        expect += 1;
    }
    assert_eq!(expect, next);
    assert!(next > 1000.min(ROUNDS as u64 / 4));
}

#[test]
fn abandoned_ring_keeps_its_records() {
    let (mut p, mut c) = ring(64);
    push_u64(&mut p, 7, 0).unwrap();
    drop(p);
    assert!(c.is_abandoned());
    let mut out = Vec::new();
    drain(&mut c, &mut out);
    assert_eq!(out, vec![(7, 8)]);
}

#[test]
fn two_threads_transfer_everything_in_order() {
    let n: u64 = if cfg!(miri) { 200 } else { 200_000 };
    let (mut p, mut c) = ring(256);
    let t = std::thread::spawn(move || {
        let mut i = 0;
        while i < n {
            match push_u64(&mut p, i, (i % 5) as usize * 8) {
                Ok(()) => i += 1,
                Err(_) => std::thread::yield_now(),
            }
        }
    });
    let mut expect = 0;
    let mut out = Vec::new();
    while expect < n {
        drain(&mut c, &mut out);
        for (v, len) in out.drain(..) {
            assert_eq!(v, expect);
            assert_eq!(len, 8 + (v % 5) as usize * 8);
            expect += 1;
        }
        std::thread::yield_now();
    }
    t.join().unwrap();
    assert!(c.read().is_none());
}

/// `try_push_bytes` writes its two words then the body, whatever the body's length (odd
/// lengths included) and wherever the frame lands as the ring wraps.
#[cfg(feature = "tracing")]
#[test]
fn pushed_bytes_come_back_exact_across_wraps() {
    let (mut p, mut c) = ring(256);
    let mut next = 0u64;
    let mut expect = 0u64;
    let body = |v: u64| -> Vec<u8> { (0..(v % 37) as u8).map(|i| i ^ v as u8).collect() };
    let check = |c: &mut Consumer, expect: &mut u64| {
        if let Some(chunk) = c.read() {
            for f in chunk.frames() {
                assert_eq!(u64::from_le_bytes(f[..8].try_into().unwrap()), *expect);
                assert_eq!(u64::from_le_bytes(f[8..16].try_into().unwrap()), !*expect);
                assert_eq!(&f[16..], &body(*expect)[..], "record {expect}");
                *expect += 1;
            }
        }
    };
    for _ in 0..ROUNDS {
        match p.try_push_bytes(next, !next, &body(next)) {
            Ok(()) => next += 1,
            Err(PushError::Full) => check(&mut c, &mut expect),
            Err(PushError::TooLarge) => unreachable!("bodies are below max_payload"),
        }
    }
    check(&mut c, &mut expect);
    assert_eq!(expect, next);
    assert!(next > ROUNDS as u64 / 4);
}
