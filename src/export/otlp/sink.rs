//! [`OtlpLogSink`]: the collector-side half of the exporter. It copies each delivered event
//! into an owned [`LogEntry`] and hands the batch's copies to the exporter thread through a
//! bounded queue; it never encodes, compresses nor touches the network.

use std::ops::Range;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::worker::{Counters, Msg};
use crate::logging::{FieldRef, Level};
use crate::sink::{Batch, EventView, RecordKind, RecordView, Sink, SinkCounters, SinkError};

/// One batch's events, copied out of the ring on the collector: every string (targets,
/// formatted messages, field names and string values) in one arena, so that a batch costs a
/// few allocations however many events it holds.
#[derive(Debug, Default)]
pub(crate) struct LogBatch {
    text: String,
    events: Vec<EventCopy>,
    fields: Vec<(Range<usize>, FieldCopy)>,
    pub(crate) thread: u32,
    pub(crate) thread_name: Option<Arc<str>>,
    /// When the collector delivered the batch to the sink, Unix nanoseconds.
    pub(crate) observed: u64,
}

#[derive(Debug, Clone)]
struct EventCopy {
    level: Level,
    target: Range<usize>,
    /// The message with its arguments formatted in.
    message: Range<usize>,
    fields: Range<usize>,
    location: Option<(&'static str, u32)>,
    truncated: bool,
    /// When the event was logged, Unix nanoseconds.
    timestamp: u64,
}

#[derive(Debug, Clone)]
enum FieldCopy {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(Range<usize>),
    None,
}

/// One copied event, borrowed from its [`LogBatch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogEntry<'a> {
    batch: &'a LogBatch,
    event: &'a EventCopy,
}

impl<'a> LogEntry<'a> {
    pub(crate) fn level(&self) -> Level {
        self.event.level
    }
    pub(crate) fn target(&self) -> &'a str {
        &self.batch.text[self.event.target.clone()]
    }
    pub(crate) fn message(&self) -> &'a str {
        &self.batch.text[self.event.message.clone()]
    }
    pub(crate) fn location(&self) -> Option<(&'static str, u32)> {
        self.event.location
    }
    pub(crate) fn truncated(&self) -> bool {
        self.event.truncated
    }
    pub(crate) fn timestamp(&self) -> u64 {
        self.event.timestamp
    }
    pub(crate) fn observed(&self) -> u64 {
        self.batch.observed
    }
    pub(crate) fn thread(&self) -> u32 {
        self.batch.thread
    }
    pub(crate) fn thread_name(&self) -> Option<&'a str> {
        self.batch.thread_name.as_deref()
    }
    /// The named fields, in order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&'a str, FieldRef<'a>)> + 'a {
        let batch = self.batch;
        batch.fields[self.event.fields.clone()]
            .iter()
            .map(move |(name, v)| {
                let value = match v {
                    FieldCopy::U64(u) => FieldRef::U64(*u),
                    FieldCopy::I64(i) => FieldRef::I64(*i),
                    FieldCopy::F64(f) => FieldRef::F64(*f),
                    FieldCopy::Bool(b) => FieldRef::Bool(*b),
                    FieldCopy::Str(r) => FieldRef::Str(&batch.text[r.clone()]),
                    FieldCopy::None => FieldRef::None,
                };
                (&batch.text[name.clone()], value)
            })
    }
}

impl LogBatch {
    /// Events in the batch.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The `i`th event (`i < len()`).
    pub(crate) fn get(&self, i: usize) -> Option<LogEntry<'_>> {
        self.events
            .get(i)
            .map(|event| LogEntry { batch: self, event })
    }

    fn add(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// Copies one event in.
    fn push(&mut self, e: &EventView<'_>) {
        let target = self.add(e.target);
        let start = self.text.len();
        let _ = e.write_message(&mut self.text);
        let message = start..self.text.len();
        let first = self.fields.len();
        for (name, v) in e.fields() {
            let name = self.add(name);
            let value = match v {
                FieldRef::U64(u) => FieldCopy::U64(u),
                FieldRef::I64(i) => FieldCopy::I64(i),
                FieldRef::F64(f) => FieldCopy::F64(f),
                FieldRef::Bool(b) => FieldCopy::Bool(b),
                FieldRef::Str(s) => FieldCopy::Str(self.add(s)),
                FieldRef::None => FieldCopy::None,
            };
            self.fields.push((name, value));
        }
        self.events.push(EventCopy {
            level: e.level,
            target,
            message,
            fields: first..self.fields.len(),
            location: e.location,
            truncated: e.truncated,
            timestamp: e.timestamp.unix_nanos(),
        });
    }
}

