//! A [`Snapshot`] as Prometheus text exposition format 0.0.4.
//!
//! Mapping, per series kind:
//!
//! | kind | family type | name | samples |
//! |---|---|---|---|
//! | counter | `counter` | name (+ unit) + `_total` (not doubled) | the total since start |
//! | metric, resource | `gauge` | name (+ unit; + `_value` after a reserved suffix) | the last value |
//! | latency | `histogram` | name (time units dropped) + `_seconds` | `_bucket{le}` (cumulative, plus `+Inf` = `_count`), `_sum` (seconds), `_count` |
//!
//! Names follow Prometheus' conventions, so that `promtool check metrics` exits 0 with
//! nothing to report for any snapshot: see [`crate::export::naming`] for the rewriting
//! (snake_case, no type or abbreviated unit in a name, `_total` only on counters, `le` and
//! `quantile` tags renamed `exported_le` / `exported_quantile`). The `# HELP` line is the
//! text given to [`Telemetry::describe`](crate::Telemetry::describe), or `tickwatch
//! <kind> <original name>`; a description's unit adds its suffix.
//!
//! Gauges export only their last value: min, max, sum and the windows stay in the JSON
//! snapshot, where they do not need a naming scheme of their own.
//!
//! Tags become labels: names sanitized ([`sanitize_label_name`]) and made snake_case,
//! values escaped, sorted by name. A tag with an empty value is left out, as Prometheus
//! treats `x=""` as "no label x".
//!
//! # Conflicts
//!
//! Sanitizing can map different series onto the same output, and a family can have only one
//! type. The rule is **first registered wins**: a later series is left out, and counted in
//! the gauge [`CONFLICTS_METRIC`], when
//!
//! * its family name is taken by a family of another type (a counter `x_ms` and a counter
//!   `x_millisecond` meet as `x_millisecond_total`; a latency `x` and a latency `x_ms`), or
//!   is one of tickwatch's own names below;
//! * its sanitized label set equals an earlier series' in the same family (`venue="a"` under
//!   the tag keys `venue` and `venue!`).
//!
//! Within one series, a tag whose label name repeats an earlier tag's (`venue` and
//! `Venue`) is left out and counted the same way.
//!
//! tickwatch's own families, always rendered last: [`CONFLICTS_METRIC`] (gauge),
//! [`REFUSED_SERIES_METRIC`] (counter, [`Snapshot::refused_series`]) and the counters of
//! [`OWN_COUNTERS`] ([`Snapshot::totals`]: `tickwatch_records_accepted_total`,
//! `_dropped_total`, `_delivered_total`, `tickwatch_sink_errors_total`,
//! `tickwatch_collector_cpu_seconds_total`).
//!
//! # Robustness
//!
//! The output is valid whatever the snapshot holds: buckets whose bound is not finite or
//! not above the previous bound are skipped, cumulative counts are clamped to be
//! non-decreasing and at most `_count`, and floats are written as Go parses them (`NaN`,
//! `+Inf`, `-Inf`).

use std::hash::BuildHasher;
use std::ops::Range;

use crate::hash::FastState;
use hashbrown::HashTable;

use super::lines::{write_header, write_own, write_series, LeCache};
use super::naming::{write_label_name, write_metric_name, NameKind};
use super::text::{escape_label_value, sanitize_label_name, sanitize_metric_name};
use crate::metrics::{SeriesValue, Snapshot, Unit};

/// The `Content-Type` of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Gauge: series and labels of the snapshot left out of this exposition (see the module
/// docs on conflicts).
pub const CONFLICTS_METRIC: &str = "tickwatch_exposition_conflicts";

/// Counter: series registrations refused by the series cap since start.
pub const REFUSED_SERIES_METRIC: &str = "tickwatch_series_refused_total";

/// tickwatch's own counters ([`Snapshot::totals`]), with their HELP text: records accepted,
/// dropped and delivered ([`crate::Stats`]), failed sink calls, and the collector thread's
/// CPU time.
pub const OWN_COUNTERS: [(&str, &str); 5] = [
    (
        "tickwatch_records_accepted_total",
        "records written to a ring since start",
    ),
    (
        "tickwatch_records_dropped_total",
        "records not written (ring full, oversized, stopping) since start",
    ),
    (
        "tickwatch_records_delivered_total",
        "accepted records handed to every sink since start",
    ),
    (
        "tickwatch_sink_errors_total",
        "failed or panicked sink write and flush calls since start",
    ),
    (
        "tickwatch_collector_cpu_seconds_total",
        "CPU time of the collector thread since start",
    ),
];

