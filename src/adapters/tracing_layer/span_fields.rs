//! Opt-in ([`TracingLayer::span_fields`](super::TracingLayer::span_fields)): the fields of
//! the spans an event is in, attached to the event.
//!
//! A span's fields are kept as owned values in its registry extensions (on creation and on
//! `record`), and an event inside spans with fields is written as a dynamic event (the
//! `log_event` record: names travel with the values, no call-site id, no source location)
//! carrying its own fields, then the spans' from the outermost in. That is the cost of the
//! option, and why it is off by default: per span, its fields copied and boxed; per event
//! in such a span, a few allocations (the field list, rendered strings) and a larger record
//! with every name in it. Events outside spans with fields keep the fast path.

use std::fmt;
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::Event as TracingEvent;

use super::level_of;
use crate::logging::{Event, FieldRef, Value};
use crate::pipeline::Shared;

/// A span's fields, as its registry extension.
#[derive(Default)]
pub(super) struct SpanFields(pub(super) Vec<(&'static str, Value)>);

/// Collects values as owned ones; the message (of an event) apart.
#[derive(Default)]
pub(super) struct Collect {
    pub(super) values: Vec<(&'static str, Value)>,
    pub(super) message: Option<String>,
}

impl Collect {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::Str(s) => s,
                other => other.as_ref().to_string(),
            });
            return;
        }
        // A span's `record` may set a field again: keep the newest.
        match self.values.iter_mut().find(|(n, _)| *n == field.name()) {
            Some(slot) => slot.1 = value,
            None => self.values.push((field.name(), value)),
        }
    }
}

impl Visit for Collect {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value).map_or_else(|_| Value::Str(value.to_string()), Value::I64);
        self.put(field, v);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = u64::try_from(value).map_or_else(|_| Value::Str(value.to_string()), Value::U64);
        self.put(field, v);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::Str(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
}

/// Writes `event` with the spans' fields after its own, as a dynamic event.
pub(super) fn record_with(
    shared: &Arc<Shared>,
    event: &TracingEvent<'_>,
    spans: &[(&'static str, Value)],
) {
    let mut own = Collect::default();
    event.record(&mut own);
    let fields: Vec<(&str, FieldRef<'_>)> = own
        .values
        .iter()
        .chain(spans)
        .map(|(n, v)| (*n, v.as_ref()))
        .collect();
    let meta = event.metadata();
    shared.push_dyn_event(&Event {
        level: level_of(meta.level()),
        target: meta.target(),
        message: own.message.as_deref().unwrap_or(""),
        fields: &fields,
    });
}
