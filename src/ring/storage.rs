//! The ring's backing memory: a heap block of 8-byte words handed out as byte slices.
//!
//! Words rather than bytes so that every record starts 8-byte aligned (the header is read as
//! one `u64`) and so that, under loom, each word is a separate tracked cell: the model checker
//! then reports a race if the producer and the consumer ever touch the same word at once.

#[cfg(not(loom))]
mod imp {
    use std::ptr::NonNull;

    /// Owned, zero-initialised memory of `words * 8` bytes.
    pub(crate) struct Storage {
        ptr: NonNull<u64>,
        words: usize,
    }

    // SAFETY: `Storage` owns its allocation like a `Box<[u64]>`; moving it to another thread
    // moves that ownership. Concurrent access is coordinated by the ring's head/tail protocol,
    // which is why every accessor is `unsafe`.
    unsafe impl Send for Storage {}
    // SAFETY: shared references only give out memory through the `unsafe` accessors below,
    // whose callers guarantee that producer and consumer never touch overlapping bytes at once.
    unsafe impl Sync for Storage {}

    impl Storage {
        pub(crate) fn new(bytes: usize) -> Self {
            assert!(
                bytes.is_power_of_two() && bytes >= 8,
                "ring storage is a power of two"
            );
            let words = bytes / 8;
            let boxed: Box<[u64]> = vec![0u64; words].into_boxed_slice();
            let raw = Box::into_raw(boxed) as *mut u64;
            // A zeroed allocation of this size is lazily mapped: the first write to each page
            // would fault (~1-2 us) on the hot path. Touch every page now, so that creating a
            // lane (`preallocate()`) really is the last slow step. Volatile: the compiler may
            // not drop a write of the zero that is already there.
            for word in (0..words).step_by(4096 / 8) {
                // SAFETY: `word < words`, inside the allocation we own; nobody else sees it yet.
                unsafe { raw.add(word).write_volatile(0) };
            }
            // SAFETY: `Box::into_raw` never returns null.
            let ptr = unsafe { NonNull::new_unchecked(raw) };
            Self { ptr, words }
        }

        /// Writes `len` bytes at byte offset `off` through `f`.
        ///
        /// # Safety
        /// `off` is 8-aligned, `off + len <= capacity`, and the consumer is not reading these
        /// bytes (they lie outside `[head, tail)`), nor is anyone else writing them.
        #[inline(always)]
        pub(crate) unsafe fn write_with<R>(
            &self,
            off: usize,
            len: usize,
            f: impl FnOnce(&mut [u8]) -> R,
        ) -> R {
            debug_assert!(off.is_multiple_of(8) && off + len <= self.words * 8);
            // SAFETY: in bounds by the caller's contract; the memory is initialised (zeroed at
            // allocation, then only ever written with bytes) and exclusively ours for the call.
            let slice = unsafe {
                std::slice::from_raw_parts_mut((self.ptr.as_ptr() as *mut u8).add(off), len)
            };
            f(slice)
        }

        /// Writes one header word at byte offset `off`.
        ///
        /// # Safety
        /// As for [`Storage::write_with`] with `len == 8`.
        #[inline(always)]
        pub(crate) unsafe fn write_word(&self, off: usize, value: u64) {
            debug_assert!(off.is_multiple_of(8) && off + 8 <= self.words * 8);
            // SAFETY: aligned (the block is `u64`s and `off` is a multiple of 8), in bounds and
            // exclusively ours by the caller's contract.
            unsafe { self.ptr.as_ptr().add(off / 8).write(value.to_le()) }
        }

        /// Writes a frame of whole words at byte offset `off`: `prefix` (the frame header
        /// and the record's first words), then `body`. One load of the buffer's address for
        /// the whole frame (separate word writes through `&self` each reloaded it: the
        /// compiler cannot tell the ring's memory from the structure that points to it).
        ///
        /// # Safety
        /// As for [`Storage::write_with`] with `len == 8 * (3 + N)`.
        #[inline(always)]
        pub(crate) unsafe fn write_frame<const N: usize>(
            &self,
            off: usize,
            prefix: [u64; 3],
            body: &[u64; N],
        ) {
            debug_assert!(off.is_multiple_of(8) && off + 8 * (3 + N) <= self.words * 8);
            // SAFETY: aligned (the block is `u64`s and `off` is a multiple of 8), in bounds and
            // exclusively ours by the caller's contract.
            unsafe {
                let p = self.ptr.as_ptr().add(off / 8);
                p.write(prefix[0].to_le());
                p.add(1).write(prefix[1].to_le());
                p.add(2).write(prefix[2].to_le());
                for (i, w) in body.iter().enumerate() {
                    p.add(3 + i).write(w.to_le());
                }
            }
        }

        /// Asks the CPU to fetch the cache line holding byte `off` (less than the capacity)
        /// for writing: x86-64's `prefetchw`; elsewhere nothing. A hint only: it reads and
        /// writes nothing and cannot fault.
        ///
        /// Inline assembly, not `_mm_prefetch::<_MM_HINT_ET0>`: without the `prfchw` target
        /// feature (not in the x86-64 baseline) that intrinsic compiles to `prefetcht0`, a
        /// prefetch for *reading*, which leaves a line the collector has read in the shared
        /// state, so the write still pays the round trip this exists to avoid.
        #[inline(always)]
        pub(crate) fn prefetch_write(&self, off: usize) {
            debug_assert!(off < self.words * 8);
            #[cfg(all(target_arch = "x86_64", not(miri)))]
            // SAFETY: `prefetchw` makes no architectural memory access: it cannot fault or
            // race, so even an address outside the buffer would be harmless (`wrapping_add`
            // computes it without claiming it is in bounds). Declared `readonly`, the weakest
            // memory claim that covers a hint; it touches no flags and no stack. CPUs without
            // it (before Broadwell) execute the encoding as a NOP.
            unsafe {
                let p = self.ptr.as_ptr().cast::<u8>().wrapping_add(off);
                core::arch::asm!(
                    "prefetchw byte ptr [{p}]",
                    p = in(reg) p,
                    options(nostack, readonly, preserves_flags)
                );
            }
            #[cfg(not(all(target_arch = "x86_64", not(miri))))]
            let _ = off;
        }

