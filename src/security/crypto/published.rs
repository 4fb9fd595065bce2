//! The ring's published state, and each thread's cached view of its active key.
//!
//! Every change to a [`super::KeyRing`] publishes a whole new [`State`] through an `ArcSwap`.
//! Loading that snapshot costs two atomic read-modify-writes (`arc-swap` takes a per-thread
//! debt slot and pays it back), about 35 ns on the benchmark machine: a third of what the
//! envelope used to add to a 1 KiB encryption. The encryption path only needs the active key,
//! which changes rarely, so each thread keeps a reference to it and revalidates it with one
//! `Acquire` load of a generation counter that every publication bumps.
//!
//! * **Promptness**: [`Published::store`] swaps the state in and then bumps the generation
//!   (`Release`); a thread that reads the new generation (`Acquire`) reloads the snapshot and
//!   sees the new state or a newer one. A cached key is never used under a generation newer
//!   than the one it was loaded at, so an encryption that starts after a rotation returned
//!   uses the new key, as with a plain snapshot load.
//! * **Key lifetime**: the per-thread caches belong to the ring (`thread_local::ThreadLocal`,
//!   not a process-wide `thread_local!`), so dropping the ring drops every cached reference
//!   and the keys are wiped then, as before. Between a rotation and a thread's next encryption
//!   with the ring, that thread's cache still references the previous active key: the key is
//!   not used (the generation no longer matches), but if it was retired meanwhile, its wiping
//!   waits for that next encryption or for the ring's drop.
//! * The cache also holds the thread's block of nonce counter values under the cached key
//!   (see `nonce`): the block and its key are replaced together, never mixed.

use crate::hash::KeyedMap;
use std::cell::RefCell;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Release},
};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use thread_local::ThreadLocal;

use super::entry::KeyEntry;
use super::error::KeyRingError;
use super::nonce::ThreadNonces;

/// An immutable snapshot of the ring; replaced whole on every change.
#[derive(Clone, Default)]
pub(super) struct State {
    pub(super) keys: KeyedMap<Box<str>, Arc<KeyEntry>>,
    /// Ids in the order they were added.
    pub(super) order: Vec<Box<str>>,
    pub(super) active: Option<Arc<KeyEntry>>,
}

impl State {
    pub(super) fn insert(&mut self, entry: KeyEntry) -> Result<Arc<KeyEntry>, KeyRingError> {
        if self.keys.contains_key(&entry.id) {
            return Err(KeyRingError::DuplicateKeyId {
                key_id: entry.id.to_string(),
            });
        }
        let e = Arc::new(entry);
        self.order.push(e.id.clone());
        self.keys.insert(e.id.clone(), e.clone());
        Ok(e)
    }
}

/// One thread's view of the active key, valid while the ring's generation equals
/// `generation` (0: never loaded; the ring's generation starts at 1).
#[derive(Default)]
struct CachedActive {
    generation: u64,
    active: Option<Arc<KeyEntry>>,
    /// This thread's nonce block under `active` (made on its first encryption).
    nonces: Option<ThreadNonces>,
}

/// The ring's current [`State`] plus the per-thread cached active key.
pub(super) struct Published {
    state: ArcSwap<State>,
    /// Bumped after every [`Published::store`].
    generation: AtomicU64,
    cache: ThreadLocal<RefCell<CachedActive>>,
}

impl Published {
    pub(super) fn new(state: State) -> Self {
        Self {
            state: ArcSwap::from_pointee(state),
            generation: AtomicU64::new(1),
            cache: ThreadLocal::new(),
        }
    }

    /// The current snapshot (the full load: lookups by key id, ring operations).
    #[inline]
    pub(super) fn load(&self) -> Guard<Arc<State>> {
        self.state.load()
    }

    /// Publishes `next`; every thread's cached active key is stale from here on.
    pub(super) fn store(&self, next: Arc<State>) {
        self.state.store(next);
        // After the store: a reader that sees the new generation then loads `next` or newer.
        self.generation.fetch_add(1, Release);
    }

    /// Runs `f` with the active key (`None` if the ring has none) and this thread's nonce
    /// block under it, from this thread's cache when the generation has not moved since it
    /// was filled.
    #[inline]
    pub(super) fn with_active<R>(
        &self,
        f: impl FnOnce(Option<&Arc<KeyEntry>>, Option<&mut Option<ThreadNonces>>) -> R,
    ) -> R {
        let cell = self.cache.get_or_default();
        let Ok(mut cached) = cell.try_borrow_mut() else {
            // Only if `f` re-entered the ring on this thread (nothing does today): use the
            // snapshot, and no block, rather than fail.
            return f(self.state.load().active.as_ref(), None);
        };
        let generation = self.generation.load(Acquire);
        if cached.generation != generation {
            self.refresh(&mut cached, generation);
        }
        let CachedActive { active, nonces, .. } = &mut *cached;
        f(active.as_ref(), Some(nonces))
    }

    /// Reloads the active key into a stale cache. A thread's block belongs to one key: it is
    /// kept if the active key is the same entry, otherwise dropped with its unused values.
    #[cold]
    fn refresh(&self, cached: &mut CachedActive, generation: u64) {
        let active = self.state.load().active.clone();
        let same = match (&cached.active, &active) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same {
            cached.nonces = None;
        }
        cached.active = active;
        cached.generation = generation;
    }
}
