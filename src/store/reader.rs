//! Reading a log directory as it is on disk ([`LogReader`]): a walk of every record, counts,
//! and (in `scan` and `verify`) queries and checks. Nothing here writes to the log.

use std::io;
use std::path::{Path, PathBuf};

use super::format::{self, frame};
use super::query::{LogQuery, LogResults, QueryError};
use super::recovery::list;
use super::scan::run_query;
use super::seal::Opener;
use super::segment::{frame_records, walk, Dictionary, View, Walk};
use crate::security::crypto::KeyRing;
use crate::sink::Record;
use crate::Timestamp;

/// Reads a log directory, as it is on disk, without changing it: what an operator uses after
/// the process is gone (the `tickwatch-log` command is built on it).
#[derive(Debug, Clone)]
pub struct LogReader {
    pub(crate) dir: PathBuf,
    pub(crate) key_ring: Option<std::sync::Arc<KeyRing>>,
}

/// A log's size and span ([`LogReader::stats`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct LogStats {
    /// Records in all segments.
    pub records: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the segment files.
    pub bytes: u64,
    /// The earliest record's time.
    pub first: Option<Timestamp>,
    /// The latest record's time.
    pub last: Option<Timestamp>,
    /// Records per kind: `metric`, `counter`, `latency`, `resource`, `event`, `audit`,
    /// `dropped`.
    pub kinds: std::collections::BTreeMap<String, u64>,
}

impl LogReader {
    /// A reader of the log in `dir` (an error if it is not a readable directory).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<LogReader> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::read_dir(&dir)?;
        Ok(LogReader {
            dir,
            key_ring: None,
        })
    }

    /// Opens the log's encrypted segments with `ring`
    /// ([`SegmentLogOptions::encrypt`](super::SegmentLogOptions::encrypt)).
    pub fn key_ring(mut self, ring: std::sync::Arc<KeyRing>) -> Self {
        self.key_ring = Some(ring);
        self
    }

    /// Runs a query over the segments as they are on disk.
    pub fn query(&self, query: &LogQuery) -> Result<LogResults, QueryError> {
        run_query(&self.dir, query, None, self.key_ring.as_deref())
    }

    /// Calls `f` with every record, segment by segment, in the order written (damaged frames
    /// stepped over as a query does). Returns how many records it saw.
    pub fn for_each(&self, mut f: impl FnMut(&Record, Option<&str>)) -> io::Result<u64> {
        let mut n = 0;
        for (seq, path) in list(&self.dir)? {
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let _ = seq;
            self.readable(&path, &data)?;
            each_view(&data, self.key_ring.as_deref(), |v, dict| {
                let name = dict.threads.get(v.thread).and_then(|n| n.as_deref());
                f(&v.to_record(), name);
                n += 1;
            });
        }
        Ok(n)
    }

    /// An error for an encrypted segment when no ring was given.
    pub(crate) fn readable(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let sealed =
            format::parse_header(data).is_some_and(|h| h.flags & super::seal::FLAG_ENCRYPTED != 0);
        if sealed && self.key_ring.is_none() {
            return Err(io::Error::other(format!(
                "{} is encrypted: give the key ring (LogReader::key_ring, tickwatch-log --keys)",
                path.display()
            )));
        }
        Ok(())
    }

    /// Counts, time range and size. Sealed segments are counted from their footers, the
    /// others by reading them.
    pub fn stats(&self) -> io::Result<LogStats> {
        let mut s = LogStats::default();
        let (mut first, mut last) = (u64::MAX, 0u64);
        for (_, path) in list(&self.dir)? {
            s.segments += 1;
            s.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let data = std::fs::read(&path)?;
            self.readable(&path, &data)?;
            each_view(&data, self.key_ring.as_deref(), |v, _| {
                s.records += 1;
                first = first.min(v.ts);
                last = last.max(v.ts);
                *s.kinds.entry(kind_name(v.kind()).to_owned()).or_default() += 1;
            });
        }
        if s.records > 0 {
            s.first = Some(Timestamp::from_unix_nanos(first));
            s.last = Some(Timestamp::from_unix_nanos(last));
        }
        Ok(s)
    }
}

/// The schema's name of a record kind byte.
pub(crate) fn kind_name(k: u8) -> &'static str {
    use crate::record::kind;
    match k {
        kind::METRIC => "metric",
        kind::COUNTER => "counter",
        kind::LATENCY => "latency",
        kind::RESOURCE => "resource",
        kind::EVENT | kind::DYN_EVENT => "event",
        kind::AUDIT => "audit",
        _ => "dropped",
    }
}

/// Visits every decodable record of a segment's bytes in the order written: a sealed one
/// stepping over damage, an unsealed one stopping at it.
pub(crate) fn each_view(
    data: &[u8],
    ring: Option<&KeyRing>,
    mut f: impl FnMut(&View<'_>, &Dictionary),
) {
    let Some(header) = format::parse_header(data) else {
        return;
    };
    let (end, mode) = match format::trailer(data) {
        Some(at) => (at, Walk::SkipDamage),
        None => (data.len(), Walk::StopAtDamage),
    };
    let mut dict = Dictionary::default();
    let mut opener = Opener::new(ring, header.seq, header.flags);
    let mut stopped = false;
    walk(data, format::HEADER_LEN, end, mode, |_, _, ty, payload| {
        if stopped {
            return;
        }
        match opener.open(ty, payload) {
            Ok((frame::RECORDS, payload)) => {
                let _ = frame_records(payload, &dict, |_, v| f(&v, &dict));
            }
            Ok((ty, payload)) => {
                let _ = dict.add(ty, payload);
            }
            // An unsealed segment stops at its first frame that does not open, as at damage.
            Err(_) => stopped = mode == Walk::StopAtDamage,
        }
    });
}