        /// A view of the bytes `[off, off + len)`.
        ///
        /// # Safety
        /// The range is in bounds, was published by the producer (inside `[head, tail)` as seen
        /// with acquire ordering) and stays unwritten while the view is read ([`bytes`]),
        /// that is until the consumer releases it.
        #[inline(always)]
        pub(crate) unsafe fn read(&self, off: usize, len: usize) -> View<'_> {
            debug_assert!(off + len <= self.words * 8);
            View {
                // SAFETY: `off <= capacity` by the caller's contract: in (or one past) the block.
                ptr: unsafe { (self.ptr.as_ptr() as *const u8).add(off) },
                len,
                _ring: std::marker::PhantomData,
            }
        }
    }

    impl Drop for Storage {
        fn drop(&mut self) {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.words);
            // SAFETY: `ptr`/`words` came from `Box::<[u64]>::into_raw` in `new` and are freed once.
            drop(unsafe { Box::from_raw(slice) });
        }
    }

    /// What a read hands out: a pointer and a length into the ring memory, not a reference.
    ///
    /// Why not `&[u8]`: a chunk holding a reference would keep it alive (and, passed by value
    /// to `drop`, protected) while its `Drop` releases the space to the producer, who may then
    /// write those bytes; Miri's Stacked Borrows reports exactly that as undefined behaviour.
    /// A raw view is turned into a slice only for the duration of a borrow of the chunk.
    pub(crate) struct View<'a> {
        ptr: *const u8,
        len: usize,
        _ring: std::marker::PhantomData<&'a [u8]>,
    }

    impl View<'_> {
        pub(crate) fn len(&self) -> usize {
            self.len
        }
    }

    /// The bytes of a view, for as long as the view is borrowed.
    #[inline(always)]
    pub(crate) fn bytes<'b>(v: &'b View<'_>) -> &'b [u8] {
        // SAFETY: `Storage::read`'s contract: in bounds, published and unwritten until the
        // chunk owning `v` releases the space, which it cannot do while `v` is borrowed.
        unsafe { std::slice::from_raw_parts(v.ptr, v.len) }
    }
}

#[cfg(loom)]
mod imp {
    use loom::cell::UnsafeCell;

    /// Loom version: one tracked cell per word; reads and writes copy through a buffer.
    pub(crate) struct Storage {
        cells: Box<[UnsafeCell<u64>]>,
    }

    // SAFETY: as in the std build: ownership of the cells moves with the value.
    unsafe impl Send for Storage {}
    // SAFETY: as in the std build: concurrent access is coordinated by the ring protocol, and
    // here loom checks that claim on every access.
    unsafe impl Sync for Storage {}

    impl Storage {
        pub(crate) fn new(bytes: usize) -> Self {
            Self {
                cells: (0..bytes / 8).map(|_| UnsafeCell::new(0)).collect(),
            }
        }

        /// # Safety
        /// As in the std build.
        pub(crate) unsafe fn write_with<R>(
            &self,
            off: usize,
            len: usize,
            f: impl FnOnce(&mut [u8]) -> R,
        ) -> R {
            let words = len.div_ceil(8);
            let mut buf = vec![0u8; words * 8];
            let r = f(&mut buf[..len]);
            for (i, chunk) in buf.chunks_exact(8).enumerate() {
                let w = u64::from_le_bytes(chunk.try_into().unwrap());
                // SAFETY: loom checks the claim that nobody else accesses this cell now.
                self.cells[off / 8 + i].with_mut(|p| unsafe { *p = w });
            }
            r
        }

        /// # Safety
        /// As in the std build.
        pub(crate) unsafe fn write_frame<const N: usize>(
            &self,
            off: usize,
            prefix: [u64; 3],
            body: &[u64; N],
        ) {
            for (i, &w) in prefix.iter().chain(body).enumerate() {
                // SAFETY: as the caller's contract says, for each word in turn.
                unsafe { self.write_word(off + 8 * i, w) };
            }
        }

        /// A hint in the std build; nothing under loom.
        pub(crate) fn prefetch_write(&self, _off: usize) {}

        /// # Safety
        /// As in the std build.
        pub(crate) unsafe fn write_word(&self, off: usize, value: u64) {
            // SAFETY: loom checks the claim that nobody else accesses this cell now.
            self.cells[off / 8].with_mut(|p| unsafe { *p = value.to_le() });
        }

        /// # Safety
        /// As in the std build.
        pub(crate) unsafe fn read(&self, off: usize, len: usize) -> Vec<u8> {
            let mut out = Vec::with_capacity(len.div_ceil(8) * 8);
            for i in 0..len.div_ceil(8) {
                // SAFETY: loom checks the claim that nobody writes this cell now.
                let w = self.cells[off / 8 + i].with(|p| unsafe { *p });
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.truncate(len);
            out
        }
    }

    /// What a read hands out: a copy (loom cannot hand out references into its cells).
    pub(crate) type View<'a> = Vec<u8>;

    /// The bytes of a view.
    pub(crate) fn bytes<'b>(v: &'b View<'_>) -> &'b [u8] {
        v.as_slice()
    }
}

pub(crate) use imp::{bytes, Storage, View};
