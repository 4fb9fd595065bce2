//! Reading a log directory as it is on disk ([`LogReader`]): a walk of every record, counts,
//! and (in `scan` and `verify`) queries and checks. Nothing here writes to the log.

use std::io;
use std::path::{Path, PathBuf};

use super::footer::Footer;
use super::format::{self, frame};
use super::query::{LogQuery, LogResults, QueryError};
use super::recovery::list;
use super::scan::run_query;
use super::seal::{Opener, Unopened};
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
    /// What could not be read: records the counts above leave out.
    pub damage: ReadDamage,
}

/// What a read of a log ([`LogReader::for_each_checked`], [`LogReader::stats`]) could not
/// read or found out of place. All zero for a whole log: anything else means records were
/// left out or the log was altered ([`LogReader::verify`] says where).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ReadDamage {
    /// Segment files that could not be read (permissions, I/O errors), with the error:
    /// every record in them is left out.
    pub unreadable_segments: Vec<(PathBuf, String)>,
    /// Segments whose header is damaged: read through a header guessed from the file name
    /// and the frames (see [`RecoveryReport::damaged_headers`](super::RecoveryReport)).
    pub damaged_headers: u64,
    /// Damaged frames stepped over (sealed segments) or at which an unsealed one stopped.
    pub corrupt_frames: u64,
    /// Records that did not decode against their segment's dictionary.
    pub undecodable: u64,
    /// Encrypted frames that did not decrypt with the key ring given: the wrong key ring
    /// (when every frame fails), or frames altered or moved.
    pub undecryptable_frames: u64,
    /// Encrypted segments: frames whose counter was not the next one, the footer's
    /// included (a frame dropped, moved or reordered).
    pub sequence_gaps: u64,
    /// Records a sealed segment's footer counts that were not read (in damaged, dropped
    /// or undecodable frames).
    pub lost_records: u64,
    /// Segment numbers missing between the oldest segment and the newest (retention deletes
    /// only the oldest, so a gap is a segment deleted or renamed).
    pub missing_segments: u64,
    /// Segments whose header gives another sequence number than their file name (renamed
    /// or swapped files).
    pub misnamed_segments: u64,
}

impl ReadDamage {
    /// True when nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        *self == ReadDamage::default()
    }

    pub(crate) fn add(&mut self, o: ReadDamage) {
        self.unreadable_segments.extend(o.unreadable_segments);
        self.damaged_headers += o.damaged_headers;
        self.corrupt_frames += o.corrupt_frames;
        self.undecodable += o.undecodable;
        self.undecryptable_frames += o.undecryptable_frames;
        self.sequence_gaps += o.sequence_gaps;
        self.lost_records += o.lost_records;
        self.missing_segments += o.missing_segments;
        self.misnamed_segments += o.misnamed_segments;
    }

    /// One line per kind of damage found, for people.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (p, e) in &self.unreadable_segments {
            out.push(format!(
                "{}: cannot read: {e} (its records are left out)",
                p.display()
            ));
        }
        let mut n = |v: u64, what: &str| {
            if v > 0 {
                out.push(format!("{v} {what}"));
            }
        };
        n(
            self.damaged_headers,
            "segments with a damaged header (read through a guessed header)",
        );
        n(self.corrupt_frames, "damaged frames skipped");
        n(
            self.undecodable,
            "records that do not decode against their segment's dictionary",
        );
        n(
            self.undecryptable_frames,
            "frames that do not decrypt with the key ring given (decryption failed: wrong key ring, or frames altered)",
        );
        n(
            self.sequence_gaps,
            "encrypted frames out of sequence (a frame dropped, moved or reordered)",
        );
        n(
            self.lost_records,
            "records counted by the segments' footers were not read",
        );
        n(
            self.missing_segments,
            "segment numbers missing between the oldest and newest segment (deleted?)",
        );
        n(self.misnamed_segments, "segments whose header names another sequence than their file name (renamed or swapped?)");
        out
    }
}

