//! Timestamps: a raw tick counter on the hot path, converted to wall-clock time on the
//! collector.
//!
//! On x86-64 with an invariant TSC (constant rate, not stopped in sleep states, synchronised
//! across cores: CPUID leaf 0x8000_0007, EDX bit 8) a tick is one `rdtsc`: ~15 ns in a tight
//! loop on the development VM, far less when overlapped with other work, and no syscall.
//! Elsewhere (and under Miri) a tick is a nanosecond of `Instant` (the vDSO monotonic clock)
//! since the process first asked.
//!
//! # Conversion
//!
//! Conversion is piecewise linear and done in integers: each segment holds an anchor
//! `(ticks, unix nanos)` and a slope in nanoseconds per tick as a 32.32 fixed-point number,
//! so `ns = anchor_ns + ((ticks - anchor_ticks) * mult) >> 32` with a 128-bit product. The
//! result is exact to within 1 ns of the segment's line, so two readings at least one
//! nanosecond's worth of ticks apart (2 ticks at the 2 GHz TSC here) always convert to
//! distinct nanoseconds, and the mapping never decreases. (The earlier `f64` of absolute
//! Unix nanoseconds had 52 bits of mantissa for a 61-bit number: it rounded to 256 ns.)
//!
//! The slope starts from a 2 ms calibration against the monotonic clock. The collector calls
//! [`Clock::maybe_refine`] on every pass, busy or idle; at most every
//! [`REFINE_INTERVAL`] it re-measures the slope over the whole baseline since start and also
//! slews away the converted time's offset from the monotonic clock, correcting it over the
//! next interval with a slope change of at most [`MAX_SLEW_PPM`]. Each refinement starts a
//! new segment at the current point on the old line, so converted times stay continuous and
//! monotonic; the last [`SEGMENTS`] segments are kept for records read late.
//!
//! # Ordering across threads
//!
//! `rdtsc` is not a serialising instruction: the CPU may execute it before earlier loads and
//! stores have completed, or after later ones have started. Two threads' readings therefore
//! order like their memory operations only up to the reordering window (tens of
//! nanoseconds): a record that another thread could only have produced after seeing this
//! thread's store can carry a timestamp a few tens of nanoseconds earlier. On one thread the
//! readings never go backwards. Ordering them would cost a fence per reading: `lfence; rdtsc`
//! or `rdtscp` about doubles a reading's cost, `mfence; rdtsc` more than triples it
//! (`cargo bench --bench clock` measures all of them against `Instant::now` in one run). The
//! hot path takes the plain reading; per-thread order is kept by the ring, not the clock.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MODE_UNSET: u8 = 0;
const MODE_TSC: u8 = 1;
const MODE_MONOTONIC: u8 = 2;

/// How often the collector refines the slope (checked on every pass, done at most this often).
pub(crate) const REFINE_INTERVAL: Duration = Duration::from_secs(1);

/// The largest slope change a refinement adds to correct the converted time's offset, in
/// parts per million (0.05 %: 500 µs per second).
pub(crate) const MAX_SLEW_PPM: u64 = 500;

/// Segments kept for records read after a refinement.
pub(crate) const SEGMENTS: usize = 4;

/// Fixed-point shift of a segment's slope.
const SHIFT: u32 = 32;

/// Which tick source `now_ticks` uses; chosen once by [`Clock::global`].
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The current tick count. Hot path: no syscall, no lock.
#[inline(always)]
pub(crate) fn now_ticks() -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if MODE.load(Relaxed) == MODE_TSC {
        // SAFETY: `rdtsc` has no preconditions; MODE_TSC is only set after CPUID reported an
        // invariant TSC on this machine.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_ticks()
}

