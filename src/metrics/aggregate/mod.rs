//! The collector's per-series aggregates: counters, gauges and latency histograms, each over
//! two horizons (since start, and the current interval that becomes the snapshot's `window`
//! at each rollover).
//!
//! Owned by the instance behind one mutex: the collector locks it once per drained batch to
//! fold the batch in, and once per tick; [`crate::Telemetry::snapshot`] locks it to copy the
//! values out (names are attached after the lock is released). A single mutex rather than a
//! lock-free double buffer because the collector is its only writer and a snapshot is rare
//! (a scrape a second): an uncontended lock per batch costs ~20 ns, far below the batch.
//!
//! Series are indexed by their 32-bit id in a `Vec` (ids are dense, from 0). A series
//! appears in snapshots once at least one of its samples has been aggregated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::metrics::histogram::{clamp_ns, LatencyHistograms, Slot};
use crate::metrics::{
    Bucket, CounterValue, Description, GaugeStats, GaugeValue, LatencyValue, OwnTotals,
    Percentiles, SeriesSnapshot, SeriesValue, Snapshot, Unit, MAX_HELP_LEN,
};
use crate::pipeline::Shared;
use crate::record::{kind, FLAG_TICKS};
use crate::series::SeriesKind;
use crate::time::Conversion;
use crate::Timestamp;

/// Last, min, max, sum and count of the samples folded in so far.
#[derive(Debug, Clone, Copy)]
struct Stats {
    last: f64,
    last_ticks: u64,
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
}

impl Stats {
    const EMPTY: Stats = Stats {
        last: f64::NAN,
        last_ticks: 0,
        min: f64::NAN,
        max: f64::NAN,
        sum: 0.0,
        count: 0,
    };

    #[inline(always)]
    fn add(&mut self, v: f64, ticks: u64) {
        // The latest sample by its own timestamp, not by arrival: threads are drained in turn.
        if self.count == 0 || ticks >= self.last_ticks {
            self.last = v;
            self.last_ticks = ticks;
        }
        // `f64::min`/`max` return the other operand when one is NaN: NaN samples are counted
        // and summed but never become the min or max (unless every sample is NaN).
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.count += 1;
    }

    fn public(&self) -> Option<GaugeStats> {
        (self.count > 0).then_some(GaugeStats {
            last: self.last,
            min: self.min,
            max: self.max,
            sum: self.sum,
            count: self.count,
        })
    }
}

struct CounterState {
    total: u64,
    interval: u64,
    window: Option<u64>,
}

struct GaugeState {
    total: Stats,
    interval: Stats,
    window: Option<GaugeStats>,
    window_count: u64,
}

struct LatencyState {
    histograms: LatencyHistograms,
    /// Samples per exposition bucket (not cumulative): `per_bucket[i]` counts samples in
    /// `(bounds[i-1], bounds[i]]`; samples above the last bound are only in `total`.
    per_bucket: Box<[u64]>,
    clamped: u64,
    /// Since-start percentiles as of `cached_count` samples (recomputed only when changed).
    cached: Option<Percentiles>,
    window: Option<Percentiles>,
}

enum SeriesState {
    /// No sample yet (or an id of a kind that is not aggregated).
    Empty,
    Counter(CounterState),
    Gauge(GaugeState),
    Latency(Box<LatencyState>),
}

/// Latency exposition bounds and a lookup table into them.
struct Bounds {
    ns: Box<[u64]>,
    /// `first[k]`: index of the first bound `>= 2^k`, where the search for a value of octave
    /// `k` starts (then a step or two forward with the usual 1-2.5-5 bounds).
    first: [u8; 64],
}

impl Bounds {
    fn new(ns: Vec<u64>) -> Bounds {
        let mut first = [0u8; 64];
        for (k, f) in first.iter_mut().enumerate() {
            *f = ns.partition_point(|&b| b < 1u64 << k) as u8;
        }
        Bounds {
            ns: ns.into_boxed_slice(),
            first,
        }
    }

    /// Index of the first bound `>= v`, or `len` if `v` is above them all. `octave`: that of
    /// `v` (`63 - v.leading_zeros()`, any `v >= 1`).
    #[inline(always)]
    fn index(&self, v: u64, octave: usize) -> usize {
        let mut i = self.first[octave] as usize;
        while i < self.ns.len() && self.ns[i] < v {
            i += 1;
        }
        i
    }
}

