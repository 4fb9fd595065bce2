//! [`MetricsRecorder`]: the `metrics` crate's `counter!`, `gauge!` and `histogram!` recorded
//! as tickwatch series, through the same rings as [`Counter`], [`Metric`] and [`Latency`].
//!
//! ```
//! let tw = tickwatch::Telemetry::builder().start()?;
//! metrics::with_local_recorder(&tw.metrics_recorder(), || {
//!     metrics::counter!("orders_sent", "venue" => "XNAS").increment(1)
//! });
//! tw.flush()?;
//! let snap = tw.snapshot();
//! let sent = snap.find("orders_sent", &[("venue", "XNAS")]).expect("registered");
//! assert!(matches!(&sent.value, tickwatch::metrics::SeriesValue::Counter(c) if c.total == 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a call travels
//!
//! `metrics::counter!("name")` asks the recorder for a handle on *every* call (the macro
//! caches nothing), so finding the handle is on the hot path of the by-name form. It is
//! found in two steps:
//!
//! 1. **This thread's cache** (lock-free, allocation-free): a hash table per thread and per
//!    recorder (a `thread_local::ThreadLocal`), probed with the key's precomputed hash
//!    (`Key::get_hash`) and confirmed by key equality. A hit clones an `Arc` owned by this
//!    thread: its reference count is on a line no other thread writes, so threads using
//!    the same key by name do not contend on it.
//! 2. **On a miss** (once per key and thread): the recorder's table under a mutex, where
//!    the key is registered as a tickwatch series the first time any thread sees it.
//!
//! The per-thread table lives in the recorder rather than in a `thread_local!` keyed by
//! recorder: it is freed with the recorder, so a thread that outlives a recorder (or an
//! instance) keeps neither its handles nor the instance alive, and no recorder id needs
//! checking on the hot path. Recording through the handle is then one push of a 32-byte
//! frame into the thread's ring, as for a [`Counter`]: no lock, no allocation.
//!
//! Keys the series cap refuses (see [`crate::metrics`]) are not cached anywhere: their
//! samples go to the kind's overflow series, and each by-name call with one costs a lock and
//! a registry lookup rather than memory per key.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use ::metrics::{CounterFn, GaugeFn, HistogramFn, Key, KeyName, Metadata, SharedString};
use hashbrown::HashTable;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::metrics::{Aggregates, Counter, Latency, Metric, Unit};
use crate::pipeline::Shared;
use crate::series::SeriesKind;

/// A `metrics::Recorder` writing tickwatch series; from
/// [`Telemetry::metrics_recorder`](crate::Telemetry::metrics_recorder). Install it with
/// [`MetricsRecorder::install`] (the process's recorder) or use it for a scope with
/// [`MetricsRecorder::with_local`]. Clones share their handles and state.
///
/// # Mapping
///
/// * `counter!` → a counter series: `increment(n)` adds `n`; `absolute(v)` adds the rise of
///   `v` over the highest `absolute` value this key has seen (never negative; increments do
///   not count towards that highest value, so a key should use one or the other).
/// * `gauge!` → a gauge-like ([`Metric`]) series: the gauge's current value is kept in the
///   handle, and every `set`, `increment` and `decrement` records the new value as a sample
///   (the last sample wins in the aggregate).
/// * `histogram!` → a latency series (an HDR histogram, exported in seconds) when the key's
///   name was described with a time unit (`Seconds`, `Milliseconds`, `Microseconds`,
///   `Nanoseconds`) *before* its first registration, or else when it ends with `_seconds`
///   (values in seconds) or `_nanoseconds` / `_ns` (values in nanoseconds). Values are
///   converted to nanoseconds; a negative, NaN or infinite value cannot be a duration and is
///   recorded as 0 and counted in [`MetricsRecorder::clamped_latencies`]. Any other
///   histogram is a gauge-like sample series (values as given).
/// * Labels → tags, in label order. Names and tags are given to tickwatch as they are
///   (tickwatch fixes up and counts bad ones). Keys equal for `metrics` (same labels in
///   another order) share one series. The metadata (level, target) is ignored.
/// * `describe_*` → [`Telemetry::describe`](crate::Telemetry::describe): the HELP text, and
///   the unit where tickwatch has it (`Bytes`, `Count`, time units for a latency). Other
///   units (a gauge in `Milliseconds`, `Percent`, ...) are not rescaled: they are noted at
///   the end of the HELP text as ` (unit: milliseconds)`.
///
/// Each recorder keeps its own gauge values and `absolute` highs: use one recorder per
/// instance.
#[derive(Clone)]
pub struct MetricsRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    aggregates: Arc<Aggregates>,
    /// The first handle made for each key (other threads copy it) and the histogram time
    /// units described so far: only touched on a thread's first sight of a key.
    cold: Mutex<Cold>,
    /// Each thread's own copies of the handles it has used.
    local: ThreadLocal<RefCell<Tables>>,
    /// Latency values that were negative, NaN or infinite (recorded as 0).
    clamped: Arc<AtomicU64>,
}

