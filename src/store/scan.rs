//! Running a [`LogQuery`] over a log's segments: footers and the sparse index to skip what
//! cannot match, the live window of the segment being written, and the `limit` best matches
//! kept in a heap in the query's order.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::footer::Footer;
use super::format::{self, frame, FrameAt, RecordsHead};
use super::query::{LogQuery, LogResults, Order, Position, QueryError};
use super::recovery::{list, read_footer};
use super::seal::{Opener, Unopened};
use super::segment::{walk, Dictionary, View, Walk};
use crate::record::kind;
use crate::security::crypto::KeyRing;
use crate::sink::Record;

/// The live part of the segment being written, copied under the writer's lock.
#[derive(Debug)]
pub(crate) struct LiveSnapshot {
    pub(crate) seq: u64,
    pub(crate) written: u64,
    pub(crate) pending: Vec<u8>,
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
    /// An encrypted segment was met without a key ring.
    needs_ring: bool,
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
            needs_ring: false,
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

    /// Walks `data` (absolute offsets from `base`) of segment `seq`, its frames opened by
    /// `opener`.
    fn walk(
        &mut self,
        seq: u64,
        data: &[u8],
        base: u64,
        mode: Walk,
        dict: &mut Dictionary,
        opener: &mut Opener<'_>,
    ) {
        let mut frames = Vec::new();
        let end = walk(data, 0, data.len(), mode, |at, _, ty, payload| {
            frames.push((at, ty, payload));
        });
        self.out.corrupt_frames += end.corrupt;
        for (at, ty, payload) in frames {
            match opener.open(ty, payload) {
                Ok((frame::RECORDS, payload)) => self.records(seq, base + at as u64, payload, dict),
                Ok((ty, payload)) => {
                    if dict.add(ty, payload).is_err() {
                        self.out.corrupt_frames += 1;
                    }
                }
                Err(Unopened::NoKeyRing) => {
                    self.needs_ring = true;
                    return;
                }
                Err(e) => {
                    if e == Unopened::Decrypt {
                        self.out.undecryptable_frames += 1;
                    } else {
                        self.out.corrupt_frames += 1;
                    }
                    if mode == Walk::StopAtDamage {
                        return;
                    }
                }
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

/// Runs a query over `dir`; `live`, when given, is the segment being written; `ring` opens
/// encrypted segments.
pub(crate) fn run_query(
    dir: &Path,
    q: &LogQuery,
    live: Option<&LiveSnapshot>,
    ring: Option<&KeyRing>,
) -> Result<LogResults, QueryError> {
    let mut run = Run::new(q);
    if q.limit == 0 {
        return Ok(run.finish());
    }
    let segments = list(dir).map_err(QueryError::Io)?;
    run.out.missing_segments = super::reader::missing_segments(&segments);
    // Newest first: retention deletes the oldest sealed segments first, so once one is found
    // deleted under the query, every older one is gone (or going) too, and stopping there
    // keeps the result a gap-free suffix of the log. (The order of the results does not
    // depend on the order the segments are read in.)
    for (seq, path) in segments.into_iter().rev() {
        let missing = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        if let Some(l) = live {
            if seq > l.seq {
                // Begun after the snapshot: newer than everything the query saw.
                continue;
            }
            if seq == l.seq {
                let mut data = match File::open(&path) {
                    Ok(mut f) => read_at(&mut f, 0, l.written as usize).map_err(QueryError::Io)?,
                    Err(e) if missing(&e) => break,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                data.extend_from_slice(&l.pending);
                run.out.segments_read += 1;
                if let Some(h) = format::parse_header(&data) {
                    let mut dict = Dictionary::default();
                    let mut opener = Opener::new(ring, h.seq, h.flags);
                    let body = &data[format::HEADER_LEN..];
                    let base = format::HEADER_LEN as u64;
                    run.walk(seq, body, base, Walk::StopAtDamage, &mut dict, &mut opener);
                }
                if run.needs_ring {
                    return Err(QueryError::NeedsKeyRing(path));
                }
                continue;
            }
        }
        let mut f = match File::open(&path) {
            Ok(f) => f,
            // Deleted by retention since it was listed: so are all older ones.
            Err(e) if missing(&e) => break,
            Err(e) => {
                let named = io::Error::new(e.kind(), format!("{}: {e}", path.display()));
                return Err(QueryError::Io(named));
            }
        };
        let mut h = [0u8; format::HEADER_LEN];
        let header = match f.read_exact(&mut h) {
            Ok(()) => format::parse_header(&h),
            Err(_) => None,
        };
        let header = match header {
            Some(h) => {
                if h.seq != seq {
                    run.out.misnamed_segments += 1;
                }
                h
            }
            None => {
                // A damaged header: read through one guessed from the file name and the
                // frames, unless the file cannot hold a frame.
                let data = match std::fs::read(&path) {
                    Ok(d) => d,
                    Err(e) if missing(&e) => break,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                match format::header_or_guess(&data, seq) {
                    Some((h, _)) => {
                        run.out.damaged_headers += 1;
                        h
                    }
                    None => continue,
                }
            }
        };
        let mut opener = Opener::new(ring, header.seq, header.flags);
        if opener.encrypted() && ring.is_none() {
            return Err(QueryError::NeedsKeyRing(path));
        }
        let mut dict = Dictionary::default();
        match read_footer(&path, ring) {
            Some((footer, footer_at)) => {
                if !run.footer_may_match(&footer) {
                    run.out.segments_skipped += 1;
                    continue;
                }
                run.out.segments_read += 1;
                if q.since.is_some() || q.until.is_some() {
                    // Only the dictionary and the index entries the time range touches.
                    opener.random_access();
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
                                if let Ok((ty, payload)) = opener.open(ty, payload) {
                                    let _ = dict.add(ty, payload);
                                }
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
                        run.walk(
                            seq,
                            &data,
                            e.start,
                            Walk::SkipDamage,
                            &mut dict,
                            &mut opener,
                        );
                    }
                } else {
                    let base = format::HEADER_LEN as u64;
                    let len = f.metadata().map_err(QueryError::Io)?.len();
                    let data = read_at(
                        &mut f,
                        base,
                        (len - format::TRAILER_LEN as u64 - base) as usize,
                    )
                    .map_err(QueryError::Io)?;
                    let footer_rel = (footer_at - base) as usize;
                    run.walk(
                        seq,
                        &data[..footer_rel],
                        base,
                        Walk::SkipDamage,
                        &mut dict,
                        &mut opener,
                    );
                    // The footer opened in turn: in an encrypted segment its counter
                    // (authenticated) shows a frame dropped just before it.
                    if let FrameAt::Frame { ty, payload, .. } = format::frame_at(&data, footer_rel)
                    {
                        if matches!(opener.open(ty, payload), Err(Unopened::Decrypt)) {
                            run.out.undecryptable_frames += 1;
                        }
                    }
                    run.out.sequence_gaps += opener.out_of_order;
                }
            }
            None => {
                // Unsealed: the newest segment of a log whose writer is gone (or still
                // running, seen from another process): its whole frames, up to any damage.
                let data = match std::fs::read(&path) {
                    Ok(d) => d,
                    Err(e) if missing(&e) => break,
                    Err(e) => return Err(QueryError::Io(e)),
                };
                run.out.segments_read += 1;
                let base = format::HEADER_LEN as u64;
                run.walk(
                    seq,
                    &data[format::HEADER_LEN..],
                    base,
                    Walk::StopAtDamage,
                    &mut dict,
                    &mut opener,
                );
                run.out.sequence_gaps += opener.out_of_order;
            }
        }
        if run.needs_ring {
            return Err(QueryError::NeedsKeyRing(path));
        }
    }
    Ok(run.finish())
}

/// The fuzz target's body: arbitrary bytes as a segment.
#[cfg(fuzzing)]
pub(crate) fn fuzz_segment(data: &[u8]) {
    super::reader::each_view(data, 0, None, |v, _| {
        let _ = v.to_record();
    });
    let q = LogQuery::default();
    let mut run = Run::new(&q);
    for mode in [Walk::SkipDamage, Walk::StopAtDamage] {
        let mut dict = Dictionary::default();
        let mut opener = Opener::new(None, 0, 0);
        run.walk(0, data, 0, mode, &mut dict, &mut opener);
    }
}
