//! Reading one segment's bytes: walking its frames (stopping at damage, or stepping over it),
//! its dictionary, and its records as borrowed views or owned [`Record`]s.

pub(crate) use super::dictionary::Dictionary;
use super::dictionary::SeriesDef;
use super::format::{self, frame_at, FrameAt, Malformed, RecordsHead, KIND_DROPPED};
use crate::logging::{Callsite, FieldRef, Level};
use crate::record::{self, kind, Raw, FLAG_TRUNCATED};
use crate::sink::Record;
use crate::Timestamp;

/// How a walk treats a damaged frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Stop at the first damaged frame: the segment being written (or last written before a
    /// crash), whose records must be a prefix of what was written.
    StopAtDamage,
    /// Step over a damaged frame to the next whole one and go on: a sealed segment, where
    /// everything after the damage is still good.
    SkipDamage,
}

/// What a walk found besides the frames it visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WalkEnd {
    /// The end of the last whole frame visited before the walk stopped.
    pub(crate) good_end: usize,
    /// Damaged frames stepped over (`SkipDamage`), or 1 if the walk stopped at one.
    pub(crate) corrupt: u64,
    /// Bytes stepped over or left after the stop.
    pub(crate) bad_bytes: u64,
    /// The bytes end inside a frame (a write cut short): after `good_end`, nothing but an
    /// incomplete frame.
    pub(crate) incomplete_tail: bool,
}

/// Visits every whole frame of `data[from..end]` in order: `(offset, whole length, type,
/// payload)`.
pub(crate) fn walk<'a>(
    data: &'a [u8],
    from: usize,
    end: usize,
    mode: Walk,
    mut visit: impl FnMut(usize, usize, u8, &'a [u8]),
) -> WalkEnd {
    let data = &data[..end.min(data.len())];
    let mut at = from;
    let mut out = WalkEnd {
        good_end: from,
        ..WalkEnd::default()
    };
    loop {
        match frame_at(data, at) {
            FrameAt::Frame { ty, payload, next } => {
                visit(at, next - at, ty, payload);
                at = next;
                out.good_end = next;
            }
            FrameAt::End => return out,
            FrameAt::Incomplete if mode == Walk::StopAtDamage => {
                out.incomplete_tail = true;
                out.bad_bytes += (data.len() - at) as u64;
                return out;
            }
            FrameAt::Incomplete | FrameAt::Corrupt => {
                out.corrupt += 1;
                if mode == Walk::StopAtDamage {
                    out.bad_bytes += (data.len() - at) as u64;
                    return out;
                }
                match format::resync(data, at, data.len()) {
                    Some(next) => {
                        out.bad_bytes += (next - at) as u64;
                        at = next;
                    }
                    None => {
                        out.bad_bytes += (data.len() - at) as u64;
                        return out;
                    }
                }
            }
        }
    }
}

