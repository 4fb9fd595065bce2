//! Command-line configuration.

use super::*;

pub(crate) struct Config {
    pub(crate) secs: f64,
    pub(crate) rate: u64,
    pub(crate) max_orders: u64,
    pub(crate) backpressure: Backpressure,
    pub(crate) quick: bool,
    /// `--json`: events (and audit records, drop reports) to a JSON-lines file too.
    pub(crate) json: bool,
    /// `--log-samples`: every sample to the log (and the JSON file), not only events.
    pub(crate) log_samples: bool,
    /// `--serve ADDR`: the metrics endpoint's address (needs the `http` feature).
    pub(crate) serve: Option<String>,
    /// `--serve-for S`: how long to keep serving after the report (default: until killed).
    pub(crate) serve_for: Option<Duration>,
    /// `--config FILE`: the instance's settings from a tickwatch configuration file
    /// (`examples/tickwatch.toml`), with `TICKWATCH_*` overrides, instead of the example's.
    pub(crate) config_file: Option<String>,
}

impl Config {
    pub(crate) fn from_args() -> Result<Config, String> {
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
