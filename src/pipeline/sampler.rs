//! Which sink calls have their CPU time measured on the collector thread's CPU clock (see
//! [`BatchSampler`]): the logging budget's input, kept apart from the collector's own work.

use super::shared::SINK_CPU_SAMPLING;

/// Chooses the sink calls whose CPU time is measured on the thread's CPU clock (a system
/// call, too dear for every short call): every call that follows a long one (a sink that
/// takes tens of microseconds a call is measured exactly, so few large batches are not left
/// to chance), otherwise a random 1 in [`SINK_CPU_SAMPLING`] (xorshift64: random rather than
/// every n-th, so that the sample does not lock onto one lane of a fixed drain order),
/// scaled up. The choice is made before the call, so the estimate stays unbiased.
#[derive(Debug)]
pub(crate) struct BatchSampler {
    state: u64,
    /// The last call took at least [`LONG_SINK_CALL_NS`] of wall time.
    after_long: bool,
}

/// A sink call this long (wall time) or longer makes the next one measured exactly: two
/// reads of the CPU clock (about a microsecond on a VM) are then a few percent of it.
const LONG_SINK_CALL_NS: u64 = 50_000;

impl BatchSampler {
    pub(crate) fn new(seed: u64) -> BatchSampler {
        BatchSampler {
            state: seed | 1,
            after_long: false,
        }
    }

    /// Whether to measure the next call, and how many calls its CPU time stands for.
    #[inline]
    pub(crate) fn sample(&mut self) -> Option<u64> {
        if self.after_long {
            return Some(1);
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x.is_multiple_of(SINK_CPU_SAMPLING)
            .then_some(SINK_CPU_SAMPLING)
    }

    /// The wall time the call took.
    #[inline]
    pub(crate) fn took(&mut self, ns: u64) {
        self.after_long = ns >= LONG_SINK_CALL_NS;
    }
}