#[inline(never)]
fn monotonic_ticks() -> u64 {
    let anchor = ANCHOR.get_or_init(Instant::now);
    u64::try_from(anchor.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    let max_ext = __cpuid(0x8000_0000).eax;
    max_ext >= 0x8000_0007 && (__cpuid(0x8000_0007).edx & (1 << 8)) != 0
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
fn invariant_tsc() -> bool {
    false
}

/// Nanoseconds since the Unix epoch now. Under Miri (isolated: no real-time clock) a fixed
/// epoch, 2026-01-01T00:00:00Z, advanced by the monotonic clock.
pub(crate) fn unix_now_ns() -> u64 {
    #[cfg(miri)]
    {
        1_767_225_600_000_000_000 + monotonic_ticks()
    }
    #[cfg(not(miri))]
    {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// `ns * 2^32 / ticks`, the fixed-point slope of `ns` nanoseconds over `ticks` ticks.
fn slope(ns: u128, ticks: u128) -> u64 {
    u64::try_from((ns << SHIFT) / ticks.max(1)).unwrap_or(u64::MAX)
}

/// One linear piece of the tick -> Unix-nanosecond mapping, in integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    ticks: u64,
    unix_ns: u64,
    /// Nanoseconds per tick, 32.32 fixed point.
    mult: u64,
}

impl Segment {
    /// The segment's value at `ticks` (before its anchor: extrapolated backwards, saturating).
    #[inline]
    fn at(&self, ticks: u64) -> u64 {
        if ticks >= self.ticks {
            let d = u128::from(ticks - self.ticks) * u128::from(self.mult);
            self.unix_ns
                .saturating_add(u64::try_from(d >> SHIFT).unwrap_or(u64::MAX))
        } else {
            // Round the step back up so a reading before the anchor never lands after a
            // reading at it.
            let d = u128::from(self.ticks - ticks) * u128::from(self.mult);
            let back = (d + (1u128 << SHIFT) - 1) >> SHIFT;
            self.unix_ns
                .saturating_sub(u64::try_from(back).unwrap_or(u64::MAX))
        }
    }
}

/// Calibration state shared by every instance in the process.
pub(crate) struct Clock {
    /// First sample: the long baseline that refinements measure against.
    base_ticks: u64,
    base_instant: Instant,
    base_unix_ns: u64,
    /// Newest first; a record uses the newest segment that starts at or before it.
    segments: Mutex<[Segment; SEGMENTS]>,
    /// Nanoseconds after `base_instant` at which the next refinement is due (an atomic so the
    /// check on every collector pass takes no lock).
    next_refine_ns: AtomicU64,
    refinements: AtomicU64,
    tsc: bool,
}

impl Clock {
    /// The process-wide clock, calibrated on first use (a 2 ms spin on TSC machines).
    pub(crate) fn global() -> &'static Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(Clock::calibrate)
    }

    fn calibrate() -> Clock {
        let tsc = invariant_tsc();
        // Whatever the source, pin the monotonic anchor before any tick is taken.
        let _ = monotonic_ticks();
        MODE.store(if tsc { MODE_TSC } else { MODE_MONOTONIC }, Relaxed);
        let (t0, i0) = (now_ticks(), Instant::now());
        let unix0 = unix_now_ns();
        let mult = if tsc {
            let spin = Duration::from_millis(2);
            while i0.elapsed() < spin {
                std::hint::spin_loop();
            }
            let (t1, i1) = (now_ticks(), Instant::now());
            slope(
                i1.duration_since(i0).as_nanos(),
                u128::from(t1.wrapping_sub(t0)),
            )
        } else {
            1 << SHIFT
        };
        let seg = Segment {
            ticks: t0,
            unix_ns: unix0,
            mult,
        };
        Clock {
            base_ticks: t0,
            base_instant: i0,
            base_unix_ns: unix0,
            segments: Mutex::new([seg; SEGMENTS]),
            next_refine_ns: AtomicU64::new(REFINE_INTERVAL.as_nanos() as u64),
            refinements: AtomicU64::new(0),
            tsc,
        }
    }

    /// Refines the slope when [`REFINE_INTERVAL`] has passed since the last refinement.
    /// Called by the collector on every pass: before it is due this is one atomic load and a
    /// comparison.
    pub(crate) fn maybe_refine(&self, now: Instant) {
        let since = u64::try_from(now.saturating_duration_since(self.base_instant).as_nanos())
            .unwrap_or(u64::MAX);
        if !self.tsc || since < self.next_refine_ns.load(Relaxed) {
            return;
        }
        self.refine();
    }

    /// Starts a new segment at the current point: the slope measured over the whole baseline,
    /// adjusted by at most [`MAX_SLEW_PPM`] to take the converted time's offset from the
    /// monotonic clock away over the next interval.
    fn refine(&self) {
        let (t, i) = (now_ticks(), Instant::now());
        let elapsed = i.saturating_duration_since(self.base_instant).as_nanos();
        self.next_refine_ns.store(
            u64::try_from(elapsed + REFINE_INTERVAL.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
        let measured = slope(elapsed, u128::from(t.wrapping_sub(self.base_ticks)));
        let truth = self
            .base_unix_ns
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX));
        let mut segs = self.segments.lock();
        let here = segs[0].at(t);
        // Correct the offset over the next interval: ahead -> slower, behind -> faster.
        let interval = REFINE_INTERVAL.as_nanos() as i128;
        let offset = i128::from(here) - i128::from(truth);
        let max_change = i128::from(measured) * i128::from(MAX_SLEW_PPM) / 1_000_000;
        let change = (-(i128::from(measured) * offset) / interval).clamp(-max_change, max_change);
        let mult = u64::try_from((i128::from(measured) + change).max(1)).unwrap_or(u64::MAX);
        segs.copy_within(0..SEGMENTS - 1, 1);
        segs[0] = Segment {
            ticks: t,
            unix_ns: here,
            mult,
        };
        drop(segs);
        self.refinements.fetch_add(1, Relaxed);
    }

    /// Refinements done so far.
    pub(crate) fn refinements(&self) -> u64 {
        self.refinements.load(Relaxed)
    }

    /// A copy of the current mapping, for converting a batch without taking the lock per record.
    pub(crate) fn conversion(&self) -> Conversion {
        Conversion {
            segments: *self.segments.lock(),
        }
    }

    /// What the tick source is and how fine it is.
    pub(crate) fn info(&self) -> ClockInfo {
        let mult = self.segments.lock()[0].mult;
        let ns_per_tick = mult as f64 / (1u64 << SHIFT) as f64;
        ClockInfo {
            source: if self.tsc { "rdtsc" } else { "monotonic" },
            ticks_per_second: 1e9 / ns_per_tick,
            tick_ns: ns_per_tick,
            resolution_ns: ns_per_tick * observed_step_ticks() as f64,
        }
    }
}

/// The step the tick counter actually advances by, in ticks: the greatest common divisor of
/// the differences between back-to-back readings. 1 on bare metal; a virtual machine may
/// scale or emulate the TSC so that it advances in coarser steps (on this project's KVM
/// development VM, 20 ticks), and then no reading can resolve less. Measured once.
fn observed_step_ticks() -> u64 {
    static STEP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *STEP.get_or_init(|| {
        const READS: usize = if cfg!(miri) { 64 } else { 4096 };
        let mut step = 0u64;
        let mut prev = now_ticks();
        for _ in 0..READS {
            let t = now_ticks();
            step = gcd(step, t.wrapping_sub(prev));
            prev = t;
            if step == 1 {
                break;
            }
        }
        step.max(1)
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The tick source behind every timestamp and latency, from [`clock_info`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClockInfo {
    /// `"rdtsc"` (an invariant TSC) or `"monotonic"` (`Instant`, nanoseconds).
    pub source: &'static str,
    /// Ticks per second as calibrated (the TSC's frequency).
    pub ticks_per_second: f64,
    /// Nanoseconds per tick, nominal (`1e9 / ticks_per_second`).
    pub tick_ns: f64,
    /// Nanoseconds per observed step of the counter: the finest difference a timestamp or
    /// duration can actually show here (`tick_ns` times the step the counter advances by,
    /// measured; at least 1 ns in timestamps, which are whole nanoseconds). A latency
    /// below it is not resolved.
    pub resolution_ns: f64,
}

/// The tick source and its resolution on this machine (calibrating the clock if nothing has
/// yet). Percentile tables should state it: a latency below it is not resolved.
///
/// ```
/// let c = tickwatch::clock_info();
/// println!("timer: {} at {:.3} GHz, resolution {:.2} ns", c.source, c.ticks_per_second / 1e9, c.resolution_ns);
/// assert!(c.resolution_ns > 0.0);
/// ```
pub fn clock_info() -> ClockInfo {
    Clock::global().info()
}

/// A snapshot of the tick mapping (plain data: cheap to copy into a batch).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conversion {
    segments: [Segment; SEGMENTS],
}

impl Conversion {
    /// Nanoseconds since the Unix epoch for a tick reading.
    #[inline]
    pub(crate) fn unix_nanos(&self, ticks: u64) -> u64 {
        // Compared as a signed distance: the counter may start anywhere.
        let seg = self
            .segments
            .iter()
            .find(|s| ticks.wrapping_sub(s.ticks) as i64 >= 0)
            .unwrap_or(&self.segments[SEGMENTS - 1]);
        seg.at(ticks)
    }

    /// The wall-clock time of a tick reading.
    #[inline]
    pub(crate) fn timestamp(&self, ticks: u64) -> crate::Timestamp {
        crate::Timestamp::from_unix_nanos(self.unix_nanos(ticks))
    }

    /// A tick difference in nanoseconds.
    #[inline]
    pub(crate) fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        let d = u128::from(ticks) * u128::from(self.segments[0].mult);
        u64::try_from(d >> SHIFT).unwrap_or(u64::MAX)
    }
}

/// Test seams (`tickwatch::__private`): not part of the API.
#[doc(hidden)]
pub(crate) mod seam {
    /// Refinements the process clock has done.
    pub fn clock_refinements() -> u64 {
        super::Clock::global().refinements()
    }

    /// Converts `ticks` to Unix nanoseconds with a segment anchored at (`at_ticks`, `at_ns`)
    /// of `ns_per_tick_fixed` (32.32); for property tests of the integer conversion.
    pub fn convert(at_ticks: u64, at_ns: u64, ns_per_tick_fixed: u64, ticks: u64) -> u64 {
        super::Segment {
            ticks: at_ticks,
            unix_ns: at_ns,
            mult: ns_per_tick_fixed,
        }
        .at(ticks)
    }

    /// The current tick reading.
    pub fn now_ticks() -> u64 {
        super::now_ticks()
    }

    /// The current conversion of `ticks` to Unix nanoseconds.
    pub fn unix_nanos(ticks: u64) -> u64 {
        super::Clock::global().conversion().unix_nanos(ticks)
    }
}

#[cfg(test)]
mod tests;