#[derive(Default)]
struct Cold {
    tables: Tables,
    /// Nanoseconds per unit of the histogram names described with a time unit.
    time_units: crate::hash::KeyedMap<String, f64>,
}

/// Handles by `metrics` key, one table per kind.
#[derive(Default)]
struct Tables {
    counters: Table<CounterHandle>,
    gauges: Table<GaugeHandle>,
    histograms: Table<HistogramHandle>,
}

/// A hash table from `metrics` keys to `Arc`'d handles, hashed by `Key::get_hash`.
struct Table<H>(HashTable<(Key, Arc<H>)>);

impl<H> Default for Table<H> {
    fn default() -> Self {
        Table(HashTable::new())
    }
}

impl<H> Table<H> {
    #[inline]
    fn get(&self, key: &Key) -> Option<&Arc<H>> {
        let hash = key.get_hash();
        self.0.find(hash, |(k, _)| k == key).map(|(_, h)| h)
    }

    fn insert(&mut self, key: &Key, handle: Arc<H>) {
        // A clone of a key of `'static` parts (what the macros pass) allocates nothing.
        let entry = (key.clone(), handle);
        self.0
            .insert_unique(entry.0.get_hash(), entry, |(k, _)| k.get_hash());
    }
}

impl MetricsRecorder {
    pub(crate) fn new(shared: Arc<Shared>, aggregates: Arc<Aggregates>) -> Self {
        let inner = Inner {
            shared,
            aggregates,
            cold: Mutex::new(Cold::default()),
            local: ThreadLocal::new(),
            clamped: Arc::new(AtomicU64::new(0)),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Makes this recorder the process's global `metrics` recorder: every `counter!`,
    /// `gauge!` and `histogram!` on any thread (outside a `with_local_recorder` scope) is
    /// recorded by it from now on. The global recorder can be set only once per process.
    ///
    /// # Errors
    ///
    /// [`InstallRecorderError`] if a global recorder was already set (this one or another).
    pub fn install(self) -> Result<(), InstallRecorderError> {
        ::metrics::set_global_recorder(self).map_err(|_| InstallRecorderError { _private: () })
    }

    /// Runs `f` with this recorder as the calling thread's `metrics` recorder (other threads
    /// and the global recorder are untouched): for tests, which cannot each install a global
    /// recorder. Handles registered inside keep recording here after `f` returns.
    pub fn with_local<T>(&self, f: impl FnOnce() -> T) -> T {
        ::metrics::with_local_recorder(self, f)
    }

    /// Histogram values recorded to a latency series that were negative, NaN or infinite,
    /// and recorded as 0 instead (a latency cannot be any of these).
    pub fn clamped_latencies(&self) -> u64 {
        self.inner.clamped.load(Relaxed)
    }
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("instance", &self.inner.shared.id)
            .finish_non_exhaustive()
    }
}

/// Why [`MetricsRecorder::install`] failed: the process already has a global `metrics`
/// recorder, which `metrics` lets be set only once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallRecorderError {
    _private: (),
}

impl fmt::Display for InstallRecorderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a global `metrics` recorder was already set for this process (it can be set only \
             once): install one recorder at startup, and in tests use \
             `metrics::with_local_recorder` (or `MetricsRecorder::with_local`) instead",
        )
    }
}

impl std::error::Error for InstallRecorderError {}

