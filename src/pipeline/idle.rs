//! The collector's idle policy: when it drains again at once, spins, or sleeps, and for how
//! long (the reasons are in [`super::collector`]'s docs).

use std::time::{Duration, Instant};

/// A pass that moved fewer records than this (from rings at most a quarter full) is a small
/// batch: the collector then sleeps rather than look again at once. Polling at once would
/// chase the producer one record at a time, moving its tail line and data lines between
/// cores on every record: measured here, that doubled the producer's per-call cost when the
/// collector kept up and halved drain throughput; and every such poll is collector CPU.
const SMALL_BATCH: usize = 256;
/// The most empty polls before sleeping (when spinning keeps paying off), and the fewest.
const MAX_SPIN_POLLS: u32 = 64;
const MIN_SPIN_POLLS: u32 = 2;
/// The shortest sleep the rate adaptation goes down to (about the OS's timer slack).
const MIN_ADAPTIVE_SLEEP: Duration = Duration::from_micros(50);
/// How full a wake-up aims to find the fullest ring: half, so that the rate can double
/// between two wake-ups before a producer meets a full ring. Every wake-up costs the same
/// (tens of microseconds of CPU in a virtual machine, about as much as draining a thousand
/// records), so the fewer the better as long as no ring fills.
const TARGET_FILL: f64 = 0.5;
/// When the collector polls again, spins, or sleeps (see the module docs).
#[derive(Debug)]
pub(crate) struct IdlePolicy {
    first_sleep: Duration,
    max_sleep: Duration,
    /// The sleep after a pass that found records: `first_sleep` at start, then what the
    /// measured fill rate says will take the fullest ring to [`TARGET_FILL`].
    base: Duration,
    /// When the last pass that found records ran: the fill a wake-up finds accumulated
    /// since then.
    last_records: Option<Instant>,
    /// The next idle sleep (doubles while idle).
    sleep: Duration,
    /// Empty polls allowed before sleeping.
    spin_budget: u32,
    /// Empty passes since the last pass that found records.
    empty_passes: u32,
    /// The last pass ended in a sleep: the next one is a wake-up.
    slept: bool,
    /// Wake-ups in a row that found nothing. One alone is a wake-up out of phase with a
    /// bursty producer, not idleness: the sleep grows only from the second.
    empty_wakes: u32,
    /// Low-latency mode (`collector_spin`): poll instead of sleeping until this long after
    /// the last pass that found records. Zero: off.
    spin_for: Duration,
}

/// What to do after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Drain again at once.
    Drain,
    /// Poll again after a short pause.
    Spin,
    /// Sleep this long (at most; the caller caps it at the next deadline).
    Sleep(Duration),
}

impl IdlePolicy {
    pub(crate) fn new(first_sleep: Duration, max_sleep: Duration) -> IdlePolicy {
        IdlePolicy {
            first_sleep,
            max_sleep: max_sleep.max(first_sleep),
            base: first_sleep,
            last_records: None,
            sleep: first_sleep,
            spin_budget: MIN_SPIN_POLLS,
            empty_passes: 0,
            slept: false,
            empty_wakes: 0,
            spin_for: Duration::ZERO,
        }
    }

    /// Low-latency mode: keep polling for `spin` after records instead of sleeping.
    pub(crate) fn spin_for(mut self, spin: Duration) -> IdlePolicy {
        self.spin_for = spin;
        self
    }

    /// In low-latency mode, within `spin_for` of the last records: poll again, don't sleep.
    fn spinning(&self, now: Instant) -> bool {
        !self.spin_for.is_zero()
            && self
                .last_records
                .is_some_and(|t| now.saturating_duration_since(t) < self.spin_for)
    }

    /// After a pass at `now` that moved `n` records and found rings at most `fill` full
    /// (0 to 1).
    pub(crate) fn after_pass(&mut self, n: usize, fill: f64, now: Instant) -> Next {
        let woke = std::mem::take(&mut self.slept);
        if !self.spin_for.is_zero() && n > 0 {
            // Low-latency mode: records open (or extend) the window in which it polls.
            self.last_records = Some(now);
            self.empty_passes = 0;
            self.empty_wakes = 0;
            return if n >= SMALL_BATCH || fill > 0.25 {
                Next::Drain
            } else {
                Next::Spin
            };
        }
        if self.spinning(now) {
            return Next::Spin;
        }
        if n == 0 {
            if woke {
                self.empty_wakes = self.empty_wakes.saturating_add(1);
            }
            return self.empty();
        }
        self.empty_wakes = 0;
        if self.empty_passes > 0 && self.empty_passes <= self.spin_budget {
            // The spin caught them before a sleep: spinning pays off, allow more of it.
            self.spin_budget = (self.spin_budget * 2).min(MAX_SPIN_POLLS);
        }
        self.empty_passes = 0;
        let window = self.last_records.map(|t| now.saturating_duration_since(t));
        self.last_records = Some(now);
        if let (true, Some(window)) = (woke, window) {
            self.base = self.adapt(window, fill);
        }
        self.sleep = self.base;
        if n >= SMALL_BATCH || fill > 0.25 {
            return Next::Drain;
        }
        // A small batch: let the next one accumulate rather than chase the producer.
        self.sleep_now()
    }

