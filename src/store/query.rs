//! What a query asks ([`LogQuery`], [`Filter`]) and what it returns ([`LogResults`]).

use std::fmt;
use std::str::FromStr;

use super::segment::View;
use crate::logging::{FieldRef, Level};
use crate::record::kind;
use crate::sink::{Record, RecordKind};
use crate::Timestamp;

/// A query over a log: which records, in which order, how many.
///
/// Every condition given must hold (AND). Build one with the methods, or parse the text form
/// (see [`LogQuery::from_str`]):
///
/// ```
/// use std::time::Duration;
/// use tickwatch::store::{Filter, LogQuery};
/// use tickwatch::Level;
/// let q = LogQuery::new()
///     .min_level(Level::Warn)
///     .target("risk")
///     .message("rejected")
///     .filter(Filter::eq("order_id", 42))
///     .limit(100);
/// let same: LogQuery = r#"level>=warn target=risk order_id=42 "rejected" limit=100"#.parse().unwrap();
/// assert_eq!(q, same);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogQuery {
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time.
    pub until: Option<Timestamp>,
    /// Events at or above this level (records without a level do not match).
    pub min_level: Option<Level>,
    /// Events at or below this level.
    pub max_level: Option<Level>,
    /// Events whose target contains this text.
    pub target: Option<String>,
    /// Events whose message (with its arguments in place) contains this text.
    pub message: Option<String>,
    /// A predicate over fields.
    pub filter: Option<Filter>,
    /// Record kinds to return; empty: every kind (drop notices included).
    pub kinds: Vec<RecordKind>,
    /// Samples of the series with this name.
    pub series: Option<String>,
    /// Oldest or newest first.
    pub order: Order,
    /// Most records returned. Default 1,000.
    pub limit: usize,
    /// Continue after this record (from [`LogResults::next`]).
    pub cursor: Option<Cursor>,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            since: None,
            until: None,
            min_level: None,
            max_level: None,
            target: None,
            message: None,
            filter: None,
            kinds: Vec::new(),
            series: None,
            order: Order::OldestFirst,
            limit: 1000,
            cursor: None,
        }
    }
}

/// Result order: by record time, ties in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first (the default).
    #[default]
    OldestFirst,
    /// Newest first.
    NewestFirst,
}

/// A comparison of a numeric field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A predicate over a record's fields: an event's fields; an audit record's `actor`,
/// `action`, `resource`, `outcome`, `rule`, `detail`; a sample's tags and its `value`; a drop
/// notice's `count`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The field is present and equal to the value written as text: a number compares
    /// numerically with a numeric field (`42` equals `42u64`, `42i64` and `42.0`), text with a
    /// string field, `true`/`false` with a boolean, `null` with a `None`.
    Eq(String, String),
    /// The field is present and not equal (as [`Filter::Eq`]).
    Ne(String, String),
    /// The field is numeric and compares so with the number.
    Cmp(String, CmpOp, f64),
    /// The field is present.
    Has(String),
    /// Both.
    And(Vec<Filter>),
    /// Either.
    Or(Vec<Filter>),
    /// Not.
    Not(Box<Filter>),
}

impl Filter {
    /// `field == value`.
    pub fn eq(field: impl Into<String>, value: impl fmt::Display) -> Filter {
        Filter::Eq(field.into(), value.to_string())
    }

    /// `field op number`.
    pub fn cmp(field: impl Into<String>, op: CmpOp, number: f64) -> Filter {
        Filter::Cmp(field.into(), op, number)
    }

    /// Whether the filter reads the field `name` anywhere.
    pub(crate) fn reads(&self, name: &str) -> bool {
        match self {
            Filter::Eq(f, _) | Filter::Ne(f, _) | Filter::Cmp(f, _, _) | Filter::Has(f) => {
                f == name
            }
            Filter::And(all) | Filter::Or(all) => all.iter().any(|c| c.reads(name)),
            Filter::Not(c) => c.reads(name),
        }
    }

    pub(crate) fn matches(&self, v: &View<'_>) -> bool {
        match self {
            Filter::Eq(f, want) => v.field(f).is_some_and(|x| equals(x, want)),
            Filter::Ne(f, want) => v.field(f).is_some_and(|x| !equals(x, want)),
            Filter::Cmp(f, op, n) => v.field(f).and_then(number).is_some_and(|x| match op {
                CmpOp::Lt => x < *n,
                CmpOp::Le => x <= *n,
                CmpOp::Gt => x > *n,
                CmpOp::Ge => x >= *n,
            }),
            Filter::Has(f) => v.field(f).is_some(),
            Filter::And(all) => all.iter().all(|c| c.matches(v)),
            Filter::Or(any) => any.iter().any(|c| c.matches(v)),
            Filter::Not(c) => !c.matches(v),
        }
    }
}