impl ::metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<::metrics::Unit>, help: SharedString) {
        self.inner
            .describe(key.as_str(), plain_unit(unit), unit, &help);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<::metrics::Unit>, help: SharedString) {
        self.inner
            .describe(key.as_str(), plain_unit(unit), unit, &help);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<::metrics::Unit>, help: SharedString) {
        let name = key.as_str();
        let scale = unit.and_then(nanos_per_unit);
        let latency = self.inner.cold.lock().describe_histogram(name, scale);
        // A latency is exported in seconds whatever unit its values came in.
        let tw_unit = if latency {
            Some(Unit::Seconds)
        } else {
            plain_unit(unit)
        };
        self.inner.describe(name, tw_unit, unit, &help);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Counter {
        let h = self.inner.handle(
            key,
            |t| &mut t.counters,
            |inner, _| {
                let (info, refused) = inner.series(SeriesKind::Counter, key);
                let series = Counter::new(inner.shared.clone(), info);
                let highest = Arc::new(AtomicU64::new(0));
                (CounterHandle { series, highest }, refused)
            },
        );
        ::metrics::Counter::from_arc(h)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Gauge {
        let h = self.inner.handle(
            key,
            |t| &mut t.gauges,
            |inner, _| {
                let (info, refused) = inner.series(SeriesKind::Metric, key);
                let series = Metric::new(inner.shared.clone(), info);
                let bits = Arc::new(AtomicU64::new(0f64.to_bits()));
                (GaugeHandle { series, bits }, refused)
            },
        );
        ::metrics::Gauge::from_arc(h)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> ::metrics::Histogram {
        let h = self.inner.handle(
            key,
            |t| &mut t.histograms,
            |inner, cold| match cold.latency_scale(key.name()) {
                Some(nanos_per_unit) => {
                    let (info, refused) = inner.series(SeriesKind::Latency, key);
                    let series = Latency::new(inner.shared.clone(), info);
                    let clamped = inner.clamped.clone();
                    let h = LatencyHandle {
                        series,
                        nanos_per_unit,
                        clamped,
                    };
                    (HistogramHandle::Latency(h), refused)
                }
                None => {
                    let (info, refused) = inner.series(SeriesKind::Metric, key);
                    let series = Metric::new(inner.shared.clone(), info);
                    (HistogramHandle::Samples(series), refused)
                }
            },
        );
        ::metrics::Histogram::from_arc(h)
    }
}

impl Inner {
    /// The calling thread's handle for `key`: from its cache, or (first sight) made by
    /// `make` or copied from the one another thread made, and cached.
    #[inline]
    fn handle<H: Clone>(
        &self,
        key: &Key,
        pick: fn(&mut Tables) -> &mut Table<H>,
        make: impl FnOnce(&Inner, &Cold) -> (H, bool),
    ) -> Arc<H> {
        let local = self.local.get_or_default();
        // `try_borrow_mut`: nothing re-enters the recorder while the table is borrowed, but
        // if something ever did, it would take the uncached path rather than panic.
        if let Ok(mut tables) = local.try_borrow_mut() {
            if let Some(h) = pick(&mut tables).get(key) {
                return h.clone();
            }
        }
        self.miss(local, key, pick, make)
    }

    #[cold]
    #[inline(never)]
    fn miss<H: Clone>(
        &self,
        local: &RefCell<Tables>,
        key: &Key,
        pick: fn(&mut Tables) -> &mut Table<H>,
        make: impl FnOnce(&Inner, &Cold) -> (H, bool),
    ) -> Arc<H> {
        let mine = {
            let mut cold = self.cold.lock();
            if let Some(first) = pick(&mut cold.tables).get(key) {
                // Another thread made it: a copy of our own, sharing its state (the `Arc`s
                // inside) but not its reference count.
                Arc::new(H::clone(first))
            } else {
                let (h, refused) = make(self, &cold);
                let h = Arc::new(h);
                if refused {
                    // Not cached: the cap exists to bound memory, and this key would hold
                    // some in every table it reached.
                    return h;
                }
                pick(&mut cold.tables).insert(key, h.clone());
                h
            }
        };
        if let Ok(mut tables) = local.try_borrow_mut() {
            pick(&mut tables).insert(key, mine.clone());
        }
        mine
    }

    /// Registers the tickwatch series of `key`: its series, and whether the cap refused it
    /// (it is then the kind's overflow series).
    fn series(&self, kind: SeriesKind, key: &Key) -> (Arc<crate::series::SeriesInfo>, bool) {
        let tags: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let r = self.shared.series.resolve(kind, key.name(), &tags, None);
        (r.info, r.refused)
    }

    /// Passes a description on, noting a `metrics` unit tickwatch has no word for.
    fn describe(&self, name: &str, tw: Option<Unit>, unit: Option<::metrics::Unit>, help: &str) {
        match unit {
            Some(u) if tw.is_none() => {
                let help = format!("{help} (unit: {})", u.as_str());
                self.aggregates.describe(name, &help, None)
            }
            _ => self.aggregates.describe(name, help, tw),
        };
    }
}

impl Cold {
    /// Notes the time unit a histogram name was described with (`None`: not a time unit),
    /// and says whether the name's histograms are latencies.
    fn describe_histogram(&mut self, name: &str, scale: Option<f64>) -> bool {
        let mut registered = self.tables.histograms.0.iter();
        let registered = registered.find(|(k, _)| k.name() == name);
        match registered {
            // The name already has a series: its kind, and so the meaning of its values,
            // can no longer change; every other label set of the name follows it.
            Some((_, h)) => matches!(**h, HistogramHandle::Latency(_)),
            None => {
                match scale {
                    Some(scale) => self.time_units.insert(name.to_owned(), scale),
                    None => self.time_units.remove(name),
                };
                self.latency_scale(name).is_some()
            }
        }
    }

    /// Nanoseconds per value of a histogram called `name`, if it is a latency: a time unit
    /// it was described with, else its name's suffix.
    fn latency_scale(&self, name: &str) -> Option<f64> {
        if let Some(&scale) = self.time_units.get(name) {
            return Some(scale);
        }
        if name.ends_with("_seconds") {
            Some(1e9)
        } else if name.ends_with("_nanoseconds") || name.ends_with("_ns") {
            Some(1.0)
        } else {
            None
        }
    }
}

/// Nanoseconds per unit, for the time units.
fn nanos_per_unit(unit: ::metrics::Unit) -> Option<f64> {
    use ::metrics::Unit as U;
    match unit {
        U::Seconds => Some(1e9),
        U::Milliseconds => Some(1e6),
        U::Microseconds => Some(1e3),
        U::Nanoseconds => Some(1.0),
        _ => None,
    }
}

/// The tickwatch unit of values given in `unit`, unscaled: values in seconds are seconds
/// (a gauge of ages, a counter of busy time); other time units would need rescaling, which
/// only a latency gets (see `describe_histogram`).
fn plain_unit(unit: Option<::metrics::Unit>) -> Option<Unit> {
    match unit? {
        ::metrics::Unit::Bytes => Some(Unit::Bytes),
        ::metrics::Unit::Count => Some(Unit::Count),
        ::metrics::Unit::Seconds => Some(Unit::Seconds),
        _ => None,
    }
}

/// A `metrics` counter: a tickwatch counter, and the highest `absolute` value seen.
#[derive(Clone)]
struct CounterHandle {
    series: Counter,
    highest: Arc<AtomicU64>,
}

impl CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.series.add(value);
    }

    fn absolute(&self, value: u64) {
        // `fetch_max`: of two threads racing with absolute values, each adds only its own
        // rise over what the other already added, so the total is the highest value.
        let before = self.highest.fetch_max(value, Relaxed);
        if value > before {
            self.series.add(value - before);
        }
    }
}

