//! Series: a (kind, name, tags) key interned once into a 32-bit id.
//!
//! Registration is the cold path (a mutex, once per key per instance). The by-name hot path
//! (`log_metric` and friends) goes through a per-thread [`NameCache`] that finds the id from a
//! borrowed key without allocating; it allocates only the first time a thread sees a key.
//!
//! # Names
//!
//! Names (metric names, operations, resources) and tag keys must be 1 to [`MAX_NAME_LEN`]
//! bytes; tag values at most [`MAX_NAME_LEN`] bytes (empty is allowed). Everywhere a name is
//! taken, the never-failing calls fix a bad one the same way: an empty name becomes
//! [`EMPTY_NAME`], a long one is cut at a character boundary, and the fix is counted in
//! [`crate::Stats::invalid_names`]. The `try_*` calls return a [`RegisterError`] instead.
//!
//! # The series cap
//!
//! [`max_series`](crate::TelemetryBuilder::max_series) counts the application's series only.
//! Past it, a new key is *refused*: the `try_*` calls fail with
//! [`RegisterError::TooManySeries`], the never-failing ones get the overflow series of the
//! key's kind ([`OVERFLOW_METRIC`], [`OVERFLOW_COUNTER`], [`OVERFLOW_LATENCY`],
//! [`OVERFLOW_RESOURCE`]: one per kind, so they never share a name and an exposition family,
//! no tags), and the refusal is counted (`Stats::overflowed_series`,
//! `Snapshot::refused_series`). Not counted against the cap, and never refused:
//!
//! * the four overflow series;
//! * tickwatch's own series (names starting with [`OWN_PREFIX`], such as the self-watch's
//!   `tickwatch_*` gauges), registered by the crate through a path of its own: an
//!   application that fills the cap before the first monitor tick still gets them. The
//!   application cannot use that path; a `tickwatch_*` name it registers itself is an
//!   ordinary series, counted (and later shared with tickwatch's if the key is the same).
//!
//! A refusal is counted per refused *registration*, not per distinct key: each refused
//! `metric()`/`counter()`/... call, and for the by-name calls each time a thread resolves a
//! refused key in the registry: once when the thread first sees the key, and no more while
//! its per-thread cache (below) has room for refused keys; for a key that found the cache
//! full ([`REFUSED_CACHE_MAX`] refused keys), once per call. So the count is an upper bound
//! on the distinct refused keys: non-zero exactly when something was refused, and growing
//! while refused keys keep being used. Counting distinct keys exactly would mean remembering
//! every refused key, the unbounded memory the cap exists to prevent.
//!
//! # Memory of the by-name calls
//!
//! `log_metric`, `measure_latency` and `track_resource_usage` find their series through a
//! per-thread cache from the key as passed (borrowed, no allocation on a hit). A thread's
//! cache holds one entry (~100 bytes plus the key's strings) per key it has used: at most one
//! per registered series, so bounded by the cap, plus at most [`REFUSED_CACHE_MAX`] keys the
//! cap refused (~200 KiB for keys of a few dozen bytes). Past that bound a refused key is not
//! cached: each call with it locks the registry and looks the key up there by its hash,
//! which allocates nothing (and counts one more refused registration). So distinct refused
//! keys cost time, not memory: with the cap full, 200,000 distinct refused keys on one
//! thread used to grow its cache by ~40 MiB (measured in `tests/series_cap_memory.rs`).
//!
//! [`Registry::register_own`] is tickwatch's own path around the cap, and the overflow
//! series are registered by [`Table::overflow`].

use hashbrown::HashTable;
use parking_lot::Mutex;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

mod names;

use crate::record::{clip, kind};
pub(crate) use names::NameCache;
pub use names::REFUSED_CACHE_MAX;
use names::{hash_key, same_key};

