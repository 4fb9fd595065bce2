//! Register-once handles for the hot path: [`Metric`], [`Counter`], [`Latency`] and
//! [`Resource`].
//!
//! A handle is an `Arc` to its instance plus a 32-bit series id: cloning it is cheap, and
//! recording through it is one tick read and one 32-byte frame written into the calling
//! thread's ring. Aggregation happens on the collector, never here.

use crate::series::SeriesInfo;

use std::sync::Arc;
use std::time::Duration;

use crate::pipeline::Shared;
use crate::record::{kind, FLAG_TICKS};
use crate::time::now_ticks;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            shared: Arc<Shared>,
            info: Arc<SeriesInfo>,
            id: u32,
        }

        impl $name {
            pub(crate) fn new(shared: Arc<Shared>, info: Arc<SeriesInfo>) -> Self {
                let id = info.id();
                Self { shared, info, id }
            }

            /// The series this handle writes to.
            pub fn info(&self) -> &SeriesInfo {
                &self.info
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.info).finish()
            }
        }
    };
}

handle!(
    /// A gauge-like value series (position, spread, queue depth). `Clone + Send + Sync`.
    ///
    /// ```
    /// # let tw = tickwatch::Telemetry::builder().start().unwrap();
    /// let position = tw.metric("position", &[("venue", "XNAS")]);
    /// position.record(1.5); // hot path: no lock, no allocation
    /// ```
    Metric
);
handle!(
    /// A monotonic counter (orders sent, rejects). `Clone + Send + Sync`.
    ///
    /// ```
    /// # let tw = tickwatch::Telemetry::builder().start().unwrap();
    /// let sent = tw.counter("orders_sent", &[("venue", "XNAS")]);
    /// sent.add(1);
    /// ```
    Counter
);
handle!(
    /// A latency series, aggregated into an HDR histogram per operation.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let tw = tickwatch::Telemetry::builder().start().unwrap();
    /// let rt = tw.latency("order_roundtrip");
    /// rt.record(Duration::from_nanos(850));
    /// rt.record_nanos(850);
    /// {
    ///     let _timer = rt.start(); // records the elapsed time when dropped
    /// }
    /// ```
    Latency
);
handle!(
    /// A utilisation gauge (book depth, CPU share, memory), as `track_resource_usage` records.
    ///
    /// ```
    /// # let tw = tickwatch::Telemetry::builder().start().unwrap();
    /// tw.resource("order_book_depth").record(0.42);
    /// ```
    Resource
);

impl Metric {
    /// Records one sample. NaN and infinities are carried as they are.
    #[inline]
    pub fn record(&self, value: f64) {
        self.shared
            .push_sample(kind::METRIC, 0, self.id, value.to_bits());
    }
}

impl Counter {
    /// Adds `delta` to the counter.
    #[inline]
    pub fn add(&self, delta: u64) {
        self.shared.push_sample(kind::COUNTER, 0, self.id, delta);
    }

    /// Adds one.
    #[inline]
    pub fn increment(&self) {
        self.add(1);
    }
}

impl Latency {
    /// Records a duration (saturating at `u64::MAX` nanoseconds, ~584 years).
    #[inline]
    pub fn record(&self, d: Duration) {
        self.record_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records a duration in nanoseconds.
    #[inline]
    pub fn record_nanos(&self, nanos: u64) {
        self.shared.push_sample(kind::LATENCY, 0, self.id, nanos);
    }

    #[cfg(feature = "tracing")]
    /// Records a duration measured in raw clock ticks ([`crate::time`]); the collector
    /// converts it to nanoseconds (as for a [`LatencyTimer`]).
    #[inline]
    pub(crate) fn record_ticks(&self, ticks: u64) {
        self.shared
            .push_sample(kind::LATENCY, FLAG_TICKS, self.id, ticks);
    }

    /// Starts a timer that records the elapsed time when dropped. Both ends are raw clock
    /// ticks; the collector converts the difference to nanoseconds.
    #[inline]
    pub fn start(&self) -> LatencyTimer<'_> {
        LatencyTimer {
            latency: self,
            start: now_ticks(),
        }
    }
}

impl Resource {
    /// Records the current usage (a fraction, a byte count: whatever unit the name implies).
    #[inline]
    pub fn record(&self, usage: f64) {
        self.shared
            .push_sample(kind::RESOURCE, 0, self.id, usage.to_bits());
    }
}

/// Times a scope; records into its [`Latency`] on drop. See [`Latency::start`].
#[must_use = "the timer records when dropped; binding it to `_` drops it at once"]
#[derive(Debug)]
pub struct LatencyTimer<'a> {
    latency: &'a Latency,
    start: u64,
}

impl LatencyTimer<'_> {
    /// Stops now (same as dropping).
    pub fn stop(self) {}
}

impl Drop for LatencyTimer<'_> {
    #[inline]
    fn drop(&mut self) {
        let elapsed = now_ticks().saturating_sub(self.start);
        let l = self.latency;
        l.shared
            .push_sample(kind::LATENCY, FLAG_TICKS, l.id, elapsed);
    }
}
