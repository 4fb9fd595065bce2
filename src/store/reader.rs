//! Reading a log directory: queries, verification, statistics and a plain walk of every
//! record. Nothing here writes to the log.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::footer::Footer;
use super::format::{self, frame, FrameAt, RecordsHead};
use super::query::{LogQuery, LogResults, Order, Position, QueryError};
use super::recovery::{list, read_footer};
use super::segment::{frame_records, walk, Dictionary, View, Walk};
use crate::record::kind;
use crate::sink::Record;
use crate::Timestamp;

/// The live part of the segment being written, copied under the writer's lock.
#[derive(Debug)]
pub(crate) struct LiveSnapshot {
    pub(crate) seq: u64,
    pub(crate) written: u64,
    pub(crate) pending: Vec<u8>,
}

/// Reads a log directory, as it is on disk, without changing it: what an operator uses after
/// the process is gone (the `tickwatch-log` command is built on it).
#[derive(Debug, Clone)]
pub struct LogReader {
    dir: PathBuf,
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

/// One thing [`LogReader::verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyProblem {
    /// The segment does not start with a valid header.
    BadHeader(PathBuf),
    /// A whole frame whose checksum or contents do not hold, at this offset.
    CorruptFrame(PathBuf, u64),
    /// A sealed segment's trailer points at no valid footer.
    BadFooter(PathBuf),
    /// Records that do not decode against their segment's dictionary.
    Undecodable(PathBuf, u64),
    /// A segment other than the newest ends inside a frame.
    IncompleteFrame(PathBuf, u64),
}

/// What [`LogReader::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Verify {
    /// Segments checked.
    pub segments: u64,
    /// Whole frames that checked out.
    pub frames: u64,
    /// Records in them.
    pub records: u64,
    /// The newest segment ends inside a frame (a crash while writing): recovery will cut
    /// these bytes. Not a failure.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Everything else damaged.
    pub problems: Vec<VerifyProblem>,
}

