//! Copied events as OTLP log records, in one request message the exporter thread keeps
//! from one export to the next: each record, attribute and string of the last request is
//! refilled in place for the next, so a steady stream of events allocates nothing per record
//! once the first requests have sized the message (a perf profile showed `malloc`/`free`
//! taking a third of the thread when each record was built anew).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::encode::scope;
use super::sink::LogEntry;
use crate::logging::{FieldRef, Level};

/// The OTLP severity number of a level (the first of its range: TRACE 1, DEBUG 5, INFO 9,
/// WARN 13, ERROR 17).
pub(crate) fn severity(level: Level) -> SeverityNumber {
    match level {
        Level::Trace => SeverityNumber::Trace,
        Level::Debug => SeverityNumber::Debug,
        Level::Info => SeverityNumber::Info,
        Level::Warn => SeverityNumber::Warn,
        Level::Error => SeverityNumber::Error,
    }
}

/// An attribute value, borrowed until it is written into the message.
#[derive(Clone, Copy)]
enum Val<'a> {
    Int(i64),
    Double(f64),
    Bool(bool),
    Str(&'a str),
    /// A `u64` above `i64::MAX`: OTLP has no unsigned integer; its decimal text is exact.
    BigU64(u64),
    /// An absent value (a `None` field): an empty `AnyValue`, which OTLP allows.
    Empty,
}

impl<'a> From<FieldRef<'a>> for Val<'a> {
    fn from(v: FieldRef<'a>) -> Self {
        match v {
            FieldRef::U64(u) => i64::try_from(u).map_or(Val::BigU64(u), Val::Int),
            FieldRef::I64(i) => Val::Int(i),
            FieldRef::F64(f) => Val::Double(f),
            FieldRef::Bool(b) => Val::Bool(b),
            FieldRef::Str(s) => Val::Str(s),
            FieldRef::None => Val::Empty,
        }
    }
}

/// `s` now holds `v`, in its own allocation when it has room.
fn set_str(s: &mut String, v: &str) {
    s.clear();
    s.push_str(v);
}

/// `slot` now holds `v`; a string reuses the string already there.
fn set_value(slot: &mut Option<AnyValue>, v: Val<'_>) {
    use any_value::Value;
    let value = match v {
        Val::Int(i) => Value::IntValue(i),
        Val::Double(f) => Value::DoubleValue(f),
        Val::Bool(b) => Value::BoolValue(b),
        Val::Empty => {
            *slot = Some(AnyValue { value: None });
            return;
        }
        Val::Str(text) => {
            if let Some(AnyValue {
                value: Some(Value::StringValue(s)),
            }) = slot
            {
                set_str(s, text);
                return;
            }
            Value::StringValue(text.to_owned())
        }
        Val::BigU64(u) => {
            use std::fmt::Write as _;
            if let Some(AnyValue {
                value: Some(Value::StringValue(s)),
            }) = slot
            {
                s.clear();
                let _ = write!(s, "{u}");
                return;
            }
            Value::StringValue(u.to_string())
        }
    };
    *slot = Some(AnyValue { value: Some(value) });
}

/// Writes attributes into a record's vector from the front, reusing the ones there.
struct Attributes<'r> {
    list: &'r mut Vec<KeyValue>,
    n: usize,
}

impl Attributes<'_> {
    fn put(&mut self, key: &str, v: Val<'_>) {
        if self.n == self.list.len() {
            self.list.push(KeyValue::default());
        }
        let kv = &mut self.list[self.n];
        set_str(&mut kv.key, key);
        set_value(&mut kv.value, v);
        self.n += 1;
    }

    /// Drops the attributes the previous record had beyond this one's.
    fn finish(self) {
        self.list.truncate(self.n);
    }
}