/// A `metrics` gauge: its current value (`f64` bits) and the series its values go to.
#[derive(Clone)]
struct GaugeHandle {
    series: Metric,
    bits: Arc<AtomicU64>,
}

impl GaugeHandle {
    /// Applies `f` to the current value atomically, and records the result.
    #[inline]
    fn update(&self, f: impl Fn(f64) -> f64) {
        let step = |bits: u64| Some(f(f64::from_bits(bits)).to_bits());
        // The closure always returns `Some`: `fetch_update` cannot fail.
        let before = match self.bits.fetch_update(Relaxed, Relaxed, step) {
            Ok(b) | Err(b) => b,
        };
        self.series.record(f(f64::from_bits(before)));
    }
}

impl GaugeFn for GaugeHandle {
    #[inline]
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Relaxed);
        self.series.record(value);
    }
}

/// A `metrics` histogram: a latency series or a sample series.
#[derive(Clone)]
enum HistogramHandle {
    Latency(LatencyHandle),
    Samples(Metric),
}

#[derive(Clone)]
struct LatencyHandle {
    series: Latency,
    nanos_per_unit: f64,
    clamped: Arc<AtomicU64>,
}

impl HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        match self {
            HistogramHandle::Samples(m) => m.record(value),
            HistogramHandle::Latency(l) => {
                // Written so that NaN fails the test too.
                let nanos = if value >= 0.0 && value.is_finite() {
                    // `as` saturates: an absurdly long duration is kept as the longest one.
                    (value * l.nanos_per_unit).round() as u64
                } else {
                    l.clamped.fetch_add(1, Relaxed);
                    0
                };
                l.series.record_nanos(nanos);
            }
        }
    }
}
