//! What a sink receives: a [`Batch`] of records from one thread's ring, decoded lazily into
//! borrowed [`RecordView`]s (no allocation per record on the collector).

use std::sync::Arc;

use crate::logging::Audit;
use crate::logging::{Callsite, FieldRef, Level};
use crate::record::{self, Raw, FLAG_TICKS, FLAG_TRUNCATED};
use crate::ring::Frames;
use crate::series::{SeriesInfo, SeriesKind};
use crate::sink::Record;
use crate::time::Conversion;
use crate::Timestamp;

/// The thread that recorded a batch's records (each thread writes into a ring of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Sequential per instance, from 0, in order of first call.
    pub index: u32,
    /// The thread's name, if it had one.
    pub name: Option<String>,
}

/// The collector's id -> metadata tables.
#[derive(Default)]
pub(crate) struct Tables {
    pub(crate) series: Vec<Arc<SeriesInfo>>,
    pub(crate) callsites: Vec<&'static Callsite>,
}

impl Tables {
    /// Whether a record asks for a prompt flush: a `Warn`-or-worse event (static or dynamic)
    /// or an audit record (the ones an operator reads after a crash).
    pub(crate) fn is_urgent(&self, raw: &Raw<'_>) -> bool {
        match raw {
            Raw::Sample { .. } => false,
            Raw::Event { callsite, .. } => (*callsite as usize)
                .checked_sub(1)
                .and_then(|i| self.callsites.get(i))
                .is_some_and(|cs| cs.level() >= Level::Warn),
            Raw::DynEvent { level, .. } => *level >= Level::Warn,
            Raw::Audit { .. } => true,
        }
    }

    /// Whether these tables can resolve this record's id (cheap: no name lookups, no clock
    /// math).
    pub(crate) fn knows(&self, raw: &Raw<'_>) -> bool {
        match raw {
            Raw::Sample { kind, id, .. } => self
                .series
                .get(*id as usize)
                .is_some_and(|s| s.kind().record_kind() == *kind),
            Raw::Event {
                callsite, fields, ..
            } => (*callsite as usize)
                .checked_sub(1)
                .and_then(|i| self.callsites.get(i))
                .is_some_and(|cs| cs.values() == fields.len()),
            Raw::DynEvent { .. } | Raw::Audit { .. } => true,
        }
    }

    /// Resolves a decoded payload, or `None` when an id is unknown to these tables.
    pub(crate) fn resolve<'a>(
        &'a self,
        raw: Raw<'a>,
        clock: &Conversion,
    ) -> Option<RecordView<'a>> {
        Some(match raw {
            Raw::Sample {
                kind: k,
                flags,
                id,
                ticks,
                value,
            } => {
                let series = self.series.get(id as usize)?;
                if series.kind().record_kind() != k {
                    return None;
                }
                let timestamp = clock.timestamp(ticks);
                match series.kind() {
                    SeriesKind::Metric => RecordView::Metric {
                        series,
                        value: f64::from_bits(value),
                        timestamp,
                    },
                    SeriesKind::Counter => RecordView::Counter {
                        series,
                        delta: value,
                        timestamp,
                    },
                    SeriesKind::Latency => {
                        let nanos = if flags & FLAG_TICKS != 0 {
                            clock.ticks_to_nanos(value)
                        } else {
                            value
                        };
                        RecordView::Latency {
                            series,
                            nanos,
                            timestamp,
                        }
                    }
                    SeriesKind::Resource => RecordView::Resource {
                        series,
                        usage: f64::from_bits(value),
                        timestamp,
                    },
                }
            }
            Raw::Event {
                flags,
                callsite,
                ticks,
                fields,
            } => {
                let cs = *self.callsites.get((callsite as usize).checked_sub(1)?)?;
                if cs.values() != fields.len() {
                    return None;
                }
                RecordView::Event(EventView {
                    callsite,
                    level: cs.level(),
                    target: cs.target(),
                    message: cs.message(),
                    location: Some((cs.file(), cs.line())),
                    timestamp: clock.timestamp(ticks),
                    truncated: flags & FLAG_TRUNCATED != 0,
                    fields: EventFields {
                        names: Some(cs.fields()),
                        args: cs.args(),
                        raw: fields,
                    },
                })
            }
            Raw::DynEvent {
                flags,
                level,
                ticks,
                message,
                target,
                fields,
            } => RecordView::Event(EventView {
                callsite: 0,
                level,
                target,
                message,
                location: None,
                timestamp: clock.timestamp(ticks),
                truncated: flags & FLAG_TRUNCATED != 0,
                fields: EventFields {
                    names: None,
                    args: 0,
                    raw: fields,
                },
            }),
            Raw::Audit {
                flags,
                ticks,
                parts,
            } => RecordView::Audit {
                audit: Audit::from_parts(parts),
                timestamp: clock.timestamp(ticks),
                truncated: flags & FLAG_TRUNCATED != 0,
            },
        })
    }
}