/// The longest name, tag key or tag value, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// What an empty name is registered as by the never-failing calls.
pub const EMPTY_NAME: &str = "unnamed";
/// The prefix of tickwatch's own series names (the self-watch gauges, the overflow series).
pub const OWN_PREFIX: &str = "tickwatch_";
/// Where `Metric` samples of refused series go once the application holds `max_series`
/// series (see [`crate::TelemetryBuilder::max_series`]); exported as a gauge.
pub const OVERFLOW_METRIC: &str = "tickwatch_overflow_metric";
/// Where `Counter` increments of refused series go; exported as the counter
/// `tickwatch_overflow_total` (the type word is left out of
/// exported names, see [`crate::export::naming`]).
pub const OVERFLOW_COUNTER: &str = "tickwatch_overflow_counter";
/// Where `Latency` samples of refused series go; exported as the histogram
/// `tickwatch_overflow_latency_seconds`.
pub const OVERFLOW_LATENCY: &str = "tickwatch_overflow_latency";
/// Where `Resource` samples of refused series go; exported as a gauge.
pub const OVERFLOW_RESOURCE: &str = "tickwatch_overflow_resource";

/// What a series measures.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Gauge-like samples from [`crate::Metric`] / `log_metric`.
    Metric,
    /// Monotonic increments from [`crate::Counter`].
    Counter,
    /// Durations from [`crate::Latency`] / `measure_latency`.
    Latency,
    /// Utilisation from [`crate::Resource`] / `track_resource_usage`.
    Resource,
}

impl SeriesKind {
    pub(crate) const fn record_kind(self) -> u8 {
        match self {
            SeriesKind::Metric => kind::METRIC,
            SeriesKind::Counter => kind::COUNTER,
            SeriesKind::Latency => kind::LATENCY,
            SeriesKind::Resource => kind::RESOURCE,
        }
    }

    /// Lower-case name used in JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Metric => "metric",
            SeriesKind::Counter => "counter",
            SeriesKind::Latency => "latency",
            SeriesKind::Resource => "resource",
        }
    }

    /// The series this kind's samples go to when their own series is refused by the cap:
    /// [`OVERFLOW_METRIC`], [`OVERFLOW_COUNTER`], [`OVERFLOW_LATENCY`] or
    /// [`OVERFLOW_RESOURCE`].
    pub const fn overflow_name(self) -> &'static str {
        match self {
            SeriesKind::Metric => OVERFLOW_METRIC,
            SeriesKind::Counter => OVERFLOW_COUNTER,
            SeriesKind::Latency => OVERFLOW_LATENCY,
            SeriesKind::Resource => OVERFLOW_RESOURCE,
        }
    }

    const fn index(self) -> usize {
        match self {
            SeriesKind::Metric => 0,
            SeriesKind::Counter => 1,
            SeriesKind::Latency => 2,
            SeriesKind::Resource => 3,
        }
    }
}

/// A registered series: its kind, name and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    id: u32,
    kind: SeriesKind,
    name: String,
    tags: Vec<(String, String)>,
}

impl SeriesInfo {
    /// The instance-local id records carry.
    pub fn id(&self) -> u32 {
        self.id
    }
    /// What it measures.
    pub fn kind(&self) -> SeriesKind {
        self.kind
    }
    /// The (possibly fixed-up) name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The tags, in the order given at registration.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }
}