impl Verify {
    /// True when nothing but a torn tail was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl LogReader {
    /// A reader of the log in `dir` (an error if it is not a readable directory).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<LogReader> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::read_dir(&dir)?;
        Ok(LogReader { dir })
    }

    /// Runs a query over the segments as they are on disk.
    pub fn query(&self, query: &LogQuery) -> Result<LogResults, QueryError> {
        run_query(&self.dir, query, None)
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
            each_view(&data, |v, dict| {
                let name = dict.threads.get(v.thread).and_then(|n| n.as_deref());
                f(&v.to_record(), name);
                n += 1;
            });
        }
        Ok(n)
    }

    /// Checks every frame of every segment.
    pub fn verify(&self) -> io::Result<Verify> {
        let segments = list(&self.dir)?;
        let mut out = Verify::default();
        let newest = segments.last().map(|s| s.0);
        for (seq, path) in &segments {
            out.segments += 1;
            let data = std::fs::read(path)?;
            if format::parse_header(&data).is_none() {
                if Some(*seq) == newest && data.len() < format::HEADER_LEN {
                    out.torn_tail = Some((path.clone(), data.len() as u64));
                } else {
                    out.problems.push(VerifyProblem::BadHeader(path.clone()));
                }
                continue;
            }
            let sealed = format::trailer(&data);
            let end = match sealed {
                Some(at) => {
                    match format::frame_at(&data, at) {
                        FrameAt::Frame {
                            ty: frame::FOOTER,
                            payload,
                            next,
                        } if next == data.len() - format::TRAILER_LEN
                            && Footer::decode(payload).is_ok() => {}
                        _ => out.problems.push(VerifyProblem::BadFooter(path.clone())),
                    }
                    at
                }
                None => data.len(),
            };
            let mut dict = Dictionary::default();
            let mut undecodable = 0;
            let mut at = format::HEADER_LEN;
            loop {
                match format::frame_at(&data[..end], at) {
                    FrameAt::Frame { ty, payload, next } => {
                        out.frames += 1;
                        if ty == frame::RECORDS {
                            match frame_records(payload, &dict, |_, _| out.records += 1) {
                                Ok(bad) => undecodable += bad,
                                Err(_) => out
                                    .problems
                                    .push(VerifyProblem::CorruptFrame(path.clone(), at as u64)),
                            }
                        } else if dict.add(ty, payload).is_err() {
                            out.problems
                                .push(VerifyProblem::CorruptFrame(path.clone(), at as u64));
                        }
                        at = next;
                    }
                    FrameAt::End => break,
                    FrameAt::Incomplete if sealed.is_none() => {
                        let cut = (end - at) as u64;
                        if Some(*seq) == newest {
                            out.torn_tail = Some((path.clone(), cut));
                        } else {
                            out.problems
                                .push(VerifyProblem::IncompleteFrame(path.clone(), at as u64));
                        }
                        break;
                    }
                    FrameAt::Incomplete | FrameAt::Corrupt => {
                        out.problems
                            .push(VerifyProblem::CorruptFrame(path.clone(), at as u64));
                        match format::resync(&data, at, end) {
                            Some(next) => at = next,
                            None => break,
                        }
                    }
                }
            }
            if undecodable > 0 {
                out.problems
                    .push(VerifyProblem::Undecodable(path.clone(), undecodable));
            }
        }
        Ok(out)
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
            each_view(&data, |v, _| {
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
fn each_view(data: &[u8], mut f: impl FnMut(&View<'_>, &Dictionary)) {
    if format::parse_header(data).is_none() {
        return;
    }
    let (end, mode) = match format::trailer(data) {
        Some(at) => (at, Walk::SkipDamage),
        None => (data.len(), Walk::StopAtDamage),
    };
    let mut dict = Dictionary::default();
    walk(data, format::HEADER_LEN, end, mode, |_, _, ty, payload| {
        if ty == frame::RECORDS {
            let _ = frame_records(payload, &dict, |_, v| f(&v, &dict));
        } else {
            let _ = dict.add(ty, payload);
        }
    });
}

/// A match kept for the results: ordered by its key so that the heap's top is the one to
/// drop first.
struct Kept {
    key: Position,
    record: Record,
}

impl PartialEq for Kept {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Kept {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// The query state across segments.
struct Run<'q> {
    q: &'q LogQuery,
    kind_bits: u16,
    level_bits: u8,
    since: u64,
    until: u64,
    /// The cursor in key space (see `key`).
    after: Option<Position>,
    kept: BinaryHeap<Kept>,
    out: LogResults,
    scratch: String,
    /// Whether a sample's match can be decided by its series alone (the filter does not
    /// read `value`).
    sample_verdicts: bool,
    /// Per series id of segment `verdicts_for`: 0 not yet known, 1 no, 2 yes.
    verdicts: Vec<u8>,
    verdicts_for: Option<u64>,
}

impl<'q> Run<'q> {
    fn new(q: &'q LogQuery) -> Self {
        let mut r = Run {
            q,
            kind_bits: q.kind_bits(),
            level_bits: q.level_bits(),
            since: q.since.map_or(0, |t| t.unix_nanos()),
            until: q.until.map_or(u64::MAX, |t| t.unix_nanos()),
            after: None,
            kept: BinaryHeap::new(),
            out: LogResults::default(),
            scratch: String::new(),
            sample_verdicts: !q.filter.as_ref().is_some_and(|f| f.reads("value")),
            verdicts: Vec::new(),
            verdicts_for: None,
        };
        r.after = q.cursor.map(|c| r.key(c.0));
        r
    }

    /// The sort key: the position itself oldest first, its mirror newest first, so that the
    /// results are always the `limit` smallest keys.
    fn key(&self, p: Position) -> Position {
        match self.q.order {
            Order::OldestFirst => p,
            Order::NewestFirst => Position {
                ts: !p.ts,
                seq: !p.seq,
                offset: !p.offset,
                index: !p.index,
            },
        }
    }

    fn frame_may_match(&self, h: &RecordsHead) -> bool {
        h.first <= h.last
            && h.last >= self.since
            && h.first < self.until
            && h.kinds & self.kind_bits != 0
            && (h.kinds & format::kind_bit(crate::record::kind::EVENT) == 0
                || self.q.min_level.is_none() && self.q.max_level.is_none()
                || h.levels & self.level_bits != 0)
    }

    fn footer_may_match(&self, f: &Footer) -> bool {
        self.q.overlaps(f.first, f.last)
            && f.kinds & self.kind_bits != 0
            && (self.q.min_level.is_none() && self.q.max_level.is_none()
                || f.levels & self.level_bits != 0)
    }

    /// Takes one `RECORDS` frame at `offset` of segment `seq`.
    fn records(&mut self, seq: u64, offset: u64, payload: &[u8], dict: &Dictionary) {
        let Ok((head, rest)) = RecordsHead::read(payload) else {
            self.out.corrupt_frames += 1;
            return;
        };
        if !self.frame_may_match(&head) {
            return;
        }
        if self.verdicts_for != Some(seq) {
            // Ids mean what this segment's dictionary says.
            self.verdicts.clear();
            self.verdicts_for = Some(seq);
        }
        for (i, r) in format::records(rest).enumerate() {
            let index = i as u32;
            let Ok(bytes) = r else {
                self.out.undecodable += 1;
                continue;
            };
            self.out.scanned += 1;
            // A sample: everything but its time and value is its series', so whether it
            // matches is decided once per series (unless the query reads `value`).
            if self.sample_verdicts && bytes.len() == crate::record::SAMPLE_LEN {
                let k = bytes[0];
                if matches!(
                    k,
                    kind::METRIC | kind::COUNTER | kind::LATENCY | kind::RESOURCE
                ) {
                    let ts = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or([0; 8]));
                    if ts < self.since || ts >= self.until {
                        continue;
                    }
                    let id = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or([0; 4]));
                    if self.sample_verdict(k, id, dict) == Some(false) {
                        continue;
                    }
                }
            }
            let v = match View::decode(bytes, head.thread, dict) {
                Ok(v) => v,
                Err(_) => {
                    self.out.undecodable += 1;
                    continue;
                }
            };
            if v.ts < self.since || v.ts >= self.until {
                continue;
            }
            let key = self.key(Position {
                ts: v.ts,
                seq,
                offset,
                index,
            });
            if self.after.is_some_and(|a| key <= a)
                || !self
                    .q
                    .matches(&v, self.kind_bits, self.level_bits, &mut self.scratch)
            {
                continue;
            }
            self.out.matched += 1;
            if self.kept.len() < self.q.limit {
                self.kept.push(Kept {
                    key,
                    record: v.to_record(),
                });
            } else if self.kept.peek().is_some_and(|top| key < top.key) {
                self.kept.pop();
                self.kept.push(Kept {
                    key,
                    record: v.to_record(),
                });
            }
        }
    }

    /// Whether samples of series `id` (kind `k`) match the query, remembered per series;
    /// `None` when the series is unknown (the record is then decoded, and refused, as usual).
    fn sample_verdict(&mut self, k: u8, id: u32, dict: &Dictionary) -> Option<bool> {
        let i = id as usize;
        if let Some(&v) = self.verdicts.get(i) {
            if v != 0 {
                return Some(v == 2);
            }
        }
        let series = dict.series.get(id).filter(|s| s.kind == k)?;
        let probe = View::probe(series);
        let ok = self
            .q
            .matches(&probe, self.kind_bits, self.level_bits, &mut self.scratch);
        if i < 1 << 20 {
            if self.verdicts.len() <= i {
                self.verdicts.resize(i + 1, 0);
            }
            self.verdicts[i] = 1 + ok as u8;
        }
        Some(ok)
    }

    /// Walks `data[from..end]` (absolute offsets from `base`) of segment `seq`.
    fn walk(&mut self, seq: u64, data: &[u8], base: u64, mode: Walk, dict: &mut Dictionary) {
        let mut frames = Vec::new();
        let end = walk(data, 0, data.len(), mode, |at, _, ty, payload| {
            frames.push((at, ty, payload));
        });
        self.out.corrupt_frames += end.corrupt;
        for (at, ty, payload) in frames {
            if ty == frame::RECORDS {
                self.records(seq, base + at as u64, payload, dict);
            } else if dict.add(ty, payload).is_err() {
                self.out.corrupt_frames += 1;
            }
        }
    }

    fn finish(mut self) -> LogResults {
        let mut kept = std::mem::take(&mut self.kept).into_sorted_vec();
        self.out.limited = self.out.matched > kept.len() as u64;
        if self.out.limited {
            self.out.next = kept.last().map(|k| {
                let key = k.key;
                super::query::Cursor(self.key(key))
            });
        }
        self.out.records = kept.drain(..).map(|k| k.record).collect();
        self.out
    }
}

/// Reads `len` bytes at `at` of `f`.
fn read_at(f: &mut File, at: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Runs a query over `dir`; `live`, when given, is the segment being written.
pub(crate) fn run_query(
    dir: &Path,
    q: &LogQuery,
    live: Option<&LiveSnapshot>,
) -> Result<LogResults, QueryError> {
    let mut run = Run::new(q);
    if q.limit == 0 {
        return Ok(run.finish());
    }
    let segments = list(dir).map_err(QueryError::Io)?;
    for (seq, path) in segments {
        if let Some(l) = live {
            if seq > l.seq {
                // Begun after the snapshot: newer than everything the query saw.
                continue;
            }
            if seq == l.seq {
                let mut data = match File::open(&path) {
                    Ok(mut f) => read_at(&mut f, 0, l.written as usize).map_err(QueryError::Io)?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                data.extend_from_slice(&l.pending);
                run.out.segments_read += 1;
                if format::parse_header(&data).is_some() {
                    let mut dict = Dictionary::default();
                    let body = &data[format::HEADER_LEN..];
                    run.walk(
                        seq,
                        body,
                        format::HEADER_LEN as u64,
                        Walk::StopAtDamage,
                        &mut dict,
                    );
                }
                continue;
            }
        }
        match read_footer(&path) {
            Some((footer, footer_at)) => {
                if !run.footer_may_match(&footer) {
                    run.out.segments_skipped += 1;
                    continue;
                }
                run.out.segments_read += 1;
                let mut f = match File::open(&path) {
                    Ok(f) => f,
                    // Deleted by retention since it was listed.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                let narrow = q.since.is_some() || q.until.is_some();
                let mut dict = Dictionary::default();
                if narrow {
                    for &at in &footer.dictionary {
                        let Ok(h) = read_at(&mut f, at, format::FRAME_HEADER_LEN) else {
                            continue;
                        };
                        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                        if len > format::MAX_FRAME_BODY {
                            continue;
                        }
                        if let Ok(b) = read_at(&mut f, at, format::FRAME_HEADER_LEN + len) {
                            if let FrameAt::Frame { ty, payload, .. } = format::frame_at(&b, 0) {
                                let _ = dict.add(ty, payload);
                            }
                        }
                    }
                    for e in &footer.index {
                        if !q.overlaps(e.first, e.last) || e.kinds & run.kind_bits == 0 {
                            continue;
                        }
                        if e.end > footer_at || e.start >= e.end {
                            continue;
                        }
                        let data = read_at(&mut f, e.start, (e.end - e.start) as usize)
                            .map_err(QueryError::Io)?;
                        // Dictionary frames in the range are added again (harmless).
                        run.walk(seq, &data, e.start, Walk::SkipDamage, &mut dict);
                    }
                } else {
                    let data = read_at(
                        &mut f,
                        format::HEADER_LEN as u64,
                        (footer_at - format::HEADER_LEN as u64) as usize,
                    )
                    .map_err(QueryError::Io)?;
                    run.walk(
                        seq,
                        &data,
                        format::HEADER_LEN as u64,
                        Walk::SkipDamage,
                        &mut dict,
                    );
                }
            }
            None => {
                // Unsealed: the newest segment of a log whose writer is gone (or still
                // running, seen from another process): its whole frames, up to any damage.
                let data = match std::fs::read(&path) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                run.out.segments_read += 1;
                if format::parse_header(&data).is_none() {
                    continue;
                }
                let mut dict = Dictionary::default();
                run.walk(
                    seq,
                    &data[format::HEADER_LEN..],
                    format::HEADER_LEN as u64,
                    Walk::StopAtDamage,
                    &mut dict,
                );
            }
        }
    }
    Ok(run.finish())
}

/// The fuzz target's body: arbitrary bytes as a segment.
#[cfg(fuzzing)]
pub(crate) fn fuzz_segment(data: &[u8]) {
    each_view(data, |v, _| {
        let _ = v.to_record();
    });
    let q = LogQuery::default();
    let mut run = Run::new(&q);
    let mut dict = Dictionary::default();
    run.walk(0, data, 0, Walk::SkipDamage, &mut dict);
    let mut dict = Dictionary::default();
    run.walk(0, data, 0, Walk::StopAtDamage, &mut dict);
}