/// Segment numbers missing between the oldest and newest of `segments` (sorted).
pub(crate) fn missing_segments(segments: &[(u64, PathBuf)]) -> u64 {
    segments
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0).saturating_sub(1))
        .sum()
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
    /// stepped over as a query does; a segment that cannot be read skipped). Returns how
    /// many records it saw; [`for_each_checked`](Self::for_each_checked) also says what it
    /// could not read.
    pub fn for_each(&self, f: impl FnMut(&Record, Option<&str>)) -> io::Result<u64> {
        self.for_each_checked(f).map(|(n, _)| n)
    }

    /// As [`for_each`](Self::for_each), and what was skipped or found out of place.
    pub fn for_each_checked(
        &self,
        mut f: impl FnMut(&Record, Option<&str>),
    ) -> io::Result<(u64, ReadDamage)> {
        let mut n = 0;
        let segments = list(&self.dir)?;
        let mut damage = ReadDamage {
            missing_segments: missing_segments(&segments),
            ..ReadDamage::default()
        };
        for (seq, path) in segments {
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => {
                    damage.unreadable_segments.push((path, e.to_string()));
                    continue;
                }
            };
            self.readable(&path, &data)?;
            damage.add(each_view(
                &data,
                seq,
                self.key_ring.as_deref(),
                |v, dict| {
                    let name = dict.threads.get(v.thread).and_then(|n| n.as_deref());
                    f(&v.to_record(), name);
                    n += 1;
                },
            ));
        }
        Ok((n, damage))
    }

    /// An error for an encrypted segment when no ring was given.
    pub(crate) fn readable(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let sealed = format::header_or_guess(data, format::path_seq(path))
            .is_some_and(|(h, _)| h.flags & super::seal::FLAG_ENCRYPTED != 0);
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
        let segments = list(&self.dir)?;
        s.damage.missing_segments = missing_segments(&segments);
        for (seq, path) in segments {
            s.segments += 1;
            s.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => {
                    s.damage.unreadable_segments.push((path, e.to_string()));
                    continue;
                }
            };
            self.readable(&path, &data)?;
            let d = each_view(&data, seq, self.key_ring.as_deref(), |v, _| {
                s.records += 1;
                first = first.min(v.ts);
                last = last.max(v.ts);
                *s.kinds.entry(kind_name(v.kind()).to_owned()).or_default() += 1;
            });
            s.damage.add(d);
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

/// Visits every decodable record of a segment's bytes (file name sequence `seq`) in the
/// order written: a sealed one stepping over damage, an unsealed one stopping at it. A
/// damaged header is guessed ([`format::header_or_guess`]). Returns what it could not read;
/// a sealed segment's footer is checked against what was read (its record count, and in an
/// encrypted segment its frame counter, authenticated: a frame dropped just before it shows).
pub(crate) fn each_view(
    data: &[u8],
    seq: u64,
    ring: Option<&KeyRing>,
    mut f: impl FnMut(&View<'_>, &Dictionary),
) -> ReadDamage {
    let mut d = ReadDamage::default();
    let Some((header, guessed)) = format::header_or_guess(data, seq) else {
        return d;
    };
    if guessed {
        d.damaged_headers += 1;
    } else if header.seq != seq {
        d.misnamed_segments += 1;
    }
    let sealed_at = format::trailer(data);
    let (end, mode) = match sealed_at {
        Some(at) => (at, Walk::SkipDamage),
        None => (data.len(), Walk::StopAtDamage),
    };
    let mut dict = Dictionary::default();
    let mut opener = Opener::new(ring, header.seq, header.flags);
    let mut stopped = false;
    let mut read = 0u64;
    let w = walk(data, format::HEADER_LEN, end, mode, |_, _, ty, payload| {
        if stopped {
            return;
        }
        match opener.open(ty, payload) {
            Ok((frame::RECORDS, payload)) => {
                match frame_records(payload, &dict, |_, v| {
                    read += 1;
                    f(&v, &dict)
                }) {
                    Ok(bad) => d.undecodable += bad,
                    Err(_) => d.corrupt_frames += 1,
                }
            }
            Ok((ty, payload)) => {
                if dict.add(ty, payload).is_err() {
                    d.corrupt_frames += 1;
                }
            }
            // An unsealed segment stops at its first frame that does not open, as at damage.
            Err(e) => {
                if matches!(e, Unopened::Decrypt | Unopened::NoKeyRing) {
                    d.undecryptable_frames += 1;
                } else {
                    d.corrupt_frames += 1;
                }
                stopped = mode == Walk::StopAtDamage;
            }
        }
    });
    d.corrupt_frames += w.corrupt;
    if let Some(at) = sealed_at {
        // Some(None): no valid footer; None: one that does not decrypt (counted as such).
        let footer = match format::frame_at(&data[..data.len() - format::TRAILER_LEN], at) {
            format::FrameAt::Frame { ty, payload, .. } => match opener.open(ty, payload) {
                Ok((frame::FOOTER, p)) => Some(Footer::decode(p).ok()),
                Err(Unopened::Decrypt | Unopened::NoKeyRing) => {
                    d.undecryptable_frames += 1;
                    None
                }
                _ => Some(None),
            },
            _ => Some(None),
        };
        match footer {
            Some(Some(footer)) => d.lost_records += footer.records.saturating_sub(read),
            Some(None) => d.corrupt_frames += 1,
            None => {}
        }
    }
    d.sequence_gaps += opener.out_of_order;
    d
}