/// Every series' aggregate, the interval clock, and the exposition bounds.
pub(crate) struct Aggregator {
    series: Vec<SeriesState>,
    /// Latency samples of the batch being folded, recorded by [`Aggregator::end_batch`].
    pending: Vec<(u32, u64)>,
    bounds: Bounds,
    started: Instant,
    interval_started: Instant,
    /// Length of the last completed interval (0 before the first rollover).
    window_secs: f64,
}

impl Aggregator {
    /// `bounds_ns`: validated latency bucket bounds (increasing, non-zero, at most 64).
    pub(crate) fn new(bounds_ns: Vec<u64>, now: Instant) -> Aggregator {
        Aggregator {
            series: Vec::new(),
            pending: Vec::new(),
            bounds: Bounds::new(bounds_ns),
            started: now,
            interval_started: now,
            window_secs: 0.0,
        }
    }

    #[inline(always)]
    fn state(&mut self, id: u32) -> &mut SeriesState {
        let i = id as usize;
        if i >= self.series.len() {
            self.series.resize_with(i + 1, || SeriesState::Empty);
        }
        &mut self.series[i]
    }

    /// Folds one sample record in. `kind` and `id` have been checked against the series table.
    #[inline]
    pub(crate) fn fold(
        &mut self,
        kind: u8,
        flags: u8,
        id: u32,
        ticks: u64,
        value: u64,
        conv: &Conversion,
    ) {
        match kind {
            kind::COUNTER => self.add_counter(id, value),
            kind::METRIC | kind::RESOURCE => self.set_gauge(id, f64::from_bits(value), ticks),
            kind::LATENCY => {
                let nanos = if flags & FLAG_TICKS != 0 {
                    conv.ticks_to_nanos(value)
                } else {
                    value
                };
                // Deferred to `end_batch`: recording is mostly waiting for the histogram's
                // counter to come from memory, and a short loop over the batch's samples lets
                // the CPU overlap those waits instead of paying them one by one.
                self.pending.push((id, nanos));
            }
            _ => {}
        }
    }

    /// Records the latency samples folded since the last call. The collector calls it once
    /// per batch, before releasing the lock.
    #[inline]
    pub(crate) fn end_batch(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for &(id, nanos) in &pending {
            self.record_latency(id, nanos);
        }
        pending.clear();
        self.pending = pending;
    }

    /// Adds to a counter (saturating).
    #[inline]
    pub(crate) fn add_counter(&mut self, id: u32, delta: u64) {
        let s = self.state(id);
        if let SeriesState::Empty = s {
            *s = SeriesState::Counter(CounterState {
                total: 0,
                interval: 0,
                window: None,
            });
        }
        if let SeriesState::Counter(c) = s {
            c.total = c.total.saturating_add(delta);
            c.interval = c.interval.saturating_add(delta);
        }
    }

    /// One gauge sample (a `Metric` or `Resource` series) taken at `ticks`.
    #[inline]
    pub(crate) fn set_gauge(&mut self, id: u32, v: f64, ticks: u64) {
        let s = self.state(id);
        if let SeriesState::Empty = s {
            *s = SeriesState::Gauge(GaugeState {
                total: Stats::EMPTY,
                interval: Stats::EMPTY,
                window: None,
                window_count: 0,
            });
        }
        if let SeriesState::Gauge(g) = s {
            g.total.add(v, ticks);
            g.interval.add(v, ticks);
        }
    }

    /// One latency sample in nanoseconds.
    #[inline]
    pub(crate) fn record_latency(&mut self, id: u32, nanos: u64) {
        let (v, clamped) = clamp_ns(nanos);
        let slot = Slot::of(v);
        // The raw value against the bounds, not the clamped one: a bound past the HDR range
        // (1 h) still counts exactly. 0 is below every (non-zero) bound, as 1 is.
        let raw = nanos.max(1);
        let bucket = self.bounds.index(raw, 63 - raw.leading_zeros() as usize);
        let buckets = self.bounds.ns.len();
        let s = self.state(id);
        if let SeriesState::Empty = s {
            *s = SeriesState::Latency(Box::new(LatencyState {
                histograms: LatencyHistograms::new(),
                per_bucket: vec![0; buckets].into_boxed_slice(),
                clamped: 0,
                cached: None,
                window: None,
            }));
        }
        if let SeriesState::Latency(l) = s {
            l.histograms.record(v, slot, nanos);
            if let Some(b) = l.per_bucket.get_mut(bucket) {
                *b += 1;
            }
            l.clamped += clamped as u64;
        }
    }

