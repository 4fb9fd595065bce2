//! Owned copies of delivered records, as [`super::MemorySink`] keeps them.

use crate::logging::{Level, Value};
use crate::Timestamp;

/// A delivered record, owned. `thread` is the producing thread's index in its instance
/// ([`crate::ThreadInfo::index`]).
///
/// Non-exhaustive: new kinds of record may be added; give your `match` a `_` arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// A gauge-like sample.
    Metric {
        /// Series name.
        name: String,
        /// Series tags.
        tags: Vec<(String, String)>,
        /// The sample (NaN and infinities carried as they are).
        value: f64,
        /// When it was taken.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// A counter increment.
    Counter {
        /// Series name.
        name: String,
        /// Series tags.
        tags: Vec<(String, String)>,
        /// The increment.
        delta: u64,
        /// When it was taken.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// A latency sample.
    Latency {
        /// The operation measured.
        operation: String,
        /// Series tags.
        tags: Vec<(String, String)>,
        /// The duration in nanoseconds.
        nanos: u64,
        /// When it was recorded.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// A resource-usage sample.
    Resource {
        /// The resource.
        resource: String,
        /// Series tags.
        tags: Vec<(String, String)>,
        /// The usage.
        usage: f64,
        /// When it was taken.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// A structured event.
    Event {
        /// Severity.
        level: Level,
        /// Module path or given target.
        target: String,
        /// The message.
        message: String,
        /// Named values, in order.
        fields: Vec<(String, Value)>,
        /// Source file and line (`event!` only).
        location: Option<(String, u32)>,
        /// True if a string field was cut.
        truncated: bool,
        /// When it was logged.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// An audit record.
    Audit {
        /// Who.
        actor: String,
        /// What was attempted.
        action: String,
        /// On what.
        resource: String,
        /// How it ended.
        outcome: String,
        /// The deciding rule, or empty.
        rule: String,
        /// Anything else, or empty.
        detail: String,
        /// True if a string was cut.
        truncated: bool,
        /// When it was recorded.
        timestamp: Timestamp,
        /// Producing thread.
        thread: u32,
    },
    /// The thread dropped `count` records since the previous notice.
    Dropped {
        /// How many.
        count: u64,
        /// When the collector noticed.
        timestamp: Timestamp,
        /// The thread that dropped them.
        thread: u32,
    },
}

impl Record {
    /// The producing thread's index.
    pub fn thread(&self) -> u32 {
        match self {
            Record::Metric { thread, .. }
            | Record::Counter { thread, .. }
            | Record::Latency { thread, .. }
            | Record::Resource { thread, .. }
            | Record::Event { thread, .. }
            | Record::Audit { thread, .. }
            | Record::Dropped { thread, .. } => *thread,
        }
    }

    /// When it was taken (for `Dropped`, when it was noticed).
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Record::Metric { timestamp, .. }
            | Record::Counter { timestamp, .. }
            | Record::Latency { timestamp, .. }
            | Record::Resource { timestamp, .. }
            | Record::Event { timestamp, .. }
            | Record::Audit { timestamp, .. }
            | Record::Dropped { timestamp, .. } => *timestamp,
        }
    }
}
