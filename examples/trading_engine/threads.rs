//! The market-data, strategy and risk threads.

use super::*;

pub(crate) fn market_data(tw: &Telemetry, market: &Market, stop: &AtomicBool) -> Calls {
    let mut calls = Calls::default();
    let spread: Vec<_> = VENUES
        .iter()
        .map(|v| tw.metric("spread", &[("venue", v)]))
        .collect();
    let mut rng = XorShift::new(7);
    let mut i = 0usize;
    while !stop.load(Relaxed) {
        let v = i % VENUES.len();
        i += 1;
        // A mean-reverting random walk around 100.00.
        let mid = market.mid[v].load(Relaxed);
        let pull = (10_000 - mid).signum() * (rng.chance(300) as i64);
        let mid = (mid + rng.below(5) as i64 - 2 + pull).max(100);
        let half = 1 + rng.below(3) as i64;
        market.mid[v].store(mid, Relaxed);
        market.half_spread[v].store(half, Relaxed);

        spread[v].record(dollars(2 * half));
        tw.log_metric("mid", dollars(mid), &[("venue", VENUES[v])]);
        calls.metric += 2;
        // Below the instance's level (Info): not encoded, not counted, not a call.
        event!(tw, Level::Debug, "quote", venue = VENUES[v], mid = mid);
        thread::sleep(Duration::from_micros(200));
    }
    calls
}

pub(crate) struct StrategyOut {
    pub(crate) calls: Calls,
    pub(crate) sent: u64,
    pub(crate) fills: u64,
    pub(crate) rejects: u64,
    pub(crate) position: i64,
    pub(crate) pnl: f64,
}

/// A strategy's book-keeping, updated from its reports.
#[derive(Default)]
pub(crate) struct Ledger {
    /// Orders acked or rejected.
    pub(crate) done: u64,
    pub(crate) fills: u64,
    pub(crate) rejects: u64,
    /// Shares.
    pub(crate) position: i64,
    /// Ticks (cents).
    pub(crate) cash: i64,
    /// Last mid of a venue this strategy traded on, for marking to market.
    pub(crate) mark: i64,
}

