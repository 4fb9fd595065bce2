//! Call site to entry: a fixed open-addressing table read without a lock on every event.
//!
//! Slots are `OnceLock`s filled only under the insert lock and never emptied, so a reader
//! probing without the lock sees each slot either empty or final: an empty slot ends a probe
//! (nothing was inserted past it for this key, since inserts take the first empty slot of
//! the same probe sequence). The table holds 4,096 call sites per layer; past that (or past
//! 64 probes) an entry is leaked into an overflow list read under a lock, which no program
//! with fewer call sites ever touches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use parking_lot::RwLock;
use tracing_core::Metadata;

use super::filter::Filters;
use super::level_of;
use crate::logging::Callsite;
use crate::metrics::Latency;
use crate::pipeline::Shared;
use crate::series::SeriesKind;

const SLOTS: usize = 4096;
const PROBES: usize = 64;

/// What the layer knows about one `tracing` call site.
pub(super) struct Site {
    key: usize,
    /// The layer's filters admit it (the instance's levels, which a reload can change, are
    /// checked per event).
    pub(super) wanted: bool,
    /// For a wanted event call site: its tickwatch call site.
    pub(super) event: Option<EventSite>,
    /// For a timed span call site: the latency its durations go to.
    pub(super) span: Option<Latency>,
}

/// A `tracing` event call site as tickwatch records it.
#[derive(Clone, Copy)]
pub(super) struct EventSite {
    pub(super) callsite: &'static Callsite,
    /// The tracing field index of `message`, recorded as the call site's one format
    /// argument (value 0); the other fields follow in their order.
    pub(super) message: Option<usize>,
    /// Values per record: the message (if any) and the fields.
    pub(super) values: usize,
    /// Value slots follow the tracing field order (no message, or the message first, as
    /// tracing's macros put it), so values can be encoded as they are visited.
    pub(super) in_order: bool,
}

impl EventSite {
    /// The record value slot of tracing field `index`.
    #[inline]
    pub(super) fn slot(&self, index: usize) -> usize {
        match self.message {
            Some(m) if index == m => 0,
            Some(m) if index < m => index + 1,
            _ => index,
        }
    }
}

fn key(meta: &'static Metadata<'static>) -> usize {
    meta as *const Metadata<'static> as usize
}

fn home(key: usize) -> usize {
    // Metadata lives in statics 8-byte aligned or more: drop the low bits, then spread.
    ((key >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) & (SLOTS - 1)
}

impl Site {
    pub(super) fn new(
        meta: &'static Metadata<'static>,
        filters: &Filters,
        shared: &Arc<Shared>,
    ) -> Site {
        let level = level_of(meta.level());
        // The layer's rules; the instance's levels are checked per event and per span.
        let wanted = filters.admits(meta.target(), level);
        let event = (wanted && meta.is_event()).then(|| event_site(meta));
        let span = (wanted && meta.is_span() && filters.times_span(meta.name(), meta.target()))
            .then(|| {
                Latency::new(
                    shared.clone(),
                    shared
                        .series
                        .register(SeriesKind::Latency, meta.name(), &[]),
                )
            });
        Site {
            key: key(meta),
            wanted,
            event,
            span,
        }
    }
}

/// The tickwatch call site of a `tracing` event call site: made once per process (every
/// layer shares it) and kept for the process's life, like `event!`'s statics.
fn event_site(meta: &'static Metadata<'static>) -> EventSite {
    static MADE: Mutex<Option<crate::hash::FastMap<usize, EventSite>>> = Mutex::new(None);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    *made
        .get_or_insert_with(Default::default)
        .entry(key(meta))
        .or_insert_with(|| {
            let fields = meta.fields();
            let message = fields.iter().position(|f| f.name() == "message");
            let names: Vec<&'static str> = fields
                .iter()
                .filter(|f| f.name() != "message")
                .map(|f| f.name())
                .collect();
            let values = names.len() + message.is_some() as usize;
            let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
            let (text, args) = if message.is_some() {
                ("{}", 1)
            } else {
                ("", 0)
            };
            let callsite: &'static Callsite = Box::leak(Box::new(
                Callsite::new(
                    level_of(meta.level()),
                    meta.target(),
                    text,
                    names,
                    meta.file().unwrap_or(""),
                    meta.line().unwrap_or(0),
                )
                .with_args(args),
            ));
            EventSite {
                callsite,
                message,
                values,
                in_order: matches!(message, None | Some(0)),
            }
        })
}

pub(super) struct SiteTable {
    slots: Box<[OnceLock<Box<Site>>]>,
    overflow: RwLock<Vec<&'static Site>>,
    has_overflow: AtomicBool,
    insert: Mutex<()>,
    len: AtomicUsize,
}

impl SiteTable {
    pub(super) fn new() -> Self {
        SiteTable {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: RwLock::new(Vec::new()),
            has_overflow: AtomicBool::new(false),
            insert: Mutex::new(()),
            len: AtomicUsize::new(0),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The entry of `meta`, if made: no lock, no allocation.
    #[inline]
    pub(super) fn get(&self, meta: &'static Metadata<'static>) -> Option<&Site> {
        let key = key(meta);
        let home = home(key);
        for i in 0..PROBES {
            match self.slots[(home + i) & (SLOTS - 1)].get() {
                Some(site) if site.key == key => return Some(site),
                Some(_) => continue,
                None => return None,
            }
        }
        self.get_overflow(key)
    }

    #[cold]
    fn get_overflow(&self, key: usize) -> Option<&Site> {
        if !self.has_overflow.load(Ordering::Acquire) {
            return None;
        }
        self.overflow.read().iter().copied().find(|s| s.key == key)
    }

    /// The entry of `meta`, made by `make` unless another thread made it first.
    pub(super) fn insert(
        &self,
        meta: &'static Metadata<'static>,
        make: impl FnOnce() -> Site,
    ) -> &Site {
        let _guard = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(site) = self.get(meta) {
            return site;
        }
        let home = home(key(meta));
        let site = make();
        self.len.fetch_add(1, Ordering::Relaxed);
        for i in 0..PROBES {
            let slot = &self.slots[(home + i) & (SLOTS - 1)];
            if slot.get().is_none() {
                // Under the insert lock no one else fills it: this initialises it.
                return slot.get_or_init(|| Box::new(site));
            }
        }
        // The probe sequence is full: leak the entry (bounded by the call sites past
        // 4,096, once each).
        let site: &'static Site = Box::leak(Box::new(site));
        self.overflow.write().push(site);
        self.has_overflow.store(true, Ordering::Release);
        site
    }
}
