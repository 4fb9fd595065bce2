//! The by-name hot path: a per-thread [`NameCache`] from a borrowed (kind, name, tags) key,
//! exactly as the caller passed it, to its series id, and the hashing and comparison it and
//! the registry share.
//!
//! What the cache may hold, and what a refused key costs past [`REFUSED_CACHE_MAX`], is
//! documented on [`crate::series`].

use hashbrown::HashTable;

use super::{Registry, SeriesKind};

/// The most refused keys one thread's by-name cache keeps (each maps to its kind's overflow
/// series; see [`crate::metrics`]). Enough for the handful of keys an application refused by a cap usually repeats;
/// beyond it a refused key costs a registry lookup (a mutex and a hash probe, no allocation)
/// per call instead of memory per key.
pub const REFUSED_CACHE_MAX: usize = 1024;

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
pub(crate) fn same(a: &str, b: &str) -> bool {
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

/// The key's hash: foldhash with the crate's fixed seed ([`crate::hash`]), so the registry
/// and every thread's cache agree. Each string is preceded by its length, which separates
/// "ab"+"c" from "a"+"bc".
#[inline]
pub(crate) fn hash_key(kind: SeriesKind, name: &str, tags: &[(&str, &str)]) -> u64 {
    use std::hash::Hasher as _;
    let mut h = crate::hash::fast_hasher();
    h.write_u8(kind as u8);
    h.write_usize(name.len());
    h.write(name.as_bytes());
    for (k, v) in tags {
        h.write_usize(k.len());
        h.write(k.as_bytes());
        h.write_usize(v.len());
        h.write(v.as_bytes());
    }
    h.finish()
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
        self.kind == kind && same_key(&self.name, &self.tags, name, tags)
    }
}

/// Whether a stored key (`name`, `tags`, owned in whatever string type) is this borrowed one:
/// what the registry and every thread's cache compare on a hash hit.
#[inline]
pub(crate) fn same_key<S: AsRef<str>>(
    name: &str,
    tags: &[(S, S)],
    other_name: &str,
    other_tags: &[(&str, &str)],
) -> bool {
    same(name, other_name)
        && tags.len() == other_tags.len()
        && tags
            .iter()
            .zip(other_tags)
            .all(|((a, b), (c, d))| same(a.as_ref(), c) && same(b.as_ref(), d))
}

/// A thread's map from borrowed (kind, name, tags) keys, exactly as the caller passed them,
/// to series ids.
/// Keys of registered series are cached without bound (there are at most `max_series`);
/// refused keys only up to [`REFUSED_CACHE_MAX`] (see the module docs).
#[derive(Default)]
pub(crate) struct NameCache {
    table: HashTable<CacheEntry>,
    /// Entries for refused keys.
    refused: usize,
}

impl NameCache {
    /// The id of this key, registering it (and allocating) only on the first sight (and, for
    /// a refused key past the cache's bound, looking it up in the registry every time).
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
        let r = registry.resolve(kind, name, tags, Some(hash));
        let id = r.info.id();
        if r.refused {
            if self.refused >= REFUSED_CACHE_MAX {
                return id;
            }
            self.refused += 1;
        }
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
    use crate::series::EMPTY_NAME;
    use std::sync::atomic::Ordering::Relaxed;

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
        assert_eq!(e, r.register(SeriesKind::Metric, EMPTY_NAME, &[]).id());
    }

    #[test]
    fn refused_keys_are_cached_up_to_the_bound_then_looked_up_every_time() {
        let r = Registry::new(2);
        let mut c = NameCache::default();
        let a = c.id(&r, SeriesKind::Metric, "a", &[]);
        let b = c.id(&r, SeriesKind::Metric, "b", &[]);
        let overflow = r.register(SeriesKind::Metric, "refused", &[]).id();
        let refused_before = r.overflowed.load(Relaxed);
        let n = REFUSED_CACHE_MAX as u64 + 500;
        for i in 0..n {
            let name = format!("k{i}");
            assert_eq!(c.id(&r, SeriesKind::Metric, &name, &[]), overflow);
        }
        assert_eq!(c.table.len(), 2 + REFUSED_CACHE_MAX);
        assert_eq!(c.refused, REFUSED_CACHE_MAX);
        assert_eq!(r.overflowed.load(Relaxed) - refused_before, n);
        // A cached refused key costs nothing more; an uncached one a lookup (counted).
        c.id(&r, SeriesKind::Metric, "k0", &[]);
        assert_eq!(r.overflowed.load(Relaxed) - refused_before, n);
        c.id(&r, SeriesKind::Metric, &format!("k{}", n - 1), &[]);
        assert_eq!(r.overflowed.load(Relaxed) - refused_before, n + 1);
        assert_eq!(c.table.len(), 2 + REFUSED_CACHE_MAX);
        // Registered series are still found, from the cache.
        assert_eq!(c.id(&r, SeriesKind::Metric, "a", &[]), a);
        assert_eq!(c.id(&r, SeriesKind::Metric, "b", &[]), b);
    }
}
