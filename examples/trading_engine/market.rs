//! Deterministic randomness and the simulated market: prices, orders, reports, call counts.

use super::*;

/// xorshift64: tiny, fast, reproducible. Not for anything but simulation.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        // One splitmix64 step so that small seeds still start well mixed.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

// ---------------------------------------------------------------------------------------------
// The simulated market

/// Mid price and half spread per venue, in ticks; written by market-data, read by everyone.
pub(crate) struct Market {
    pub(crate) mid: [AtomicI64; 3],
    pub(crate) half_spread: [AtomicI64; 3],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Buy,
    Sell,
}

impl Side {
    pub(crate) fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) strategy: usize,
    pub(crate) venue: usize,
    pub(crate) side: Side,
    pub(crate) px: i64,
    pub(crate) qty: u32,
    pub(crate) sent: Instant,
}

pub(crate) enum Report {
    /// Part or all of an order traded (sent to both sides of the trade).
    Fill {
        venue: usize,
        side: Side,
        px: i64,
        qty: u32,
    },
    /// The matching engine is done with an order (filled, partly filled or resting).
    Ack { sent: Instant },
    /// Risk refused the order.
    Reject { sent: Instant },
}

/// Hot-path calls a thread made, by the kind of record they produce. Summed over every thread,
/// it must equal `accepted + dropped`.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct Calls {
    pub(crate) metric: u64,
    pub(crate) counter: u64,
    pub(crate) latency: u64,
    pub(crate) resource: u64,
    pub(crate) event: u64,
}

impl Calls {
    pub(crate) fn total(&self) -> u64 {
        self.metric + self.counter + self.latency + self.resource + self.event
    }

    pub(crate) fn add(&mut self, o: Calls) {
        self.metric += o.metric;
        self.counter += o.counter;
        self.latency += o.latency;
        self.resource += o.resource;
        self.event += o.event;
    }
}
