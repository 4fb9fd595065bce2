//! A simulated trading engine instrumented with tickwatch, end to end.
//!
//! ```text
//! cargo run --release --example trading_engine              # ~10 s
//! cargo run --release --example trading_engine -- --quick   # ~2 s (or TICKWATCH_QUICK=1)
//! ```
//!
//! Five threads, connected by `std::sync::mpsc` channels, all deterministic pseudo-random
//! (a xorshift generator per thread, fixed seeds):
//!
//! ```text
//! market-data ── mid / spread per venue (atomics) ──────────────────────┐
//! strat-alpha ─┐                                                        │
//!              ├── orders ──▶ risk ── orders ──▶ matching (3 venue books)
//! strat-beta ──┘  ◀──── rejects ────┘  ◀── fills, acks ──┘
//! ```
//!
//! Every tickwatch hot-path operation is used: `Metric` handles (position, pnl, spread),
//! `Counter` handles (orders_sent, fills, rejects, tagged by venue), `Latency` handles timed
//! with `lat.start()` around the risk check and the book match, `measure_latency` by name for
//! the order round trip, `log_metric` by name for the mid price, `track_resource_usage` for
//! queue and book depths, `event!` for fills (Info) and risk rejects (Warn), and `log_event`
//! for each strategy's closing summary (a message built at run time).
//!
//! Events, audit records and drop reports go to a segment log (`./tickwatch-out/log/`,
//! rewritten on every run; read it with `cargo run --bin tickwatch-log -- cat
//! tickwatch-out/log`; `--log-samples` logs every sample there too, which costs more than the
//! 2 % logging budget at this rate: samples are aggregated in any case), and every record to
//! a custom [`Sink`] defined here that counts
//! what it is handed, per kind, reading each record's kind from its first byte without
//! decoding it (`Batch::kinds`). At the end the example prints the per-operation latency
//! percentiles from `Telemetry::snapshot()` (tickwatch's own HDR histograms, aggregated on
//! the collector), records per kind, and `Telemetry::stats()` checked against the calls it
//! counted itself: `accepted == delivered` and `calls == accepted + dropped`. It exits
//! non-zero if either fails. With `--json`, the same records also go to a `JsonLinesSink`
//! (`./tickwatch-out/events.jsonl`).
//!
//! After the report the example runs two queries over its log (`Telemetry::query_logs`: the
//! newest risk rejects, then everything about one rejected order) and prints them with their
//! timings; its last line is `records written: N`, the count `tickwatch-log stats` gives.
//!
//! The instance also carries two alert rules (order round trip p99 over 5 ms, no fills) and
//! the report ends with their notifications, tickwatch's own cost against its budgets
//! (collector and sinks, per record) and the system health (see `monitoring.rs`).
//!
//! Options: `--quick`, `--secs S` (time budget), `--rate N` (orders per second over both
//! strategies, 0 for as fast as the pipeline goes), `--orders N` (stop after N orders per
//! strategy), `--block` (`Backpressure::Block` instead of `Drop`), `--json`, `--log-samples`,
//! `--config FILE` (the instance's settings from a configuration file such as
//! `examples/tickwatch.toml`, with `TICKWATCH_*` environment overrides).
//!
//! With the `http` feature, `--serve ADDR` serves `/metrics` (Prometheus), `/health` and
//! `/snapshot` on ADDR (`127.0.0.1:0` picks a free port) from the start of the run, prints
//! `serving http://HOST:PORT/metrics` on a line of its own, and after the report keeps
//! serving the final aggregates until killed, or for `--serve-for S` seconds:
//!
//! ```text
//! cargo run --release --features http --example trading_engine -- --quick --serve 127.0.0.1:9184
//! ```
//!
//! With the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, the run's metrics and events
//! also go to that OpenTelemetry collector over OTLP/HTTP, flushed before the example exits
//! (see `trading_engine/otlp.rs`; the `OTEL_*` variables configure it).

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(all(feature = "tracing", feature = "metrics"))]
#[path = "trading_engine/gateway.rs"]
mod gateway;
#[path = "trading_engine/log.rs"]
mod log;
#[path = "trading_engine/monitoring.rs"]
mod monitoring;
#[cfg(feature = "otlp")]
#[path = "trading_engine/otlp.rs"]
mod otlp;
use tickwatch::metrics::SeriesValue;
use tickwatch::sink::{Batch, JsonLinesSink, RecordKind, RecordView, Sink, SinkError};
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry};

