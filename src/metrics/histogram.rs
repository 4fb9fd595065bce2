//! One latency histogram: an [`hdrhistogram::Histogram`] (1 ns to 1 h, 3 significant
//! digits) plus a coarse index over it, so that percentiles are found in about a hundred
//! steps instead of a scan of the whole counts array.
//!
//! Why the index: `hdrhistogram` answers a percentile by walking its counts from the start.
//! A histogram of realistic latencies (1 µs to 5 ms) has ~14,000 counters; measured here,
//! four percentiles of 1,000 such histograms took 25 ms, more than the whole snapshot budget.
//! The index keeps a count per octave (power of two) and per 1/32 of an octave ("cell"); a
//! percentile walks at most 42 octaves, 32 cells and the ≤ 32 HDR sub-buckets of one cell
//! (through the histogram's public `count_at` / `next_non_equivalent`).
//!
//! The HDR histogram records values as given, except that 0 is recorded as 1 ns (a zero
//! duration is a timer-resolution artefact, and the octave of 0 is undefined) and values
//! above [`MAX_TRACKABLE_NS`] (1 hour) are recorded as 1 hour; the caller counts those.
//! Count, sum, min and max are kept exactly over the raw values next to it, so only the
//! percentiles see the clamping (and are kept within the exact min and max).

use hdrhistogram::{Counter, Histogram};

use super::Percentiles;

/// The highest latency a histogram's percentiles resolve: one hour, in nanoseconds. Larger
/// samples enter the HDR histogram as this value and are counted as clamped; their count,
/// sum, min, max and bucket counts stay exact.
pub const MAX_TRACKABLE_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept by every latency histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Octaves of 1..=`MAX_TRACKABLE_NS` (2^41 < 1 h < 2^42).
const OCTAVES: usize = 42;
/// log2 of the cells per octave.
const CELL_BITS: u32 = 5;
const CELLS_PER_OCTAVE: usize = 1 << CELL_BITS;
const CELLS: usize = OCTAVES * CELLS_PER_OCTAVE;

/// Where a (clamped, non-zero) value falls in the coarse index: its octave and its cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    octave: usize,
    cell: usize,
}

impl Slot {
    /// For `v` in `1..=MAX_TRACKABLE_NS`.
    #[inline(always)]
    pub(crate) fn of(v: u64) -> Slot {
        let k = 63 - v.leading_zeros();
        // The 5 bits below the leading one (shifted up for octaves narrower than 32 values).
        let sub = ((v << CELL_BITS) >> k) as usize & (CELLS_PER_OCTAVE - 1);
        Slot {
            octave: k as usize,
            cell: ((k as usize) << CELL_BITS) | sub,
        }
    }

    /// The smallest value of `cell` (may exceed the cell's largest for an unused cell of a
    /// narrow octave: then the cell is empty).
    fn cell_low(cell: usize) -> u64 {
        let k = (cell >> CELL_BITS) as u32;
        let sub = (cell & (CELLS_PER_OCTAVE - 1)) as u64;
        // Smallest v with ((v << 5) >> k) & 31 == sub, i.e. v * 32 >= (32 + sub) << k.
        (((CELLS_PER_OCTAVE as u64 + sub) << k) + (CELLS_PER_OCTAVE as u64 - 1)) >> CELL_BITS
    }
}

/// Counts per octave and per cell.
struct Coarse {
    octaves: [u64; OCTAVES],
    cells: Box<[u64; CELLS]>,
}

impl Coarse {
    fn new() -> Coarse {
        Coarse {
            octaves: [0; OCTAVES],
            cells: Box::new([0; CELLS]),
        }
    }

    #[inline(always)]
    fn add(&mut self, slot: Slot) {
        self.octaves[slot.octave] += 1;
        self.cells[slot.cell] += 1;
    }

    /// Adds `other` in and clears `other`.
    fn absorb(&mut self, other: &mut Coarse) {
        for (k, o) in other.octaves.iter_mut().enumerate() {
            if *o == 0 {
                continue;
            }
            self.octaves[k] += *o;
            *o = 0;
            let cells = k << CELL_BITS..(k + 1) << CELL_BITS;
            for (mine, theirs) in self.cells[cells.clone()]
                .iter_mut()
                .zip(&mut other.cells[cells])
            {
                *mine += *theirs;
                *theirs = 0;
            }
        }
    }
}