/// One delivered record, borrowed from the ring and the collector's tables.
///
/// Non-exhaustive: new kinds of record may be added; give your `match` a `_` arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecordView<'a> {
    /// A [`crate::Metric`] sample or `log_metric` call.
    Metric {
        /// Name and tags.
        series: &'a SeriesInfo,
        /// The sample.
        value: f64,
        /// When it was taken.
        timestamp: Timestamp,
    },
    /// A [`crate::Counter`] increment.
    Counter {
        /// Name and tags.
        series: &'a SeriesInfo,
        /// The increment.
        delta: u64,
        /// When it was taken.
        timestamp: Timestamp,
    },
    /// A [`crate::Latency`] sample or `measure_latency` call.
    Latency {
        /// Operation and tags.
        series: &'a SeriesInfo,
        /// The duration.
        nanos: u64,
        /// When it was recorded.
        timestamp: Timestamp,
    },
    /// A [`crate::Resource`] sample or `track_resource_usage` call.
    Resource {
        /// Resource name and tags.
        series: &'a SeriesInfo,
        /// The usage.
        usage: f64,
        /// When it was taken.
        timestamp: Timestamp,
    },
    /// A structured event.
    Event(EventView<'a>),
    /// An audit record ([`crate::Telemetry::audit`]).
    Audit {
        /// Who, what, on what, outcome, rule, detail.
        audit: Audit<'a>,
        /// When it was recorded.
        timestamp: Timestamp,
        /// True if a string was cut to the instance's `max_string_len`.
        truncated: bool,
    },
    /// The producing thread dropped `count` records (ring full under `Backpressure::Drop`,
    /// record larger than the ring, or instance stopping) since the previous notice.
    Dropped {
        /// How many.
        count: u64,
        /// When the collector noticed.
        timestamp: Timestamp,
    },
}

impl RecordView<'_> {
    /// When the record was taken (for `Dropped`, when it was noticed).
    pub fn timestamp(&self) -> Timestamp {
        match self {
            RecordView::Metric { timestamp, .. }
            | RecordView::Counter { timestamp, .. }
            | RecordView::Latency { timestamp, .. }
            | RecordView::Resource { timestamp, .. }
            | RecordView::Dropped { timestamp, .. }
            | RecordView::Audit { timestamp, .. } => *timestamp,
            RecordView::Event(e) => e.timestamp,
        }
    }

    /// An owned copy, tagged with the producing thread's index.
    pub fn to_record(&self, thread: u32) -> Record {
        let owned = |s: &SeriesInfo| (s.name().to_owned(), s.tags().to_vec());
        match self {
            RecordView::Metric {
                series,
                value,
                timestamp,
            } => {
                let (name, tags) = owned(series);
                Record::Metric {
                    name,
                    tags,
                    value: *value,
                    timestamp: *timestamp,
                    thread,
                }
            }
            RecordView::Counter {
                series,
                delta,
                timestamp,
            } => {
                let (name, tags) = owned(series);
                Record::Counter {
                    name,
                    tags,
                    delta: *delta,
                    timestamp: *timestamp,
                    thread,
                }
            }
            RecordView::Latency {
                series,
                nanos,
                timestamp,
            } => {
                let (operation, tags) = owned(series);
                Record::Latency {
                    operation,
                    tags,
                    nanos: *nanos,
                    timestamp: *timestamp,
                    thread,
                }
            }
            RecordView::Resource {
                series,
                usage,
                timestamp,
            } => {
                let (resource, tags) = owned(series);
                Record::Resource {
                    resource,
                    tags,
                    usage: *usage,
                    timestamp: *timestamp,
                    thread,
                }
            }
            RecordView::Event(e) => Record::Event {
                level: e.level,
                target: e.target.to_owned(),
                message: {
                    let mut m = String::with_capacity(e.message.len());
                    let _ = e.write_message(&mut m);
                    m
                },
                fields: e
                    .fields()
                    .map(|(n, v)| (n.to_owned(), v.to_value()))
                    .collect(),
                location: e.location.map(|(f, l)| (f.to_owned(), l)),
                truncated: e.truncated,
                timestamp: e.timestamp,
                thread,
            },
            RecordView::Audit {
                audit,
                timestamp,
                truncated,
            } => Record::Audit {
                actor: audit.actor.to_owned(),
                action: audit.action.to_owned(),
                resource: audit.resource.to_owned(),
                outcome: audit.outcome.to_owned(),
                rule: audit.rule.to_owned(),
                detail: audit.detail.to_owned(),
                truncated: *truncated,
                timestamp: *timestamp,
                thread,
            },
            RecordView::Dropped { count, timestamp } => Record::Dropped {
                count: *count,
                timestamp: *timestamp,
                thread,
            },
        }
    }
}

