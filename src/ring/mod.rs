//! The single-producer single-consumer byte ring that carries records from a trading thread to
//! the collector, and the registry of those rings.
//!
//! # Contract
//!
//! * Exactly one [`Producer`] and one [`Consumer`] exist per ring; neither is `Clone`, and each
//!   needs `&mut self` to move data, so the type system enforces "single" on both sides.
//! * The producer writes variable-length *frames*: an 8-byte header holding the payload
//!   length, then the payload, padded to a multiple of 8. A frame never straddles the end of
//!   the buffer: when it would not fit before the end, the producer writes a padding header
//!   and starts the frame at offset 0. So the consumer always sees each payload as one
//!   contiguous slice and the largest payload is a little under half the capacity.
//! * Positions are byte counts that only grow (`usize`, wrapping arithmetic); the offset in the
//!   buffer is `position & (capacity - 1)`, which is why the capacity is a power of two.
//! * The producer publishes with a release store of `tail`, the consumer releases space with
//!   a release store of `head`; each side reads the other's index (acquire) only when its
//!   cached copy says the ring looks full (producer) or empty (consumer). In steady state a
//!   push therefore touches only the producer's own cache line and the data.
//!
//! All of tickwatch's `unsafe` code lives in this module (and its `storage` child).

mod storage;
pub(crate) mod sync;

use crossbeam_utils::CachePadded;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use storage::Storage;
pub(crate) use storage::View;
use sync::{Arc, AtomicBool, AtomicU64, AtomicUsize};

/// Size of a frame header in bytes.
pub(crate) const HEADER: usize = 8;
/// Header value marking "skip to the end of the buffer".
const PAD: u64 = u64::MAX;
/// Smallest capacity accepted (bytes). Its largest payload is 24 bytes: one sample. Events
/// need larger rings (a three-field event is a 64-byte frame, so at least 128 bytes).
pub(crate) const MIN_CAPACITY: usize = 64;

/// How far ahead of its write position the producer asks for cache lines in the exclusive
/// state (`prefetchw`), in bytes. The collector reads every line the producer wrote, which
/// leaves the producer's copy shared: writing the line again a lap later first costs a
/// round trip to the other core (a "read for ownership", 50-100 ns on a virtual machine). A
/// burst of records after an idle spell used to pay that on every line, one after the other
/// (issue 14: `event!` at 45-110 ns instead of ~20). The collector never reads beyond the
/// write position, so a line prefetched here stays the producer's through any idle spell,
/// and during a burst the prefetch runs ahead of the writes.
const PREFETCH_AHEAD: usize = 1024;

/// Rounds a payload length up to the frame size it occupies (header included).
#[inline(always)]
pub(crate) const fn frame_len(payload: usize) -> usize {
    HEADER + ((payload + 7) & !7)
}

/// State shared by the two halves.
struct Ring {
    /// Bytes released by the consumer. Written by the consumer only; its own cache line.
    head: CachePadded<AtomicUsize>,
    /// What the producer has published. Written by the producer only; its own cache line.
    tail: CachePadded<Tail>,
    /// Set when the producer is dropped (its thread exited): once the ring is also empty the
    /// consumer can retire it.
    closed: AtomicBool,
    storage: Storage,
    capacity: usize,
}

/// The producer's line: the bytes it has published and, beside them, the records. The count
/// rides on the line every push writes anyway, so keeping the per-thread `accepted` count
/// exact costs no second line (it used to live in the lane's counters: one more line
/// written, through one more pointer, per record).
struct Tail {
    /// Bytes published (frames, headers and padding).
    bytes: AtomicUsize,
    /// Frames published: one per successful push.
    records: AtomicU64,
}

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Not enough free space now; may succeed after the consumer catches up.
    Full,
    /// The frame could never fit in this ring, however empty.
    TooLarge,
}

/// Creates a ring of `capacity` bytes (a power of two, at least [`MIN_CAPACITY`]).
pub(crate) fn ring(capacity: usize) -> (Producer, Consumer) {
    assert!(
        capacity.is_power_of_two() && capacity >= MIN_CAPACITY,
        "ring capacity must be a power of two >= {MIN_CAPACITY} (validated by the builder)"
    );
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(Tail {
            bytes: AtomicUsize::new(0),
            records: AtomicU64::new(0),
        }),
        closed: AtomicBool::new(false),
        storage: Storage::new(capacity),
        capacity,
    });
    (
        Producer {
            ring: ring.clone(),
            capacity,
            max_payload: capacity / 2 - HEADER,
            tail: 0,
            records: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
        },
    )
}

