//! The collector's idle policy: when it drains again at once, spins, or sleeps, and for how
//! long (the reasons are in [`super::collector`]'s docs).

use std::time::Duration;

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
/// When the collector polls again, spins, or sleeps (see the module docs).
#[derive(Debug)]
pub(crate) struct IdlePolicy {
    first_sleep: Duration,
    max_sleep: Duration,
    /// The sleep after a pass that found records: `first_sleep`, or less while wake-ups
    /// find rings more than half full.
    base: Duration,
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
            sleep: first_sleep,
            spin_budget: MIN_SPIN_POLLS,
            empty_passes: 0,
            slept: false,
            empty_wakes: 0,
        }
    }

    /// After a pass that moved `n` records and found rings at most `fill` full (0 to 1).
    pub(crate) fn after_pass(&mut self, n: usize, fill: f64) -> Next {
        let woke = std::mem::take(&mut self.slept);
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
        if woke {
            // How full the rings got over the last sleep says whether it was too long.
            let floor = MIN_ADAPTIVE_SLEEP.min(self.first_sleep);
            if fill > 0.75 {
                self.base = (self.base / 2).max(floor);
            } else if fill < 0.125 {
                self.base = (self.base * 2).min(self.first_sleep);
            }
        }
        self.sleep = self.base;
        if n >= SMALL_BATCH || fill > 0.25 {
            return Next::Drain;
        }
        // A small batch: let the next one accumulate rather than chase the producer.
        self.sleep_now()
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