/// A [`Sink`] that queues the events it is handed for an
/// [`OtlpExporter`](super::OtlpExporter) (from [`OtlpExporter::log_sink`]), which exports
/// them as OTLP log records. Samples and audit records are skipped without being decoded
/// (metrics are exported from the instance's snapshot instead).
///
/// `write` only copies: the batch's events (formatted message, target, field names and
/// values) into one buffer, then one queue send per batch. When the queue already
/// holds [`queue_capacity`](super::OtlpConfig::queue_capacity) records, the batch's events
/// past it are dropped and counted ([`OtlpStats::dropped_log_records`]); the sink never
/// waits.
///
/// [`OtlpExporter::log_sink`]: super::OtlpExporter::log_sink
/// [`OtlpStats::dropped_log_records`]: super::OtlpStats::dropped_log_records
pub struct OtlpLogSink {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
    capacity: usize,
    /// Thread names by thread index, shared by every entry of that thread.
    names: Vec<Option<Arc<str>>>,
    min_level: Level,
}

impl std::fmt::Debug for OtlpLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLogSink")
            .field("capacity", &self.capacity)
            .field("min_level", &self.min_level)
            .finish_non_exhaustive()
    }
}

impl OtlpLogSink {
    pub(crate) fn new(tx: Sender<Msg>, counters: Arc<Counters>, capacity: usize) -> Self {
        OtlpLogSink {
            tx,
            counters,
            capacity: capacity.max(1),
            names: Vec::new(),
            min_level: Level::Trace,
        }
    }

    /// Exports only events at `level` or worse (default: every event the instance keeps).
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    fn thread_name(&mut self, batch: &Batch<'_>) -> Option<Arc<str>> {
        let t = batch.thread();
        let i = t.index as usize;
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        let slot = &mut self.names[i];
        match (&*slot, &t.name) {
            (Some(cached), Some(name)) if **cached == **name => {}
            (None, None) => {}
            _ => *slot = t.name.as_deref().map(Arc::from),
        }
        slot.clone()
    }
}

impl Sink for OtlpLogSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if !batch.kinds().any(|k| k == RecordKind::Event) {
            return Ok(());
        }
        let thread_name = self.thread_name(batch);
        let queued = self.counters.queued.load(Relaxed);
        let mut room = self.capacity.saturating_sub(queued);
        let mut copy = LogBatch {
            thread: batch.thread().index,
            thread_name,
            observed: super::unix_now(),
            ..LogBatch::default()
        };
        let mut dropped = 0u64;
        for r in batch.iter_where(|k| k == RecordKind::Event) {
            let RecordView::Event(e) = r else { continue };
            if e.level < self.min_level {
                continue;
            }
            if room == 0 {
                dropped += 1;
                continue;
            }
            room -= 1;
            copy.push(&e);
        }
        if dropped > 0 {
            self.counters.dropped_logs.fetch_add(dropped, Relaxed);
        }
        let n = copy.len();
        if n == 0 {
            return Ok(());
        }
        self.counters.queued.fetch_add(n, Relaxed);
        if self.tx.send(Msg::Logs(copy)).is_err() {
            // The exporter has stopped: these records cannot leave any more.
            self.counters.queued.fetch_sub(n, Relaxed);
            self.counters.dropped_logs.fetch_add(n as u64, Relaxed);
            return Err(SinkError::new("the OTLP exporter has stopped"));
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "otlp"
    }

    fn counters(&self) -> Option<SinkCounters> {
        let c = self.counters.clone();
        Some(Arc::new(move || {
            let s = c.stats();
            vec![
                ("exported_log_records", s.exported_log_records),
                ("dropped_log_records", s.dropped_log_records),
                ("failed_log_records", s.failed_log_records),
                ("rejected_log_records", s.rejected_log_records),
                ("exported_data_points", s.exported_data_points),
                ("failed_requests", s.failed_requests),
                ("retries", s.retries),
            ]
        }))
    }
}
