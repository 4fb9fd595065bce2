//! The matching thread and its price-time priority books.

use super::*;

pub(crate) struct Resting {
    pub(crate) id: u64,
    pub(crate) owner: usize,
    pub(crate) qty: u32,
}

pub(crate) struct Trade {
    pub(crate) passive_owner: usize,
    pub(crate) passive_id: u64,
    pub(crate) px: i64,
    pub(crate) qty: u32,
}

/// A price-time priority limit order book for one venue.
#[derive(Default)]
pub(crate) struct Book {
    pub(crate) bids: BTreeMap<i64, VecDeque<Resting>>,
    pub(crate) asks: BTreeMap<i64, VecDeque<Resting>>,
    pub(crate) resting: usize,
    pub(crate) expired: u64,
}

impl Book {
    /// Matches `o` against the opposite side, rests what is left; trades go to `trades`.
    pub(crate) fn execute(&mut self, o: &Order, trades: &mut Vec<Trade>) {
        let mut left = o.qty;
        let opposite = match o.side {
            Side::Buy => &mut self.asks,
            Side::Sell => &mut self.bids,
        };
        while left > 0 {
            let best = match o.side {
                Side::Buy => opposite.first_entry().filter(|e| *e.key() <= o.px),
                Side::Sell => opposite.last_entry().filter(|e| *e.key() >= o.px),
            };
            let Some(mut level) = best else { break };
            let px = *level.key();
            let queue = level.get_mut();
            while left > 0 {
                let Some(front) = queue.front_mut() else {
                    break;
                };
                let qty = left.min(front.qty);
                trades.push(Trade {
                    passive_owner: front.owner,
                    passive_id: front.id,
                    px,
                    qty,
                });
                left -= qty;
                front.qty -= qty;
                if front.qty == 0 {
                    queue.pop_front();
                    self.resting -= 1;
                }
            }
            if queue.is_empty() {
                level.remove();
            }
        }
        if left > 0 {
            let own = match o.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            own.entry(o.px).or_default().push_back(Resting {
                id: o.id,
                owner: o.strategy,
                qty: left,
            });
            self.resting += 1;
        }
        // Expire the price level farthest from the touch on the deeper side.
        while self.resting > MAX_RESTING {
            let level = if self.bids.len() >= self.asks.len() {
                self.bids.pop_first()
            } else {
                self.asks.pop_last()
            };
            let n = level.map_or(0, |(_, q)| q.len());
            self.resting -= n;
            self.expired += n as u64;
        }
    }
}

pub(crate) fn matching(
    tw: &Telemetry,
    match_depth: &AtomicI64,
    orders: Receiver<Order>,
    reports: [Sender<Report>; 2],
) -> (Calls, usize, u64) {
    let mut calls = Calls::default();
    let match_lat = tw.latency("matching");
    let fills: Vec<_> = VENUES
        .iter()
        .map(|v| tw.counter("fills", &[("venue", v)]))
        .collect();
    tw.preallocate();
    let mut books: [Book; 3] = Default::default();
    let mut trades = Vec::with_capacity(64);
    let mut n = 0u64;
    for o in orders {
        let depth = match_depth.fetch_sub(1, Relaxed) - 1;
        trades.clear();
        {
            let _t = match_lat.start();
            books[o.venue].execute(&o, &mut trades);
        }
        calls.latency += 1;
        for t in &trades {
            fills[o.venue].increment();
            event!(
                tw,
                Level::Info,
                "order filled",
                order_id = o.id,
                px = dollars(t.px),
                qty = t.qty,
                venue = VENUES[o.venue],
                passive_id = t.passive_id,
            );
            calls.counter += 1;
            calls.event += 1;
            for (owner, side) in [(o.strategy, o.side), (t.passive_owner, opposite(o.side))] {
                let _ = reports[owner].send(Report::Fill {
                    venue: o.venue,
                    side,
                    px: t.px,
                    qty: t.qty,
                });
            }
        }
        let _ = reports[o.strategy].send(Report::Ack { sent: o.sent });
        n += 1;
        if n.is_multiple_of(64) {
            let resting: usize = books.iter().map(|b| b.resting).sum();
            tw.track_resource_usage("order_book_depth", resting as f64);
            tw.track_resource_usage("match_queue_depth", depth as f64);
            calls.resource += 2;
        }
    }
    let resting = books.iter().map(|b| b.resting).sum();
    let expired = books.iter().map(|b| b.expired).sum();
    (calls, resting, expired)
}

pub(crate) fn opposite(s: Side) -> Side {
    match s {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}
