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

    /// Whether it is a sample (metric, counter, latency or resource), as opposed to an
    /// event, an audit record or a drop report.
    pub fn is_sample(&self) -> bool {
        matches!(
            self,
            Record::Metric { .. }
                | Record::Counter { .. }
                | Record::Latency { .. }
                | Record::Resource { .. }
        )
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

impl Record {
    /// The record as one line of the JSON-lines schema ([`crate::schema`]), without the
    /// newline: what [`JsonLinesSink`](super::JsonLinesSink) writes for it, but for the
    /// collector-only call-site cache. `thread_name` is the producing thread's name, if any.
    ///
    /// ```
    /// use tickwatch::sink::Record;
    /// use tickwatch::Timestamp;
    /// let r = Record::Counter {
    ///     name: "fills".into(),
    ///     tags: vec![("desk".into(), "a".into())],
    ///     delta: 3,
    ///     timestamp: Timestamp::from_unix_nanos(1),
    ///     thread: 0,
    /// };
    /// assert_eq!(
    ///     r.to_json_line(Some("strategy")),
    ///     r#"{"ts":"1970-01-01T00:00:00.000000001Z","thread":0,"thread_name":"strategy","kind":"counter","name":"fills","tags":{"desk":"a"},"delta":3}"#
    /// );
    /// ```
    pub fn to_json_line(&self, thread_name: Option<&str>) -> String {
        // Written by hand rather than through a `serde_json::Map`, which would sort the keys
        // and merge a repeated tag key: the schema keeps both orders.
        fn q(s: &str) -> String {
            serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
        }
        fn float(x: f64) -> String {
            if x.is_finite() {
                serde_json::Number::from_f64(x).map_or_else(|| "null".into(), |n| n.to_string())
            } else if x.is_nan() {
                "\"NaN\"".into()
            } else if x > 0.0 {
                "\"inf\"".into()
            } else {
                "\"-inf\"".into()
            }
        }
        fn object<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
            let body: Vec<String> = pairs.map(|(k, v)| format!("{}:{v}", q(k))).collect();
            format!("{{{}}}", body.join(","))
        }
        let tags = |t: &[(String, String)]| object(t.iter().map(|(k, v)| (k.as_str(), q(v))));
        let mut kv: Vec<(&str, String)> = vec![
            ("ts", q(&self.timestamp().to_string())),
            ("thread", self.thread().to_string()),
        ];
        if let Some(n) = thread_name {
            kv.push(("thread_name", q(n)));
        }
        let mut series = |kind: &str, name: &str, t: &[(String, String)], key, value| {
            kv.push(("kind", q(kind)));
            kv.push(("name", q(name)));
            kv.push(("tags", tags(t)));
            kv.push((key, value));
        };
        match self {
            Record::Metric {
                name, tags, value, ..
            } => series("metric", name, tags, "value", float(*value)),
            Record::Counter {
                name, tags, delta, ..
            } => series("counter", name, tags, "delta", delta.to_string()),
            Record::Latency {
                operation,
                tags,
                nanos,
                ..
            } => series("latency", operation, tags, "nanos", nanos.to_string()),
            Record::Resource {
                resource,
                tags,
                usage,
                ..
            } => series("resource", resource, tags, "value", float(*usage)),
            Record::Event {
                level,
                target,
                message,
                fields,
                location,
                truncated,
                ..
            } => {
                kv.push(("kind", q("event")));
                kv.push(("level", q(level.as_str())));
                kv.push(("target", q(target)));
                kv.push(("message", q(message)));
                let value = |v: &Value| match v {
                    Value::U64(x) => x.to_string(),
                    Value::I64(x) => x.to_string(),
                    Value::F64(x) => float(*x),
                    Value::Bool(b) => b.to_string(),
                    Value::Str(s) => q(s),
                    Value::None => "null".into(),
                };
                kv.push((
                    "fields",
                    object(fields.iter().map(|(k, v)| (k.as_str(), value(v)))),
                ));
                if let Some((file, line)) = location {
                    kv.push(("file", q(file)));
                    kv.push(("line", line.to_string()));
                }
                if *truncated {
                    kv.push(("truncated", "true".into()));
                }
            }
            Record::Audit {
                actor,
                action,
                resource,
                outcome,
                rule,
                detail,
                truncated,
                ..
            } => {
                kv.push(("kind", q("audit")));
                for (k, v) in [
                    ("actor", actor),
                    ("action", action),
                    ("resource", resource),
                    ("outcome", outcome),
                    ("rule", rule),
                    ("detail", detail),
                ] {
                    kv.push((k, q(v)));
                }
                if *truncated {
                    kv.push(("truncated", "true".into()));
                }
            }
            Record::Dropped { count, .. } => {
                kv.push(("kind", q("dropped")));
                kv.push(("count", count.to_string()));
                kv.push(("message", q(&format!("{count} records dropped"))));
            }
        }
        object(kv.into_iter())
    }
}
