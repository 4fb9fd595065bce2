//! Waiting for something a background thread (the collector, a server) will make true,
//! without timed assertions: poll until it holds or a generous deadline passes
//! (`#[path]`-included).

use std::time::{Duration, Instant};

/// Calls `f` every `every` until it returns `Some`, for at most `timeout`.
pub fn poll_every<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(every);
    }
}