/// The writing half. Owned by exactly one thread.
pub(crate) struct Producer {
    ring: Arc<Ring>,
    /// A copy of `ring.capacity`, so the fast path does not go through the `Arc`.
    capacity: usize,
    /// The largest payload a frame can carry (`capacity / 2 - HEADER`), kept so that the
    /// fast path's size check is one compare.
    max_payload: usize,
    /// Our own copy of `ring.tail.bytes` (we are its only writer).
    tail: usize,
    /// Our own copy of `ring.tail.records`.
    records: u64,
    /// The last `ring.head` we read; the true head is never behind it.
    cached_head: usize,
}

impl Producer {
    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest payload [`Producer::try_push`] can ever accept.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// How many records this producer has published, readable from any thread.
    pub(crate) fn published(&self) -> Published {
        Published(self.ring.clone())
    }

    /// Reserves a frame for `len` payload bytes: the offset of its header and the bytes the
    /// frame takes (with the padding to the buffer's end, if it wraps). Writes the padding
    /// marker if it wraps; the caller writes the header (`len`) and exactly `len` payload
    /// bytes after it, then calls [`Producer::publish`].
    #[inline(always)]
    fn reserve(&mut self, len: usize) -> Result<(usize, usize), PushError> {
        let cap = self.capacity;
        if len > self.max_payload {
            return Err(PushError::TooLarge);
        }
        let need = frame_len(len);
        let off = self.tail & (cap - 1);
        let to_end = cap - off;
        // A frame that would straddle the end costs the rest of the buffer as padding.
        let total = if need <= to_end { need } else { to_end + need };
        if self.tail.wrapping_add(total).wrapping_sub(self.cached_head) > cap {
            // Looks full: only now read the consumer's line.
            self.cached_head = self.ring.head.load(Acquire);
            if self.tail.wrapping_add(total).wrapping_sub(self.cached_head) > cap {
                return Err(PushError::Full);
            }
        }
        if need > to_end {
            // SAFETY: `off` is 8-aligned and `off + 8 <= cap` (to_end >= 8 as both are multiples
            // of 8 and off < cap); the space check above shows `[tail, tail + total)` is free,
            // so the consumer is not reading it.
            unsafe { self.ring.storage.write_word(off, PAD) };
            return Ok((0, total));
        }
        Ok((off, total))
    }

    /// Publishes the frame [`Producer::reserve`] returned once it is written.
    #[inline(always)]
    fn publish(&mut self, total: usize) {
        self.tail = self.tail.wrapping_add(total);
        self.records += 1;
        let tail = &self.ring.tail;
        // Publish: the consumer's acquire load of `bytes` makes the bytes written visible.
        tail.bytes.store(self.tail, Release);
        // Read only by `stats()`, which needs no ordering with the data.
        tail.records.store(self.records, Relaxed);
        // Own the lines the next records will be written to before they are needed (see
        // `PREFETCH_AHEAD`).
        self.ring
            .storage
            .prefetch_write(self.tail.wrapping_add(PREFETCH_AHEAD) & (self.capacity - 1));
    }

    /// Reserves a frame for `len` payload bytes, lets `fill` write them, and publishes it.
    ///
    /// `fill` receives exactly `len` bytes (their previous contents are unspecified) and must
    /// write all of them. If `fill` panics nothing is published.
    #[inline(always)]
    pub(crate) fn try_push<R>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, PushError> {
        let (at, total) = self.reserve(len)?;
        // SAFETY: `reserve` gave `[at, at + 8 + len)`: 8-aligned, in the buffer, free, and
        // ours alone (`len <= cap / 2 - 8` and the frame does not straddle the end).
        let r = unsafe {
            self.ring.storage.write_word(at, len as u64);
            self.ring.storage.write_with(at + HEADER, len, fill)
        };
        self.publish(total);
        Ok(r)
    }

