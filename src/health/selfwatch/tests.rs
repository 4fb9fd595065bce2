//! The sampler's cadence on synthetic instants: the collector's real tick [`Schedule`] driven
//! by a simulated loop that reaches each due tick a little late (jitter), and sometimes very
//! late (a stall). Deterministic: the jitter comes from a fixed-seed xorshift.

use std::time::{Duration, Instant};

use super::Cadence;
use crate::metrics::Schedule;

const MS: Duration = Duration::from_millis(1);

/// xorshift64: the simulated loop's lateness, deterministic.
struct Jitter(u64);

impl Jitter {
    /// A lateness in `[0, max)`.
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let max_ns = max.as_nanos() as u64;
        if max_ns == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.0 % max_ns)
    }
}

/// What the collector does: wake at the schedule's next due instant plus some lateness, take
/// what is due, run the task on a tick. Returns the instants (since start) at which the
/// cadence sampled. `stall` = (after, length): the wake-up after `after` comes `length` late.
fn simulate(
    every: Duration,
    tick: Duration,
    run: Duration,
    jitter: Duration,
    stall: Option<(Duration, Duration)>,
) -> Vec<Duration> {
    let t0 = Instant::now();
    // The aggregation interval plays no part here: long, so only ticks are due.
    let mut schedule = Schedule::new(Duration::from_secs(86_400), tick, t0);
    let mut cadence = Cadence::new(every, tick);
    let mut rng = Jitter(0x9E37_79B9_7F4A_7C15);
    let mut stall = stall;
    let mut samples = Vec::new();
    loop {
        let mut now = schedule.next_due() + rng.next(jitter);
        if let Some((after, length)) = stall {
            if now >= t0 + after {
                now += length;
                stall = None;
            }
        }
        if now > t0 + run {
            return samples;
        }
        if schedule.take_due(now).tick && cadence.due(now) {
            samples.push(now - t0);
        }
    }
}

fn gaps(samples: &[Duration]) -> Vec<Duration> {
    samples.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn one_second_ticks_with_jitter_sample_every_second_without_gaps() {
    // The default: ticks and samples both every second. Each wake-up is up to 50 ms late,
    // differently every time; the old rule (next = this tick + 1 s) skipped the tick after
    // any that came later than it, leaving 2 s gaps.
    let s = Duration::from_secs(1);
    let samples = simulate(s, s, Duration::from_millis(600_500), 50 * MS, None);
    assert_eq!(samples.len(), 600, "one sample per tick over 600 s");
    let g = gaps(&samples);
    let (min, max) = (g.iter().min().unwrap(), g.iter().max().unwrap());
    assert!(*max < s + 50 * MS, "longest gap {max:?}");
    assert!(*min > s - 50 * MS, "shortest gap {min:?}");
}

#[test]
fn every_not_a_multiple_of_the_tick_keeps_the_rate() {
    // 1 s samples on 300 ms ticks: each sample lands on a tick within half a tick of its due
    // time, and the rate stays one per second (no drift towards one per three ticks).
    let (every, tick) = (Duration::from_secs(1), 300 * MS);
    let samples = simulate(every, tick, Duration::from_secs(1_000), 20 * MS, None);
    let n = samples.len() as i64;
    assert!((n - 1_000).abs() <= 1, "{n} samples in 1000 s");
    let max = *gaps(&samples).iter().max().unwrap();
    assert!(max <= every + tick + 20 * MS, "longest gap {max:?}");
    // No sample strays from its due time on the grid by more than half a tick plus the
    // jitter: the lateness of one tick is never carried into the next sample.
    let first = samples[0];
    for (k, at) in samples.iter().enumerate() {
        let due = first + every * k as u32;
        let off = at.abs_diff(due);
        assert!(
            off <= tick / 2 + 20 * MS,
            "sample {k} at {at:?}, due {due:?}"
        );
    }
}

#[test]
fn a_stall_skips_the_missed_periods_once_then_resumes() {
    let s = Duration::from_secs(1);
    let stall = (Duration::from_millis(10_500), Duration::from_millis(3_700));
    let samples = simulate(s, s, Duration::from_secs(30), 30 * MS, Some(stall));
    let g = gaps(&samples);
    // One long gap (the stall itself), not followed by a burst of catch-up samples.
    let long: Vec<_> = g.iter().filter(|d| **d > s + 100 * MS).collect();
    assert_eq!(long.len(), 1, "gaps {g:?}");
    assert!(
        g.iter().all(|d| *d > s - 100 * MS),
        "no catch-up burst: {g:?}"
    );
    // And steady again after it.
    let after = samples
        .iter()
        .position(|t| *t > Duration::from_secs(15))
        .unwrap();
    assert!(
        gaps(&samples[after..]).iter().all(|d| *d < s + 30 * MS),
        "{g:?}"
    );
}

#[test]
fn a_late_first_tick_costs_at_most_one_long_gap() {
    // The first wake-up is 700 ms late (a busy start): every later tick is then "early" for
    // a grid anchored there; within the tolerance they still sample.
    let s = Duration::from_secs(1);
    let samples = simulate(s, s, Duration::from_secs(60), 10 * MS, Some((MS, 700 * MS)));
    let g = gaps(&samples);
    assert!(g.iter().all(|d| *d <= s + 700 * MS), "{g:?}");
    assert!(g[2..].iter().all(|d| *d < s + 10 * MS), "{g:?}");
    assert!(samples.len() >= 58, "{} samples", samples.len());
}

#[test]
fn sampling_faster_than_the_tick_samples_every_tick() {
    let samples = simulate(
        100 * MS,
        Duration::from_secs(1),
        Duration::from_millis(20_500),
        5 * MS,
        None,
    );
    assert_eq!(samples.len(), 20, "one per tick");
}