fn number(v: FieldRef<'_>) -> Option<f64> {
    match v {
        FieldRef::U64(x) => Some(x as f64),
        FieldRef::I64(x) => Some(x as f64),
        FieldRef::F64(x) => Some(x),
        _ => None,
    }
}

/// `Filter::Eq`'s comparison: integers exactly, floats as floats.
pub(crate) fn equals(v: FieldRef<'_>, want: &str) -> bool {
    match v {
        FieldRef::Str(s) => s == want,
        FieldRef::Bool(b) => want == if b { "true" } else { "false" },
        FieldRef::None => want == "null",
        FieldRef::U64(x) => match want.parse::<i128>() {
            Ok(w) => i128::from(x) == w,
            Err(_) => want.parse::<f64>().is_ok_and(|w| x as f64 == w),
        },
        FieldRef::I64(x) => match want.parse::<i128>() {
            Ok(w) => i128::from(x) == w,
            Err(_) => want.parse::<f64>().is_ok_and(|w| x as f64 == w),
        },
        FieldRef::F64(x) => want.parse::<f64>().is_ok_and(|w| x == w),
    }
}

impl LogQuery {
    /// Every record, oldest first, at most 1,000.
    pub fn new() -> Self {
        LogQuery::default()
    }
    /// Records at or after `t`.
    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }
    /// Records before `t`.
    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }
    /// Events at or above `l`.
    pub fn min_level(mut self, l: Level) -> Self {
        self.min_level = Some(l);
        self
    }
    /// Events whose target contains `t`.
    pub fn target(mut self, t: impl Into<String>) -> Self {
        self.target = Some(t.into());
        self
    }
    /// Events whose message contains `m`.
    pub fn message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }
    /// Adds a predicate (ANDed with one given before).
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            None => f,
            Some(Filter::And(mut all)) => {
                all.push(f);
                Filter::And(all)
            }
            Some(prev) => Filter::And(vec![prev, f]),
        });
        self
    }
    /// Only these kinds.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = RecordKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }
    /// Samples of this series.
    pub fn series(mut self, name: impl Into<String>) -> Self {
        self.series = Some(name.into());
        self
    }
    /// Result order.
    pub fn order(mut self, o: Order) -> Self {
        self.order = o;
        self
    }
    /// At most `n` records.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }
    /// The page after `c`.
    pub fn cursor(mut self, c: Cursor) -> Self {
        self.cursor = Some(c);
        self
    }

    /// Whether a record in `[first, last]` (Unix ns) can match the time range.
    pub(crate) fn overlaps(&self, first: u64, last: u64) -> bool {
        first <= last
            && self.since.is_none_or(|s| last >= s.unix_nanos())
            && self.until.is_none_or(|u| first < u.unix_nanos())
    }

    /// The kind bits (`format::kind_bit`) a record must have one of; all bits when any kind.
    pub(crate) fn kind_bits(&self) -> u16 {
        use super::format::kind_bit;
        let mut bits = if self.kinds.is_empty() {
            u16::MAX
        } else {
            self.kinds
                .iter()
                .map(|k| {
                    kind_bit(match k {
                        RecordKind::Metric => kind::METRIC,
                        RecordKind::Counter => kind::COUNTER,
                        RecordKind::Latency => kind::LATENCY,
                        RecordKind::Resource => kind::RESOURCE,
                        RecordKind::Event => kind::EVENT,
                        RecordKind::Audit => kind::AUDIT,
                    })
                })
                .fold(0, |a, b| a | b)
        };
        if self.min_level.is_some()
            || self.max_level.is_some()
            || self.target.is_some()
            || self.message.is_some()
        {
            bits &= kind_bit(kind::EVENT);
        }
        if self.series.is_some() {
            bits &= kind_bit(kind::METRIC)
                | kind_bit(kind::COUNTER)
                | kind_bit(kind::LATENCY)
                | kind_bit(kind::RESOURCE);
        }
        bits
    }

    /// The level bits an event must have one of.
    pub(crate) fn level_bits(&self) -> u8 {
        let lo = self.min_level.map_or(0, |l| l as u8);
        let hi = self.max_level.map_or(Level::Error as u8, |l| l as u8);
        (lo..=hi).fold(0, |a, l| a | 1 << l)
    }

    /// Whether `v` matches everything but the time range and the cursor. `scratch` holds a
    /// formatted message.
    /// `kind_bits` and `level_bits` are [`LogQuery::kind_bits`] and [`LogQuery::level_bits`],
    /// computed once per query.
    pub(crate) fn matches(
        &self,
        v: &View<'_>,
        kind_bits: u16,
        level_bits: u8,
        scratch: &mut String,
    ) -> bool {
        if kind_bits & super::format::kind_bit(v.kind()) == 0 {
            return false;
        }
        if self.min_level.is_some() || self.max_level.is_some() {
            match v.level() {
                Some(l) if level_bits & (1 << l as u8) != 0 => {}
                _ => return false,
            }
        }
        if let Some(t) = &self.target {
            match v.body {
                super::segment::Body::Event { target, .. } if target.contains(t.as_str()) => {}
                _ => return false,
            }
        }
        if let Some(m) = &self.message {
            scratch.clear();
            v.write_message(scratch);
            if !scratch.contains(m.as_str()) {
                return false;
            }
        }
        if let Some(s) = &self.series {
            if v.series_name() != Some(s.as_str()) {
                return false;
            }
        }
        self.filter.as_ref().is_none_or(|f| f.matches(v))
    }
}

