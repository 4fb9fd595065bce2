//! The key ring's AES-256-GCM against the raw `aes-gcm` crate, same key, same run.
//!
//! For 64 B, 1 KiB and 16 KiB messages: `encrypt_data` vs `Aes256Gcm::encrypt` (both allocate
//! the output), `encrypt_in_place` vs `encrypt_in_place_detached`, and the matching
//! decryptions. The difference is the envelope's cost: the associated data binding version
//! and key id (`"tickwatch-envelope" || version || n || id || zeros` to whole 16-byte blocks,
//! measured alone by the `*_envelope_aad` peers), the per-thread key cache and nonce block,
//! the header bytes.
//!
//! `cargo bench --bench crypto`; medians in `target/criterion/<group>/<function>/<size>/new/estimates.json`.
//! Compare ratios within one run: the machine's load moves all numbers together.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use tickwatch::security::crypto::{KeyRing, SecretKey};

const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
const KEY: [u8; 32] = [0x42; 32];
// What the crate authenticates for key "bench-key-1": header padded to 32 bytes.
const ENVELOPE_AAD: &[u8] = b"tickwatch-envelope\x01\x0bbench-key-1\x00";

fn config(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_millis(1500));
    g.sample_size(40);
}

fn setup() -> (KeyRing, Aes256Gcm) {
    // A budget no benchmark run can reach.
    let ring = KeyRing::builder()
        .key("bench-key-1", SecretKey::from_bytes(&KEY).unwrap())
        .use_budget(u64::MAX / 2)
        .build()
        .unwrap();
    (ring, Aes256Gcm::new((&KEY).into()))
}

fn encrypt(c: &mut Criterion) {
    let (ring, raw) = setup();
    let nonce = Nonce::from([7u8; 12]);
    let mut g = c.benchmark_group("encrypt");
    config(&mut g);
    for size in SIZES {
        let data = vec![0xA5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(
            BenchmarkId::new("tickwatch_encrypt_data", size),
            &data,
            |b, d| b.iter(|| ring.encrypt_data(black_box(d)).unwrap()),
        );
        g.bench_with_input(BenchmarkId::new("aes_gcm_encrypt", size), &data, |b, d| {
            b.iter(|| raw.encrypt(&nonce, black_box(&d[..])).unwrap())
        });
        // The raw crate with the envelope's associated data: what binding version and key id
        // costs by itself (two more GHASH blocks), apart from the ring's bookkeeping.
        g.bench_with_input(
            BenchmarkId::new("aes_gcm_encrypt_envelope_aad", size),
            &data,
            |b, d| {
                b.iter(|| {
                    let payload = Payload {
                        msg: black_box(&d[..]),
                        aad: ENVELOPE_AAD,
                    };
                    raw.encrypt(&nonce, payload).unwrap()
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("encrypt_in_place");
    config(&mut g);
    for size in SIZES {
        let mut buf = vec![0xA5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("tickwatch_encrypt_in_place", size), |b| {
            b.iter(|| ring.encrypt_in_place(black_box(&mut buf), b"").unwrap())
        });
        g.bench_function(
            BenchmarkId::new("aes_gcm_encrypt_in_place_detached", size),
            |b| {
                b.iter(|| {
                    raw.encrypt_in_place_detached(&nonce, b"", black_box(&mut buf))
                        .unwrap()
                })
            },
        );
        // The raw crate with the envelope's associated data (`"tickwatch-envelope" || 1 ||
        // 11 || "bench-key-1"`): separates the cost of binding version and key id from the
        // ring's own bookkeeping.
        g.bench_function(
            BenchmarkId::new("aes_gcm_in_place_envelope_aad", size),
            |b| {
                b.iter(|| {
                    raw.encrypt_in_place_detached(&nonce, ENVELOPE_AAD, black_box(&mut buf))
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

fn decrypt(c: &mut Criterion) {
    let (ring, raw) = setup();
    let nonce = Nonce::from([7u8; 12]);
    let mut g = c.benchmark_group("decrypt");
    config(&mut g);
    for size in SIZES {
        let data = vec![0xA5u8; size];
        let env = ring.encrypt_data(&data).unwrap();
        let raw_ct = raw.encrypt(&nonce, &data[..]).unwrap();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("tickwatch_decrypt_data", size), |b| {
            b.iter(|| ring.decrypt_data(black_box(&env)).unwrap())
        });
        g.bench_function(BenchmarkId::new("aes_gcm_decrypt", size), |b| {
            b.iter(|| raw.decrypt(&nonce, black_box(&raw_ct[..])).unwrap())
        });
    }
    g.finish();

    // Each iteration copies the ciphertext back into the buffer first (same for both).
    let mut g = c.benchmark_group("decrypt_in_place");
    config(&mut g);
    for size in SIZES {
        let mut ct = vec![0xA5u8; size];
        let header = ring.encrypt_in_place(&mut ct, b"").unwrap();
        let mut raw_ct = vec![0xA5u8; size];
        let raw_tag: Tag = raw
            .encrypt_in_place_detached(&nonce, b"", &mut raw_ct)
            .unwrap();
        let mut buf = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("tickwatch_decrypt_in_place", size), |b| {
            b.iter(|| {
                buf.copy_from_slice(&ct);
                ring.decrypt_in_place(&header, black_box(&mut buf), b"")
                    .unwrap()
            })
        });
        g.bench_function(
            BenchmarkId::new("aes_gcm_decrypt_in_place_detached", size),
            |b| {
                b.iter(|| {
                    buf.copy_from_slice(&raw_ct);
                    raw.decrypt_in_place_detached(&nonce, b"", black_box(&mut buf), &raw_tag)
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
