//! The loom shim: under `--cfg loom` the ring's atomics and cells come from loom, so the
//! model checker sees every access; otherwise they are the std types.
//!
//! Only the ring uses this module: everything else in the crate is ordinary std code whose
//! synchronisation is a mutex or a single atomic counter, which loom adds nothing to.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// In a loom model's busy-wait loop: a yield to the model's scheduler (a spin loop that never
/// yields would never let loom explore the other thread).
#[cfg(all(loom, test))]
#[inline]
pub(crate) fn spin_hint() {
    loom::thread::yield_now();
}