/// Fills `r` with the event `e`: severity, body (the formatted message), timestamps, and
/// the fields followed by `thread.id`, `thread.name`, `log.target`, `code.file.path`,
/// `code.line.number` and `tickwatch.truncated` as attributes.
fn fill(r: &mut LogRecord, e: LogEntry<'_>) {
    r.time_unix_nano = e.timestamp();
    r.observed_time_unix_nano = e.observed();
    r.severity_number = severity(e.level()) as i32;
    set_str(&mut r.severity_text, e.level().as_str());
    set_value(&mut r.body, Val::Str(e.message()));
    let mut a = Attributes {
        list: &mut r.attributes,
        n: 0,
    };
    for (name, value) in e.fields() {
        a.put(name, value.into());
    }
    a.put("thread.id", Val::Int(i64::from(e.thread())));
    if let Some(name) = e.thread_name() {
        a.put("thread.name", Val::Str(name));
    }
    if !e.target().is_empty() {
        a.put("log.target", Val::Str(e.target()));
    }
    if let Some((file, line)) = e.location() {
        a.put("code.file.path", Val::Str(file));
        a.put("code.line.number", Val::Int(i64::from(line)));
    }
    if e.truncated() {
        a.put("tickwatch.truncated", Val::Bool(true));
    }
    a.finish();
}

/// The logs request the exporter thread refills for each export, and the records of
/// earlier, larger requests kept for reuse.
pub(crate) struct LogsRequest {
    request: ExportLogsServiceRequest,
    spare: Vec<LogRecord>,
}

impl LogsRequest {
    pub(crate) fn new(resource: &Resource) -> LogsRequest {
        LogsRequest {
            request: ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(resource.clone()),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
            spare: Vec::new(),
        }
    }

    fn records(&mut self) -> &mut Vec<LogRecord> {
        &mut self.request.resource_logs[0].scope_logs[0].log_records
    }

    /// A new resource (after a reconfiguration).
    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        self.request.resource_logs[0].resource = Some(resource.clone());
    }

    /// Empties the request, keeping its records for the next ones.
    pub(crate) fn clear(&mut self) {
        let records = std::mem::take(self.records());
        // Reversed, so that `push` pops them back in their order (their attribute shapes
        // then tend to match the events of the same call sites).
        self.spare.extend(records.into_iter().rev());
    }

    /// Appends the event `e` as a record.
    pub(crate) fn push(&mut self, e: LogEntry<'_>) {
        let mut r = self.spare.pop().unwrap_or_default();
        fill(&mut r, e);
        self.records().push(r);
    }

    /// Records in the request.
    pub(crate) fn len(&self) -> usize {
        self.request.resource_logs[0].scope_logs[0]
            .log_records
            .len()
    }

    pub(crate) fn message(&self) -> &ExportLogsServiceRequest {
        &self.request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_reuse_their_strings_and_change_kind() {
        let mut slot = None;
        set_value(&mut slot, Val::Str("a fairly long string value"));
        let ptr = |s: &Option<AnyValue>| match s {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(x)),
            }) => Some(x.as_ptr()),
            _ => None,
        };
        let first = ptr(&slot).unwrap();
        set_value(&mut slot, Val::Str("short"));
        assert_eq!(ptr(&slot), Some(first), "the allocation is reused");
        set_value(&mut slot, Val::BigU64(u64::MAX));
        assert_eq!(
            slot,
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(u64::MAX.to_string()))
            })
        );
        set_value(&mut slot, Val::Int(-3));
        assert_eq!(
            slot,
            Some(AnyValue {
                value: Some(any_value::Value::IntValue(-3))
            })
        );
        set_value(&mut slot, Val::Empty);
        assert_eq!(slot, Some(AnyValue { value: None }));
        set_value(&mut slot, Val::Double(f64::NAN));
        assert!(matches!(
            slot,
            Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(f))
            }) if f.is_nan()
        ));
        set_value(&mut slot, Val::Bool(true));
        assert_eq!(
            slot,
            Some(AnyValue {
                value: Some(any_value::Value::BoolValue(true))
            })
        );
    }

    #[test]
    fn attributes_are_refilled_from_the_front_and_cut_to_length() {
        let mut list = Vec::new();
        let mut a = Attributes {
            list: &mut list,
            n: 0,
        };
        a.put("x", Val::Int(1));
        a.put("y", Val::Str("yes"));
        a.put("z", Val::Bool(false));
        a.finish();
        assert_eq!(list.len(), 3);
        let mut a = Attributes {
            list: &mut list,
            n: 0,
        };
        a.put("only", Val::Str("one"));
        a.finish();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].key, "only");
        assert_eq!(
            list[0].value,
            Some(AnyValue {
                value: Some(any_value::Value::StringValue("one".into()))
            })
        );
    }
}