/// Exact count, sum, min and max of the raw values (not clamped).
#[derive(Clone, Copy)]
struct Exact {
    count: u64,
    /// `u128`: cannot overflow (2^64 samples of 2^64 ns each), so the mean stays exact even
    /// once the `u64` sum handed out ([`LatencyHistograms::sum`]) saturates.
    sum: u128,
    min: u64,
    max: u64,
}

impl Exact {
    const EMPTY: Exact = Exact {
        count: 0,
        sum: 0,
        min: u64::MAX,
        max: 0,
    };

    #[inline(always)]
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// A latency series' histograms over both horizons: since start and the current interval.
///
/// Per sample: one record into each HDR histogram and one count into the interval's coarse
/// index. The since-start coarse index is brought up to date only at rollover (it absorbs the
/// interval's), and since-start percentiles walk both indexes together: one fewer cache line
/// touched per sample, which is what the collector's cost per record is made of.
pub(crate) struct LatencyHistograms {
    total: Histogram<u64>,
    total_exact: Exact,
    /// Since start up to the last rollover.
    total_coarse: Coarse,
    /// `u32` counts halve the memory; a sub-bucket saturates only past 4.29e9 samples of one
    /// value within one interval.
    interval: Histogram<u32>,
    interval_exact: Exact,
    interval_coarse: Coarse,
}

fn hdr<C: Counter>() -> Histogram<C> {
    // `Histogram::new` is `new_with_bounds(1, 2, sigfig)` with auto-resize on: it starts at
    // 2,048 counters and grows by whole octaves up to the largest value recorded (~14,000
    // counters for samples up to 10 ms, ~34,000 for the full hour). It fails only for
    // sigfig > 5.
    match Histogram::new(SIGNIFICANT_DIGITS) {
        Ok(h) => h,
        Err(e) => unreachable!("3 significant digits are valid: {e:?}"),
    }
}

impl LatencyHistograms {
    pub(crate) fn new() -> Self {
        Self {
            total: hdr(),
            total_exact: Exact::EMPTY,
            total_coarse: Coarse::new(),
            interval: hdr(),
            interval_exact: Exact::EMPTY,
            interval_coarse: Coarse::new(),
        }
    }

    /// Records the sample `raw` nanoseconds: `v` is `raw` clamped by [`clamp_ns`] (what the
    /// HDR histograms hold) and `slot` is `Slot::of(v)`; the exact count, sum, min and max
    /// take `raw`.
    #[inline]
    pub(crate) fn record(&mut self, v: u64, slot: Slot, raw: u64) {
        // `record` fails only if the counts would exceed usize: impossible below 2^42.
        let _ = self.total.record(v);
        let _ = self.interval.record(v);
        self.interval_coarse.add(slot);
        self.total_exact.add(raw);
        self.interval_exact.add(raw);
    }

    pub(crate) fn count(&self) -> u64 {
        self.total_exact.count
    }

    /// Exact sum of the raw samples since start, nanoseconds, saturating at `u64::MAX`
    /// (~584 years of summed latency).
    pub(crate) fn sum(&self) -> u64 {
        u64::try_from(self.total_exact.sum).unwrap_or(u64::MAX)
    }

    /// Since-start percentiles; `None` when empty.
    pub(crate) fn total_percentiles(&self) -> Option<Percentiles> {
        percentiles(
            &self.total,
            &[&self.total_coarse, &self.interval_coarse],
            self.total_exact,
        )
    }

