//! [`JsonLinesSink`]: one JSON object per record, for files, stdout or any `Write`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{Batch, EventView, RecordView, Sink, SinkError};
use crate::logging::FieldRef;
use crate::performance::SeriesInfo;
use crate::Timestamp;

/// Writes every record as one JSON object on its own line (buffered; flushed on
/// [`crate::Telemetry::flush`] and at shutdown).
///
/// Timestamps are RFC 3339 strings with nanoseconds. Floats that JSON cannot hold are written
/// as the strings `"NaN"`, `"inf"` and `"-inf"` rather than lost. Shapes:
///
/// ```text
/// {"ts":"2026-11-27T08:00:00.000000001Z","thread":0,"kind":"metric","name":"position","tags":{"venue":"XNAS"},"value":1.5}
/// {"ts":"…","thread":0,"kind":"counter","name":"orders_sent","tags":{},"delta":1}
/// {"ts":"…","thread":0,"kind":"latency","operation":"order_roundtrip","tags":{},"nanos":850}
/// {"ts":"…","thread":0,"kind":"resource","resource":"order_book_depth","tags":{},"usage":0.42}
/// {"ts":"…","thread":0,"kind":"event","level":"INFO","target":"engine","message":"order filled","fields":{"order_id":42},"file":"src/main.rs","line":7}
/// {"ts":"…","thread":0,"kind":"audit","actor":"alice","action":"cancel_order","resource":"orders/42","outcome":"allowed","rule":"trader","detail":""}
/// {"ts":"…","thread":0,"kind":"dropped","count":12,"message":"12 records dropped"}
/// ```
/// `"thread_name"` follows `"thread"` when the thread has a name; `"truncated":true` is added
/// to an event whose strings were cut.
pub struct JsonLinesSink {
    out: Box<dyn Write + Send>,
}

impl JsonLinesSink {
    /// Writes to `out` through a 64 KiB buffer.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Box::new(BufWriter::with_capacity(64 * 1024, out)),
        }
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
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink").finish_non_exhaustive()
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let thread = batch.thread();
        for rec in batch.iter() {
            let w = &mut self.out;
            w.write_all(b"{\"ts\":\"")?;
            write_ts(w, rec.timestamp())?;
            write!(w, "\",\"thread\":{}", thread.index)?;
            if let Some(name) = &thread.name {
                w.write_all(b",\"thread_name\":")?;
                write_str(w, name)?;
            }
            match &rec {
                RecordView::Metric { series, value, .. } => {
                    write_series(w, "metric", "name", series)?;
                    w.write_all(b",\"value\":")?;
                    write_f64(w, *value)?;
                }
                RecordView::Counter { series, delta, .. } => {
                    write_series(w, "counter", "name", series)?;
                    write!(w, ",\"delta\":{delta}")?;
                }
                RecordView::Latency { series, nanos, .. } => {
                    write_series(w, "latency", "operation", series)?;
                    write!(w, ",\"nanos\":{nanos}")?;
                }
                RecordView::Resource { series, usage, .. } => {
                    write_series(w, "resource", "resource", series)?;
                    w.write_all(b",\"usage\":")?;
                    write_f64(w, *usage)?;
                }
                RecordView::Event(e) => write_event(w, e)?,
                RecordView::Audit {
                    audit, truncated, ..
                } => {
                    w.write_all(b",\"kind\":\"audit\"")?;
                    for (key, value) in [
                        ("actor", audit.actor),
                        ("action", audit.action),
                        ("resource", audit.resource),
                        ("outcome", audit.outcome),
                        ("rule", audit.rule),
                        ("detail", audit.detail),
                    ] {
                        write!(w, ",\"{key}\":")?;
                        write_str(w, value)?;
                    }
                    if *truncated {
                        w.write_all(b",\"truncated\":true")?;
                    }
                }
                RecordView::Dropped { count, .. } => {
                    write!(w, ",\"kind\":\"dropped\",\"count\":{count},\"message\":\"{count} records dropped\"")?;
                }
            }
            w.write_all(b"}\n")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }

    fn name(&self) -> &str {
        "json-lines"
    }
}

fn write_ts(w: &mut dyn Write, ts: Timestamp) -> io::Result<()> {
    struct Adapter<'a>(&'a mut dyn Write, io::Result<()>);
    impl std::fmt::Write for Adapter<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.1 = self.0.write_all(s.as_bytes());
            self.1.as_ref().map_err(|_| std::fmt::Error).copied()
        }
    }
    let mut a = Adapter(w, Ok(()));
    let _ = ts.write_rfc3339(&mut a);
    a.1
}

fn write_str(w: &mut dyn Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(w, s).map_err(io::Error::from)
}

fn write_f64(w: &mut dyn Write, v: f64) -> io::Result<()> {
    if v.is_finite() {
        serde_json::to_writer(w, &v).map_err(io::Error::from)
    } else if v.is_nan() {
        w.write_all(b"\"NaN\"")
    } else if v > 0.0 {
        w.write_all(b"\"inf\"")
    } else {
        w.write_all(b"\"-inf\"")
    }
}

fn write_series(w: &mut dyn Write, kind: &str, key: &str, s: &SeriesInfo) -> io::Result<()> {
    write!(w, ",\"kind\":\"{kind}\",\"{key}\":")?;
    write_str(w, s.name())?;
    w.write_all(b",\"tags\":{")?;
    for (i, (k, v)) in s.tags().iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write_str(w, k)?;
        w.write_all(b":")?;
        write_str(w, v)?;
    }
    w.write_all(b"}")
}

fn write_event(w: &mut dyn Write, e: &EventView<'_>) -> io::Result<()> {
    write!(
        w,
        ",\"kind\":\"event\",\"level\":\"{}\",\"target\":",
        e.level
    )?;
    write_str(w, e.target)?;
    w.write_all(b",\"message\":")?;
    write_str(w, e.message)?;
    w.write_all(b",\"fields\":{")?;
    for (i, (name, value)) in e.fields().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write_str(w, name)?;
        w.write_all(b":")?;
        match value {
            FieldRef::U64(v) => write!(w, "{v}")?,
            FieldRef::I64(v) => write!(w, "{v}")?,
            FieldRef::F64(v) => write_f64(w, v)?,
            FieldRef::Bool(v) => write!(w, "{v}")?,
            FieldRef::Str(s) => write_str(w, s)?,
        }
    }
    w.write_all(b"}")?;
    if let Some((file, line)) = e.location {
        w.write_all(b",\"file\":")?;
        write_str(w, file)?;
        write!(w, ",\"line\":{line}")?;
    }
    if e.truncated {
        w.write_all(b",\"truncated\":true")?;
    }
    Ok(())
}
