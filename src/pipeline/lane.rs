//! Lanes: one ring per (thread, instance), created on a thread's first call, drained by the
//! instance's collector and reclaimed after the thread exits.
//!
//! The producing half lives in a thread-local list (usually one entry per thread: the
//! instance it logs to). It counts its own accepted and dropped records and publishes them
//! with plain relaxed stores to lines only it writes (the accepted count on the ring's tail
//! line, which every push writes anyway), so `Stats` is exact without any read-modify-write
//! on the hot path.

use crossbeam_utils::CachePadded;
use std::cell::{Cell, RefCell};
use std::ptr::{self, NonNull};
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, Release},
};
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::config::Backpressure;
use super::shared::Shared;
use crate::ring::{self, Consumer, Producer, PushError};
use crate::series::NameCache;
use crate::sink::ThreadInfo;

/// Counters a producer publishes when a record is accepted with a string cut short; read
/// only by `stats()`. (The accepted records themselves are counted by the ring, on the line
/// every push writes: [`LaneShared::accepted`].)
#[derive(Default)]
pub(crate) struct LaneCounters {
    pub(crate) truncated: AtomicU64,
}

/// Counters a producer publishes when it drops; the collector reads `dropped` on every pass,
/// so they sit on a line apart from [`LaneCounters`], which changes on every record.
#[derive(Default)]
pub(crate) struct DropCounters {
    pub(crate) dropped: AtomicU64,
    pub(crate) oversized: AtomicU64,
    /// Of `dropped`: records given up after waiting `block_timeout` for room.
    pub(crate) timed_out: AtomicU64,
    /// Of `timed_out`: audit records.
    pub(crate) audit_dropped: AtomicU64,
}

/// What the producer thread, the collector and `stats()` share about one lane.
pub(crate) struct LaneShared {
    pub(crate) thread: ThreadInfo,
    pub(crate) capacity: usize,
    /// Records the producer has pushed: the lane's `accepted` count.
    pub(crate) accepted: ring::Published,
    pub(crate) counters: CachePadded<LaneCounters>,
    pub(crate) drops: CachePadded<DropCounters>,
    /// Largest fill the collector has found when draining, in bytes. Written by the collector
    /// (when it grows), read by `stats()`.
    pub(crate) high_water: CachePadded<AtomicU64>,
    /// Records the collector has taken out of this ring (delivered or undecodable). Written
    /// by the collector after each batch, final once the instance is `STOPPED`: `stats()`
    /// then counts anything accepted beyond it as dropped at shutdown (see `Stats`).
    pub(crate) consumed: CachePadded<AtomicU64>,
}

/// The collector's half.
pub(crate) struct CollectorLane {
    pub(crate) consumer: Consumer,
    pub(crate) shared: Arc<LaneShared>,
    /// Drops already reported as a `Dropped` record.
    pub(crate) reported_drops: u64,
    /// Records taken out of the ring so far (published to `LaneShared::consumed`).
    pub(crate) consumed: u64,
}

/// The producing thread's half.
pub(crate) struct LocalLane {
    instance_id: u64,
    instance: Weak<Shared>,
    producer: Producer,
    shared: Arc<LaneShared>,
    backpressure: Backpressure,
    pub(crate) max_str: usize,
    dropped: u64,
    oversized: u64,
    truncated: u64,
    timed_out: u64,
    audit_dropped: u64,
    pub(crate) names: NameCache,
}

/// This thread's lanes, one per instance it has logged to.
///
/// Each lane is a heap allocation owned through a raw pointer (`Box::into_raw`), not a `Box`:
/// [`LAST`] keeps a copy of one of these pointers, and every access, on the fast path and the
/// slow path alike, goes through a pointer with that same provenance. Holding `Box`es here
/// instead would make every read through the `Vec` (the slow path's search) a reborrow of
/// the box that invalidates the cached pointer under Stacked and Tree Borrows.
struct Lanes {
    list: RefCell<Vec<NonNull<LocalLane>>>,
}

