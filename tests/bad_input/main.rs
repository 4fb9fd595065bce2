//! Bad input is fixed up, refused or carried exactly, and always accounted for: long strings,
//! records too large for the ring, non-finite and odd floats, bad names, too many series,
//! invalid configuration, failing and panicking sinks, calls after shutdown.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwatch::metrics::{EMPTY_NAME, MAX_NAME_LEN, OVERFLOW_COUNTER, OVERFLOW_METRIC};
use tickwatch::sink::{Batch, JsonLinesSink, MemorySink, Record, Sink, SinkError};
use tickwatch::{
    event, Backpressure, Event, FieldRef, FlushError, Level, RegisterError, StartError, Telemetry,
    Value,
};

mod after_shutdown;
mod configuration;
mod failing_sinks;
mod floats;
mod long_strings;
mod names;
mod oversized_records;

fn mem_instance(mem: &MemorySink) -> Telemetry {
    Telemetry::builder().sink(mem.clone()).start().unwrap()
}

/// A `Write` into a buffer the test keeps a handle to.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
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
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("JSON output is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
