//! [`TracingLayer`]: `tracing` events and spans recorded as tickwatch records.
//!
//! # How an event travels
//!
//! 1. **Once per call site** (`register_callsite`, or the first event if tracing never asked):
//!    the layer decides from its filters whether it wants the call site (the answer is
//!    cached by tracing as `Interest::always` or `never`, so a filtered-out call site costs
//!    what tracing's own disabled fast path costs), and turns its metadata into a tickwatch
//!    [`Callsite`](crate::logging::Callsite): level, target, file, line and the field names, registered in the
//!    process-wide call-site table that `event!` uses. When the call site has a message, the
//!    tickwatch call site's message is `"{}"` with one argument, the rendered message, so a
//!    sink formats it exactly as it formats an `event!` message argument.
//! 2. **Per event** (`on_event`): one probe of a lock-free table (the tracing metadata's
//!    address to the call site), then a `Visit` that copies each typed value into a
//!    per-thread scratch buffer (integers, floats and bools as they are; `&str` copied; the
//!    message, `?debug`, `%display` and error values rendered into the scratch, never past
//!    `max_string_len` plus a few bytes: a longer rendering is cut at a character boundary
//!    and the record flagged `truncated`), then one push of the same binary `Event` record
//!    [`event!`](crate::event!) writes. No `String`, no `format!`, no allocation once the
//!    thread's scratch and ring exist.
//!
//! Rendering the message on the calling thread is the one formatting step that cannot be
//! moved: `tracing` hands it over as `fmt::Arguments`, whose arguments are type-erased. For
//! a message without arguments (`info!("order filled", ...)`) it is one copy of the literal.
//!
//! # Spans
//!
//! Opt-in, per span name or target ([`TracingLayer::span_latency`]): the time from a span's
//! creation to its close is recorded as a latency under the span's name, in clock ticks
//! converted on the collector, as a [`LatencyTimer`](crate::LatencyTimer) records. The
//! start is kept in the span's registry extensions, which box it: **one small allocation
//! per timed span** (the registry's, on span creation). Spans not opted in cost tickwatch
//! nothing beyond the registry's own bookkeeping.
//!
//! Opt-in too ([`TracingLayer::span_fields`]): the fields of the spans an event is in,
//! attached to it; what that costs is in [`TracingLayer::span_fields`].

mod filter;
mod scratch;
mod span_fields;
mod table;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tracing_core::span::{Attributes, Id};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::logging::Level;
use crate::pipeline::Shared;
use crate::time::now_ticks;

use filter::Filters;
pub use filter::TargetFilterError;
use scratch::record_event;
use span_fields::{Collect, SpanFields};
use table::{Site, SiteTable};

/// A `tracing-subscriber` [`Layer`](tracing_subscriber::Layer) that records `tracing`
/// events into a tickwatch instance, made by
/// [`Telemetry::tracing_layer`](crate::Telemetry::tracing_layer).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use tickwatch::sink::{MemorySink, Record};
/// use tickwatch::{Level, Telemetry, Value};
///
/// let mem = MemorySink::new();
/// let tw = Telemetry::builder().sink(mem.clone()).start()?;
/// let layer = tw
///     .tracing_layer()
///     .level(Level::Info) // everything below Info is off (tracing's fast path)
///     .target("engine::book", Level::Warn)?; // and this module only Warn or worse
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(order_id = 42u64, px = 101.25, venue = "XNAS", "order filled");
///     tracing::debug!("not recorded");
/// });
/// tw.flush()?;
/// let records = mem.records();
/// assert_eq!(records.len(), 1);
/// let Record::Event { message, fields, .. } = &records[0] else { panic!() };
/// assert_eq!(message, "order filled");
/// assert_eq!(fields[0], ("order_id".to_string(), Value::U64(42)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Filters
///
/// [`level`](TracingLayer::level) and [`target`](TracingLayer::target) decide per call site,
/// once; the instance's own level ([`TelemetryBuilder::level`](crate::TelemetryBuilder::level))
/// applies too. Like any plain `Layer`'s, they are global to the subscriber it is in: a
/// call site this layer refuses is off for the layers beside it as well. To filter tickwatch
/// alone next to, say, a `fmt` layer (or two instances' layers at different levels, where
/// the stricter `.level` would win for both), leave these at their defaults and wrap the
/// layer in `tracing_subscriber::Layer::with_filter`, which the layer supports.
///
/// The builder methods return a new layer with an empty call-site table: call them before
/// the layer is put into a subscriber (a clone taken before them sees the old layer).
#[derive(Clone)]
pub struct TracingLayer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    filters: Filters,
    sites: SiteTable,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    register_calls: AtomicU64,
    callsites: AtomicU64,
    enabled_calls: AtomicU64,
    spans_timed: AtomicU64,
}