    /// Pushes a record of two words, `head` and `ticks`, then the bytes `body`: an event
    /// whose values were encoded ahead of it (the `tracing` layer's), with no closure.
    #[cfg(feature = "tracing")]
    #[inline(always)]
    pub(crate) fn try_push_bytes(
        &mut self,
        head: u64,
        ticks: u64,
        body: &[u8],
    ) -> Result<(), PushError> {
        let len = 16 + body.len();
        let (at, total) = self.reserve(len)?;
        // SAFETY: `reserve` gave `[at, at + 8 + len)`: 8-aligned, in the buffer, free, and
        // ours alone. The frame header and the two words take its first 24 bytes; the body
        // the `len - 16` after them, from the 8-aligned `at + 24`.
        unsafe {
            self.ring
                .storage
                .write_frame(at, [len as u64, head, ticks], &[]);
            self.ring
                .storage
                .write_with(at + HEADER + 16, body.len(), |b| b.copy_from_slice(body));
        }
        self.publish(total);
        Ok(())
    }

    /// Pushes a record of whole words, `head`, `ticks`, then `body`, with no closure and no
    /// per-byte bounds checks: samples and packed events, whose size is a constant where
    /// this is inlined. The frame (header included) is one write through one pointer.
    #[inline(always)]
    pub(crate) fn try_push_words<const N: usize>(
        &mut self,
        head: u64,
        ticks: u64,
        body: &[u64; N],
    ) -> Result<(), PushError> {
        let len = 16 + 8 * N;
        let (at, total) = self.reserve(len)?;
        // SAFETY: `reserve` gave `[at, at + 8 + len)`: 8-aligned, in the buffer, free, and
        // ours alone.
        unsafe {
            self.ring
                .storage
                .write_frame(at, [len as u64, head, ticks], body)
        };
        self.publish(total);
        Ok(())
    }
}

/// How many records a ring's producer has published, for `stats()` (a handle on the ring
/// that reads the producer's count and nothing else).
#[derive(Clone)]
pub(crate) struct Published(Arc<Ring>);

impl Published {
    /// Records published so far (exact for the producer's own thread; from others, as of
    /// some recent push).
    pub(crate) fn records(&self) -> u64 {
        self.0.tail.records.load(Relaxed)
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Release: everything published before is visible to a consumer that sees `closed`.
        self.ring.closed.store(true, Release);
    }
}

/// The reading half. Owned by the collector.
pub(crate) struct Consumer {
    ring: Arc<Ring>,
    /// Our own copy of `ring.head`.
    head: usize,
    /// The last `ring.tail` we read; the true tail is never behind it.
    cached_tail: usize,
}

impl Consumer {
    /// True once the producer is gone. Check [`Consumer::read`] afterwards: records published
    /// before the producer dropped are still there until read.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.ring.closed.load(Acquire)
    }

    /// Bytes published and not yet released (exact for this side at the time of the call).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn fill(&self) -> usize {
        self.ring.tail.bytes.load(Acquire).wrapping_sub(self.head)
    }

    /// Everything published so far, as one chunk, or `None` when the ring is empty.
    /// The space is released when the chunk is dropped.
    pub(crate) fn read(&mut self) -> Option<Chunk<'_>> {
        if self.cached_tail == self.head {
            // Looks empty: only now read the producer's line.
            self.cached_tail = self.ring.tail.bytes.load(Acquire);
            if self.cached_tail == self.head {
                return None;
            }
        }
        let cap = self.ring.capacity;
        let len = self.cached_tail.wrapping_sub(self.head);
        let off = self.head & (cap - 1);
        let first_len = len.min(cap - off);
        // SAFETY: `[head, cached_tail)` was published (acquire load of `tail`) and the producer
        // does not write it again until we advance `head`, which happens in `Chunk::drop`,
        // after these views are gone (they borrow the chunk, which borrows us mutably).
        let (first, second) = unsafe {
            (
                self.ring.storage.read(off, first_len),
                self.ring.storage.read(0, len - first_len),
            )
        };
        Some(Chunk {
            first,
            second,
            end: self.cached_tail,
            consumer_head: &mut self.head,
            ring: &self.ring,
        })
    }
}

/// A run of published frames, in order. Releases its space on drop.
pub(crate) struct Chunk<'a> {
    first: View<'a>,
    second: View<'a>,
    end: usize,
    consumer_head: &'a mut usize,
    ring: &'a Ring,
}

impl Chunk<'_> {
    /// Bytes covered (frames, headers and padding): the ring's fill when it was read.
    pub(crate) fn byte_len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// The payloads in this chunk, in the order they were pushed.
    pub(crate) fn frames(&self) -> Frames<'_> {
        Frames {
            rest: storage::bytes(&self.first),
            next: storage::bytes(&self.second),
        }
    }
}