/// Where a record sits in a log: its time, then where it was written. Results are ordered
/// by it, and a [`Cursor`] is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Position {
    pub(crate) ts: u64,
    pub(crate) seq: u64,
    pub(crate) offset: u64,
    pub(crate) index: u32,
}

/// An opaque place in a log's result order: continue a query after it
/// ([`LogQuery::cursor`]). Its text form (`Display`/`FromStr`) can travel through a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor(pub(crate) Position);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        write!(f, "c1.{:x}.{:x}.{:x}.{:x}", p.ts, p.seq, p.offset, p.index)
    }
}

impl FromStr for Cursor {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Cursor, QueryError> {
        let bad = || QueryError::BadCursor(s.to_owned());
        let mut parts = s.strip_prefix("c1.").ok_or_else(bad)?.split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| u64::from_str_radix(p, 16).ok())
                .ok_or_else(bad)
        };
        let (ts, seq, offset, index) = (next()?, next()?, next()?, next()?);
        let index = u32::try_from(index).map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor(Position {
            ts,
            seq,
            offset,
            index,
        }))
    }
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct LogResults {
    /// The records, in the query's order.
    pub records: Vec<Record>,
    /// Records looked at (those in segments and frames skipped by their time range or kinds
    /// are not).
    pub scanned: u64,
    /// Records that matched (more than `records.len()` when the limit cut them).
    pub matched: u64,
    /// True if the limit cut the results: ask again with [`LogResults::next`].
    pub limited: bool,
    /// The cursor for the next page, when `limited`.
    pub next: Option<Cursor>,
    /// Segments read, and skipped whole by their footer.
    pub segments_read: u64,
    /// Segments skipped by their footer.
    pub segments_skipped: u64,
    /// Damaged frames stepped over in sealed segments, or at which an unsealed one stopped.
    pub corrupt_frames: u64,
    /// Records that did not decode against their segment's dictionary (skipped).
    pub undecodable: u64,
    /// Encrypted segments only: frames found out of sequence (a frame dropped, moved or
    /// reordered since it was written), a footer's counter included when a segment is read
    /// whole.
    pub sequence_gaps: u64,
    /// Encrypted frames that did not decrypt with the key ring given (every one, with the
    /// wrong ring): their records are missing from the result.
    pub undecryptable_frames: u64,
    /// Segments read through a guessed header, theirs being damaged.
    pub damaged_headers: u64,
    /// Segment numbers missing between the oldest and newest segment (a segment deleted or
    /// renamed: retention deletes only the oldest).
    pub missing_segments: u64,
    /// Segments whose header gives another sequence number than their file name.
    pub misnamed_segments: u64,
}

/// Why a query failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// The text form did not parse: `at` is the byte offset of the offending token.
    Parse {
        /// Byte offset in the query text.
        at: usize,
        /// The offending token.
        token: String,
        /// What was expected.
        expected: String,
    },
    /// A cursor that no query returned.
    BadCursor(String),
    /// The instance has no segment log ([`TelemetryBuilder::segment_log`](crate::TelemetryBuilder::segment_log)).
    NoLog,
    /// No instance is installed (the free `query_logs`).
    NotInstalled,
    /// The log directory could not be read.
    Io(std::io::Error),
    /// A segment is encrypted and no key ring was given to open it.
    NeedsKeyRing(std::path::PathBuf),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Parse {
                at,
                token,
                expected,
            } => write!(f, "query: at byte {at}, `{token}`: expected {expected}"),
            QueryError::BadCursor(c) => write!(
                f,
                "query: `{c}` is not a cursor (pass back a LogResults::next unchanged)"
            ),
            QueryError::NoLog => f.write_str(
                "query: this instance has no segment log: add one with TelemetryBuilder::segment_log",
            ),
            QueryError::NotInstalled => {
                f.write_str("query: no instance is installed: call tickwatch::install first")
            }
            QueryError::Io(e) => write!(f, "query: cannot read the log: {e}"),
            QueryError::NeedsKeyRing(p) => write!(
                f,
                "query: {} is encrypted: give the key ring (LogReader::key_ring, tickwatch-log --keys)",
                p.display()
            ),
        }
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Io(e) => Some(e),
            _ => None,
        }
    }
}
