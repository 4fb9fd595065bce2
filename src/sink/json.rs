//! [`JsonLinesSink`]: one JSON object per record, for files, stdout or any `Write`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::{Batch, EventView, RecordView, Sink, SinkError, ThreadInfo};
use crate::logging::FieldRef;
use crate::series::SeriesInfo;
use crate::Timestamp;

/// Writes every record as one JSON object on its own line.
///
/// Lines are formatted straight into a reusable byte buffer (no `fmt` machinery, no
/// allocation once it has grown) and handed to the writer in blocks of at least 64 KiB,
/// and whenever the collector flushes its sinks (every
/// [`flush_interval`](crate::TelemetryBuilder::flush_interval), after a Warn-or-worse event,
/// on [`crate::Telemetry::flush`] and at shutdown).
///
/// The shapes below are the crate's one output schema ([`crate::schema`]): `ts` is RFC 3339
/// with nanoseconds, `tags` and `fields` are JSON objects, every series kind names its series
/// `name`, and a gauge-like sample (metric, resource) is `value`. Floats that JSON cannot
/// hold are written as the strings `"NaN"`, `"inf"` and `"-inf"` rather than lost.
///
/// ```text
/// {"ts":"2026-11-27T08:00:00.000000001Z","thread":0,"kind":"metric","name":"position","tags":{"venue":"XNAS"},"value":1.5}
/// {"ts":"…","thread":0,"kind":"counter","name":"orders_sent","tags":{},"delta":1}
/// {"ts":"…","thread":0,"kind":"latency","name":"order_roundtrip","tags":{},"nanos":850}
/// {"ts":"…","thread":0,"kind":"resource","name":"order_book_depth","tags":{},"value":0.42}
/// {"ts":"…","thread":0,"kind":"event","level":"INFO","target":"engine","message":"order filled","fields":{"order_id":42},"file":"src/main.rs","line":7}
/// {"ts":"…","thread":0,"kind":"audit","actor":"alice","action":"cancel_order","resource":"orders/42","outcome":"allowed","rule":"trader","detail":""}
/// {"ts":"…","thread":0,"kind":"dropped","count":12,"message":"12 records dropped"}
/// ```
/// `"thread_name"` follows `"thread"` when the thread has a name; `"truncated":true` is added
/// to an event or audit record whose strings were cut.
pub struct JsonLinesSink {
    out: Box<dyn Write + Send>,
    line: LineWriter,
    samples: bool,
}

/// Bytes gathered before they are handed to the writer.
const BLOCK: usize = 64 * 1024;