    /// The sleep after records, from a wake-up that found the fullest ring `fill` full
    /// `window` after the previous pass that found records: the sleep that would have found
    /// it [`TARGET_FILL`] full at that rate. It shrinks at once (a ring must not fill) and
    /// grows at most twofold per wake-up (one quiet stretch is not a new rate), between
    /// ~50 µs and `max_sleep`.
    fn adapt(&self, window: Duration, fill: f64) -> Duration {
        let floor = MIN_ADAPTIVE_SLEEP.min(self.first_sleep);
        let grown = self.base.saturating_mul(2);
        // `try_from_secs_f64` refuses what no `Duration` holds (and NaN): grow then.
        let ideal =
            Duration::try_from_secs_f64(window.as_secs_f64() * TARGET_FILL / fill).unwrap_or(grown);
        ideal.min(grown).clamp(floor, self.max_sleep)
    }

    /// A pass found nothing: spin once more, or sleep.
    fn empty(&mut self) -> Next {
        self.empty_passes = self.empty_passes.saturating_add(1);
        if self.empty_passes <= self.spin_budget {
            return Next::Spin;
        }
        if self.empty_passes == self.spin_budget + 1 {
            // The whole spin went by without a record: spin less next time.
            self.spin_budget = (self.spin_budget / 2).max(MIN_SPIN_POLLS);
        }
        self.sleep_now()
    }