    /// Ends the current interval at `now`: it becomes every series' `window`.
    pub(crate) fn rollover(&mut self, now: Instant) {
        self.end_batch();
        self.window_secs = now
            .saturating_duration_since(self.interval_started)
            .as_secs_f64();
        self.interval_started = now;
        for s in &mut self.series {
            match s {
                SeriesState::Empty => {}
                SeriesState::Counter(c) => {
                    c.window = Some(c.interval);
                    c.interval = 0;
                }
                SeriesState::Gauge(g) => {
                    g.window = g.interval.public();
                    g.window_count = g.interval.count;
                    g.interval = Stats::EMPTY;
                }
                SeriesState::Latency(l) => {
                    l.window = l.histograms.rollover();
                }
            }
        }
    }

    /// Length in seconds of the last completed interval; 0 before the first rollover.
    pub(crate) fn window_secs(&self) -> f64 {
        self.window_secs
    }

    /// Time since the instance started.
    pub(crate) fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// The aggregate of one series, or `None` if it has no sample yet.
    pub(crate) fn value(&mut self, id: u32) -> Option<SeriesValue> {
        let window_secs = self.window_secs;
        let rate = |n: u64| {
            if window_secs > 0.0 {
                n as f64 / window_secs
            } else {
                0.0
            }
        };
        let bounds = &self.bounds.ns;
        Some(match self.series.get_mut(id as usize)? {
            SeriesState::Empty => return None,
            SeriesState::Counter(c) => SeriesValue::Counter(CounterValue {
                total: c.total,
                window: c.window,
                rate_per_sec: rate(c.window.unwrap_or(0)),
            }),
            SeriesState::Gauge(g) => SeriesValue::Gauge(GaugeValue {
                total: g.total.public()?,
                window: g.window,
                rate_per_sec: rate(g.window_count),
            }),
            SeriesState::Latency(l) => {
                let total = match l.cached {
                    Some(p) if p.count == l.histograms.count() => p,
                    _ => {
                        let p = l.histograms.total_percentiles()?;
                        l.cached = Some(p);
                        p
                    }
                };
                let mut cumulative = 0u64;
                let buckets = bounds
                    .iter()
                    .zip(l.per_bucket.iter())
                    .map(|(&b, &n)| {
                        cumulative += n;
                        Bucket {
                            le_secs: b as f64 / 1e9,
                            cumulative,
                        }
                    })
                    .collect();
                SeriesValue::Latency(LatencyValue {
                    total,
                    window: l.window,
                    sum_ns: l.histograms.sum(),
                    rate_per_sec: rate(l.window.map_or(0, |w| w.count)),
                    clamped: l.clamped,
                    buckets,
                })
            }
        })
    }

    /// Every series with a sample, by id, without names yet (see [`assemble`]): the
    /// final vector is built here, under the lock, so that no intermediate copy of 10,000
    /// values is made; names and tags are filled in after the lock is released.
    pub(crate) fn values(&mut self) -> Unnamed {
        self.end_batch();
        let n = self
            .series
            .iter()
            .filter(|s| !matches!(s, SeriesState::Empty))
            .count();
        let mut out = Unnamed {
            ids: Vec::with_capacity(n),
            series: Vec::with_capacity(n),
        };
        for id in 0..self.series.len() as u32 {
            if let Some(value) = self.value(id) {
                out.ids.push(id);
                out.series.push(SeriesSnapshot {
                    name: String::new(),
                    tags: Vec::new(),
                    // Placeholder until `assemble` reads the registry (Metric or Resource).
                    kind: SeriesKind::Metric,
                    value,
                });
            }
        }
        out
    }
}