/// What a [`TracingLayer`] has done, for tests and diagnostics:
/// [`TracingLayer::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TracingLayerStats {
    /// `register_callsite` calls: once per call site, and again for every known call site
    /// whenever tracing rebuilds its interest cache (a subscriber set or dropped), never
    /// per event.
    pub register_callsite_calls: u64,
    /// Call sites described to the layer (`register_callsite`, or the first event of a call
    /// site tracing registered before the layer existed). Once per call site.
    pub callsites: u64,
    /// `enabled` calls: tracing asks only for call sites whose interest it could not cache
    /// (several subscribers disagreeing); 0 in the usual single-subscriber process.
    pub enabled_calls: u64,
    /// Call sites known to the layer (events and spans, wanted or not).
    pub known_callsites: u64,
    /// Spans whose duration was recorded ([`TracingLayer::span_latency`]).
    pub spans_timed: u64,
}

impl std::fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingLayer")
            .field("instance", &self.inner.shared.id)
            .field("filters", &self.inner.filters)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TracingLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self::with_filters(shared, Filters::default())
    }

    fn with_filters(shared: Arc<Shared>, filters: Filters) -> Self {
        TracingLayer {
            inner: Arc::new(Inner {
                shared,
                filters,
                sites: SiteTable::new(),
                counters: Counters::default(),
            }),
        }
    }

    fn rebuild(self, change: impl FnOnce(&mut Filters)) -> Self {
        let mut filters = self.inner.filters.clone();
        change(&mut filters);
        Self::with_filters(self.inner.shared.clone(), filters)
    }

    /// Records events and spans at `level` or above (default: every level the instance
    /// records). A target rule ([`TracingLayer::target`]) overrides it for its targets.
    pub fn level(self, level: Level) -> Self {
        self.rebuild(|f| f.default = level)
    }

    /// Records events and spans whose target is `target` or one of its submodules
    /// (`"engine"` covers `engine` and `engine::risk`, not `engine2`) at `level` or above;
    /// the longest matching target wins over shorter ones and over [`TracingLayer::level`].
    /// An empty target, or one with whitespace, `"` or `=`, is refused.
    pub fn target(
        self,
        target: impl Into<String>,
        level: Level,
    ) -> Result<Self, TargetFilterError> {
        let target = filter::check_target(target.into())?;
        Ok(self.rebuild(|f| f.set_target(target, level)))
    }

    /// Records the duration of every span named `name_or_target`, or whose target is it or
    /// one of its submodules, as a latency under the span's name (from creation to close;
    /// one allocation per timed span, see the [module docs](crate::adapters::tracing_layer)). May be called several
    /// times.
    pub fn span_latency(self, name_or_target: impl Into<String>) -> Self {
        let pattern = name_or_target.into();
        self.rebuild(|f| f.span_latency.push(pattern))
    }

    /// Attaches to every event the fields of the spans it is in (after its own, from the
    /// outermost span in; a name already present is repeated, not replaced).
    ///
    /// What it costs, and why it is off by default: each span with fields keeps them as
    /// owned values in its registry extensions (copied and boxed at creation and on
    /// `record`), and an event inside such spans is written as a dynamic event (the
    /// [`log_event`](crate::Telemetry::log_event) record: every field name travels with it,
    /// no source location) built with a few allocations on the calling thread. Events
    /// outside spans with fields keep the allocation-free path.
    pub fn span_fields(self, on: bool) -> Self {
        self.rebuild(|f| f.span_fields = on)
    }

    /// What the layer has done so far.
    pub fn stats(&self) -> TracingLayerStats {
        let c = &self.inner.counters;
        TracingLayerStats {
            register_callsite_calls: c.register_calls.load(Relaxed),
            callsites: c.callsites.load(Relaxed),
            enabled_calls: c.enabled_calls.load(Relaxed),
            known_callsites: self.inner.sites.len() as u64,
            spans_timed: c.spans_timed.load(Relaxed),
        }
    }

    /// The level tracing should let through at all: the lowest any rule admits, and never
    /// below the instance's own level.
    fn floor(&self) -> Level {
        // Never below the lowest level the instance records at (its level, or a lower
        // per-target level).
        self.inner
            .filters
            .lowest()
            .max(self.inner.shared.targets.floor())
    }

    /// Whether the instance's levels (its level and per-target levels, as the last reload
    /// left them) admit this call site.
    fn instance_admits(&self, meta: &Metadata<'_>) -> bool {
        let level = level_of(meta.level());
        let targets = &self.inner.shared.targets;
        targets.passes_floor(level) && (targets.is_empty() || targets.admits(meta.target(), level))
    }

    /// This call site's entry, made on first sight (cold: one lock, a few allocations).
    #[inline]
    fn site(&self, meta: &'static Metadata<'static>) -> &Site {
        match self.inner.sites.get(meta) {
            Some(site) => site,
            None => self.register(meta),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&self, meta: &'static Metadata<'static>) -> &Site {
        let inner = &*self.inner;
        inner.sites.insert(meta, || {
            inner.counters.callsites.fetch_add(1, Relaxed);
            Site::new(meta, &inner.filters, &inner.shared)
        })
    }
}

