//! Nonces: a random per-key prefix and a counter, handed to threads in blocks.
//!
//! A nonce is `prefix (4 random bytes) || start + n (8 bytes, big-endian)`, where `start` is a
//! random point below 2^62 and `n` a counter value below the key's use budget (at most 2^62),
//! so `start + n` never wraps and no two counter values give the same nonce.
//!
//! Counter values come from one atomic counter per key, [`NonceSpace::reserved`]. Each value
//! is handed out once: either singly (one `fetch_add` per encryption, for encryptions under a
//! named key) or, on the active-key path, as a block `[first, first + size)` taken with one
//! `fetch_add` and used by one thread only ([`ThreadBlock`]). A block is never shared, never
//! refilled while values remain, and belongs to one key entry (the thread's cache holds the
//! entry and its block together), so a value can neither be used twice nor under another key.
//!
//! **Budget.** A block counts whole against the budget when taken: a key never encrypts more
//! than its budget, and stops a little early (at most `threads x block` values) when threads
//! leave values unused, which happens when a rotation moves them to another key. Blocks grow
//! from 1 value by doubling up to [`max_block`] (`budget / 1024`, at most 64), so a thread that
//! encrypts once takes one value, and small budgets (under 2048) behave exactly as with one
//! `fetch_add` per encryption.
//!
//! **Use counts.** Every block is also registered with its key, so
//! [`NonceSpace::used`] = values taken - values still unused in blocks: exact whenever no
//! encryption is in flight, an estimate otherwise (the two terms are read at different times).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use super::envelope::NONCE_LEN;
use super::error::KeyError;

/// Largest block of counter values one thread takes at once under a key with `budget`.
#[inline]
pub(super) fn max_block(budget: u64) -> u64 {
    (budget >> 10).clamp(1, 64)
}

/// One key's nonce state.
pub(super) struct NonceSpace {
    /// Random per-key nonce prefix.
    prefix: [u8; 4],
    /// Random starting point of the 64-bit counter, below 2^62 so it never wraps.
    start: u64,
    /// Counter values taken so far, singly or in blocks (including attempts refused past the
    /// budget). On its own cache line: it is written by every thread that encrypts, and the
    /// cipher next to it in the key entry is read by all of them.
    reserved: CachePadded<AtomicU64>,
    /// Every block handed out under this key, for [`NonceSpace::used`].
    blocks: Mutex<Vec<Arc<ThreadBlock>>>,
}

impl NonceSpace {
    /// A fresh space: random prefix and starting point.
    pub(super) fn generate() -> Result<Self, KeyError> {
        let mut r = Zeroizing::new([0u8; 12]);
        getrandom::getrandom(&mut r[..]).map_err(KeyError::Random)?;
        let mut prefix = [0u8; 4];
        prefix.copy_from_slice(&r[..4]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&r[4..]);
        Ok(Self {
            prefix,
            start: u64::from_le_bytes(s) >> 2,
            reserved: CachePadded::new(AtomicU64::new(0)),
            blocks: Mutex::new(Vec::new()),
        })
    }

    /// The nonce of counter value `n`.
    #[inline]
    pub(super) fn nonce(&self, n: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.prefix);
        nonce[4..].copy_from_slice(&self.start.wrapping_add(n).to_be_bytes());
        nonce
    }

    /// Takes one counter value, or `None` if the budget is spent.
    #[inline]
    pub(super) fn take_one(&self, budget: u64) -> Option<u64> {
        let n = self.reserved.fetch_add(1, Relaxed);
        (n < budget).then_some(n)
    }

    /// A new, empty block registered under this key, for one thread.
    pub(super) fn new_block(&self) -> Arc<ThreadBlock> {
        let block = Arc::new(ThreadBlock {
            next: AtomicU64::new(0),
            end: AtomicU64::new(0),
        });
        self.blocks.lock().push(block.clone());
        block
    }

    /// Refills the spent `block` with up to `size` values and takes the first, or returns
    /// `None` if the budget is spent.
    #[cold]
    fn refill(&self, block: &ThreadBlock, size: u64, budget: u64) -> Option<u64> {
        // Once spent, refused attempts stop moving the counter.
        if self.reserved.load(Relaxed) >= budget {
            return None;
        }
        let first = self.reserved.fetch_add(size, Relaxed);
        if first >= budget {
            return None;
        }
        // `next` first: a concurrent `used` then sees no unused values rather than too many.
        block.next.store(first + 1, Relaxed);
        block.end.store((first + size).min(budget), Relaxed);
        Some(first)
    }

    /// Encryptions made: values taken (capped at the budget) minus those still unused in
    /// threads' blocks.
    pub(super) fn used(&self, budget: u64) -> u64 {
        // Blocks first: a block taken after this read then adds to `taken` only, not to
        // `unused`, and cannot push the estimate below what was used when the call began.
        let unused: u64 = self
            .blocks
            .lock()
            .iter()
            .map(|b| b.end.load(Relaxed).saturating_sub(b.next.load(Relaxed)))
            .sum();
        let taken = self.reserved.load(Relaxed).min(budget);
        taken.saturating_sub(unused)
    }
}

/// Counter values `[next, end)` taken by one thread under one key. Only the owning thread
/// writes it (atomics only so that [`NonceSpace::used`] may read it).
pub(super) struct ThreadBlock {
    next: AtomicU64,
    end: AtomicU64,
}

/// A thread's nonce state under the key it holds in its cache: its block and the size of the
/// next refill.
pub(super) struct ThreadNonces {
    block: Arc<ThreadBlock>,
    size: u64,
}

impl ThreadNonces {
    /// A thread's first use of `space`: an empty block, refilled on first use with 1 value.
    pub(super) fn new(space: &NonceSpace) -> Self {
        Self {
            block: space.new_block(),
            size: 1,
        }
    }

    /// The next counter value for this thread under `space`, or `None` if the budget is spent.
    #[inline]
    pub(super) fn take(&mut self, space: &NonceSpace, budget: u64) -> Option<u64> {
        let n = self.block.next.load(Relaxed);
        if n < self.block.end.load(Relaxed) {
            self.block.next.store(n + 1, Relaxed);
            return Some(n);
        }
        let size = self.size;
        self.size = (size * 2).min(max_block(budget));
        space.refill(&self.block, size, budget)
    }
}
