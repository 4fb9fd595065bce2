//! One hash function for the whole crate: [foldhash](https://docs.rs/foldhash), in two
//! seedings.
//!
//! * [`FastState`]: a fixed seed, for tables whose keys the program itself makes (series
//!   keys on the by-name hot path, the rule engine's index of series names, the authorizer's
//!   compiled chains). Deterministic, so a registry and every thread's cache agree on a key's
//!   hash without sharing a hasher, and fast on short keys (a few multiply-folds).
//! * [`KeyedState`]: foldhash's "quality" variant seeded at random per process, for tables
//!   whose keys an outsider can choose (user names at login, session tokens, alert labels,
//!   key ids): a flood of colliding keys would have to be found against a seed nobody sees.
//!   Those tables are bounded as well (see the lockout's table): the seed is the second line.
//!
//! foldhash is not a cryptographic hash; nothing here relies on it being one.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Fixed-seed foldhash: for keys the program makes.
pub(crate) type FastState = foldhash::fast::FixedState;

/// Per-process random-seed foldhash (quality): for keys an outsider can choose.
pub(crate) type KeyedState = foldhash::quality::RandomState;

/// A map over keys the program makes.
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// A map over keys an outsider can choose.
pub(crate) type KeyedMap<K, V> = HashMap<K, V, KeyedState>;

/// A fresh fixed-seed hasher (the same seed every time, in every thread).
#[inline]
pub(crate) fn fast_hasher() -> impl Hasher {
    FastState::default().build_hasher()
}