    fn sleep_now(&mut self) -> Next {
        self.slept = true;
        if self.empty_wakes < 2 {
            return Next::Sleep(self.base);
        }
        let d = self.sleep;
        self.sleep = (self.sleep * 2).min(self.max_sleep);
        Next::Sleep(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs the policy against a simulated producer that writes `burst` records every
    /// `period` into a ring of `capacity` records, for one simulated second. Returns the
    /// wake-ups (sleeps) and the fullest the ring got, as a fraction.
    fn simulate(
        policy: &mut IdlePolicy,
        burst: usize,
        period: Duration,
        capacity: usize,
    ) -> (u32, f64) {
        let t0 = Instant::now();
        let (mut now, end) = (t0, t0 + Duration::from_secs(1));
        let (mut consumed, mut wakes, mut fullest) = (0usize, 0u32, 0f64);
        while now < end {
            // Bursts are instantaneous at multiples of `period` (the first at 0).
            let bursts = (now - t0).as_nanos() / period.as_nanos() + 1;
            let produced = (bursts as usize * burst).min(consumed + capacity);
            let n = produced - consumed;
            let fill = n as f64 / capacity as f64;
            fullest = fullest.max(fill);
            consumed = produced;
            match policy.after_pass(n, fill, now) {
                Next::Drain => now += Duration::from_micros(5),
                Next::Spin => now += Duration::from_micros(1),
                Next::Sleep(d) => {
                    wakes += 1;
                    // The OS wakes a sleeper a little late.
                    now += d + Duration::from_micros(60);
                }
            }
        }
        (wakes, fullest)
    }

    #[test]
    fn bursts_wake_it_about_once_per_half_ring() {
        // 1 M samples/s in 1 ms bursts into the default ring (8,192 32-byte samples): one
        // wake-up per ~4 bursts, and the ring never more than ~3/4 full.
        let mut p = IdlePolicy::new(MS, 16 * MS);
        let (wakes, fullest) = simulate(&mut p, 1_000, MS, 8_192);
        assert!(wakes <= 400, "{wakes} wake-ups in a second");
        assert!(fullest < 0.8, "ring got {fullest:.2} full");
        // A 64 KiB ring (2,048 samples) needs one per burst, and never fills either.
        let mut p = IdlePolicy::new(MS, 16 * MS);
        let (wakes, fullest) = simulate(&mut p, 1_000, MS, 2_048);
        assert!((700..=1_300).contains(&wakes), "{wakes} wake-ups");
        assert!(fullest < 1.0, "ring got full");
    }

    #[test]
    fn a_short_sleep_grows_back_when_the_rate_falls() {
        // A burst that nearly filled the ring over 100 µs drives the sleep to its floor; the
        // rate then falls to 100 records per ms: the sleep must not stay at the floor (the
        // collector used to wake every ~130 µs for ever, at 2,000 wake-ups a second).
        let mut p = IdlePolicy::new(MS, 16 * MS);
        let t = Instant::now();
        let _ = p.after_pass(100, 0.01, t);
        p.slept = true;
        let _ = p.after_pass(2_000, 0.99, t + Duration::from_micros(100));
        assert!(p.base < Duration::from_micros(60), "{:?}", p.base);
        let (wakes, _) = simulate(&mut p, 100, MS, 8_192);
        assert!(wakes < 150, "{wakes} wake-ups in a second");
        assert_eq!(p.base, 16 * MS, "a slow producer lets it sleep the longest");
    }

    #[test]
    fn adapt_shrinks_at_once_grows_twofold_and_stays_in_bounds() {
        let mut p = IdlePolicy::new(MS, 16 * MS);
        // Three-quarters full after 1 ms: sleep 2/3 ms.
        let d = p.adapt(MS, 0.75);
        assert!(d.abs_diff(MS * 2 / 3) < Duration::from_micros(1), "{d:?}");
        // Nearly empty after 1 ms: twice the current sleep, not 50 times.
        assert_eq!(p.adapt(MS, 0.01), 2 * MS);
        p.base = 12 * MS;
        assert_eq!(p.adapt(MS, 0.001), 16 * MS, "capped at max_sleep");
        assert_eq!(p.adapt(Duration::ZERO, 1.0), MIN_ADAPTIVE_SLEEP);
        // Nothing measurable, or a window no Duration can scale: grow, never panic.
        for fill in [0.0, f64::NAN, f64::MIN_POSITIVE] {
            assert_eq!(p.adapt(Duration::MAX, fill), 16 * MS);
        }
        // A first sleep shorter than the floor is its own floor.
        let p = IdlePolicy::new(Duration::from_micros(10), Duration::from_micros(10));
        assert_eq!(p.adapt(Duration::ZERO, 1.0), Duration::from_micros(10));
    }

    #[test]
    fn spin_mode_polls_for_its_window_after_records_then_sleeps() {
        let mut p = IdlePolicy::new(MS, 16 * MS).spin_for(10 * MS);
        let t = Instant::now();
        // No records yet: nothing to spin for.
        assert!(matches!(
            p.after_pass(0, 0.0, t),
            Next::Spin | Next::Sleep(_)
        ));
        // A small batch: poll on rather than sleep, through the window.
        assert_eq!(p.after_pass(5, 0.001, t), Next::Spin);
        for i in 1..10 {
            assert_eq!(p.after_pass(0, 0.0, t + i * MS), Next::Spin, "{i} ms after");
        }
        // Records extend it.
        assert_eq!(p.after_pass(1, 0.001, t + 9 * MS), Next::Spin);
        assert_eq!(p.after_pass(0, 0.0, t + 18 * MS), Next::Spin);
        // A big batch drains at once, as without the mode.
        assert_eq!(p.after_pass(SMALL_BATCH, 0.5, t + 18 * MS), Next::Drain);
        // Past the window: the usual policy, which sleeps once its spin budget is spent.
        let later = t + 40 * MS;
        let slept = (0..100).any(|_| matches!(p.after_pass(0, 0.0, later), Next::Sleep(_)));
        assert!(slept, "it sleeps after the window");
        // Off (zero) changes nothing: a small batch sleeps.
        let mut off = IdlePolicy::new(MS, 16 * MS);
        assert!(matches!(off.after_pass(5, 0.001, t), Next::Sleep(_)));
    }

    #[test]
    fn an_idle_collector_backs_off_to_max_sleep() {
        let mut p = IdlePolicy::new(MS, 16 * MS);
        let t = Instant::now();
        let mut sleeps = Vec::new();
        for i in 0..12 {
            if let Next::Sleep(d) = p.after_pass(0, 0.0, t + i * MS) {
                sleeps.push(d);
            }
        }
        assert_eq!(sleeps.first(), Some(&MS));
        assert_eq!(sleeps.last(), Some(&(16 * MS)));
        assert!(sleeps.windows(2).all(|w| w[1] >= w[0]), "{sleeps:?}");
    }
}