impl Ledger {
    pub(crate) fn pnl(&self) -> f64 {
        dollars(self.cash + self.position * self.mark)
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn strategy(
    tw: &Telemetry,
    idx: usize,
    cfg: &Config,
    market: &Market,
    positions: &[AtomicI64; 2],
    risk_depth: &AtomicI64,
    to_risk: SyncSender<Order>,
    reports: Receiver<Report>,
) -> StrategyOut {
    let name = STRATEGIES[idx];
    let mut calls = Calls::default();
    let orders_sent: Vec<_> = VENUES
        .iter()
        .map(|v| tw.counter("orders_sent", &[("venue", v)]))
        .collect();
    let position_m = tw.metric("position", &[("strategy", name)]);
    let pnl_m = tw.metric("pnl", &[("strategy", name)]);
    tw.preallocate();

    let mut ledger = Ledger {
        mark: market.mid[0].load(Relaxed),
        ..Ledger::default()
    };
    let on_report = |r: Report, ledger: &mut Ledger, calls: &mut Calls| match r {
        Report::Fill {
            venue,
            side,
            px,
            qty,
        } => {
            ledger.fills += 1;
            ledger.position += side.sign() * qty as i64;
            ledger.cash -= side.sign() * qty as i64 * px;
            ledger.mark = market.mid[venue].load(Relaxed);
            positions[idx].store(ledger.position, Relaxed);
            position_m.record(ledger.position as f64);
            calls.metric += 1;
        }
        Report::Ack { sent } | Report::Reject { sent } => {
            ledger.rejects += matches!(r, Report::Reject { .. }) as u64;
            ledger.done += 1;
            tw.measure_latency("order_roundtrip", sent.elapsed());
            calls.latency += 1;
        }
    };

    // Orders go out in bursts once a millisecond; between bursts the thread waits on its
    // report channel, so a round trip is timed when the report arrives, not at the next burst.
    let mut rng = XorShift::new(1000 + idx as u64);
    let burst_every = Duration::from_millis(1);
    let burst = if cfg.rate == 0 {
        64
    } else {
        (cfg.rate / STRATEGIES.len() as u64 / 1000).max(1)
    };
    let mut sent = 0u64;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(cfg.secs);
    let mut next = start;
    'run: loop {
        for _ in 0..burst {
            if cfg.max_orders > 0 && sent >= cfg.max_orders {
                break 'run;
            }
            // At most MAX_IN_FLIGHT unanswered orders: wait for answers before sending more.
            while sent - ledger.done >= MAX_IN_FLIGHT {
                match reports.recv() {
                    Ok(r) => on_report(r, &mut ledger, &mut calls),
                    Err(_) => break 'run,
                }
            }
            let venue = rng.below(VENUES.len() as u64) as usize;
            // Lean against the position: the longer, the likelier a sell.
            let lean = ledger.position * 400 / POSITION_LIMIT;
            let side = if (rng.below(1000) as i64) >= 500 + lean {
                Side::Buy
            } else {
                Side::Sell
            };
            let mid = market.mid[venue].load(Relaxed);
            let half = market.half_spread[venue].load(Relaxed);
            // 35% cross the spread; the rest rest a few ticks behind the touch.
            let offset = if rng.chance(350) {
                half + rng.below(3) as i64
            } else {
                -half - rng.below(6) as i64
            };
            let mut px = mid + side.sign() * offset;
            let mut qty = (1 + rng.below(10) as u32) * 100;
            // Fat fingers, for the risk check to catch.
            if rng.chance(3) {
                px += side.sign() * mid / 10;
            }
            if rng.chance(2) {
                qty *= 100;
            }
            sent += 1;
            let order = Order {
                id: (idx as u64 + 1) * 1_000_000_000 + sent,
                strategy: idx,
                venue,
                side,
                px,
                qty,
                sent: Instant::now(),
            };
            orders_sent[venue].increment();
            calls.counter += 1;
            risk_depth.fetch_add(1, Relaxed);
            if to_risk.send(order).is_err() {
                break 'run;
            }
        }
        while let Ok(r) = reports.try_recv() {
            on_report(r, &mut ledger, &mut calls);
        }
        // Mark to market once per burst.
        pnl_m.record(ledger.pnl());
        calls.metric += 1;
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if cfg.rate > 0 {
            next += burst_every;
            if now > next + 10 * burst_every {
                next = now; // fell behind (descheduled): do not burst to catch up
            }
            let until = next.min(deadline);
            loop {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                match reports.recv_timeout(until - now) {
                    Ok(r) => on_report(r, &mut ledger, &mut calls),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => break 'run,
                }
            }
        }
    }
    // Stop sending; risk and matching finish once both strategies have. Keep taking reports
    // (acks for our last orders, fills of our resting orders by the other strategy) until
    // matching hangs up.
    drop(to_risk);
    for r in reports {
        on_report(r, &mut ledger, &mut calls);
    }
    debug_assert_eq!(ledger.done, sent);

    let pnl = ledger.pnl();
    let message = format!(
        "strategy {name} finished: {sent} orders, {} fills",
        ledger.fills
    );
    tw.log_event(&Event {
        level: Level::Info,
        target: "trading_engine::strategy",
        message: &message,
        fields: &[
            ("strategy", FieldRef::Str(name)),
            ("orders", FieldRef::U64(sent)),
            ("fills", FieldRef::U64(ledger.fills)),
            ("rejects", FieldRef::U64(ledger.rejects)),
            ("position", FieldRef::I64(ledger.position)),
            ("pnl", FieldRef::F64(pnl)),
        ],
    });
    calls.event += 1;
    StrategyOut {
        calls,
        sent,
        fills: ledger.fills,
        rejects: ledger.rejects,
        position: ledger.position,
        pnl,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn risk(
    tw: &Telemetry,
    market: &Market,
    positions: &[AtomicI64; 2],
    risk_depth: &AtomicI64,
    match_depth: &AtomicI64,
    orders: Receiver<Order>,
    to_matching: SyncSender<Order>,
    reports: [Sender<Report>; 2],
) -> Calls {
    let mut calls = Calls::default();
    let check_lat = tw.latency("risk_check");
    let rejects: Vec<_> = VENUES
        .iter()
        .map(|v| tw.counter("rejects", &[("venue", v)]))
        .collect();
    tw.preallocate();
    let mut n = 0u64;
    for o in orders {
        let depth = risk_depth.fetch_sub(1, Relaxed) - 1;
        n += 1;
        if n.is_multiple_of(64) {
            tw.track_resource_usage("risk_queue_depth", depth as f64);
            calls.resource += 1;
        }
        let verdict = {
            let _t = check_lat.start();
            let mid = market.mid[o.venue].load(Relaxed);
            let pos = positions[o.strategy].load(Relaxed);
            if o.qty > MAX_ORDER_QTY {
                Err("max_qty")
            } else if (o.px - mid).abs() * 100 > mid * PRICE_BAND_PCT {
                Err("price_band")
            } else if (pos + o.side.sign() * o.qty as i64).abs() > POSITION_LIMIT.max(pos.abs()) {
                // Orders that reduce the position always pass.
                Err("position_limit")
            } else {
                Ok(())
            }
        };
        calls.latency += 1;
        match verdict {
            Ok(()) => {
                match_depth.fetch_add(1, Relaxed);
                if to_matching.send(o).is_err() {
                    break;
                }
            }
            Err(reason) => {
                rejects[o.venue].increment();
                event!(
                    tw,
                    Level::Warn,
                    "risk reject",
                    order_id = o.id,
                    reason = reason,
                    venue = VENUES[o.venue],
                    px = dollars(o.px),
                    qty = o.qty,
                );
                calls.counter += 1;
                calls.event += 1;
                let _ = reports[o.strategy].send(Report::Reject { sent: o.sent });
            }
        }
    }
    calls
}