/// The aggregates an instance's snapshot reads and its collector writes, with what
/// exposition needs beside them (the `describe` texts).
pub(crate) struct Aggregates {
    pub(crate) shared: Arc<Shared>,
    /// Written by the collector (once per batch and per tick), read by `snapshot()`: on
    /// lines of their own, apart from the pipeline's hot fields.
    pub(crate) aggregator: CachePadded<Mutex<Aggregator>>,
    /// [`Telemetry::describe`](crate::Telemetry::describe)'s HELP texts and units, by name.
    pub(crate) descriptions: Mutex<Vec<Description>>,
}

impl Aggregates {
    /// Empty aggregates for an instance, with its latency bucket bounds.
    pub(crate) fn new(shared: Arc<Shared>) -> Arc<Aggregates> {
        let aggregator = Aggregator::new(
            // Validated by `start()`: each fits in u64 nanoseconds.
            shared
                .config
                .latency_buckets
                .iter()
                .map(|d| d.as_nanos() as u64)
                .collect(),
            Instant::now(),
        );
        Arc::new(Aggregates {
            shared,
            aggregator: CachePadded::new(Mutex::new(aggregator)),
            descriptions: Mutex::new(Vec::new()),
        })
    }

    /// [`Telemetry::describe`](crate::Telemetry::describe), for every holder of the
    /// aggregates (the instance, the `metrics` recorder's `describe_*`).
    pub(crate) fn describe(&self, name: &str, help: &str, unit: Option<Unit>) -> bool {
        let mut cut = help.len().min(MAX_HELP_LEN);
        while !help.is_char_boundary(cut) {
            cut -= 1;
        }
        let description = Description {
            name: name.to_owned(),
            help: help[..cut].to_owned(),
            unit,
        };
        let mut all = self.descriptions.lock();
        if let Some(d) = all.iter_mut().find(|d| d.name == name) {
            *d = description;
            return true;
        }
        if all.len() >= self.shared.config.max_series {
            return false;
        }
        all.push(description);
        true
    }

    /// [`Telemetry::snapshot`], for holders of the aggregates (the metrics endpoint).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let taken_at = super::tick::wall_now();
        let (values, window, uptime) = {
            let mut agg = self.aggregator.lock();
            (agg.values(), agg.window_secs(), agg.uptime(now))
        };
        assemble(values, window, uptime, self, taken_at)
    }
}

/// Values copied out of the aggregates, waiting for their names.
pub(crate) struct Unnamed {
    ids: Vec<u32>,
    series: Vec<SeriesSnapshot>,
}

/// Attaches names, tags and kinds (from the registry) to values copied out by
/// [`Aggregator::values`]: done after the aggregates' lock is released, since cloning 10,000
/// names is most of a snapshot's cost.
pub(crate) fn assemble(
    values: Unnamed,
    window_secs: f64,
    uptime: Duration,
    aggregates: &Aggregates,
    taken_at: Timestamp,
) -> Snapshot {
    let shared = &*aggregates.shared;
    let registry = &shared.series;
    let mut infos = Vec::new();
    registry.refresh(&mut infos);
    let Unnamed { ids, mut series } = values;
    let mut keep = true;
    for (s, &id) in series.iter_mut().zip(&ids) {
        // Every aggregated id was registered first, so this always finds it.
        match infos.get(id as usize) {
            Some(info) => {
                s.name.push_str(info.name());
                s.tags = info.tags().to_vec();
                s.kind = info.kind();
            }
            None => keep = false,
        }
    }
    if !keep {
        series.retain(|s| !s.name.is_empty());
    }
    Snapshot {
        taken_at,
        uptime_secs: uptime.as_secs_f64(),
        window_secs,
        series,
        refused_series: registry
            .overflowed
            .load(std::sync::atomic::Ordering::Relaxed),
        totals: own_totals(shared),
        descriptions: aggregates.descriptions.lock().clone(),
    }
}

/// The instance's running totals for exposition as counters.
fn own_totals(shared: &Shared) -> OwnTotals {
    let stats = shared.stats();
    let cpu_ns = shared
        .progress
        .collector_cpu_ns
        .load(std::sync::atomic::Ordering::Relaxed);
    OwnTotals {
        accepted: stats.accepted,
        dropped: stats.dropped,
        delivered: stats.delivered,
        sink_errors: stats.sink_errors,
        // 0 until the sampler's first reading (or where thread CPU time is unreadable).
        collector_cpu_secs: (cpu_ns > 0).then(|| cpu_ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests;