    /// Ends the interval: returns its percentiles (`None` if it had no sample) and starts
    /// the next one empty, keeping the allocations.
    pub(crate) fn rollover(&mut self) -> Option<Percentiles> {
        let window = percentiles(
            &self.interval,
            &[&self.interval_coarse],
            self.interval_exact,
        );
        if window.is_some() {
            self.total_coarse.absorb(&mut self.interval_coarse);
            self.interval.reset();
            self.interval_exact = Exact::EMPTY;
        }
        window
    }
}

/// Count, min, p50, p90, p99, p99.9, max and mean; `None` when empty.
fn percentiles<C: Counter>(
    hdr: &Histogram<C>,
    coarse: &[&Coarse],
    exact: Exact,
) -> Option<Percentiles> {
    if exact.count == 0 {
        return None;
    }
    let at = |q: f64| value_at_rank(hdr, coarse, exact, rank(q, exact.count));
    Some(Percentiles {
        count: exact.count,
        min: exact.min,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: exact.max,
        mean: exact.sum as f64 / exact.count as f64,
    })
}

/// The value at 1-based rank `rank` (`1..=count`): the highest value equivalent (within the
/// histogram's precision) to the `rank`-th smallest sample, clamped to the exact min and max
/// (so a rank held by a sample above 1 h reads as about 1 h, or as `min` when that is
/// higher).
/// `coarse` together index exactly the samples in `hdr`.
fn value_at_rank<C: Counter>(
    hdr: &Histogram<C>,
    coarse: &[&Coarse],
    exact: Exact,
    rank: u64,
) -> u64 {
    let octave = |k: usize| coarse.iter().map(|c| c.octaves[k]).sum::<u64>();
    let cell = |i: usize| coarse.iter().map(|c| c.cells[i]).sum::<u64>();
    let mut seen = 0u64;
    let mut k = 0;
    while k < OCTAVES - 1 && seen + octave(k) < rank {
        seen += octave(k);
        k += 1;
    }
    let mut c = k << CELL_BITS;
    let last_cell = c + CELLS_PER_OCTAVE - 1;
    while c < last_cell && seen + cell(c) < rank {
        seen += cell(c);
        c += 1;
    }
    let high = Slot::cell_low(c + 1).saturating_sub(1);
    let mut v = Slot::cell_low(c);
    // The cell holds a sample, so the histogram has grown past it: `count_at` is exact here.
    while v <= high {
        seen += hdr.count_at(v).as_u64();
        if seen >= rank {
            return hdr.highest_equivalent(v).clamp(exact.min, exact.max);
        }
        v = hdr.next_non_equivalent(v);
    }
    // Only if an HDR counter saturated (u32 counts past 4.29e9 in one sub-bucket).
    high.clamp(exact.min, exact.max)
}

/// The 1-based rank of quantile `q` among `n` samples: `ceil(q * n)`, at least 1 (the
/// definition `hdrhistogram` uses, and the one the tests compute exact percentiles with).
pub(crate) fn rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n)
}

/// Clamps a recorded duration into the histogram's range; says whether it was above it.
#[inline(always)]
pub(crate) fn clamp_ns(nanos: u64) -> (u64, bool) {
    if nanos > MAX_TRACKABLE_NS {
        (MAX_TRACKABLE_NS, true)
    } else {
        (nanos.max(1), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_partition_the_range_in_order() {
        // Every value maps to the cell whose [low, next low) contains it, and cells increase
        // with the value: the walk in `value_at_rank` depends on both.
        let mut prev = 0;
        for v in 1..5000u64 {
            let cell = Slot::of(v).cell;
            assert!(cell >= prev, "v {v}");
            prev = cell;
        }
        let probes = (1..5000u64).chain((12..42).flat_map(|k| {
            let b = 1u64 << k;
            [b - 1, b, b + 1, b + b / 3, b + b / 2 + 7]
        }));
        for v in probes.chain([MAX_TRACKABLE_NS]) {
            let s = Slot::of(v);
            assert!(s.cell < CELLS);
            assert_eq!(s.octave, s.cell >> CELL_BITS);
            assert!(Slot::cell_low(s.cell) <= v, "v {v}");
            assert!(v < Slot::cell_low(s.cell + 1), "v {v}");
        }
    }

    #[test]
    fn percentiles_match_hdrhistogram_on_a_wide_spread() {
        let mut h = LatencyHistograms::new();
        let mut plain = Histogram::<u64>::new(3).unwrap();
        let mut first_half = Histogram::<u64>::new(3).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = clamp_ns((x % 64).pow(7) + x % 1000).0;
            h.record(v, Slot::of(v), v);
            plain.record(v).unwrap();
            if plain.len() <= 10_000 {
                first_half.record(v).unwrap();
            }
            if plain.len() == 10_000 {
                // The first half becomes a window; the total index then lags by the second.
                let w = h.rollover().unwrap();
                assert_eq!(w.count, 10_000);
                assert_eq!(w.p99, first_half.value_at_quantile(0.99).min(w.max));
            }
        }
        let p = h.total_percentiles().unwrap();
        for (got, q) in [(p.p50, 0.5), (p.p90, 0.9), (p.p99, 0.99), (p.p999, 0.999)] {
            let want = plain.value_at_quantile(q).min(p.max);
            assert_eq!(got, want, "q {q}");
        }
        assert_eq!(p.count, 20_000);
        assert_eq!(h.rollover().unwrap().count, 10_000);
        assert!(h.rollover().is_none());
        assert_eq!(h.total_percentiles(), Some(p));
    }
}