/// Histogram sample-name suffixes, which a histogram family claims next to its own name.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Renders `snapshot` into `out` (appended) in the Prometheus text format 0.0.4.
///
/// A convenience over [`PrometheusRenderer::render`] with fresh buffers; keep a
/// `PrometheusRenderer` to reuse them across scrapes.
///
/// ```
/// use tickwatch::export::render_prometheus;
/// # use tickwatch::metrics::{Snapshot, SeriesSnapshot, SeriesValue, CounterValue};
/// # use tickwatch::metrics::SeriesKind;
/// # let mut snapshot = Snapshot::empty(tickwatch::Timestamp::from_unix_nanos(0));
/// # snapshot.series.push(SeriesSnapshot {
/// #     name: "orders filled".into(), tags: vec![("venue".into(), "XNAS".into())],
/// #     kind: SeriesKind::Counter,
/// #     value: SeriesValue::Counter(CounterValue { total: 3, window: None, rate_per_sec: 0.0 }) });
/// let mut out = String::new();
/// render_prometheus(&snapshot, &mut out);
/// assert!(out.contains("# TYPE orders_filled_total counter\n"));
/// assert!(out.contains("orders_filled_total{venue=\"XNAS\"} 3\n"));
/// ```
pub fn render_prometheus(snapshot: &Snapshot, out: &mut String) {
    PrometheusRenderer::new().render(snapshot, out);
}

/// [`render_prometheus`] into a new `String`.
pub fn render_prometheus_string(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    render_prometheus(snapshot, &mut out);
    out
}

/// What one render wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderSummary {
    /// Families written, tickwatch's own included.
    pub families: usize,
    /// Snapshot series written.
    pub series: usize,
    /// Series and labels left out (the value of [`CONFLICTS_METRIC`]).
    pub conflicts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FamilyType {
    Counter,
    Gauge,
    Histogram,
    /// tickwatch's own names: conflict with every series.
    Reserved,
}

impl FamilyType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge | FamilyType::Reserved => "gauge",
            FamilyType::Histogram => "histogram",
        }
    }
}

struct Family {
    name: Range<usize>,
    ty: FamilyType,
    /// The snapshot series whose original name goes into `# HELP`.
    first: usize,
}

struct Entry {
    series: usize,
    family: u32,
    /// The label block in the arena: `k="v",k2="v2"` (no braces), sorted by name.
    labels: Range<usize>,
}

/// Renders snapshots, keeping its buffers between calls so a steady scrape allocates
/// nothing once the buffers have grown.
#[derive(Default)]
pub struct PrometheusRenderer {
    hasher: FastState,
    /// Sanitized family names and label blocks of the current render.
    arena: String,
    scratch: String,
    families: Vec<Family>,
    family_index: HashTable<u32>,
    entries: Vec<Entry>,
    series_index: HashTable<u32>,
    /// Per series: (sanitized tag name range in `scratch`, tag index).
    tags: Vec<(Range<usize>, usize)>,
    /// Entry indices grouped by family (a counting sort), and the per-family offsets.
    order: Vec<u32>,
    offsets: Vec<u32>,
    next: Vec<u32>,
    le_cache: LeCache,
    /// A name or label name sanitized, before the naming conventions are applied.
    sanitized: String,
    /// Index of the snapshot's descriptions by name.
    descriptions: HashTable<u32>,
}

impl std::fmt::Debug for PrometheusRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusRenderer")
            .field("buffered_bytes", &self.arena.capacity())
            .finish_non_exhaustive()
    }
}

