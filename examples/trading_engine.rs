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
//! Events, audit records and drop reports go to a segment log (`./tickwatch-out/log/`, new
//! on every run: the previous run's is recovered, if it crashed, and kept in
//! `./tickwatch-out/log.previous/`; read it with `cargo run --bin tickwatch-log -- cat
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

#[path = "trading_engine/book.rs"]
mod book;
#[path = "trading_engine/config.rs"]
mod config;
#[cfg(all(feature = "tracing", feature = "metrics"))]
#[path = "trading_engine/gateway.rs"]
mod gateway;
#[path = "trading_engine/log.rs"]
mod log;
#[path = "trading_engine/market.rs"]
mod market;
#[path = "trading_engine/monitoring.rs"]
mod monitoring;
#[cfg(feature = "otlp")]
#[path = "trading_engine/otlp.rs"]
mod otlp;
#[path = "trading_engine/report.rs"]
mod report;
#[path = "trading_engine/threads.rs"]
mod threads;
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

use book::*;
use config::*;
use market::*;
use report::*;
use threads::*;

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
    // delivered; the previous run's log is recovered and kept aside, not deleted.
    match std::fs::remove_file(OUT) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    log::keep_previous()?;
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
    tw.close()?;
    // After the shutdown delivered the last events: export them and the final metrics.
    #[cfg(feature = "otlp")]
    let ok = otlp::finish(&tw, otlp) && ok;
    drop(tw);
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
