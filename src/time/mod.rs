//! Time, in one place: the tick counter the hot path reads and its conversion to wall time
//! (`ticks`), the injectable wall clocks that alerts, authentication and health read
//! (`wall`: [`WallClock`], [`SystemClock`], [`ManualClock`]), and the [`Timestamp`] every
//! record and report carries.
//!
//! Two clocks, on purpose: ticks are what a hot-path call can afford (one `rdtsc`), converted
//! to Unix nanoseconds off the hot path; a [`WallClock`] is what rules, lockouts and
//! sessions ask "what time is it" of, and what tests replace with a [`ManualClock`].

mod ticks;
mod timestamp;
mod wall;

pub(crate) use ticks::seam;
pub use ticks::{clock_info, ClockInfo};
pub(crate) use ticks::{now_ticks, unix_now_ns, Clock, Conversion};
pub use timestamp::{ParseTimestampError, Timestamp};
pub(crate) use wall::elapsed;
pub use wall::{ManualClock, SystemClock, WallClock};

/// The calling thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`: exact up to now,
/// unlike `/proc`'s counters, which lag by a scheduler tick), or `None` where it cannot be
/// read (a sandbox that refuses the call, Miri). A system call (~250 ns here): read it
/// sparingly.
pub(crate) fn thread_cpu_ns() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{clock_gettime_dynamic, ClockId, DynamicClockId};
        // The fallible form: `clock_gettime` itself panics when the call fails.
        let t = clock_gettime_dynamic(DynamicClockId::Known(ClockId::ThreadCPUTime)).ok()?;
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u64::try_from(t.tv_nsec).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    /// Where it can be read, the thread's CPU clock never goes back and counts work done.
    #[test]
    fn thread_cpu_time_advances_with_work() {
        let Some(a) = super::thread_cpu_ns() else {
            return; // No CPU clock here (Miri, a sandbox): the callers fall back.
        };
        let mut x = 1u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let b = super::thread_cpu_ns().expect("readable a moment ago");
        assert!(
            b >= a + 1_000_000,
            "20 ms of spinning showed as {} ns",
            b - a
        );
    }
}
