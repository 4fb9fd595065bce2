//! Lifecycle and output: flush, shutdown and drop semantics, several instances side by side,
//! level filtering, the forms of `event!`, dynamic events, the JSON-lines format and
//! timestamps.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickwatch::sink::{Batch, JsonLinesSink, MemorySink, Record, Sink, SinkError};
use tickwatch::{event, Backpressure, Event, FieldRef, Level, Telemetry, Timestamp, Value};

mod flush;
mod instances;
mod json_lines;
mod levels;
mod macro_forms;
mod shutdown;
mod timeouts;

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "tickwatch-test-{}-{tag}-{}",
            std::process::id(),
            now_nanos()
        ));
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A `Write` into a buffer the test keeps a handle to.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Counts delivered records and logs the order of `write` and `flush` calls.
#[derive(Clone, Default)]
struct OrderSink {
    records: Arc<AtomicU64>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl Sink for OrderSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.records.fetch_add(batch.iter().count() as u64, Relaxed);
        self.calls.lock().unwrap().push("write");
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.calls.lock().unwrap().push("flush");
        Ok(())
    }
}
