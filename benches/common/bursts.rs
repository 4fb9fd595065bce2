//! Timed bursts, shared by the benchmarks that measure the cost on the calling thread
//! (`#[path]`-included by each): `op` runs in bursts small enough never to wait for the
//! consumer, which catches up between bursts, untimed.

use std::time::{Duration, Instant};

/// Times `iters` calls of `op` in bursts of at most `burst`, running `between` (untimed)
/// after each burst.
pub fn time_bursts(
    iters: u64,
    burst: u64,
    mut op: impl FnMut(),
    mut between: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(burst);
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        total += t.elapsed();
        left -= n;
        between();
    }
    total
}