impl Lanes {
    /// Frees every lane `keep` rejects. `LAST` must not point at any of them.
    fn retain(list: &mut Vec<NonNull<LocalLane>>, mut keep: impl FnMut(&LocalLane) -> bool) {
        list.retain(|&lane| {
            // SAFETY: every pointer in the list came from `Box::into_raw` and is freed only
            // here or in `Lanes::drop`, after which it is no longer in the list; no `&mut`
            // to it is live (the caller holds the list's `RefCell` borrow and `BUSY`
            // protocol keeps lent lanes out of reach: see `with_lane_slow`).
            let kept = keep(unsafe { lane.as_ref() });
            if !kept {
                // SAFETY: as above; removed from the list by `retain`, so freed exactly once.
                drop(unsafe { Box::from_raw(lane.as_ptr()) });
            }
            kept
        });
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        // Forget the cached pointer first. `LAST` has no destructor, so it is still there to
        // clear.
        LAST.set((0, ptr::null_mut()));
        Lanes::retain(self.list.get_mut(), |_| false);
    }
}

thread_local! {
    static LANES: Lanes = const { Lanes { list: RefCell::new(Vec::new()) } };
    /// The lane used last: `(instance id, pointer to its box in LANES)`, or id 0. Neither this
    /// nor `BUSY` has a destructor, so reading them is a plain thread-local load with no
    /// registration check: the fast path of every hot-path call.
    static LAST: Cell<(u64, *mut LocalLane)> = const { Cell::new((0, ptr::null_mut())) };
    /// Set while a lane is lent out, so that a re-entrant call (a global allocator that logs,
    /// say) is refused instead of getting a second `&mut` to the same lane.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Clears `BUSY` when the lane is handed back, even if the caller unwinds.
struct Lent;

impl Drop for Lent {
    #[inline(always)]
    fn drop(&mut self) {
        BUSY.set(false);
    }
}

/// Runs `f` on this thread's lane for `shared`, creating it on first use.
///
/// Returns `None` when no lane can be had: the thread is being torn down (its thread-locals
/// are gone), the instance is stopped and this thread has no lane for it, or `f` re-entered
/// from inside a push. The caller counts that as a drop.
#[inline(always)]
pub(crate) fn with_lane<R>(shared: &Arc<Shared>, f: impl FnOnce(&mut LocalLane) -> R) -> Option<R> {
    let (id, lane) = LAST.get();
    if id == shared.id && !BUSY.get() {
        BUSY.set(true);
        let _lent = Lent;
        // SAFETY: `LAST` holds a non-zero id only while it points at a live lane in this
        // thread's `LANES` (it is reset before any lane is freed: in `register` and in
        // `Lanes::drop`), with the provenance of the list's own pointer (see `Lanes`); lanes
        // never leave their thread, and `BUSY` was clear, so no other reference to this lane
        // exists until `_lent` clears it again.
        return Some(f(unsafe { &mut *lane }));
    }
    with_lane_slow(shared, f)
}

/// A record's body after its head and timestamp words, pushed by [`push_record`] with no
/// closure: whole words whose count is a constant where it is inlined (samples, packed
/// events), or bytes encoded ahead of the push (the `tracing` layer's events, whose length is
/// known only once their values are).
pub(crate) trait Body: Copy {
    /// Its length in bytes.
    fn len(self) -> usize;
    /// The ring's closure-free push of the whole record.
    fn try_push(self, producer: &mut Producer, head: u64, ticks: u64) -> Result<(), PushError>;
    /// Writes it into `dst`, exactly [`Body::len`] bytes: for the general push, out of line.
    fn fill(self, dst: &mut [u8]);
}

impl<const N: usize> Body for &[u64; N] {
    #[inline(always)]
    fn len(self) -> usize {
        8 * N
    }

    #[inline(always)]
    fn try_push(self, producer: &mut Producer, head: u64, ticks: u64) -> Result<(), PushError> {
        producer.try_push_words(head, ticks, self)
    }

    fn fill(self, dst: &mut [u8]) {
        for (d, w) in dst.chunks_exact_mut(8).zip(self) {
            d.copy_from_slice(&w.to_le_bytes());
        }
    }
}

#[cfg(feature = "tracing")]
impl Body for &[u8] {
    #[inline(always)]
    fn len(self) -> usize {
        <[u8]>::len(self)
    }

    #[inline(always)]
    fn try_push(self, producer: &mut Producer, head: u64, ticks: u64) -> Result<(), PushError> {
        producer.try_push_bytes(head, ticks, self)
    }

    fn fill(self, dst: &mut [u8]) {
        dst.copy_from_slice(self);
    }
}

/// Pushes a record (`head`, `ticks`, then `body`) into this thread's lane for `shared`:
/// [`with_lane`] and [`LocalLane::push`] without their closures, so that a sample, a packed
/// event or a `tracing` event is straight-line code where it is called (the closures were
/// calls, with their captures passed through memory). Anything but the plain case (no lane
/// yet, a full ring, a stopping instance) goes the general way, out of line.
#[inline(always)]
pub(crate) fn push_record<B: Body>(
    shared: &Arc<Shared>,
    head: u64,
    ticks: u64,
    body: B,
    truncated: bool,
) {
    let (id, lane) = LAST.get();
    if id == shared.id && !BUSY.get() {
        BUSY.set(true);
        let _lent = Lent;
        // SAFETY: as in `with_lane`: `LAST` points at a live lane of this thread, and `BUSY`
        // was clear, so this is the only reference to it until `_lent` clears it.
        let lane = unsafe { &mut *lane };
        if !shared.is_stopping() && body.try_push(&mut lane.producer, head, ticks).is_ok() {
            lane.accepted_one(truncated);
            return;
        }
        return lane.push_record_slow(shared, head, ticks, body, truncated);
    }
    push_record_cold(shared, head, ticks, body, truncated);
}

/// [`push_record`] on a thread whose last lane is another instance's (or none).
#[cold]
#[inline(never)]
fn push_record_cold<B: Body>(
    shared: &Arc<Shared>,
    head: u64,
    ticks: u64,
    body: B,
    truncated: bool,
) {
    let pushed = with_lane_slow(shared, |lane| {
        lane.push_record_slow(shared, head, ticks, body, truncated)
    });
    if pushed.is_none() {
        shared.unattributed_drops.fetch_add(1, Relaxed);
    }
}

#[cold]
#[inline(never)]
fn with_lane_slow<R>(shared: &Arc<Shared>, f: impl FnOnce(&mut LocalLane) -> R) -> Option<R> {
    if BUSY.get() {
        return None;
    }
    LANES
        .try_with(|lanes| {
            let mut list = lanes.list.try_borrow_mut().ok()?;
            let found = list.iter().copied().find(|l| {
                // SAFETY: a live lane of this thread (see `Lanes`); `BUSY` is clear, so no
                // `&mut` to any lane is live.
                unsafe { l.as_ref() }.instance_id == shared.id
            });
            let lane = match found {
                Some(l) => l,
                // A stopped instance's collector is gone: a new lane would never be drained
                // or retired. The caller counts the call as dropped.
                None if shared.is_stopping() => return None,
                None => register(shared, &mut list),
            };
            drop(list);
            LAST.set((shared.id, lane.as_ptr()));
            BUSY.set(true);
            let _lent = Lent;
            // SAFETY: a live lane of this thread, freed only with the list's borrow held and
            // never while `BUSY` is set (no code path frees lanes from inside `f`: `register`
            // runs only here, before `BUSY` is set); `BUSY` makes this the only `&mut`.
            Some(f(unsafe { &mut *lane.as_ptr() }))
        })
        .ok()
        .flatten()
}

fn register(shared: &Arc<Shared>, lanes: &mut Vec<NonNull<LocalLane>>) -> NonNull<LocalLane> {
    // Lanes of stopped instances would only hold memory: drop them (their rings go with the
    // collector that owned the other half). `LAST` may point at one of them: forget it first.
    LAST.set((0, ptr::null_mut()));
    Lanes::retain(lanes, |l| {
        l.instance.upgrade().is_some_and(|s| !s.is_stopping())
    });
    let (producer, consumer) = ring::ring(shared.config.ring_capacity);
    let lane_shared = Arc::new(LaneShared {
        thread: ThreadInfo {
            index: shared.next_thread_index(),
            name: std::thread::current().name().map(str::to_owned),
        },
        capacity: producer.capacity(),
        accepted: producer.published(),
        counters: CachePadded::new(LaneCounters::default()),
        drops: CachePadded::new(DropCounters::default()),
        high_water: CachePadded::new(AtomicU64::new(0)),
        consumed: CachePadded::new(AtomicU64::new(0)),
    });
    shared.adopt_lane(CollectorLane {
        consumer,
        shared: lane_shared.clone(),
        reported_drops: 0,
        consumed: 0,
    });
    let lane = NonNull::from(Box::leak(Box::new(LocalLane {
        instance_id: shared.id,
        instance: Arc::downgrade(shared),
        producer,
        shared: lane_shared,
        backpressure: shared.config.backpressure,
        max_str: shared.config.max_string_len,
        dropped: 0,
        oversized: 0,
        truncated: 0,
        timed_out: 0,
        audit_dropped: 0,
        names: NameCache::default(),
    })));
    lanes.push(lane);
    lane
}

impl LocalLane {
    /// The largest payload this lane's ring can ever take (half the ring, less a frame
    /// header).
    #[inline]
    pub(crate) fn max_payload(&self) -> usize {
        self.producer.capacity() / 2 - ring::HEADER
    }

    /// Pushes one record of `len` payload bytes written by `fill` (which returns whether it
    /// truncated a string). `must_deliver` records wait for room whatever the policy.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        shared: &Shared,
        len: usize,
        must_deliver: bool,
        mut fill: impl FnMut(&mut [u8]) -> bool,
    ) {
        if shared.is_stopping() {
            return self.count_drop();
        }
        match self.producer.try_push(len, &mut fill) {
            Ok(truncated) => self.accepted_one(truncated),
            Err(e) => self.push_slow(shared, len, must_deliver, fill, e),
        }
    }

    /// [`push_record`]'s record through the general [`LocalLane::push`] (waits, drops,
    /// counts).
    #[cold]
    #[inline(never)]
    fn push_record_slow<B: Body>(
        &mut self,
        shared: &Shared,
        head: u64,
        ticks: u64,
        body: B,
        truncated: bool,
    ) {
        self.push(shared, 16 + body.len(), false, |b| {
            let (h, rest) = b.split_at_mut(16);
            h[..8].copy_from_slice(&head.to_le_bytes());
            h[8..].copy_from_slice(&ticks.to_le_bytes());
            body.fill(rest);
            truncated
        });
    }

    /// Counts what the ring does not: a record accepted with a string cut short.
    #[inline(always)]
    fn accepted_one(&mut self, truncated: bool) {
        if truncated {
            self.truncated += 1;
            self.shared
                .counters
                .truncated
                .store(self.truncated, Relaxed);
        }
    }

    /// The ring was full or the record too large: wait (`Block`, or `must_deliver`) for at
    /// most `block_timeout`, drop and count (`Drop`, or the wait ran out), or refuse and count
    /// (too large).
    #[cold]
    #[inline(never)]
    fn push_slow(
        &mut self,
        shared: &Shared,
        len: usize,
        must_deliver: bool,
        mut fill: impl FnMut(&mut [u8]) -> bool,
        first: PushError,
    ) {
        // A full ring means the collector may be in a long idle sleep: wake it, once per push
        // that finds the ring full (a syscall, but only on this already-slow path).
        let mut woke = false;
        let mut spins = 0u32;
        // When the waiting began (read only once spinning gave up: a clock read on this
        // already-slow path, no syscall).
        let mut waiting_since: Option<Instant> = None;
        let mut result = Err(first);
        loop {
            match result {
                Ok(truncated) => return self.accepted_one(truncated),
                Err(PushError::TooLarge) => {
                    self.oversized += 1;
                    self.shared.drops.oversized.store(self.oversized, Relaxed);
                    return self.count_drop();
                }
                Err(PushError::Full) => {
                    if !woke {
                        woke = true;
                        shared.wake_collector();
                    }
                    if !must_deliver && self.backpressure == Backpressure::Drop {
                        return self.count_drop();
                    }
                    // The collector itself (an alert logged from its tick) must never wait
                    // for room in a ring that only it drains: drop, counted.
                    if spins == 0 && shared.on_collector_thread() {
                        return self.count_drop();
                    }
                    // Block: spin briefly, then yield the core to the collector, for at most
                    // `block_timeout`: a collector stuck in a sink must not stop the engine.
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        if shared.is_stopping() {
                            return self.count_drop();
                        }
                        let since = *waiting_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= shared.config.block_timeout {
                            return self.count_timeout(must_deliver);
                        }
                        std::thread::yield_now();
                    }
                }
            }
            result = self.producer.try_push(len, &mut fill);
        }
    }

    /// A record given up after `block_timeout` (an audit record if `audit`).
    #[cold]
    fn count_timeout(&mut self, audit: bool) {
        self.timed_out += 1;
        self.shared.drops.timed_out.store(self.timed_out, Relaxed);
        if audit {
            self.audit_dropped += 1;
            self.shared
                .drops
                .audit_dropped
                .store(self.audit_dropped, Relaxed);
        }
        self.count_drop();
    }

    #[inline]
    fn count_drop(&mut self) {
        self.dropped += 1;
        // Release: a collector that sees this count also sees every record accepted before
        // the drop, so the `Dropped` notice never overtakes them.
        self.shared.drops.dropped.store(self.dropped, Release);
    }
}

#[cfg(test)]
mod tests;