/// A structured event as delivered.
#[derive(Debug, Clone)]
pub struct EventView<'a> {
    /// Severity.
    pub level: Level,
    /// Module path (`event!`) or the target given to `log_event`.
    pub target: &'a str,
    /// The message.
    pub message: &'a str,
    /// Source file and line (`event!` only).
    pub location: Option<(&'static str, u32)>,
    /// When it was logged.
    pub timestamp: Timestamp,
    /// True if any string field was cut to the instance's `max_string_len`.
    pub truncated: bool,
    /// The `event!` call site's id in the collector's tables (from 1), 0 for `log_event`:
    /// everything but the field values and the time is the same for every event of one id.
    pub(crate) callsite: u32,
    fields: EventFields<'a>,
}

impl<'a> EventView<'a> {
    /// The named fields, in the order they were given (the message's format arguments are
    /// not among them: see [`EventView::args`]).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, FieldRef<'a>)> + 'a {
        let names = self.fields.names;
        self.fields
            .raw
            .skip(self.fields.args)
            .enumerate()
            .map(move |(i, (name, value, _))| {
                (
                    name.or_else(|| names.and_then(|n| n.get(i).copied()))
                        .unwrap_or(""),
                    value,
                )
            })
    }
}

impl<'a> EventView<'a> {
    /// The values of the message's format arguments (`event!(tw, Level::Warn, "order {}
    /// rejected", id)`), in order; none for a message without arguments.
    pub fn args(&self) -> impl Iterator<Item = FieldRef<'a>> + 'a {
        self.fields.raw.take(self.fields.args).map(|(_, v, _)| v)
    }

    /// Whether the message is a format string with arguments (see [`EventView::args`]).
    pub fn has_args(&self) -> bool {
        self.fields.args > 0
    }

    /// Writes the message with its arguments in place ([`Callsite::format_message`]): the
    /// message as it is when it has none. This is where an `event!` message is formatted: on
    /// the collector, not on the thread that logged it.
    pub fn write_message(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        if self.has_args() {
            Callsite::format_message(self.message, self.args(), out)
        } else {
            out.write_str(self.message)
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct EventFields<'a> {
    names: Option<&'static [&'static str]>,
    /// Leading values that are the message's format arguments.
    args: usize,
    raw: record::Fields<'a>,
}

/// Records from one thread's ring, in the order that thread produced them, followed by a
/// [`RecordView::Dropped`] notice when the thread dropped records since the last batch.
pub struct Batch<'a> {
    pub(crate) frames: Frames<'a>,
    pub(crate) dropped: u64,
    pub(crate) dropped_at: Timestamp,
    pub(crate) tables: &'a Tables,
    pub(crate) clock: Conversion,
    pub(crate) thread: &'a ThreadInfo,
    pub(crate) len: usize,
}

impl<'a> Batch<'a> {
    /// Number of records [`Batch::iter`] yields (the drop notice included).
    pub fn len(&self) -> usize {
        self.len + (self.dropped > 0) as usize
    }

