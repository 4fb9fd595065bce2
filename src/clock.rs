//! Timestamps: a raw tick counter on the hot path, converted to wall-clock time on the
//! collector.
//!
//! On x86-64 with an invariant TSC (constant rate, not stopped in sleep states, synchronised
//! across cores: CPUID leaf 0x8000_0007, EDX bit 8) a tick is one `rdtsc`: ~10 ns in a tight
//! loop, far less when overlapped with other work, and no syscall. Elsewhere a tick is a
//! nanosecond of `Instant` (the vDSO monotonic clock) since the process first asked.
//!
//! Conversion is piecewise linear: an anchor `(ticks, unix nanos)` and a slope in nanoseconds
//! per tick. The slope starts from a 2 ms calibration against the monotonic clock and the
//! collector refines it about once a second over a growing baseline; each refinement starts a
//! new segment at the current point, so converted times stay continuous and monotonic.

use parking_lot::RwLock;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MODE_UNSET: u8 = 0;
const MODE_TSC: u8 = 1;
const MODE_MONOTONIC: u8 = 2;

/// Which tick source `now_ticks` uses; chosen once by [`Clock::global`].
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
static ANCHOR: OnceLock<Instant> = OnceLock::new();

/// The current tick count. Hot path: no syscall, no lock.
#[inline(always)]
pub(crate) fn now_ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
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
    anchor.elapsed().as_nanos() as u64
}

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    let max_ext = __cpuid(0x8000_0000).eax;
    max_ext >= 0x8000_0007 && (__cpuid(0x8000_0007).edx & (1 << 8)) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

/// One linear piece of the tick -> Unix-nanosecond mapping.
#[derive(Clone, Copy, Debug)]
struct Segment {
    ticks: u64,
    unix_ns: f64,
    ns_per_tick: f64,
}

impl Segment {
    fn at(&self, ticks: u64) -> f64 {
        self.unix_ns + (ticks.wrapping_sub(self.ticks) as i64 as f64) * self.ns_per_tick
    }
}

/// Calibration state shared by every instance in the process.
pub(crate) struct Clock {
    /// First sample: the long baseline that refinements measure against.
    base_ticks: u64,
    base_instant: Instant,
    /// Current and previous segment (records taken just before a refinement still use the
    /// segment they were taken in).
    segments: RwLock<(Segment, Segment)>,
    last_refine: parking_lot::Mutex<Instant>,
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
        let unix0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as f64;
        let ns_per_tick = if tsc {
            let spin = Duration::from_millis(2);
            while i0.elapsed() < spin {
                std::hint::spin_loop();
            }
            let (t1, i1) = (now_ticks(), Instant::now());
            let elapsed_ns = i1.duration_since(i0).as_nanos() as f64;
            let ticks = t1.wrapping_sub(t0).max(1) as f64;
            elapsed_ns / ticks
        } else {
            1.0
        };
        let seg = Segment {
            ticks: t0,
            unix_ns: unix0,
            ns_per_tick,
        };
        Clock {
            base_ticks: t0,
            base_instant: i0,
            segments: RwLock::new((seg, seg)),
            last_refine: parking_lot::Mutex::new(i0),
            tsc,
        }
    }

    /// Refines the slope if a second has passed since the last refinement. Collector only.
    pub(crate) fn maybe_refine(&self) {
        if !self.tsc {
            return;
        }
        let mut last = self.last_refine.lock();
        if last.elapsed() < Duration::from_secs(1) {
            return;
        }
        let (t, i) = (now_ticks(), Instant::now());
        *last = i;
        drop(last);
        let elapsed_ns = i.duration_since(self.base_instant).as_nanos() as f64;
        let ticks = t.wrapping_sub(self.base_ticks).max(1) as f64;
        let slope = elapsed_ns / ticks;
        let mut segs = self.segments.write();
        let here = segs.0.at(t);
        let next = Segment {
            ticks: t,
            unix_ns: here,
            ns_per_tick: slope,
        };
        *segs = (next, segs.0);
    }

    /// A copy of the current mapping, for converting a batch without taking the lock per record.
    pub(crate) fn conversion(&self) -> Conversion {
        let (current, previous) = *self.segments.read();
        Conversion { current, previous }
    }

    /// Converts a tick reading to nanoseconds since the Unix epoch.
    #[cfg(test)]
    pub(crate) fn to_unix_nanos(&self, ticks: u64) -> u64 {
        self.conversion().unix_nanos(ticks)
    }

    /// Converts a tick difference to nanoseconds.
    #[cfg(test)]
    pub(crate) fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        self.conversion().ticks_to_nanos(ticks)
    }
}

/// A snapshot of the tick mapping (plain data: cheap to copy into a batch).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conversion {
    current: Segment,
    previous: Segment,
}

impl Conversion {
    /// Nanoseconds since the Unix epoch for a tick reading.
    #[inline]
    pub(crate) fn unix_nanos(&self, ticks: u64) -> u64 {
        let seg = if (ticks.wrapping_sub(self.current.ticks) as i64) >= 0 {
            self.current
        } else {
            self.previous
        };
        seg.at(ticks).max(0.0) as u64
    }

    /// The wall-clock time of a tick reading.
    #[inline]
    pub(crate) fn timestamp(&self, ticks: u64) -> crate::Timestamp {
        crate::Timestamp::from_unix_nanos(self.unix_nanos(ticks))
    }

    /// A tick difference in nanoseconds.
    #[inline]
    pub(crate) fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.current.ns_per_tick) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_advance_and_convert_close_to_system_time() {
        let clock = Clock::global();
        let a = now_ticks();
        std::thread::sleep(Duration::from_millis(5));
        let b = now_ticks();
        assert!(b > a);
        let dt = clock.ticks_to_nanos(b - a);
        assert!(
            (4_000_000..200_000_000).contains(&dt),
            "5 ms sleep measured as {dt} ns"
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let conv = clock.to_unix_nanos(now_ticks()) as i128;
        assert!(
            (now - conv).abs() < 50_000_000,
            "conversion off by {} ns",
            now - conv
        );
    }

    #[test]
    fn conversion_is_monotonic_across_refinement() {
        let clock = Clock::global();
        let t = now_ticks();
        let before = clock.to_unix_nanos(t);
        *clock.last_refine.lock() -= Duration::from_secs(2);
        clock.maybe_refine();
        let after = clock.to_unix_nanos(t);
        assert!(
            after.abs_diff(before) < 1_000,
            "refinement moved an old reading by {} ns",
            after.abs_diff(before)
        );
        assert!(clock.to_unix_nanos(now_ticks()) >= after);
    }
}
