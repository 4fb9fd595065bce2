//! What a timestamp costs, and what ordering it would cost: tickwatch's tick reading against
//! the plain and fenced `rdtsc` forms and `Instant::now`, in one run.
//!
//! ```text
//! cargo bench --bench clock
//! ```
//!
//! `rdtsc` is not serialising: `lfence; rdtsc` waits for earlier instructions to finish,
//! `rdtscp` for earlier loads, `mfence; rdtsc` for earlier stores as well. Those are the prices
//! of readings that order like the memory operations around them (see `src/time/ticks/mod.rs`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    // Calibrate first so every row measures a steady state.
    let _ = tickwatch::clock_info();
    g.bench_function("tickwatch_now_ticks", |b| {
        b.iter(|| black_box(tickwatch::__private::now_ticks()))
    });
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{__rdtscp, _mm_lfence, _mm_mfence, _rdtsc};
        // rdtsc, rdtscp, lfence and mfence have no preconditions on x86-64.
        g.bench_function("rdtsc", |b| {
            b.iter(|| {
                // SAFETY: see above.
                black_box(unsafe { _rdtsc() })
            })
        });
        g.bench_function("lfence_rdtsc", |b| {
            b.iter(|| {
                // SAFETY: see above.
                black_box(unsafe {
                    _mm_lfence();
                    _rdtsc()
                })
            })
        });
        g.bench_function("rdtscp", |b| {
            let mut aux = 0u32;
            b.iter(|| {
                // SAFETY: see above; `aux` is a valid place for the processor id.
                black_box(unsafe { __rdtscp(&mut aux) })
            })
        });
        g.bench_function("mfence_rdtsc", |b| {
            b.iter(|| {
                // SAFETY: see above.
                black_box(unsafe {
                    _mm_mfence();
                    _rdtsc()
                })
            })
        });
    }
    g.bench_function("std_instant_now", |b| b.iter(|| black_box(Instant::now())));
    g.finish();
}

criterion_group!(benches, clock);
criterion_main!(benches);