    /// True when there is nothing to deliver.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of its records in the ring's framing (about what they take in a segment).
    pub(crate) fn byte_len(&self) -> u64 {
        self.frames.clone().map(|f| f.len() as u64).sum()
    }

    /// The thread these records come from.
    pub fn thread(&self) -> &'a ThreadInfo {
        self.thread
    }

    /// The records, decoded as you go.
    pub fn iter(&self) -> impl Iterator<Item = RecordView<'a>> + '_ {
        let tables = self.tables;
        let clock = self.clock;
        let notice = (self.dropped > 0).then_some(RecordView::Dropped {
            count: self.dropped,
            timestamp: self.dropped_at,
        });
        self.frames
            .clone()
            .filter_map(move |f| {
                record::decode(f)
                    .ok()
                    .and_then(|raw| tables.resolve(raw, &clock))
            })
            .chain(notice)
    }

    /// The records that are not samples (events, audit records and the drop notice), in
    /// order: [`Batch::iter_where`] keeping every kind but samples.
    pub fn iter_non_samples(&self) -> impl Iterator<Item = RecordView<'a>> + '_ {
        self.iter_where(|k| !k.is_sample())
    }

    /// The records whose kind `keep` accepts, in order, decoded as you go, followed by the
    /// drop notice (always: it accounts for records of every kind). A frame of another kind
    /// is skipped on its first byte, without being decoded: a sink that wants only latencies,
    /// or only events, pays nothing for the rest.
    ///
    /// ```
    /// use tickwatch::sink::{Batch, RecordKind, RecordView, Sink, SinkError};
    /// struct Latencies(u64);
    /// impl Sink for Latencies {
    ///     fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
    ///         for r in batch.iter_where(|k| k == RecordKind::Latency) {
    ///             if let RecordView::Latency { nanos, .. } = r {
    ///                 self.0 += nanos;
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn iter_where(
        &self,
        keep: impl Fn(RecordKind) -> bool + 'a,
    ) -> impl Iterator<Item = RecordView<'a>> + '_ {
        let tables = self.tables;
        let clock = self.clock;
        let notice = (self.dropped > 0).then_some(RecordView::Dropped {
            count: self.dropped,
            timestamp: self.dropped_at,
        });
        self.frames
            .clone()
            .filter(move |f| {
                // A frame with no kind byte, or an unknown one, is left to `decode` (which
                // refuses it, as `iter` does).
                f.first()
                    .and_then(|&k| RecordKind::from_byte(k))
                    .is_none_or(&keep)
            })
            .filter_map(move |f| {
                record::decode(f)
                    .ok()
                    .and_then(|raw| tables.resolve(raw, &clock))
            })
            .chain(notice)
    }
}

impl<'a> Batch<'a> {
    /// The kind of every record in order (the drop notice excepted), read from each frame's
    /// first byte without decoding it: for counting what passes through a sink for nothing.
    pub fn kinds(&self) -> impl Iterator<Item = RecordKind> + '_ {
        self.frames
            .clone()
            .filter_map(|f| f.first().and_then(|&k| RecordKind::from_byte(k)))
    }
}

/// What a record is, before it is decoded: see [`Batch::iter_where`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// [`RecordView::Metric`].
    Metric,
    /// [`RecordView::Counter`].
    Counter,
    /// [`RecordView::Latency`].
    Latency,
    /// [`RecordView::Resource`].
    Resource,
    /// [`RecordView::Event`].
    Event,
    /// [`RecordView::Audit`].
    Audit,
}

impl RecordKind {
    /// Metric, counter, latency or resource: a sample the collector aggregates.
    pub fn is_sample(self) -> bool {
        matches!(
            self,
            RecordKind::Metric | RecordKind::Counter | RecordKind::Latency | RecordKind::Resource
        )
    }

    fn from_byte(k: u8) -> Option<RecordKind> {
        use crate::record::kind;
        Some(match k {
            kind::METRIC => RecordKind::Metric,
            kind::COUNTER => RecordKind::Counter,
            kind::LATENCY => RecordKind::Latency,
            kind::RESOURCE => RecordKind::Resource,
            kind::EVENT | kind::DYN_EVENT => RecordKind::Event,
            kind::AUDIT => RecordKind::Audit,
            _ => return None,
        })
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("thread", self.thread)
            .field("len", &self.len())
            .finish()
    }
}
