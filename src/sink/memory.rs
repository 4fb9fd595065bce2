//! [`MemorySink`]: keeps every record in memory, for tests and for inspection.

use parking_lot::Mutex;
use std::sync::Arc;

use super::{Batch, Record, Sink, SinkError};

/// Captures owned copies of every delivered record. `Clone` shares the captured records, so
/// keep one clone and give another to the builder.
///
/// ```
/// use tickwatch::{sink::MemorySink, Telemetry};
/// let mem = MemorySink::new();
/// let tw = Telemetry::builder().sink(mem.clone()).start().unwrap();
/// tw.counter("orders", &[]).add(2);
/// tw.flush().unwrap();
/// assert_eq!(mem.records().len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<Record>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything captured so far, in delivery order.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().clone()
    }

    /// Takes everything captured so far, leaving the sink empty.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock())
    }

    /// Number of records captured.
    pub fn len(&self) -> usize {
        self.records.lock().len()
    }

    /// True when nothing has been captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for MemorySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySink")
            .field("records", &self.len())
            .finish()
    }
}

impl Sink for MemorySink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let thread = batch.thread().index;
        let mut out = self.records.lock();
        out.extend(batch.iter().map(|r| r.to_record(thread)));
        Ok(())
    }

    fn name(&self) -> &str {
        "memory"
    }

    /// Keeps replayed records like any others (possible duplicates included).
    fn write_records(&mut self, records: &[Record], _: super::Replay) -> Result<(), SinkError> {
        self.records.lock().extend_from_slice(records);
        Ok(())
    }
}