impl JsonLinesSink {
    /// Writes to `out` in blocks of at least 64 KiB (and on every flush).
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Box::new(out),
            line: LineWriter::default(),
            samples: true,
        }
    }

    /// Whether to write samples (metric, counter, latency and resource records) or only
    /// events, audit records and drop reports. Default `true`.
    ///
    /// Samples are aggregated by the collector whatever the sinks do (snapshots, Prometheus,
    /// alert rules), so an engine recording hundreds of thousands of samples per second can
    /// keep its log to what people read and spend no logging budget on the rest.
    ///
    /// ```
    /// use tickwatch::sink::JsonLinesSink;
    /// let events_only = JsonLinesSink::stdout().samples(false);
    /// # drop(events_only);
    /// ```
    pub fn samples(mut self, write_samples: bool) -> Self {
        self.samples = write_samples;
        self
    }

    /// Appends to the file at `path`, creating it and its parent directories if needed.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Self::new(file))
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    fn write_out(&mut self) -> io::Result<()> {
        let buf = &mut self.line.buf;
        if !buf.is_empty() {
            let r = self.out.write_all(buf);
            // Written or not, the bytes are gone from the buffer: a failed write is reported
            // (counted in `Stats::sink_errors`) rather than retried forever.
            buf.clear();
            r?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink").finish_non_exhaustive()
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.line.begin_batch(batch.thread());
        if self.samples {
            for rec in batch.iter() {
                self.line.record(&rec);
                if self.line.buf.len() >= BLOCK {
                    self.write_out()?;
                }
            }
        } else {
            for rec in batch.iter_non_samples() {
                self.line.record(&rec);
                if self.line.buf.len() >= BLOCK {
                    self.write_out()?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.write_out()?;
        self.out.flush()?;
        Ok(())
    }

    fn name(&self) -> &str {
        "json-lines"
    }

    /// Writes replayed records as the lines `write` would have written (the thread's name
    /// is not kept in a spool), each with `"replayed":true`, and `"possible_duplicate":true`
    /// when the replay says so.
    fn write_records(
        &mut self,
        records: &[super::Record],
        replay: super::Replay,
    ) -> Result<(), SinkError> {
        let mark = if replay.possible_duplicates {
            ",\"replayed\":true,\"possible_duplicate\":true}"
        } else {
            ",\"replayed\":true}"
        };
        for r in records {
            if !self.samples && r.is_sample() {
                continue;
            }
            let line = r.to_json_line(None);
            let body = line.trim_end().strip_suffix('}').unwrap_or(&line);
            self.line.buf.extend_from_slice(body.as_bytes());
            self.line.buf.extend_from_slice(mark.as_bytes());
            self.line.buf.push(b'\n');
            if self.line.buf.len() >= BLOCK {
                self.write_out()?;
            }
        }
        Ok(())
    }
}

/// Formats records as JSON lines into `buf`.
#[derive(Default)]
pub(crate) struct LineWriter {
    pub(crate) buf: Vec<u8>,
    /// The second the cached date-time prefix is for, and the prefix
    /// (`YYYY-MM-DDTHH:MM:SS`): records of one second share it.
    cached_sec: Option<u64>,
    cached_prefix: [u8; 19],
    /// `","thread":N[,"thread_name":"..."]` of the current batch's thread.
    thread: Vec<u8>,
    /// Per `event!` call site id: its constant parts, escaped once.
    callsites: Vec<Option<CallsiteJson>>,
    /// Scratch for a message formatted with its arguments.
    message: String,
}

/// The parts of an `event!` call site's lines that never change, pre-rendered.
struct CallsiteJson {
    /// `,"kind":"event","level":"..","target":"..","message":"..","fields":{`
    head: Vec<u8>,
    /// Each field name as `"name":`, back to back; `names[i]` is its range.
    name_bytes: Vec<u8>,
    names: Vec<std::ops::Range<usize>>,
    /// `},"file":"..","line":N`
    tail: Vec<u8>,
}

/// More call sites than this are formatted without a cache (memory stays bounded whatever
/// the program does).
const MAX_CACHED_CALLSITES: usize = 4096;

impl LineWriter {
    /// Sets the thread of the records that follow.
    pub(crate) fn begin_batch(&mut self, thread: &ThreadInfo) {
        let mut t = std::mem::take(&mut self.thread);
        t.clear();
        std::mem::swap(&mut self.buf, &mut t);
        self.buf.extend_from_slice(b"\",\"thread\":");
        self.uint(u64::from(thread.index));
        if let Some(name) = &thread.name {
            self.buf.extend_from_slice(b",\"thread_name\":");
            self.str(name);
        }
        std::mem::swap(&mut self.buf, &mut t);
        self.thread = t;
    }

    /// Appends one record's line.
    pub(crate) fn record(&mut self, rec: &RecordView<'_>) {
        self.buf.extend_from_slice(b"{\"ts\":\"");
        self.ts(rec.timestamp());
        self.buf.extend_from_slice(&self.thread);
        match rec {
            RecordView::Metric { series, value, .. } => {
                self.series("metric", series);
                self.buf.extend_from_slice(b",\"value\":");
                self.float(*value);
            }
            RecordView::Counter { series, delta, .. } => {
                self.series("counter", series);
                self.buf.extend_from_slice(b",\"delta\":");
                self.uint(*delta);
            }
            RecordView::Latency { series, nanos, .. } => {
                self.series("latency", series);
                self.buf.extend_from_slice(b",\"nanos\":");
                self.uint(*nanos);
            }
            RecordView::Resource { series, usage, .. } => {
                self.series("resource", series);
                self.buf.extend_from_slice(b",\"value\":");
                self.float(*usage);
            }
            RecordView::Event(e) => self.event(e),
            RecordView::Audit {
                audit, truncated, ..
            } => {
                self.buf.extend_from_slice(b",\"kind\":\"audit\"");
                for (key, value) in [
                    ("actor", audit.actor),
                    ("action", audit.action),
                    ("resource", audit.resource),
                    ("outcome", audit.outcome),
                    ("rule", audit.rule),
                    ("detail", audit.detail),
                ] {
                    self.key(key);
                    self.str(value);
                }
                if *truncated {
                    self.buf.extend_from_slice(b",\"truncated\":true");
                }
            }
            RecordView::Dropped { count, .. } => {
                self.buf
                    .extend_from_slice(b",\"kind\":\"dropped\",\"count\":");
                self.uint(*count);
                self.buf.extend_from_slice(b",\"message\":\"");
                self.uint(*count);
                self.buf.extend_from_slice(b" records dropped\"");
            }
        }
        self.buf.extend_from_slice(b"}\n");
    }

    /// `,"key":`
    fn key(&mut self, key: &str) {
        self.buf.extend_from_slice(b",\"");
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    fn series(&mut self, kind: &str, s: &SeriesInfo) {
        self.buf.extend_from_slice(b",\"kind\":\"");
        self.buf.extend_from_slice(kind.as_bytes());
        self.buf.extend_from_slice(b"\",\"name\":");
        self.str(s.name());
        self.buf.extend_from_slice(b",\"tags\":{");
        for (i, (k, v)) in s.tags().iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.str(k);
            self.buf.push(b':');
            self.str(v);
        }
        self.buf.push(b'}');
    }

    fn event(&mut self, e: &EventView<'_>) {
        let id = e.callsite as usize;
        // A message with arguments is formatted per line: its head is not constant.
        if id == 0 || id > MAX_CACHED_CALLSITES || e.location.is_none() || e.has_args() {
            return self.event_uncached(e);
        }
        if self.callsites.len() < id {
            self.callsites.resize_with(id, || None);
        }
        let cs = match self.callsites[id - 1].take() {
            Some(cs) => cs,
            None => self.render_callsite(e),
        };
        self.buf.extend_from_slice(&cs.head);
        for (i, (_, value)) in e.fields().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            match cs.names.get(i) {
                Some(r) => self.buf.extend_from_slice(&cs.name_bytes[r.clone()]),
                None => self.buf.extend_from_slice(b"\"\":"),
            }
            self.value(value);
        }
        self.buf.extend_from_slice(&cs.tail);
        if e.truncated {
            self.buf.extend_from_slice(b",\"truncated\":true");
        }
        self.callsites[id - 1] = Some(cs);
    }

    /// The constant parts of `e`'s call site, rendered once by the uncached writer.
    fn render_callsite(&mut self, e: &EventView<'_>) -> CallsiteJson {
        let lines = std::mem::take(&mut self.buf);
        self.event_head(e);
        let head = std::mem::take(&mut self.buf);
        let mut names = Vec::new();
        for (name, _) in e.fields() {
            let start = self.buf.len();
            self.str(name);
            self.buf.push(b':');
            names.push(start..self.buf.len());
        }
        let name_bytes = std::mem::take(&mut self.buf);
        self.event_tail(e);
        let tail = std::mem::replace(&mut self.buf, lines);
        CallsiteJson {
            head,
            name_bytes,
            names,
            tail,
        }
    }

    fn event_uncached(&mut self, e: &EventView<'_>) {
        self.event_head(e);
        for (i, (name, value)) in e.fields().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.str(name);
            self.buf.push(b':');
            self.value(value);
        }
        self.event_tail(e);
        if e.truncated {
            self.buf.extend_from_slice(b",\"truncated\":true");
        }
    }

    fn value(&mut self, value: FieldRef<'_>) {
        match value {
            FieldRef::U64(v) => self.uint(v),
            FieldRef::I64(v) => self
                .buf
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            FieldRef::F64(v) => self.float(v),
            FieldRef::Bool(v) => self
                .buf
                .extend_from_slice(if v { b"true" } else { b"false" }),
            FieldRef::Str(s) => self.str(s),
            FieldRef::None => self.buf.extend_from_slice(b"null"),
        }
    }

    fn event_head(&mut self, e: &EventView<'_>) {
        self.buf
            .extend_from_slice(b",\"kind\":\"event\",\"level\":\"");
        self.buf.extend_from_slice(e.level.as_str().as_bytes());
        self.buf.extend_from_slice(b"\",\"target\":");
        self.str(e.target);
        self.buf.extend_from_slice(b",\"message\":");
        if e.has_args() {
            let mut msg = std::mem::take(&mut self.message);
            msg.clear();
            let _ = e.write_message(&mut msg);
            self.str(&msg);
            self.message = msg;
        } else {
            self.str(e.message);
        }
        self.buf.extend_from_slice(b",\"fields\":{");
    }

    fn event_tail(&mut self, e: &EventView<'_>) {
        self.buf.push(b'}');
        if let Some((file, line)) = e.location {
            self.buf.extend_from_slice(b",\"file\":");
            self.str(file);
            self.buf.extend_from_slice(b",\"line\":");
            self.uint(u64::from(line));
        }
    }

    fn uint(&mut self, v: u64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn float(&mut self, v: f64) {
        if v.is_finite() {
            self.buf
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else if v.is_nan() {
            self.buf.extend_from_slice(b"\"NaN\"");
        } else if v > 0.0 {
            self.buf.extend_from_slice(b"\"inf\"");
        } else {
            self.buf.extend_from_slice(b"\"-inf\"");
        }
    }

    /// RFC 3339 with nanoseconds, the date and time of day cached per second.
    fn ts(&mut self, ts: Timestamp) {
        let ns = ts.unix_nanos();
        let (sec, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
        if self.cached_sec != Some(sec) {
            let mut text = String::with_capacity(30);
            // Writing into a String cannot fail.
            let _ = Timestamp::from_unix_nanos(sec * 1_000_000_000).write_rfc3339(&mut text);
            self.cached_prefix.copy_from_slice(&text.as_bytes()[..19]);
            self.cached_sec = Some(sec);
        }
        self.buf.extend_from_slice(&self.cached_prefix);
        let mut digits = *b".000000000Z";
        let mut f = frac;
        for d in digits[1..10].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        self.buf.extend_from_slice(&digits);
    }

    /// A JSON string: quotes, `\"`, `\\` and control characters escaped (`\n`, `\r`, `\t`,
    /// `\b`, `\f`, else `\u00XX`); everything else, UTF-8 included, copied.
    fn str(&mut self, s: &str) {
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut from = 0;
        while let Some(off) = bytes[from..]
            .iter()
            .position(|&b| NEEDS_ESCAPE[usize::from(b)])
        {
            let i = from + off;
            self.buf.extend_from_slice(&bytes[from..i]);
            let b = bytes[i];
            match b {
                b'"' => self.buf.extend_from_slice(b"\\\""),
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                0x08 => self.buf.extend_from_slice(b"\\b"),
                0x0c => self.buf.extend_from_slice(b"\\f"),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.buf.extend_from_slice(b"\\u00");
                    self.buf.push(HEX[usize::from(b >> 4)]);
                    self.buf.push(HEX[usize::from(b & 0xf)]);
                }
            }
            from = i + 1;
        }
        self.buf.extend_from_slice(&bytes[from..]);
        self.buf.push(b'"');
    }
}

/// The bytes a JSON string cannot hold as they are: `"`, `\\` and the control characters.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any string comes back unchanged through serde_json, an independent parser.
        #[test]
        fn strings_round_trip_through_serde_json(s in any::<String>()) {
            let mut w = LineWriter::default();
            w.str(&s);
            let text = std::str::from_utf8(&w.buf).unwrap();
            prop_assert_eq!(serde_json::from_str::<String>(text).unwrap(), s);
        }

        /// Finite floats read back bit for bit; times read back as the same instant.
        #[test]
        fn numbers_and_times_round_trip(v in any::<f64>(), ns in any::<u64>()) {
            let mut w = LineWriter::default();
            w.float(v);
            let text = std::str::from_utf8(&w.buf).unwrap().to_owned();
            if v.is_finite() {
                prop_assert_eq!(serde_json::from_str::<f64>(&text).unwrap().to_bits(), v.to_bits());
            } else {
                prop_assert!(text.starts_with('"'));
            }
            let mut w = LineWriter::default();
            w.ts(Timestamp::from_unix_nanos(ns));
            let t: Timestamp = std::str::from_utf8(&w.buf).unwrap().parse().unwrap();
            prop_assert_eq!(t.unix_nanos(), ns);
            prop_assert_eq!(std::str::from_utf8(&w.buf).unwrap(), Timestamp::from_unix_nanos(ns).to_string());
        }
    }

    #[test]
    fn the_cached_second_is_refreshed() {
        let mut w = LineWriter::default();
        for ns in [1_000_000_000_999_999_999u64, 1_000_000_001_000_000_000, 5] {
            w.buf.clear();
            w.ts(Timestamp::from_unix_nanos(ns));
            assert_eq!(
                std::str::from_utf8(&w.buf).unwrap(),
                Timestamp::from_unix_nanos(ns).to_string()
            );
        }
    }
}
