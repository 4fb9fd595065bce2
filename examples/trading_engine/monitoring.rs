//! The trading engine's monitoring: two alert rules, a route that hands their notifications
//! to the main thread, tickwatch's own cost against its budgets, the health printout and
//! (feature `http`) the `--serve` endpoint.
//!
//! The notifications go through a callback route, not `alert_log`: a logged alert is a
//! record of the instance, and the engine's closing check (`calls == accepted + dropped`)
//! counts only the calls the engine made itself. A rule may fire at any tick, so an alert
//! record could land between `flush` and `stats` and make that exact check racy.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use tickwatch::alerts::{
    CallbackSink, Expr, Horizon, LatencyStat, Notification, Rule, Selector, Severity,
    SeverityFilter,
};
use tickwatch::health::CostBudget;
use tickwatch::metrics::SeriesValue;
use tickwatch::{Telemetry, TelemetryBuilder};

/// A round trip (strategy -> risk -> matching -> strategy) slower than this at p99 over one
/// aggregation interval means the pipeline is backing up; a quick run's p99 is ~0.1 ms.
pub const ROUNDTRIP_P99_BOUND: Duration = Duration::from_millis(5);
/// Windows are this long, so the rules react within seconds (the default is 10 s).
pub const AGGREGATION_INTERVAL: Duration = Duration::from_secs(1);

/// The engine's alert rules.
///
/// - `order_roundtrip_p99_slow`: the order round trip's p99 over the last interval above
///   [`ROUNDTRIP_P99_BOUND`] for 2 s.
/// - `no_fills`: no `fills` sample in the last interval for 2 s: matching stalled or the
///   market closed. It fires while `--serve` keeps the process up after the workload.
pub fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "order_roundtrip_p99_slow",
            Expr::Latency {
                selector: Selector::new("order_roundtrip"),
                stat: LatencyStat::P99,
                horizon: Horizon::Window,
                above: ROUNDTRIP_P99_BOUND,
            },
        )
        .for_(Duration::from_secs(2))
        .severity(Severity::Warning)
        .label("team", "execution")
        .message("order round trip p99 above 5 ms"),
        Rule::new(
            "no_fills",
            Expr::Absent {
                selector: Selector::new("fills"),
            },
        )
        .for_(Duration::from_secs(2))
        .severity(Severity::Warning)
        .label("team", "execution")
        .message("no fills for 2 s: matching stalled or the market is closed"),
    ]
}

/// Alert notifications, received on the main thread.
pub struct AlertFeed {
    rx: Receiver<Notification>,
    /// Every notification received so far, in order.
    pub seen: Vec<Notification>,
}

/// Adds the rules and a route for every severity to `builder`.
pub fn with_alerts(builder: TelemetryBuilder) -> (TelemetryBuilder, AlertFeed) {
    let (tx, rx) = mpsc::channel();
    // Runs on the collector thread: only a channel send, never I/O there.
    let route = CallbackSink::new(move |n: &Notification| {
        let _ = tx.send(n.clone());
    });
    let builder = builder
        .aggregation_interval(AGGREGATION_INTERVAL)
        .alert_rules(rules())
        .alert_route("engine", SeverityFilter::all(), route);
    (
        builder,
        AlertFeed {
            rx,
            seen: Vec::new(),
        },
    )
}

impl AlertFeed {
    /// Takes what has arrived, without waiting.
    pub fn poll(&mut self) -> usize {
        let before = self.seen.len();
        self.seen.extend(self.rx.try_iter());
        self.seen.len() - before
    }