impl Drop for Chunk<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The consumer is unwinding mid-batch: the chunk was not (wholly) handled, so it
            // stays in the ring, and the collector's restart reads it again (at least once,
            // never lost).
            return;
        }
        *self.consumer_head = self.end;
        // Release: our reads of the chunk happen before the producer reuses the space.
        self.ring.head.store(self.end, Release);
    }
}

/// Iterator over the payloads of a [`Chunk`].
#[derive(Clone, Default)]
pub(crate) struct Frames<'a> {
    rest: &'a [u8],
    next: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.len() < HEADER {
                // A segment ends exactly at the buffer end or at the tail; move to the next one.
                if self.next.is_empty() {
                    return None;
                }
                self.rest = std::mem::take(&mut self.next);
                continue;
            }
            let header = u64::from_le_bytes(self.rest[..HEADER].try_into().ok()?);
            if header == PAD {
                self.rest = &[];
                continue;
            }
            // The producer wrote `header`; a value that does not fit means memory corruption,
            // so stop rather than read past what was published.
            let len = usize::try_from(header).ok()?;
            let framed = frame_len(len);
            if framed > self.rest.len() {
                self.rest = &[];
                self.next = &[];
                return None;
            }
            let payload = &self.rest[HEADER..HEADER + len];
            self.rest = &self.rest[framed..];
            return Some(payload);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model checks of the index protocol: every interleaving of one producer and one consumer
    //! on a tiny ring, through wrap-around, padding, full and empty.
    use super::*;

    fn push(p: &mut Producer, v: u8, len: usize) -> Result<(), PushError> {
        p.try_push(len, |b| b.fill(v))
    }

    fn pop_all(c: &mut Consumer, out: &mut Vec<(u8, usize)>) {
        if let Some(chunk) = c.read() {
            for f in chunk.frames() {
                assert!(f.iter().all(|&b| b == f[0]), "torn frame");
                out.push((f[0], f.len()));
            }
        }
    }

    /// Producer pushes three frames of mixed sizes into a 64-byte ring (so it fills and wraps
    /// with padding); consumer drains concurrently. Everything arrives once, in order, intact.
    #[test]
    fn loom_push_pop_wrap_full_empty() {
        loom::model(|| {
            let (mut p, mut c) = ring(64);
            let sizes = [16usize, 8, 24];
            let h = loom::thread::spawn(move || {
                for (i, &len) in sizes.iter().enumerate() {
                    while push(&mut p, i as u8 + 1, len) == Err(PushError::Full) {
                        sync::spin_hint();
                    }
                }
            });
            let mut out = Vec::new();
            while out.len() < 3 {
                pop_all(&mut c, &mut out);
                if out.len() < 3 {
                    sync::spin_hint();
                }
            }
            h.join().unwrap();
            assert_eq!(out, vec![(1, 16), (2, 8), (3, 24)]);
            assert!(c.read().is_none());
        });
    }

    /// A full ring refuses; after the consumer releases, the producer sees the space.
    #[test]
    fn loom_full_then_release() {
        loom::model(|| {
            let (mut p, mut c) = ring(64);
            push(&mut p, 1, 24).unwrap();
            push(&mut p, 2, 24).unwrap();
            let h = loom::thread::spawn(move || {
                let mut out = Vec::new();
                pop_all(&mut c, &mut out);
                out
            });
            let r = push(&mut p, 3, 8);
            let out = h.join().unwrap();
            assert_eq!(out, vec![(1, 24), (2, 24)]);
            // Either the consumer had released before the push looked, or the push was refused.
            assert!(r.is_ok() || r == Err(PushError::Full));
        });
    }

    /// Dropping the producer publishes `closed` after its last frame.
    #[test]
    fn loom_abandon_after_last_frame() {
        loom::model(|| {
            let (mut p, mut c) = ring(64);
            let h = loom::thread::spawn(move || {
                push(&mut p, 5, 8).unwrap();
                drop(p);
            });
            loop {
                if c.is_abandoned() {
                    let mut out = Vec::new();
                    pop_all(&mut c, &mut out);
                    assert_eq!(out, vec![(5, 8)]);
                    break;
                }
                sync::spin_hint();
            }
            h.join().unwrap();
        });
    }
}