impl PrometheusRenderer {
    /// A renderer with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `snapshot` to `out` in the text format 0.0.4 (see the module docs for the
    /// mapping and the conflict rule) and says what it wrote.
    pub fn render(&mut self, snapshot: &Snapshot, out: &mut String) -> RenderSummary {
        self.reset();
        self.reserve_own(CONFLICTS_METRIC);
        self.reserve_own(REFUSED_SERIES_METRIC);
        for (name, _) in OWN_COUNTERS {
            self.reserve_own(name);
        }
        let own_families = self.families.len();
        for (i, d) in snapshot.descriptions.iter().enumerate() {
            let hash = self.hasher.hash_one(d.name.as_str());
            let ds = &snapshot.descriptions;
            let hasher = &self.hasher;
            self.descriptions.insert_unique(hash, i as u32, |&j| {
                hasher.hash_one(ds[j as usize].name.as_str())
            });
        }
        let mut conflicts = 0u64;
        for (i, s) in snapshot.series.iter().enumerate() {
            let unit = self.description(snapshot, &s.name).and_then(|d| d.unit);
            conflicts += self.admit(i, &s.name, &s.tags, &s.value, unit);
        }
        self.group_by_family();

        let mut summary = RenderSummary {
            families: 0,
            series: self.entries.len(),
            conflicts,
        };
        for f in own_families..self.families.len() {
            let family = &self.families[f];
            let name = &self.arena[family.name.clone()];
            let orig = &snapshot.series[family.first].name;
            let help = self.description(snapshot, orig).map(|d| d.help.as_str());
            write_header(out, name, family.ty, orig, help);
            let members = self.offsets[f] as usize..self.offsets[f + 1] as usize;
            for &e in &self.order[members] {
                let entry = &self.entries[e as usize];
                let labels = &self.arena[entry.labels.clone()];
                let value = &snapshot.series[entry.series].value;
                write_series(out, name, labels, value, &mut self.le_cache);
            }
            summary.families += 1;
        }
        write_own(
            out,
            CONFLICTS_METRIC,
            "series and labels left out of this exposition as conflicts",
            FamilyType::Gauge,
            Some(conflicts as f64),
        );
        write_own(
            out,
            REFUSED_SERIES_METRIC,
            "series registrations refused by the series cap since start",
            FamilyType::Counter,
            Some(snapshot.refused_series as f64),
        );
        let t = &snapshot.totals;
        let values = [
            Some(t.accepted as f64),
            Some(t.dropped as f64),
            Some(t.delivered as f64),
            Some(t.sink_errors as f64),
            t.collector_cpu_secs,
        ];
        for ((name, help), value) in OWN_COUNTERS.into_iter().zip(values) {
            write_own(out, name, help, FamilyType::Counter, value);
        }
        summary.families += 2 + OWN_COUNTERS.len();
        summary
    }