/// Why a `try_*` registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name (or a tag key) is empty: give it a name.
    EmptyName,
    /// The name, a tag key or a tag value is longer than [`MAX_NAME_LEN`] bytes: shorten it.
    NameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The instance already holds `max` series: raise `TelemetryBuilder::max_series` or use
    /// fewer distinct tag values.
    TooManySeries {
        /// The configured cap.
        max: usize,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::EmptyName => f.write_str("empty series name or tag key: give it a name"),
            RegisterError::NameTooLong { len } => {
                write!(f, "name, tag key or tag value of {len} bytes exceeds {MAX_NAME_LEN}: shorten it")
            }
            RegisterError::TooManySeries { max } => write!(
                f,
                "instance already holds {max} series: raise TelemetryBuilder::max_series or use fewer tag values"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

impl SeriesInfo {
    /// Whether this is the series of exactly this borrowed key (names already fixed up).
    fn is(&self, kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> bool {
        self.kind == kind && same_key(&self.name, &self.tags, name, tags)
    }
}

/// How a registration treats the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// `try_*`: a new key past the cap is an error.
    Strict,
    /// The never-failing calls: a new key past the cap gets the kind's overflow series.
    Lenient,
    /// tickwatch's own series: not counted, never refused.
    Own,
}

/// The series a registration resolved to.
pub(crate) struct Resolved {
    pub(crate) info: Arc<SeriesInfo>,
    /// The key was refused by the cap: `info` is the kind's overflow series.
    pub(crate) refused: bool,
}

struct Table {
    /// Ids by key, found with [`hash_key`] of a borrowed key: a lookup allocates nothing
    /// (what keeps refused by-name keys from costing memory, see [`NameCache`]). Each entry
    /// is `(hash, id)`, the hash kept for rehashing.
    by_key: HashTable<(u64, u32)>,
    list: Vec<Arc<SeriesInfo>>,
    /// Series counted against the cap: `list` minus the overflow and own series.
    counted: usize,
    /// Each kind's overflow series, once it has been needed.
    overflow: [Option<u32>; 4],
}

impl Table {
    fn find(&self, hash: u64, kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> Option<u32> {
        let list = &self.list;
        self.by_key
            .find(hash, |&(h, id)| {
                h == hash && list[id as usize].is(kind, name, tags)
            })
            .map(|&(_, id)| id)
    }

    /// Adds a new series (the caller found no series for the key).
    fn insert(
        &mut self,
        hash: u64,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Arc<SeriesInfo> {
        let id = self.list.len() as u32;
        let info = Arc::new(SeriesInfo {
            id,
            kind,
            name: name.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self.list.push(info.clone());
        self.by_key.insert_unique(hash, (hash, id), |&(h, _)| h);
        info
    }

    /// The kind's overflow series, registered on first use.
    fn overflow(&mut self, kind: SeriesKind) -> Arc<SeriesInfo> {
        if let Some(id) = self.overflow[kind.index()] {
            return self.list[id as usize].clone();
        }
        let name = kind.overflow_name();
        let hash = hash_key(kind, name, &[]);
        // An application series of that very key (registered under the cap) is reused.
        let info = match self.find(hash, kind, name, &[]) {
            Some(id) => self.list[id as usize].clone(),
            None => self.insert(hash, kind, name, &[]),
        };
        self.overflow[kind.index()] = Some(info.id);
        info
    }
}

/// Every series of one instance.
pub(crate) struct Registry {
    table: Mutex<Table>,
    /// Number of series registered (ids are `0..len`); lets the collector see new ones cheaply.
    len: AtomicU32,
    max_series: usize,
    pub(crate) invalid_names: AtomicU64,
    /// Refused registrations (what one is: see the `performance` module docs).
    pub(crate) overflowed: AtomicU64,
}

fn check(s: &str, allow_empty: bool) -> Result<(), RegisterError> {
    if s.is_empty() && !allow_empty {
        Err(RegisterError::EmptyName)
    } else if s.len() > MAX_NAME_LEN {
        Err(RegisterError::NameTooLong { len: s.len() })
    } else {
        Ok(())
    }
}

/// `s` as the never-failing calls register it, and whether that is a fix.
fn fix(s: &str, allow_empty: bool) -> (&str, bool) {
    if s.is_empty() && !allow_empty {
        (EMPTY_NAME, true)
    } else {
        clip(s, MAX_NAME_LEN)
    }
}

/// Whether the never-failing calls would register this key unchanged.
#[inline]
fn valid(name: &str, tags: &[(&str, &str)]) -> bool {
    let ok = |s: &str, allow_empty: bool| (allow_empty || !s.is_empty()) && s.len() <= MAX_NAME_LEN;
    ok(name, false) && tags.iter().all(|(k, v)| ok(k, false) && ok(v, true))
}

impl Registry {
    pub(crate) fn new(max_series: usize) -> Self {
        Self {
            table: Mutex::new(Table {
                by_key: HashTable::new(),
                list: Vec::new(),
                counted: 0,
                overflow: [None; 4],
            }),
            len: AtomicU32::new(0),
            max_series,
            invalid_names: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Strict registration: a bad name or a full table is an error.
    pub(crate) fn try_register(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Result<Arc<SeriesInfo>, RegisterError> {
        check(name, false)?;
        for (k, v) in tags {
            check(k, false)?;
            check(v, true)?;
        }
        let hash = hash_key(kind, name, tags);
        self.intern(hash, kind, name, tags, Policy::Strict)
            .map(|r| r.info)
    }

    /// Never-failing registration: fixes bad names (counted) and sends new series past the cap
    /// to the kind's overflow series (counted).
    pub(crate) fn register(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Arc<SeriesInfo> {
        self.resolve(kind, name, tags, None).info
    }

    /// Registration of one of tickwatch's own series: not counted against the cap and never
    /// refused. Only for names starting with [`OWN_PREFIX`], from a bounded set of keys (the
    /// crate's own gauges); any other name is registered as [`Registry::register`] does.
    pub(crate) fn register_own(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Arc<SeriesInfo> {
        debug_assert!(name.starts_with(OWN_PREFIX), "not an own name: {name}");
        if !name.starts_with(OWN_PREFIX) || !valid(name, tags) {
            return self.register(kind, name, tags);
        }
        let hash = hash_key(kind, name, tags);
        match self.intern(hash, kind, name, tags, Policy::Own) {
            Ok(r) => r.info,
            Err(_) => unreachable!("own series are never refused"),
        }
    }

    /// [`Registry::register`], saying whether the key was refused. `hash`: the key's
    /// [`hash_key`] if the caller has it. Allocates nothing when the key is valid and either
    /// known or refused: only a new series (at most `max_series` of them) allocates.
    pub(crate) fn resolve(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
        hash: Option<u64>,
    ) -> Resolved {
        let interned = if valid(name, tags) {
            let hash = hash.unwrap_or_else(|| hash_key(kind, name, tags));
            self.intern(hash, kind, name, tags, Policy::Lenient)
        } else {
            // The rare path: fix the key (tags into a new vector only if one needs it).
            let mut fixes = 0u64;
            let (name, f) = fix(name, false);
            fixes += f as u64;
            let tags: Cow<'_, [(&str, &str)]> = if tags
                .iter()
                .all(|(k, v)| !fix(k, false).1 && !fix(v, true).1)
            {
                Cow::Borrowed(tags)
            } else {
                tags.iter()
                    .map(|(k, v)| {
                        let ((k, fk), (v, fv)) = (fix(k, false), fix(v, true));
                        fixes += fk as u64 + fv as u64;
                        (k, v)
                    })
                    .collect()
            };
            self.invalid_names.fetch_add(fixes, Relaxed);
            let hash = hash_key(kind, name, &tags);
            self.intern(hash, kind, name, &tags, Policy::Lenient)
        };
        match interned {
            Ok(r) => r,
            Err(_) => unreachable!("lenient interning falls back to the overflow series"),
        }
    }

    /// Finds or adds the series of a valid key whose [`hash_key`] is `hash`.
    fn intern(
        &self,
        hash: u64,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
        policy: Policy,
    ) -> Result<Resolved, RegisterError> {
        let mut t = self.table.lock();
        if let Some(id) = t.find(hash, kind, name, tags) {
            return Ok(Resolved {
                info: t.list[id as usize].clone(),
                refused: false,
            });
        }
        let counted = policy != Policy::Own;
        if counted && t.counted >= self.max_series {
            if policy == Policy::Strict {
                return Err(RegisterError::TooManySeries {
                    max: self.max_series,
                });
            }
            self.overflowed.fetch_add(1, Relaxed);
            let before = t.list.len();
            let info = t.overflow(kind);
            if t.list.len() != before {
                self.publish_len(&t);
            }
            return Ok(Resolved {
                info,
                refused: true,
            });
        }
        let info = t.insert(hash, kind, name, tags);
        t.counted += counted as usize;
        self.publish_len(&t);
        Ok(Resolved {
            info,
            refused: false,
        })
    }

    fn publish_len(&self, t: &Table) {
        self.len
            .store(t.list.len() as u32, std::sync::atomic::Ordering::Release);
    }

    /// Appends every series registered since `cache` was last refreshed.
    pub(crate) fn refresh(&self, cache: &mut Vec<Arc<SeriesInfo>>) {
        if self.len.load(std::sync::atomic::Ordering::Acquire) as usize > cache.len() {
            let t = self.table.lock();
            cache.extend_from_slice(&t.list[cache.len()..]);
        }
    }

    /// Number of series registered (the application's, tickwatch's own and the overflow
    /// series).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed) as usize
    }
}

#[cfg(test)]
mod tests;
