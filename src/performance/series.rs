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

use hashbrown::HashTable;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::record::{clip, kind};

/// The longest name, tag key or tag value, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// What an empty name is registered as by the never-failing calls.
pub const EMPTY_NAME: &str = "unnamed";
/// Where samples go once an instance holds `max_series` series (see
/// [`crate::TelemetryBuilder::max_series`]).
pub const OVERFLOW_NAME: &str = "tickwatch_overflow";

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

type Key = (SeriesKind, String, Vec<(String, String)>);

struct Table {
    by_key: HashMap<Key, u32>,
    list: Vec<Arc<SeriesInfo>>,
}

/// Every series of one instance.
pub(crate) struct Registry {
    table: Mutex<Table>,
    /// Number of series registered (ids are `0..len`); lets the collector see new ones cheaply.
    len: AtomicU32,
    max_series: usize,
    pub(crate) invalid_names: AtomicU64,
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

impl Registry {
    pub(crate) fn new(max_series: usize) -> Self {
        Self {
            table: Mutex::new(Table {
                by_key: HashMap::new(),
                list: Vec::new(),
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
        let key = (
            kind,
            name.to_owned(),
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.intern(key, false)
    }

    /// Never-failing registration: fixes bad names (counted) and sends new series past the cap
    /// to the kind's overflow series (counted).
    pub(crate) fn register(
        &self,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Arc<SeriesInfo> {
        let mut fixes = 0u64;
        let mut fix = |s: &str, allow_empty: bool| -> String {
            if s.is_empty() && !allow_empty {
                fixes += 1;
                return EMPTY_NAME.to_owned();
            }
            let (c, cut) = clip(s, MAX_NAME_LEN);
            fixes += cut as u64;
            c.to_owned()
        };
        let name = fix(name, false);
        let tags: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (fix(k, false), fix(v, true)))
            .collect();
        if fixes > 0 {
            self.invalid_names.fetch_add(fixes, Relaxed);
        }
        match self.intern((kind, name, tags), true) {
            Ok(info) => info,
            Err(_) => unreachable!("lenient interning falls back to the overflow series"),
        }
    }

    fn intern(&self, key: Key, overflow: bool) -> Result<Arc<SeriesInfo>, RegisterError> {
        let mut t = self.table.lock();
        if let Some(&id) = t.by_key.get(&key) {
            return Ok(t.list[id as usize].clone());
        }
        // Overflow series do not count against the cap (at most one per kind).
        let key = if t.list.len() >= self.max_series {
            if !overflow {
                return Err(RegisterError::TooManySeries {
                    max: self.max_series,
                });
            }
            self.overflowed.fetch_add(1, Relaxed);
            let ov = (key.0, OVERFLOW_NAME.to_owned(), Vec::new());
            if let Some(&id) = t.by_key.get(&ov) {
                return Ok(t.list[id as usize].clone());
            }
            ov
        } else {
            key
        };
        let id = t.list.len() as u32;
        let info = Arc::new(SeriesInfo {
            id,
            kind: key.0,
            name: key.1.clone(),
            tags: key.2.clone(),
        });
        t.list.push(info.clone());
        t.by_key.insert(key, id);
        self.len
            .store(t.list.len() as u32, std::sync::atomic::Ordering::Release);
        Ok(info)
    }

    /// Appends every series registered since `cache` was last refreshed.
    pub(crate) fn refresh(&self, cache: &mut Vec<Arc<SeriesInfo>>) {
        if self.len.load(std::sync::atomic::Ordering::Acquire) as usize > cache.len() {
            let t = self.table.lock();
            cache.extend_from_slice(&t.list[cache.len()..]);
        }
    }

    /// Number of series registered.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed) as usize
    }
}

/// Up to 8 bytes as one word, in at most two loads and no `memcpy` call. For a given length
/// the word determines the bytes (the two reads overlap but together cover every byte), so
/// comparing words of equal-length strings is comparing the strings.
#[inline(always)]
fn small_word(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        lo as u64 | (hi as u64) << 32
    } else if n > 0 {
        (b[0] as u64) << 16 | (b[n / 2] as u64) << 8 | b[n - 1] as u64
    } else {
        0
    }
}

#[inline(always)]
fn word_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// String equality with the short cases (the usual metric names and tags) done in registers.
#[inline(always)]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0..=8 => small_word(a) == small_word(b),
        9..=16 => {
            let t = a.len() - 8;
            word_at(a, 0) == word_at(b, 0) && word_at(a, t) == word_at(b, t)
        }
        _ => a == b,
    }
}

/// FxHash-style mixing over the key's bytes: a handful of multiply-rotates for a short key.
#[inline]
pub(crate) fn hash_key(kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> u64 {
    #[inline(always)]
    fn mix(h: u64, w: u64) -> u64 {
        (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
    }
    #[inline(always)]
    fn bytes(mut h: u64, b: &[u8]) -> u64 {
        let n = b.len();
        // The length separates "ab"+"c" from "a"+"bc".
        h = mix(h, n as u64);
        if n <= 8 {
            return mix(h, small_word(b));
        }
        let mut at = 0;
        while at + 8 < n {
            h = mix(h, word_at(b, at));
            at += 8;
        }
        // The last 8 bytes, overlapping the previous word when the length is not a multiple.
        mix(h, word_at(b, n - 8))
    }
    let mut h = bytes(kind as u64 + 1, name.as_bytes());
    for (k, v) in tags {
        h = bytes(bytes(h, k.as_bytes()), v.as_bytes());
    }
    h
}

struct CacheEntry {
    hash: u64,
    kind: SeriesKind,
    name: Box<str>,
    tags: Box<[(Box<str>, Box<str>)]>,
    id: u32,
}

impl CacheEntry {
    #[inline]
    fn matches(&self, kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> bool {
        self.kind == kind
            && same(&self.name, name)
            && self.tags.len() == tags.len()
            && self
                .tags
                .iter()
                .zip(tags)
                .all(|((a, b), (c, d))| same(a, c) && same(b, d))
    }
}

/// A thread's map from borrowed (kind, name, tags) keys, exactly as the caller passed them,
/// to series ids.
#[derive(Default)]
pub(crate) struct NameCache {
    table: HashTable<CacheEntry>,
}

impl NameCache {
    /// The id of this key, registering it (and allocating) only on the first sight.
    #[inline]
    pub(crate) fn id(
        &mut self,
        registry: &Registry,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> u32 {
        let hash = hash_key(kind, name, tags);
        if let Some(e) = self
            .table
            .find(hash, |e| e.hash == hash && e.matches(kind, name, tags))
        {
            return e.id;
        }
        self.miss(registry, hash, kind, name, tags)
    }

    #[cold]
    #[inline(never)]
    fn miss(
        &mut self,
        registry: &Registry,
        hash: u64,
        kind: SeriesKind,
        name: &str,
        tags: &[(&str, &str)],
    ) -> u32 {
        let id = registry.register(kind, name, tags).id;
        let entry = CacheEntry {
            hash,
            kind,
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (Box::from(*k), Box::from(*v)))
                .collect(),
            id,
        };
        self.table.insert_unique(hash, entry, |e| e.hash);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_id_different_kind_different_id() {
        let r = Registry::new(100);
        let a = r.register(SeriesKind::Metric, "px", &[("venue", "XNAS")]);
        let b = r.register(SeriesKind::Metric, "px", &[("venue", "XNAS")]);
        let c = r.register(SeriesKind::Counter, "px", &[("venue", "XNAS")]);
        let d = r.register(SeriesKind::Metric, "px", &[("venue", "XLON")]);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_ne!(a.id, d.id);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn bad_names_fixed_the_documented_way_and_counted() {
        let r = Registry::new(100);
        let long = "é".repeat(200); // 400 bytes
        let a = r.register(SeriesKind::Metric, "", &[("", &long)]);
        assert_eq!(a.name(), EMPTY_NAME);
        assert_eq!(a.tags()[0].0, EMPTY_NAME);
        assert_eq!(a.tags()[0].1.len(), MAX_NAME_LEN);
        assert_eq!(r.invalid_names.load(Relaxed), 3); // name, tag key, tag value
        assert_eq!(
            r.try_register(SeriesKind::Metric, "", &[]),
            Err(RegisterError::EmptyName)
        );
        assert_eq!(
            r.try_register(SeriesKind::Metric, &long, &[]),
            Err(RegisterError::NameTooLong { len: 400 })
        );
        // Empty tag values are fine.
        assert!(r
            .try_register(SeriesKind::Metric, "x", &[("k", "")])
            .is_ok());
    }

    #[test]
    fn cap_refuses_strictly_and_overflows_leniently() {
        let r = Registry::new(2);
        r.register(SeriesKind::Metric, "a", &[]);
        r.register(SeriesKind::Metric, "b", &[]);
        assert_eq!(
            r.try_register(SeriesKind::Metric, "c", &[]),
            Err(RegisterError::TooManySeries { max: 2 })
        );
        let c = r.register(SeriesKind::Metric, "c", &[]);
        let d = r.register(SeriesKind::Metric, "d", &[]);
        assert_eq!(c.name(), OVERFLOW_NAME);
        assert_eq!(c.id, d.id);
        assert_eq!(r.overflowed.load(Relaxed), 2);
        // Existing series still resolve.
        assert_eq!(r.register(SeriesKind::Metric, "a", &[]).name(), "a");
    }

    proptest::proptest! {
        /// The register-only comparison agrees with `==` on every pair, including equal
        /// lengths that differ in one byte anywhere.
        #[test]
        fn short_compare_is_exact(a in "[ab\u{e9}]{0,20}", b in "[ab\u{e9}]{0,20}", flip in 0usize..20) {
            proptest::prop_assert_eq!(same(&a, &b), a == b);
            let mut c = a.clone().into_bytes();
            if !c.is_empty() {
                let i = flip % c.len();
                c[i] ^= 1;
                let c = String::from_utf8_lossy(&c).into_owned();
                proptest::prop_assert_eq!(same(&a, &c), a == c);
            }
        }
    }

    #[test]
    fn name_cache_hits_and_distinguishes_keys() {
        let r = Registry::new(100);
        let mut c = NameCache::default();
        let a = c.id(&r, SeriesKind::Metric, "ab", &[("c", "d")]);
        let b = c.id(&r, SeriesKind::Metric, "a", &[("bc", "d")]);
        let a2 = c.id(&r, SeriesKind::Metric, "ab", &[("c", "d")]);
        assert_eq!(a, a2);
        assert_ne!(a, b);
        // The cache keeps the key as given; the registry holds the fixed-up name.
        let e = c.id(&r, SeriesKind::Metric, "", &[]);
        assert_eq!(e, r.register(SeriesKind::Metric, EMPTY_NAME, &[]).id);
    }
}