    fn description<'s>(
        &self,
        snapshot: &'s Snapshot,
        name: &str,
    ) -> Option<&'s crate::metrics::Description> {
        let hash = self.hasher.hash_one(name);
        self.descriptions
            .find(hash, |&j| snapshot.descriptions[j as usize].name == name)
            .map(|&j| &snapshot.descriptions[j as usize])
    }

    fn reset(&mut self) {
        self.le_cache.clear();
        self.arena.clear();
        self.families.clear();
        self.family_index.clear();
        self.entries.clear();
        self.series_index.clear();
        self.descriptions.clear();
    }

    fn reserve_own(&mut self, name: &str) {
        let start = self.arena.len();
        self.arena.push_str(name);
        self.new_family(start..self.arena.len(), FamilyType::Reserved, usize::MAX);
    }

    fn new_family(&mut self, name: Range<usize>, ty: FamilyType, first: usize) -> u32 {
        let id = self.families.len() as u32;
        let hash = self.hasher.hash_one(&self.arena[name.clone()]);
        self.families.push(Family { name, ty, first });
        let (arena, families, hasher) = (&self.arena, &self.families, &self.hasher);
        self.family_index.insert_unique(hash, id, |&f| {
            hasher.hash_one(&arena[families[f as usize].name.clone()])
        });
        id
    }

    fn find_family(&self, name: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(name);
        self.family_index
            .find(hash, |&f| {
                &self.arena[self.families[f as usize].name.clone()] == name
            })
            .copied()
    }

    /// Files series `i` under its family, or leaves it out; returns the conflicts counted.
    fn admit(
        &mut self,
        i: usize,
        name: &str,
        tags: &[(String, String)],
        v: &SeriesValue,
        unit: Option<Unit>,
    ) -> u64 {
        let (ty, kind) = match v {
            SeriesValue::Counter(_) => (FamilyType::Counter, NameKind::Counter),
            SeriesValue::Gauge(_) => (FamilyType::Gauge, NameKind::Gauge),
            SeriesValue::Latency(_) => (FamilyType::Histogram, NameKind::Histogram),
        };
        let start = self.arena.len();
        self.sanitized.clear();
        sanitize_metric_name(name, &mut self.sanitized);
        write_metric_name(&self.sanitized, kind, unit, &mut self.arena);
        let name_range = start..self.arena.len();
        let family = match self.find_family(&self.arena[name_range.clone()]) {
            Some(f) if self.families[f as usize].ty == ty => {
                self.arena.truncate(start);
                f
            }
            Some(_) => {
                self.arena.truncate(start);
                return 1;
            }
            None if self.collides_with_histogram(name_range.clone(), ty) => {
                self.arena.truncate(start);
                return 1;
            }
            None => self.new_family(name_range, ty, i),
        };

        let (labels, conflicts) = self.write_labels(tags);
        let hash = self.series_hash(family, &self.arena[labels.clone()]);
        let duplicate = self
            .series_index
            .find(hash, |&e| {
                let other = &self.entries[e as usize];
                other.family == family
                    && self.arena[other.labels.clone()] == self.arena[labels.clone()]
            })
            .is_some();
        if duplicate {
            self.arena.truncate(labels.start);
            return conflicts + 1;
        }
        let id = self.entries.len() as u32;
        self.entries.push(Entry {
            series: i,
            family,
            labels,
        });
        let (arena, entries, hasher) = (&self.arena, &self.entries, &self.hasher);
        self.series_index.insert_unique(hash, id, |&e| {
            let en = &entries[e as usize];
            hasher.hash_one((en.family, &arena[en.labels.clone()]))
        });
        conflicts
    }

    fn series_hash(&self, family: u32, labels: &str) -> u64 {
        self.hasher.hash_one((family, labels))
    }

    /// Whether a new family `name` of type `ty` would share sample names with a histogram:
    /// `name` is `h_bucket`/`h_sum`/`h_count` of a histogram `h`, or `ty` is a histogram and
    /// a family `name_bucket`/... exists.
    fn collides_with_histogram(&mut self, name: Range<usize>, ty: FamilyType) -> bool {
        let n = &self.arena[name.clone()];
        for suffix in HISTOGRAM_SUFFIXES {
            if let Some(base) = n.strip_suffix(suffix) {
                if let Some(f) = self.find_family(base) {
                    if self.families[f as usize].ty == FamilyType::Histogram {
                        return true;
                    }
                }
            }
        }
        if ty != FamilyType::Histogram {
            return false;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut hit = false;
        for suffix in HISTOGRAM_SUFFIXES {
            scratch.clear();
            scratch.push_str(&self.arena[name.clone()]);
            scratch.push_str(suffix);
            hit |= self.find_family(&scratch).is_some();
        }
        self.scratch = scratch;
        hit
    }

    /// Writes the sorted, escaped label block of `tags` to the arena; returns its range and
    /// the tags left out as conflicts (names repeated after the naming conventions).
    fn write_labels(&mut self, tags: &[(String, String)]) -> (Range<usize>, u64) {
        self.scratch.clear();
        self.tags.clear();
        for (t, (k, v)) in tags.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let start = self.scratch.len();
            self.sanitized.clear();
            sanitize_label_name(k, &mut self.sanitized);
            write_label_name(&self.sanitized, &mut self.scratch);
            self.tags.push((start..self.scratch.len(), t));
        }
        let scratch = &self.scratch;
        // Stable: among equal names the earliest tag comes first and is the one kept.
        self.tags
            .sort_by(|a, b| scratch[a.0.clone()].cmp(&scratch[b.0.clone()]));
        let start = self.arena.len();
        let mut conflicts = 0;
        let mut prev: Option<&str> = None;
        for (range, t) in &self.tags {
            let key = &scratch[range.clone()];
            if prev == Some(key) {
                conflicts += 1;
                continue;
            }
            if prev.is_some() {
                self.arena.push(',');
            }
            prev = Some(key);
            self.arena.push_str(key);
            self.arena.push_str("=\"");
            escape_label_value(&tags[*t].1, &mut self.arena);
            self.arena.push('"');
        }
        (start..self.arena.len(), conflicts)
    }

    /// Counting sort of the entries by family, keeping registration order within a family.
    fn group_by_family(&mut self) {
        let n = self.families.len();
        self.offsets.clear();
        self.offsets.resize(n + 1, 0);
        for e in &self.entries {
            self.offsets[e.family as usize + 1] += 1;
        }
        for f in 0..n {
            self.offsets[f + 1] += self.offsets[f];
        }
        self.order.clear();
        self.order.resize(self.entries.len(), 0);
        self.next.clear();
        self.next.extend_from_slice(&self.offsets[..n]);
        for (i, e) in self.entries.iter().enumerate() {
            let slot = &mut self.next[e.family as usize];
            self.order[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
}