    /// Waits at most `timeout` for one notification.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub fn wait(&mut self, timeout: Duration) -> Option<&Notification> {
        match self.rx.recv_timeout(timeout) {
            Ok(n) => {
                self.seen.push(n);
                self.seen.last()
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// `firing order_roundtrip_p99_slow{team=execution} (warning): message`.
pub fn describe(n: &Notification) -> String {
    let labels = n
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{} {}{{{labels}}} ({}): {}",
        n.transition.as_str(),
        n.name,
        n.severity.as_str(),
        n.message
    )
}

/// The alert rules' and the health's part of the closing report.
pub fn print_report(tw: &Telemetry, feed: &mut AlertFeed) {
    feed.poll();
    let active = tw.active_alerts();
    println!(
        "alerts    {} rules, {} notifications, {} active{}",
        rules().len(),
        feed.seen.len(),
        active.len(),
        active
            .iter()
            .map(|a| format!(" · {} {:?}", a.name, a.state))
            .collect::<String>(),
    );
    for n in &feed.seen {
        println!("          {}", describe(n));
    }
    print_cost(tw);
    let health = tw.get_system_health();
    println!("health    {}", health.status);
    for c in &health.components {
        println!(
            "          {:<22} {:<9} {}",
            c.name,
            c.status.as_str(),
            c.message
        );
    }
}

/// tickwatch's own cost over the run, next to its budgets, from the resource gauges (one
/// sample a second): the collector's own work (its CPU minus the time inside the sinks) and
/// the time inside the sinks (JSON formatting and writing, the HDR sink). The health's
/// `tickwatch.budget` judges the last sample alone; this is the whole run. Per record is the
/// sum of the samples' ratios over the sum of their rates (the samples are ~1 s each).
fn print_cost(tw: &Telemetry) {
    let snap = tw.snapshot();
    let stats = |name: &str| match snap.find(name, &[]).map(|s| &s.value) {
        Some(SeriesValue::Gauge(g)) => Some(g.total),
        _ => None,
    };
    let (Some(own), Some(sink), Some(rate)) = (
        stats("tickwatch_collector_own_cpu_ratio"),
        stats("tickwatch_sink_cpu_ratio"),
        stats("tickwatch_records_per_second"),
    ) else {
        println!("cost      no resource sample yet");
        return;
    };
    let budget = CostBudget::default();
    let n = own.count.max(1) as f64;
    let per_record = |ratio_sum: f64| {
        if rate.sum > 0.0 {
            format!("{:.0} ns/record", ratio_sum / rate.sum * 1e9)
        } else {
            "no records".to_string()
        }
    };
    let k = |x: f64| super::thousands(x.round() as u64);
    println!(
        "cost      {} samples, {} records/s: collector own {:.1} % of a core ({}; budget {:.0} %) · sinks {:.1} % ({}; budget {:.0} %) · hot path ~{:.1} % (estimate, {} ns/record)",
        own.count,
        k(rate.sum / n),
        own.sum / n * 100.0,
        per_record(own.sum),
        budget.monitoring_cpu_ratio * 100.0,
        sink.sum / n * 100.0,
        per_record(sink.sum),
        budget.logging_cpu_ratio * 100.0,
        rate.sum / n * budget.hot_path_ns_per_record / 1e9 * 100.0,
        budget.hot_path_ns_per_record,
    );
    // Say plainly what the budgets allow at this rate, when the run went over one.
    let rate_mean = rate.sum / n;
    for (what, mean, max) in [
        (
            "collector's own work",
            own.sum / n,
            budget.monitoring_cpu_ratio,
        ),
        ("sinks", sink.sum / n, budget.logging_cpu_ratio),
    ] {
        if mean > max && rate_mean > 0.0 {
            println!(
                "          over budget: at {} records/s, {:.0} % of a core allows {:.0} ns/record for the {what}, measured {:.0}",
                k(rate_mean),
                max * 100.0,
                max / rate_mean * 1e9,
                mean / rate_mean * 1e9,
            );
        }
    }
}

/// Serves `/metrics`, `/health` and `/snapshot` on `addr` and prints the bound address
/// (`serving http://127.0.0.1:PORT/metrics`) on a line of its own, flushed, for scripts.
#[cfg(feature = "http")]
pub fn serve(
    tw: &Telemetry,
    addr: &str,
) -> Result<tickwatch::export::MetricsServer, Box<dyn std::error::Error>> {
    use std::io::Write;
    let server = tw
        .serve_metrics(addr)
        .map_err(|e| format!("--serve {addr}: {e}"))?;
    println!("serving http://{}/metrics", server.local_addr());
    std::io::stdout().flush()?;
    Ok(server)
}

/// After the workload: keeps serving, printing alert notifications as they come, until the
/// process is killed or `serve_for` has passed.
#[cfg(feature = "http")]
pub fn keep_serving(
    server: tickwatch::export::MetricsServer,
    feed: &mut AlertFeed,
    serve_for: Option<Duration>,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    match serve_for {
        Some(d) => println!(
            "serving http://{}/metrics for {:.1} s more",
            server.local_addr(),
            d.as_secs_f64()
        ),
        None => println!(
            "serving http://{}/metrics until killed (Ctrl-C)",
            server.local_addr()
        ),
    }
    std::io::stdout().flush()?;
    use std::time::Instant;
    let until = serve_for.map(|d| Instant::now() + d);
    loop {
        let wait = match until {
            Some(t) => match t.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(Duration::from_secs(1)),
                _ => break,
            },
            None => Duration::from_secs(1),
        };
        if let Some(n) = feed.wait(wait) {
            println!("alert     {}", describe(n));
            std::io::stdout().flush()?;
        }
    }
    server.stop()?;
    Ok(())
}
