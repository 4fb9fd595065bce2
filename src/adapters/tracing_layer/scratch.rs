//! The per-event `Visit`: typed values encoded into a per-thread scratch as tracing lends
//! them, then one copy into the ring.
//!
//! tracing lends each value only for the duration of one `record_*` call, so a value cannot
//! be kept by reference until the record is written. Each is encoded at once, in the
//! record's own binary form, into a scratch allocated once per thread that never grows
//! (16 KiB: a string that does not fit is cut and tagged truncated, as one past the
//! instance's `max_string_len` is); the record is then pushed with one copy. Values arrive
//! in field order for every event tracing's macros make (the message first); an event whose
//! values arrive in another order is encoded by visiting it once per value, still without
//! allocating.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::Event;

use super::table::EventSite;
use crate::logging::FieldRef;
use crate::pipeline::Shared;
use crate::record::Encoded;
use crate::time::now_ticks;

/// Scratch bytes per thread: every value of one event.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static ENCODED: RefCell<Encoded> = RefCell::new(Encoded::with_capacity(SCRATCH));
}

/// Records `event` (of the call site `site`) into `shared`'s ring for this thread.
#[inline]
pub(super) fn record_event(shared: &Arc<Shared>, site: &EventSite, event: &Event<'_>) {
    if site.values > Encoded::RESERVE / 9 {
        // More values than the scratch keeps room for (tracing's macros take at most 32):
        // a scratch sized for them, allocated.
        let mut big = Encoded::with_capacity(SCRATCH + 9 * site.values);
        return record_into(&mut big, shared, site, event);
    }
    let done = ENCODED.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut enc) => record_into(&mut enc, shared, site, event),
        // A value's `Debug` logged an event of its own, into this layer: give that one a
        // scratch of its own (allocated: this is the rare path).
        Err(_) => record_into(&mut Encoded::with_capacity(SCRATCH), shared, site, event),
    });
    if done.is_err() {
        // The thread is exiting and its scratch is gone.
        record_into(&mut Encoded::with_capacity(SCRATCH), shared, site, event);
    }
}

fn record_into(enc: &mut Encoded, shared: &Arc<Shared>, site: &EventSite, event: &Event<'_>) {
    // The time the event was emitted, read before its values are rendered (and while they
    // are: the clock read is not serialising, so its latency overlaps the encoding).
    let ticks = now_ticks();
    let max = shared.config.max_string_len;
    enc.clear();
    let mut v = Visitor {
        enc,
        site,
        max,
        next: 0,
        only: None,
        disordered: !site.in_order,
    };
    if site.in_order {
        event.record(&mut v);
    }
    if v.disordered {
        // Values out of field order: one visit per value, each encoding only its own.
        v.enc.clear();
        for slot in 0..site.values {
            v.only = Some(slot);
            v.next = slot;
            event.record(&mut v);
            if v.next == slot {
                v.enc.value(&FieldRef::None, max);
            }
        }
    } else {
        // Fields never recorded (`tracing::field::Empty`, a `None`) are null.
        for _ in v.next..site.values {
            v.enc.value(&FieldRef::None, max);
        }
    }
    // A call site has at most a few dozen fields: far below u16::MAX.
    let n = u16::try_from(site.values).unwrap_or(u16::MAX);
    shared.push_event_encoded(site.callsite, n, ticks, enc);
}

struct Visitor<'a> {
    enc: &'a mut Encoded,
    site: &'a EventSite,
    max: usize,
    /// The next value slot to encode.
    next: usize,
    /// Encode only this slot (the out-of-order pass).
    only: Option<usize>,
    disordered: bool,
}

impl Visitor<'_> {
    /// Whether to encode `field`'s value now (its slot is the next one). The plain case,
    /// values arriving one slot after another, is a compare and an increment; anything else
    /// goes [`Visitor::take_slow`].
    #[inline(always)]
    fn take(&mut self, field: &Field) -> bool {
        let slot = self.site.slot(field.index());
        if slot == self.next && slot < self.site.values && self.only.is_none() {
            self.next = slot + 1;
            return true;
        }
        self.take_slow(slot)
    }

    /// [`Visitor::take`] for a value past a gap (nulls are written for the fields skipped),
    /// out of order (noted: the event is encoded again, one value per visit), outside the
    /// call site's fields (ignored), or in the one-value-per-visit pass.
    #[cold]
    #[inline(never)]
    fn take_slow(&mut self, slot: usize) -> bool {
        if slot >= self.site.values {
            return false;
        }
        match self.only {
            Some(k) if slot != k || self.next > k => return false,
            Some(_) => {}
            None if slot < self.next => {
                self.disordered = true;
                return false;
            }
            None => {
                while self.next < slot {
                    self.enc.value(&FieldRef::None, self.max);
                    self.next += 1;
                }
            }
        }
        self.next = slot + 1;
        true
    }

    #[inline(always)]
    fn put(&mut self, field: &Field, value: FieldRef<'_>) {
        if self.take(field) {
            self.enc.value(&value, self.max);
        }
    }

    #[inline(always)]
    fn text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        if self.take(field) {
            self.enc.display(args, self.max);
        }
    }
}

impl Visit for Visitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, FieldRef::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, FieldRef::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, FieldRef::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, FieldRef::I64(v)),
            // Exact, as decimal text: the record has no 128-bit type.
            Err(_) => self.text(field, format_args!("{value}")),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(v) => self.put(field, FieldRef::U64(v)),
            Err(_) => self.text(field, format_args!("{value}")),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, FieldRef::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, FieldRef::Str(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message (`format_args!`) arrives here too: its Debug is its Display.
        self.text(field, format_args!("{value:?}"));
    }
}
