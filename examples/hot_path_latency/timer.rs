//! The time-stamp counter, its calibration, and the machine facts printed with every table.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A timestamp in ticks: `rdtsc` fenced on both sides so the timed call neither starts
/// before nor finishes after the reading (`lfence` waits for earlier instructions to finish
/// and keeps later ones from starting).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn ticks() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: `lfence` and `rdtsc` have no preconditions on x86-64 (both are baseline SSE2 /
    // base-ISA instructions present on every x86-64 CPU); they only read the counter.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// An unfenced `rdtsc`: what a logger stamps its records with (the floor row's timestamp).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn stamp() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Fallback timer: nanoseconds of `Instant` since the first call.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn ticks() -> u64 {
    use std::sync::OnceLock;
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn stamp() -> u64 {
    ticks()
}

/// Nanoseconds per tick, measured against `Instant` over about 100 ms.
pub fn calibrate() -> f64 {
    if cfg!(not(target_arch = "x86_64")) {
        return 1.0;
    }
    let (i0, t0) = (Instant::now(), ticks());
    while i0.elapsed() < Duration::from_millis(100) {
        std::hint::spin_loop();
    }
    let (t1, i1) = (ticks(), Instant::now());
    i1.duration_since(i0).as_nanos() as f64 / t1.wrapping_sub(t0).max(1) as f64
}

/// Spins until `ticks() >= until`.
#[inline(always)]
pub fn spin_until(until: u64) {
    while ticks() < until {
        std::hint::spin_loop();
    }
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days, proleptic Gregorian).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}