/// One stored record, borrowed from the segment's bytes and dictionary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// Unix nanoseconds.
    pub(crate) ts: u64,
    pub(crate) thread: u32,
    pub(crate) truncated: bool,
    pub(crate) body: Body<'a>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Sample {
        series: &'a SeriesDef,
        value: u64,
    },
    Event {
        level: Level,
        target: &'a str,
        message: &'a str,
        /// Leading values that are the message's format arguments.
        args: usize,
        /// The call site's field names (`event!`); `None` when each field carries its name.
        names: Option<&'a [String]>,
        fields: record::Fields<'a>,
        location: Option<(&'a str, u32)>,
    },
    Audit {
        parts: [&'a str; 6],
    },
    Dropped {
        count: u64,
    },
}

/// A record that does not decode against its segment's dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecodable;

impl<'a> View<'a> {
    /// Decodes one record of a `RECORDS` frame of `thread`.
    #[inline]
    pub(crate) fn decode(
        bytes: &'a [u8],
        thread: u32,
        dict: &'a Dictionary,
    ) -> Result<View<'a>, Undecodable> {
        if bytes.first() == Some(&KIND_DROPPED) {
            if bytes.len() != record::SAMPLE_LEN {
                return Err(Undecodable);
            }
            let word = |i: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&bytes[i..i + 8]);
                u64::from_le_bytes(a)
            };
            return Ok(View {
                ts: word(8),
                thread,
                truncated: false,
                body: Body::Dropped { count: word(16) },
            });
        }
        let raw = record::decode(bytes).map_err(|_| Undecodable)?;
        Ok(match raw {
            Raw::Sample {
                kind: k,
                id,
                ticks,
                value,
                ..
            } => {
                let series = dict.series.get(id).ok_or(Undecodable)?;
                if series.kind != k {
                    return Err(Undecodable);
                }
                View {
                    ts: ticks,
                    thread,
                    truncated: false,
                    body: Body::Sample { series, value },
                }
            }
            Raw::Event {
                flags,
                callsite,
                ticks,
                fields,
            } => {
                let cs = dict.callsites.get(callsite).ok_or(Undecodable)?;
                if usize::from(cs.args) + cs.fields.len() != fields.len() {
                    return Err(Undecodable);
                }
                View {
                    ts: ticks,
                    thread,
                    truncated: flags & FLAG_TRUNCATED != 0,
                    body: Body::Event {
                        level: cs.level,
                        target: &cs.target,
                        message: &cs.message,
                        args: usize::from(cs.args),
                        names: Some(&cs.fields),
                        fields,
                        location: Some((&cs.file, cs.line)),
                    },
                }
            }
            Raw::DynEvent {
                flags,
                level,
                ticks,
                message,
                target,
                fields,
            } => View {
                ts: ticks,
                thread,
                truncated: flags & FLAG_TRUNCATED != 0,
                body: Body::Event {
                    level,
                    target,
                    message,
                    args: 0,
                    names: None,
                    fields,
                    location: None,
                },
            },
            Raw::Audit {
                flags,
                ticks,
                parts,
            } => View {
                ts: ticks,
                thread,
                truncated: flags & FLAG_TRUNCATED != 0,
                body: Body::Audit { parts },
            },
        })
    }

    /// A sample of `series` with no time and value: what a query decides about every sample
    /// of the series when it does not read the value.
    pub(crate) fn probe(series: &'a SeriesDef) -> View<'a> {
        View {
            ts: 0,
            thread: 0,
            truncated: false,
            body: Body::Sample { series, value: 0 },
        }
    }

    /// The record kind byte (`record::kind`, or `KIND_DROPPED`).
    pub(crate) fn kind(&self) -> u8 {
        match self.body {
            Body::Sample { series, .. } => series.kind,
            Body::Event { .. } => kind::EVENT,
            Body::Audit { .. } => kind::AUDIT,
            Body::Dropped { .. } => KIND_DROPPED,
        }
    }

    /// An event's level.
    pub(crate) fn level(&self) -> Option<Level> {
        match self.body {
            Body::Event { level, .. } => Some(level),
            _ => None,
        }
    }

    /// The named fields: an event's fields, an audit record's six parts, a sample's tags and
    /// its value (as `value`).
    pub(crate) fn field(&self, name: &str) -> Option<FieldRef<'a>> {
        match self.body {
            Body::Event {
                args,
                names,
                fields,
                ..
            } => fields
                .skip(args)
                .enumerate()
                .find(|(i, (n, _, _))| {
                    n.or_else(|| names.and_then(|ns| ns.get(*i)).map(String::as_str)) == Some(name)
                })
                .map(|(_, (_, v, _))| v),
            Body::Audit { parts } => AUDIT_FIELDS
                .iter()
                .position(|n| *n == name)
                .map(|i| FieldRef::Str(parts[i])),
            Body::Sample { series, value } => {
                if name == "value" {
                    return Some(sample_value(series.kind, value));
                }
                series
                    .tags
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| FieldRef::Str(v))
            }
            Body::Dropped { count } => (name == "count").then_some(FieldRef::U64(count)),
        }
    }

    /// The series name of a sample.
    pub(crate) fn series_name(&self) -> Option<&'a str> {
        match self.body {
            Body::Sample { series, .. } => Some(&series.name),
            _ => None,
        }
    }

    /// Writes an event's message with its arguments in place.
    pub(crate) fn write_message(&self, out: &mut String) {
        if let Body::Event {
            message,
            args,
            fields,
            ..
        } = self.body
        {
            if args == 0 {
                out.push_str(message);
            } else {
                let _ = Callsite::format_message(message, fields.take(args).map(|f| f.1), out);
            }
        }
    }

    /// An owned copy.
    pub(crate) fn to_record(self) -> Record {
        let timestamp = Timestamp::from_unix_nanos(self.ts);
        let thread = self.thread;
        match self.body {
            Body::Sample { series, value } => {
                let (name, tags) = (series.name.clone(), series.tags.clone());
                match series.kind {
                    kind::METRIC => Record::Metric {
                        name,
                        tags,
                        value: f64::from_bits(value),
                        timestamp,
                        thread,
                    },
                    kind::COUNTER => Record::Counter {
                        name,
                        tags,
                        delta: value,
                        timestamp,
                        thread,
                    },
                    kind::LATENCY => Record::Latency {
                        operation: name,
                        tags,
                        nanos: value,
                        timestamp,
                        thread,
                    },
                    _ => Record::Resource {
                        resource: name,
                        tags,
                        usage: f64::from_bits(value),
                        timestamp,
                        thread,
                    },
                }
            }
            Body::Event {
                level,
                target,
                args,
                names,
                fields,
                location,
                ..
            } => {
                let mut message = String::new();
                self.write_message(&mut message);
                Record::Event {
                    level,
                    target: target.to_owned(),
                    message,
                    fields: fields
                        .skip(args)
                        .enumerate()
                        .map(|(i, (n, v, _))| {
                            let name = n
                                .or_else(|| names.and_then(|ns| ns.get(i)).map(String::as_str))
                                .unwrap_or("");
                            (name.to_owned(), v.to_value())
                        })
                        .collect(),
                    location: location.map(|(f, l)| (f.to_owned(), l)),
                    truncated: self.truncated,
                    timestamp,
                    thread,
                }
            }
            Body::Audit { parts } => Record::Audit {
                actor: parts[0].to_owned(),
                action: parts[1].to_owned(),
                resource: parts[2].to_owned(),
                outcome: parts[3].to_owned(),
                rule: parts[4].to_owned(),
                detail: parts[5].to_owned(),
                truncated: self.truncated,
                timestamp,
                thread,
            },
            Body::Dropped { count } => Record::Dropped {
                count,
                timestamp,
                thread,
            },
        }
    }
}

/// An audit record's parts as fields, in record order.
pub(crate) const AUDIT_FIELDS: [&str; 6] =
    ["actor", "action", "resource", "outcome", "rule", "detail"];

/// A sample's value as a field.
fn sample_value(k: u8, value: u64) -> FieldRef<'static> {
    match k {
        kind::METRIC | kind::RESOURCE => FieldRef::F64(f64::from_bits(value)),
        _ => FieldRef::U64(value),
    }
}

/// Visits the records of one `RECORDS` frame: `(index in frame, view)`; a record that does
/// not decode is counted in the return value and skipped.
pub(crate) fn frame_records<'a>(
    payload: &'a [u8],
    dict: &'a Dictionary,
    mut visit: impl FnMut(u32, View<'a>),
) -> Result<u64, Malformed> {
    let (head, rest) = RecordsHead::read(payload)?;
    let mut bad = 0;
    for (i, r) in format::records(rest).enumerate() {
        match r.ok().map(|b| View::decode(b, head.thread, dict)) {
            Some(Ok(v)) => visit(i as u32, v),
            _ => bad += 1,
        }
    }
    Ok(bad)
}