/// tracing's level as tickwatch's (tracing orders by verbosity, tickwatch by severity).
pub(crate) fn level_of(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

/// Keeps a timed span's start in its registry extensions.
struct SpanStart(u64);

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.inner.counters.register_calls.fetch_add(1, Relaxed);
        // The layer's own filters are fixed; the instance's levels can change with a
        // reload, which rebuilds tracing's interest cache so this runs again.
        if self.site(meta).wanted && self.instance_admits(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.inner.counters.enabled_calls.fetch_add(1, Relaxed);
        // `meta` is not `'static` here in the type, but every tracing call site's is: decide
        // from the filters directly rather than through the table.
        let level = level_of(meta.level());
        self.inner.shared.targets.admits(meta.target(), level)
            && self.inner.filters.admits(meta.target(), level)
    }

    fn max_level_hint(&self) -> Option<tracing_core::LevelFilter> {
        Some(match self.floor() {
            Level::Trace => tracing_core::LevelFilter::TRACE,
            Level::Debug => tracing_core::LevelFilter::DEBUG,
            Level::Info => tracing_core::LevelFilter::INFO,
            Level::Warn => tracing_core::LevelFilter::WARN,
            Level::Error => tracing_core::LevelFilter::ERROR,
        })
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let site = self.site(event.metadata());
        let (true, Some(ev)) = (site.wanted, &site.event) else {
            return;
        };
        // The instance's levels as they are now (a reload may have changed them since the
        // interest was cached): the floor, then the call site's cached decision.
        let targets = &self.inner.shared.targets;
        if !(targets.passes_floor(ev.callsite.level())
            && targets.callsite_enabled(ev.callsite, ev.callsite.id()))
        {
            return;
        }
        if self.inner.filters.span_fields {
            if let Some(scope) = ctx.event_scope(event) {
                let mut spans = Vec::new();
                for span in scope.from_root() {
                    if let Some(f) = span.extensions().get::<SpanFields>() {
                        spans.extend(f.0.iter().cloned());
                    }
                }
                if !spans.is_empty() {
                    return span_fields::record_with(&self.inner.shared, event, &spans);
                }
            }
        }
        record_event(&self.inner.shared, ev, event);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let site = self.site(attrs.metadata());
        if !(site.wanted && self.instance_admits(attrs.metadata())) {
            return;
        }
        let timed = site.span.is_some();
        let fields = self.inner.filters.span_fields && !attrs.fields().is_empty();
        if !(timed || fields) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if timed {
            ext.insert(SpanStart(now_ticks()));
        }
        if fields {
            let mut c = Collect::default();
            attrs.record(&mut c);
            ext.insert(SpanFields(c.values));
        }
    }

    fn on_record(&self, id: &Id, values: &tracing_core::span::Record<'_>, ctx: Context<'_, S>) {
        if !self.inner.filters.span_fields {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let mut c = Collect {
            values: ext.remove::<SpanFields>().map(|f| f.0).unwrap_or_default(),
            message: None,
        };
        values.record(&mut c);
        ext.insert(SpanFields(c.values));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(latency) = &self.site(span.metadata()).span else {
            return;
        };
        let start = span.extensions().get::<SpanStart>().map(|s| s.0);
        if let Some(start) = start {
            latency.record_ticks(now_ticks().saturating_sub(start));
            self.inner.counters.spans_timed.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
