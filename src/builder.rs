//! Configuring an instance: [`TelemetryBuilder`], [`Backpressure`] and why a start can fail.

use std::fmt;
use std::time::Duration;

use crate::clock::Clock;
use crate::logging::Level;
use crate::record;
use crate::sink::Sink;
use crate::Telemetry;

/// What a thread does when its ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Wait (spin briefly, then yield) until the collector makes room. Nothing is lost. The
    /// default: a silent loss is worse than a slow call.
    #[default]
    Block,
    /// Return at once; the record is dropped, counted exactly per thread, and reported to the
    /// sinks as a `Dropped` record.
    Drop,
}

/// The default ring size per thread: 64 KiB, about 2,000 samples or 1,000 events.
pub const DEFAULT_RING_CAPACITY: usize = 64 * 1024;
/// The largest ring size accepted.
pub const MAX_RING_CAPACITY: usize = 1 << 30;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) ring_capacity: usize,
    pub(crate) backpressure: Backpressure,
    pub(crate) max_string_len: usize,
    pub(crate) level: Level,
    pub(crate) max_series: usize,
    pub(crate) idle_interval: Duration,
    pub(crate) max_idle_interval: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) aggregation_interval: Duration,
}

/// Configures and starts a [`Telemetry`].
///
/// ```
/// use tickwatch::{sink::MemorySink, Backpressure, Telemetry};
/// let tw = Telemetry::builder()
///     .ring_capacity(64 * 1024)
///     .backpressure(Backpressure::Block)
///     .sink(MemorySink::new())
///     .start()
///     .expect("valid configuration");
/// # drop(tw);
/// ```
#[must_use = "a builder does nothing until `.start()`"]
pub struct TelemetryBuilder {
    config: Config,
    sinks: Vec<Box<dyn Sink>>,
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                ring_capacity: DEFAULT_RING_CAPACITY,
                backpressure: Backpressure::Block,
                max_string_len: 1024,
                level: Level::Trace,
                max_series: 100_000,
                idle_interval: Duration::from_millis(1),
                max_idle_interval: Duration::from_millis(16),
                flush_timeout: Duration::from_secs(10),
                shutdown_timeout: Duration::from_secs(10),
                aggregation_interval: Duration::from_secs(10),
            },
            sinks: Vec::new(),
        }
    }
}

impl TelemetryBuilder {
    /// Bytes per thread ring: a power of two from 64 bytes to 1 GiB. Default 64 KiB. A record
    /// larger than half the ring can never be written and is dropped (counted as oversized).
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.config.ring_capacity = bytes;
        self
    }

    /// What a full ring does. Default [`Backpressure::Block`].
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.config.backpressure = policy;
        self
    }

    /// Adds a sink. Records go to every sink, in the order added.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds an already boxed sink.
    pub fn boxed_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Longest string field kept, in bytes (cut at a character boundary beyond, and the
    /// record flagged `truncated`). Default 1024; at most 65,535.
    pub fn max_string_len(mut self, bytes: usize) -> Self {
        self.config.max_string_len = bytes;
        self
    }

    /// Events below this level are not recorded (and not counted). Default `Trace` (all).
    pub fn level(mut self, level: Level) -> Self {
        self.config.level = level;
        self
    }

    /// Cap on distinct series. Past it, `try_*` registration fails with
    /// [`RegisterError::TooManySeries`](crate::RegisterError::TooManySeries) and the never-failing calls write to the kind's
    /// `tickwatch_overflow` series (counted in [`Stats::overflowed_series`](crate::Stats::overflowed_series)). Default 100,000.
    pub fn max_series(mut self, n: usize) -> Self {
        self.config.max_series = n;
        self
    }

    /// How long the collector first sleeps when every ring is empty (after a short spin).
    /// Each further idle round doubles the sleep up to [`TelemetryBuilder::max_idle_interval`];
    /// any record resets it. Lower means records reach the sinks sooner after a quiet spell,
    /// at more idle CPU. Default 1 ms.
    pub fn idle_interval(mut self, d: Duration) -> Self {
        self.config.idle_interval = d;
        self
    }

    /// The longest idle sleep of the collector. A producer that finds its ring full wakes the
    /// collector at once, so a long sleep delays delivery but never blocks a burst for long.
    /// Default 16 ms (measured idle cost: see README).
    pub fn max_idle_interval(mut self, d: Duration) -> Self {
        self.config.max_idle_interval = d;
        self
    }

    /// How long `flush()` waits before [`FlushError::Timeout`](crate::FlushError::Timeout). Default 10 s.
    pub fn flush_timeout(mut self, d: Duration) -> Self {
        self.config.flush_timeout = d;
        self
    }

    /// How long shutdown (explicit or on drop) waits for the collector. Default 10 s.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.shutdown_timeout = d;
        self
    }

    /// Length of the aggregation window: snapshot `window` values, rates and alert rules
    /// cover the last completed interval of this length. Default 10 s.
    pub fn aggregation_interval(mut self, d: Duration) -> Self {
        self.config.aggregation_interval = d;
        self
    }

    /// Validates the configuration and starts the collector thread.
    pub fn start(self) -> Result<Telemetry, StartError> {
        let c = &self.config;
        if !c.ring_capacity.is_power_of_two()
            || c.ring_capacity < crate::ring::MIN_CAPACITY
            || c.ring_capacity > MAX_RING_CAPACITY
        {
            return Err(StartError::RingCapacity {
                requested: c.ring_capacity,
            });
        }
        if c.max_string_len > record::MAX_STR_LEN {
            return Err(StartError::MaxStringLen {
                requested: c.max_string_len,
            });
        }
        if c.max_series == 0 || c.max_series > u32::MAX as usize {
            return Err(StartError::MaxSeries {
                requested: c.max_series,
            });
        }
        Clock::global();
        Telemetry::start(self.config, self.sinks).map_err(StartError::Spawn)
    }
}

/// Why [`TelemetryBuilder::start`] failed.
#[derive(Debug)]
pub enum StartError {
    /// `ring_capacity` is not a power of two between 64 bytes and 1 GiB: pick one, such as
    /// 65536.
    RingCapacity {
        /// What was asked for.
        requested: usize,
    },
    /// `max_string_len` is above 65,535 bytes (the record's length prefix): lower it.
    MaxStringLen {
        /// What was asked for.
        requested: usize,
    },
    /// `max_series` is 0 or above `u32::MAX`: pick a cap in between.
    MaxSeries {
        /// What was asked for.
        requested: usize,
    },
    /// The collector thread could not be spawned (the OS refused a thread).
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::RingCapacity { requested } => write!(
                f,
                "ring_capacity {requested} is not a power of two between 64 and {MAX_RING_CAPACITY} bytes: use e.g. 65536"
            ),
            StartError::MaxStringLen { requested } => {
                write!(f, "max_string_len {requested} exceeds 65535 bytes: lower it")
            }
            StartError::MaxSeries { requested } => {
                write!(f, "max_series {requested} must be between 1 and {}", u32::MAX)
            }
            StartError::Spawn(e) => write!(f, "could not spawn the collector thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