const VENUES: [&str; 3] = ["XNAS", "ARCX", "BATS"];
const STRATEGIES: [&str; 2] = ["alpha", "beta"];
const OUT: &str = "./tickwatch-out/events.jsonl";

/// Orders per second over both strategies in the default and quick runs: a busy but realistic
/// single-engine rate. About six records per order reach the sinks (~1 KB of JSON), so the
/// default run writes ~200 MB; `--rate 0` shows what happens when the sinks cannot keep up.
const DEFAULT_RATE: u64 = 20_000;
/// Prices are integer ticks of one cent.
fn dollars(ticks: i64) -> f64 {
    ticks as f64 / 100.0
}
/// Risk limits.
const MAX_ORDER_QTY: u32 = 5_000;
const PRICE_BAND_PCT: i64 = 5;
const POSITION_LIMIT: i64 = 20_000;
/// Orders a strategy may have sent and not yet had acked or rejected.
const MAX_IN_FLIGHT: u64 = 256;
/// Resting orders per venue book before the farthest price level is expired.
const MAX_RESTING: usize = 2_000;

// ---------------------------------------------------------------------------------------------
// Configuration

struct Config {
    secs: f64,
    rate: u64,
    max_orders: u64,
    backpressure: Backpressure,
    quick: bool,
    /// `--json`: events (and audit records, drop reports) to a JSON-lines file too.
    json: bool,
    /// `--log-samples`: every sample to the log (and the JSON file), not only events.
    log_samples: bool,
    /// `--serve ADDR`: the metrics endpoint's address (needs the `http` feature).
    serve: Option<String>,
    /// `--serve-for S`: how long to keep serving after the report (default: until killed).
    serve_for: Option<Duration>,
    /// `--config FILE`: the instance's settings from a tickwatch configuration file
    /// (`examples/tickwatch.toml`), with `TICKWATCH_*` overrides, instead of the example's.
    config_file: Option<String>,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let mut quick = std::env::var("TICKWATCH_QUICK").is_ok_and(|v| v == "1" || v == "true");
        let (mut secs, mut rate, mut max_orders, mut block) = (None, DEFAULT_RATE, 0, false);
        let (mut serve, mut serve_for, mut log_samples, mut json) = (None, None, false, false);
        let mut config_file = None;
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value"))
                    .and_then(|v| v.parse::<f64>().map_err(|e| format!("{name} {v}: {e}")))
            };
            match a.as_str() {
                "--quick" => quick = true,
                "--secs" => secs = Some(value("--secs")?),
                "--rate" => rate = value("--rate")? as u64,
                "--orders" => max_orders = value("--orders")? as u64,
                "--block" => block = true,
                "--log-samples" => log_samples = true,
                "--json" => json = true,
                "--serve-for" => {
                    let s = value("--serve-for")?;
                    serve_for = Some(
                        Duration::try_from_secs_f64(s)
                            .map_err(|e| format!("--serve-for {s}: {e}"))?,
                    );
                }
                "--config" => {
                    config_file = Some(args.next().ok_or("--config needs a file")?);
                }
                "--serve" => {
                    serve = Some(
                        args.next()
                            .ok_or("--serve needs an address, such as 127.0.0.1:9184")?,
                    );
                }
                "-h" | "--help" => {
                    println!("usage: trading_engine [--quick] [--secs S] [--rate ORDERS_PER_S] [--orders N] [--block] [--json] [--log-samples] [--config FILE] [--serve ADDR [--serve-for S]]");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        if serve_for.is_some() && serve.is_none() {
            return Err("--serve-for needs --serve ADDR".into());
        }
        Ok(Config {
            secs: secs.unwrap_or(if quick { 2.0 } else { 10.0 }),
            rate,
            max_orders,
            backpressure: if block {
                Backpressure::Block
            } else {
                Backpressure::Drop
            },
            quick,
            json,
            log_samples,
            serve,
            serve_for,
            config_file,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/// xorshift64: tiny, fast, reproducible. Not for anything but simulation.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // One splitmix64 step so that small seeds still start well mixed.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

// ---------------------------------------------------------------------------------------------
// The simulated market

/// Mid price and half spread per venue, in ticks; written by market-data, read by everyone.
struct Market {
    mid: [AtomicI64; 3],
    half_spread: [AtomicI64; 3],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Buy,
    Sell,
}

impl Side {
    fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Order {
    id: u64,
    strategy: usize,
    venue: usize,
    side: Side,
    px: i64,
    qty: u32,
    sent: Instant,
}

enum Report {
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
struct Calls {
    metric: u64,
    counter: u64,
    latency: u64,
    resource: u64,
    event: u64,
}

impl Calls {
    fn total(&self) -> u64 {
        self.metric + self.counter + self.latency + self.resource + self.event
    }

    fn add(&mut self, o: Calls) {
        self.metric += o.metric;
        self.counter += o.counter;
        self.latency += o.latency;
        self.resource += o.resource;
        self.event += o.event;
    }
}

// ---------------------------------------------------------------------------------------------
// Threads

fn market_data(tw: &Telemetry, market: &Market, stop: &AtomicBool) -> Calls {
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

struct StrategyOut {
    calls: Calls,
    sent: u64,
    fills: u64,
    rejects: u64,
    position: i64,
    pnl: f64,
}

/// A strategy's book-keeping, updated from its reports.
#[derive(Default)]
struct Ledger {
    /// Orders acked or rejected.
    done: u64,
    fills: u64,
    rejects: u64,
    /// Shares.
    position: i64,
    /// Ticks (cents).
    cash: i64,
    /// Last mid of a venue this strategy traded on, for marking to market.
    mark: i64,
}

impl Ledger {
    fn pnl(&self) -> f64 {
        dollars(self.cash + self.position * self.mark)
    }
}

#[allow(clippy::too_many_arguments)]
fn strategy(
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
fn risk(
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

struct Resting {
    id: u64,
    owner: usize,
    qty: u32,
}

struct Trade {
    passive_owner: usize,
    passive_id: u64,
    px: i64,
    qty: u32,
}

/// A price-time priority limit order book for one venue.
#[derive(Default)]
struct Book {
    bids: BTreeMap<i64, VecDeque<Resting>>,
    asks: BTreeMap<i64, VecDeque<Resting>>,
    resting: usize,
    expired: u64,
}

impl Book {
    /// Matches `o` against the opposite side, rests what is left; trades go to `trades`.
    fn execute(&mut self, o: &Order, trades: &mut Vec<Trade>) {
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

fn matching(
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

fn opposite(s: Side) -> Side {
    match s {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

// ---------------------------------------------------------------------------------------------
// A custom sink: counts what it is handed, per kind, without decoding records

#[derive(Default)]
struct Aggregate {
    /// metric, counter, latency, resource, event, other (audit records and later kinds)
    kinds: [u64; 6],
    /// `Dropped` notices and the records they account for.
    drop_notices: u64,
    dropped: u64,
}

struct CountingSink(Arc<Mutex<Aggregate>>);

impl Sink for CountingSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut agg = self.0.lock().map_err(|_| SinkError::new("poisoned"))?;
        let agg = &mut *agg;
        // Each record's kind is its frame's first byte: nothing is decoded.
        for kind in batch.kinds() {
            agg.kinds[match kind {
                RecordKind::Metric => 0,
                RecordKind::Counter => 1,
                RecordKind::Latency => 2,
                RecordKind::Resource => 3,
                RecordKind::Event => 4,
                _ => 5,
            }] += 1;
        }
        // Keeping no kind leaves the drop notice alone.
        for rec in batch.iter_where(|_| false) {
            if let RecordView::Dropped { count, .. } = rec {
                agg.drop_notices += 1;
                agg.dropped += count;
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "counting"
    }
}

// ---------------------------------------------------------------------------------------------
// Output helpers

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds, human-sized: "412ns", "3.10µs", "1.25ms", "2.00s".
fn dur(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{:.2}µs", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

fn count_lines(path: &Path) -> io::Result<(u64, u64)> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((lines, bytes));
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn check(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}

// ---------------------------------------------------------------------------------------------

fn main() -> ExitCode {
    let cfg = match Config::from_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trading_engine: {e}");
            return ExitCode::from(2);
        }
    };
    #[cfg(not(feature = "http"))]
    if cfg.serve.is_some() || cfg.serve_for.is_some() {
        let addr = cfg.serve.as_deref().unwrap_or("127.0.0.1:9184");
        eprintln!(
            "trading_engine: --serve needs the `http` feature: rebuild with \
             `cargo run --release --features http --example trading_engine -- --serve {addr}`"
        );
        return ExitCode::from(2);
    }
    match run(&cfg) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("trading_engine: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &Config) -> Result<bool, Box<dyn std::error::Error>> {
    // A fresh log and file per run, so their counts can be checked against what was
    // delivered.
    for r in [std::fs::remove_file(OUT), std::fs::remove_dir_all(log::DIR)] {
        match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let agg = Arc::new(Mutex::new(Aggregate::default()));
    let base = match &cfg.config_file {
        // The file's settings (and the environment's overrides) instead of the example's.
        Some(path) => {
            let file = tickwatch::Config::load(path)?;
            println!(
                "config    {path}: valid ({:?} backpressure, level {})",
                file.pipeline.backpressure, file.pipeline.level
            );
            Telemetry::builder().with_config(file)
        }
        None => Telemetry::builder()
            .ring_capacity(1 << 20)
            .backpressure(cfg.backpressure)
            .level(Level::Info),
    };
    let mut builder = base
        .segment_log(
            tickwatch::store::SegmentLog::options(log::DIR)
                .samples(cfg.log_samples)
                .open()?,
        )
        .sink(CountingSink(agg.clone()));
    if cfg.json {
        builder = builder.sink(JsonLinesSink::create(OUT)?.samples(cfg.log_samples));
    }
    // With `--features otlp` and OTEL_EXPORTER_OTLP_ENDPOINT set: events and metrics to an
    // OpenTelemetry collector too.
    #[cfg(feature = "otlp")]
    let (builder, otlp) = otlp::start(builder)?;
    let backpressure = builder.config().pipeline.backpressure;
    let (builder, mut alerts) = monitoring::with_alerts(builder);
    let tw = builder.start()?;
    // With --config, edits to the file apply while the engine runs (levels, thresholds,
    // rules, routes, sinks); a bad edit is refused, audited and alerted.
    let _watch = match &cfg.config_file {
        Some(path) => Some(tw.watch_config(path, Duration::from_secs(1))?),
        None => None,
    };
    #[cfg(feature = "otlp")]
    if let Some(o) = &otlp {
        tw.export_metrics_to(o);
    }
    // The venue gateway logs through `tracing` and counts through `metrics`.
    #[cfg(all(feature = "tracing", feature = "metrics"))]
    gateway::install(&tw)?;
    // Served from the start, so a scraper sees the run live; the final values stay up after.
    #[cfg(feature = "http")]
    let server = match &cfg.serve {
        Some(addr) => Some(monitoring::serve(&tw, addr)?),
        None => None,
    };

    let rate = if cfg.rate == 0 {
        "unthrottled".to_string()
    } else {
        format!("at {} orders/s", thousands(cfg.rate))
    };
    println!(
        "tickwatch trading_engine{}: {:.1} s {rate}, {} strategies x {} venues, {:?} backpressure",
        if cfg.quick { " (quick)" } else { "" },
        cfg.secs,
        STRATEGIES.len(),
        VENUES.len(),
        backpressure,
    );

    let market = Market {
        mid: [10_000, 10_000, 10_000].map(AtomicI64::new),
        half_spread: [1, 1, 1].map(AtomicI64::new),
    };
    let positions = [AtomicI64::new(0), AtomicI64::new(0)];
    let (risk_depth, match_depth) = (AtomicI64::new(0), AtomicI64::new(0));
    let stop = AtomicBool::new(false);

    let started = Instant::now();
    let (mut calls, strategies, resting, expired) = thread::scope(|s| {
        let (to_risk, risk_rx) = mpsc::sync_channel::<Order>(4096);
        let (to_matching, matching_rx) = mpsc::sync_channel::<Order>(4096);
        // Every report sender lives in risk or matching, so a strategy's report channel
        // closes exactly when both are done.
        let (alpha_tx, alpha_rx) = mpsc::channel::<Report>();
        let (beta_tx, beta_rx) = mpsc::channel::<Report>();
        let (report_tx, report_rx) = ([alpha_tx, beta_tx], [alpha_rx, beta_rx]);
        let spawn = |name: &str| thread::Builder::new().name(name.to_string());

        let (tw, market, positions) = (&tw, &market, &positions);
        let (risk_depth, match_depth, stop) = (&risk_depth, &match_depth, &stop);
        let md = spawn("market-data").spawn_scoped(s, move || market_data(tw, market, stop))?;
        let rtx = report_tx.clone();
        let risk = spawn("risk").spawn_scoped(s, move || {
            risk(
                tw,
                market,
                positions,
                risk_depth,
                match_depth,
                risk_rx,
                to_matching,
                rtx,
            )
        })?;
        let matcher = spawn("matching")
            .spawn_scoped(s, move || matching(tw, match_depth, matching_rx, report_tx))?;
        #[cfg(all(feature = "tracing", feature = "metrics"))]
        let gw = spawn("gateway").spawn_scoped(s, move || gateway::run(stop))?;
        let mut strats = Vec::new();
        for (idx, rx) in report_rx.into_iter().enumerate() {
            let tx = to_risk.clone();
            strats.push(
                spawn(&format!("strat-{}", STRATEGIES[idx])).spawn_scoped(s, move || {
                    strategy(tw, idx, cfg, market, positions, risk_depth, tx, rx)
                })?,
            );
        }
        drop(to_risk);

        let mut calls = Calls::default();
        let mut outs = Vec::new();
        for h in strats {
            let out = h.join().expect("strategy thread panicked");
            calls.add(out.calls);
            outs.push(out);
        }
        stop.store(true, Relaxed);
        calls.add(md.join().expect("market-data thread panicked"));
        #[cfg(all(feature = "tracing", feature = "metrics"))]
        calls.add(gw.join().expect("gateway thread panicked"));
        calls.add(risk.join().expect("risk thread panicked"));
        let (c, resting, expired) = matcher.join().expect("matching thread panicked");
        calls.add(c);
        Ok::<_, io::Error>((calls, outs, resting, expired))
    })?;
    let elapsed = started.elapsed();

    // One dynamic event from the main thread as well: the session summary.
    let orders: u64 = strategies.iter().map(|o| o.sent).sum();
    let rejects: u64 = strategies.iter().map(|o| o.rejects).sum();
    tw.log_event(&Event {
        level: Level::Info,
        target: "trading_engine",
        message: "session closed",
        fields: &[
            ("orders", FieldRef::U64(orders)),
            ("rejects", FieldRef::U64(rejects)),
            ("resting", FieldRef::U64(resting as u64)),
            ("seconds", FieldRef::F64(elapsed.as_secs_f64())),
        ],
    });
    calls.event += 1;

    // `flush` also flushes the JSON file, so its lines can be counted with the instance
    // still up (it keeps serving with `--serve`). Alerts and the resource sampler publish
    // straight into the aggregates, not as records: the counts below stay exact.
    tw.flush()?;
    let stats = tw.stats();
    let agg = std::mem::take(&mut *agg.lock().map_err(|_| "sink state poisoned")?);
    let path = std::fs::canonicalize(OUT).unwrap_or_else(|_| PathBuf::from(OUT));
    let (lines, bytes) = if cfg.json {
        count_lines(&path)?
    } else {
        (0, 0)
    };

    // --- report -----------------------------------------------------------------------------
    let secs = elapsed.as_secs_f64();
    let trades = strategies.iter().map(|o| o.fills).sum::<u64>() / 2;
    println!(
        "ran {secs:.2} s: {} orders ({}/s), {} trades, {} risk rejects, {} resting, {} expired",
        thousands(orders),
        thousands((orders as f64 / secs) as u64),
        thousands(trades),
        thousands(rejects),
        thousands(resting as u64),
        thousands(expired),
    );
    let book = strategies
        .iter()
        .zip(STRATEGIES)
        .map(|(o, n)| format!("{n} pos {:+} pnl {:+.2}", o.position, o.pnl))
        .collect::<Vec<_>>()
        .join(" | ");
    println!("strategies: {book}");
    println!();
    let timer = tickwatch::clock_info();
    println!(
        "{:<25} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}   (timer: {} at {:.3} GHz, resolution {:.2} ns)",
        "latency",
        "count",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        timer.source,
        timer.ticks_per_second / 1e9,
        timer.resolution_ns,
    );
    let snapshot = tw.snapshot();
    let mut latency: Vec<_> = snapshot
        .series
        .iter()
        .filter_map(|s| match &s.value {
            // A tagged series shows its tag values: `gateway_ack_seconds{XNAS}`.
            SeriesValue::Latency(l) if s.tags.is_empty() => Some((s.name.clone(), l.total)),
            SeriesValue::Latency(l) => {
                let tags: Vec<&str> = s.tags.iter().map(|t| t.1.as_str()).collect();
                Some((format!("{}{{{}}}", s.name, tags.join(",")), l.total))
            }
            _ => None,
        })
        .collect();
    latency.sort_by(|a, b| a.0.cmp(&b.0));
    for (op, p) in latency {
        println!(
            "{:<25} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            op,
            thousands(p.count),
            dur(p.p50),
            dur(p.p90),
            dur(p.p99),
            dur(p.p999),
            dur(p.max),
        );
    }
    #[cfg(all(feature = "tracing", feature = "metrics"))]
    gateway::print_report(&tw);
    println!();
    let kinds = ["metric", "counter", "latency", "resource", "event", "other"];
    let seen: u64 = agg.kinds.iter().sum();
    println!(
        "records   {}",
        kinds
            .iter()
            .zip(agg.kinds)
            .filter(|&(k, n)| n > 0 || *k != "other")
            .map(|(k, n)| format!("{k} {}", thousands(n)))
            .collect::<Vec<_>>()
            .join(" · "),
    );
    println!(
        "          {} delivered to each sink; {} dropped, reported in {} notices",
        thousands(seen),
        thousands(agg.dropped),
        thousands(agg.drop_notices),
    );

    let conserved = calls.total() == stats.accepted + stats.dropped;
    let delivered = stats.accepted == stats.delivered;
    let sink_saw = seen == stats.delivered;
    // Every delivered record is a line, or (the default) events and audit records only.
    let logged = if cfg.log_samples {
        stats.delivered
    } else {
        agg.kinds[4] + agg.kinds[5]
    };
    let json_ok = !cfg.json || lines == logged + agg.drop_notices;
    println!(
        "stats     calls {} == accepted {} + dropped {}   {}",
        thousands(calls.total()),
        thousands(stats.accepted),
        thousands(stats.dropped),
        check(conserved),
    );
    println!(
        "          accepted {} == delivered {}   {}",
        thousands(stats.accepted),
        thousands(stats.delivered),
        check(delivered),
    );
    println!(
        "          series {}, threads retired {}, oversized {}, truncated {}, sink errors {}, decode errors {}; {} records/s",
        stats.series,
        stats.retired_threads,
        stats.oversized,
        stats.truncated,
        stats.sink_errors,
        stats.decode_errors,
        thousands((stats.accepted as f64 / secs) as u64),
    );
    if cfg.json {
        println!(
            "json      {} : {} lines, {:.1} MB   {}",
            path.display(),
            thousands(lines),
            bytes as f64 / 1e6,
            check(json_ok && sink_saw),
        );
    }
    let log_ok = log::print_written(&tw, logged + agg.drop_notices);
    let ok = conserved && delivered && sink_saw && json_ok && log_ok;
    if ok {
        println!(
            "OK: every call accounted for (accepted == delivered, calls == accepted + dropped)"
        );
    } else {
        println!("FAILED: calls by kind {calls:?}; sink saw {seen}, json lines {lines}; {stats:?}");
    }
    println!();
    monitoring::print_report(&tw, &mut alerts);
    println!();
    log::print_queries(&tw)?;
    #[cfg(feature = "http")]
    if let Some(server) = server {
        monitoring::keep_serving(server, &mut alerts, cfg.serve_for)?;
    }
    tw.shutdown()?;
    // After the shutdown delivered the last events: export them and the final metrics.
    #[cfg(feature = "otlp")]
    let ok = otlp::finish(otlp) && ok;
    // Sealed at shutdown: what `tickwatch-log stats tickwatch-out/log` counts.
    let written = tickwatch::store::LogReader::open(log::DIR)?
        .stats()?
        .records;
    let want = logged + agg.drop_notices;
    let ok = ok && written == want;
    if written != want {
        println!("FAILED: the log holds {written} records, {want} were sent to it");
    }
    println!("records written: {written}");
    Ok(ok)
}
