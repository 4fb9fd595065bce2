//! [`LogReader::verify`]: every frame of every segment checked, and what was found.

use std::io;
use std::path::PathBuf;

use super::footer::Footer;
use super::format::{self, frame, FrameAt};
use super::reader::LogReader;
use super::recovery::list;
use super::seal::{Opener, Unopened};
use super::segment::{frame_records, Dictionary};

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
    /// An encrypted segment's frames are not numbered 0, 1, 2, ...: this many were found
    /// out of place (a frame dropped, moved or reordered).
    FrameSequence(PathBuf, u64),
    /// The segment is encrypted and no key ring was given: only its checksums were checked.
    Encrypted(PathBuf),
    /// Segment numbers missing between two segments present (`after`, `before`): a
    /// segment deleted or renamed (retention deletes only the oldest, so no gap is ever
    /// left by it).
    MissingSegments(u64, u64),
    /// The header gives this sequence number, not the one in the file name: a renamed or
    /// swapped file (in an encrypted log, the frames are bound to the header's number).
    WrongSequence(PathBuf, u64),
    /// A sealed segment's footer counts this many records (first) but its frames hold
    /// this many (second): frames dropped (or damaged, reported too).
    RecordCount(PathBuf, u64, u64),
    /// Encrypted frames that do not decrypt with the key ring given (all of them, when it
    /// is the wrong ring).
    Undecryptable(PathBuf, u64),
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
    /// True when nothing but a torn tail was found (an encrypted segment checked without
    /// its ring is not damage: its checksums held).
    pub fn ok(&self) -> bool {
        self.problems
            .iter()
            .all(|p| matches!(p, VerifyProblem::Encrypted(_)))
    }
}

impl LogReader {
    /// Checks every frame of every segment.
    pub fn verify(&self) -> io::Result<Verify> {
        let segments = list(&self.dir)?;
        let mut out = Verify::default();
        let newest = segments.last().map(|s| s.0);
        for w in segments.windows(2) {
            if w[1].0 > w[0].0 + 1 {
                out.problems
                    .push(VerifyProblem::MissingSegments(w[0].0, w[1].0));
            }
        }
        for (seq, path) in &segments {
            out.segments += 1;
            let data = std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let header = match format::header_or_guess(&data, *seq) {
                None => {
                    if Some(*seq) == newest && data.len() < format::HEADER_LEN {
                        out.torn_tail = Some((path.clone(), data.len() as u64));
                    } else {
                        out.problems.push(VerifyProblem::BadHeader(path.clone()));
                    }
                    continue;
                }
                Some((h, true)) => {
                    // Its frames are still checked, through a header guessed from the file
                    // name and the frames.
                    out.problems.push(VerifyProblem::BadHeader(path.clone()));
                    h
                }
                Some((h, false)) => {
                    if h.seq != *seq {
                        out.problems
                            .push(VerifyProblem::WrongSequence(path.clone(), h.seq));
                    }
                    h
                }
            };
            let sealed = format::trailer(&data);
            let end = sealed.unwrap_or(data.len());
            let mut dict = Dictionary::default();
            let mut undecodable = 0;
            let mut seg_records = 0u64;
            let mut undecryptable = 0u64;
            let mut opener = Opener::new(self.key_ring.as_deref(), header.seq, header.flags);
            if opener.encrypted() && self.key_ring.is_none() {
                out.problems.push(VerifyProblem::Encrypted(path.clone()));
            }
            let mut at = format::HEADER_LEN;
            loop {
                match format::frame_at(&data[..end], at) {
                    FrameAt::Frame { ty, payload, next } => {
                        out.frames += 1;
                        match opener.open(ty, payload) {
                            Ok((frame::RECORDS, payload)) => {
                                match frame_records(payload, &dict, |_, _| seg_records += 1) {
                                    Ok(bad) => undecodable += bad,
                                    Err(_) => out
                                        .problems
                                        .push(VerifyProblem::CorruptFrame(path.clone(), at as u64)),
                                }
                            }
                            Ok((ty, payload)) => {
                                if dict.add(ty, payload).is_err() {
                                    out.problems
                                        .push(VerifyProblem::CorruptFrame(path.clone(), at as u64));
                                }
                            }
                            Err(Unopened::NoKeyRing) => {}
                            Err(Unopened::Decrypt) => undecryptable += 1,
                            Err(Unopened::Misplaced) => out
                                .problems
                                .push(VerifyProblem::CorruptFrame(path.clone(), at as u64)),
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
            if let Some(at) = sealed {
                // The footer, opened in turn by the same opener: in an encrypted segment its
                // counter (authenticated) must be the next one, so a frame dropped just before
                // it shows; its record count must be what the frames hold.
                let body = &data[..data.len() - format::TRAILER_LEN];
                let footer = match format::frame_at(body, at) {
                    FrameAt::Frame { ty, payload, next } if next == body.len() => {
                        match opener.open(ty, payload) {
                            Ok((frame::FOOTER, p)) => Some(Footer::decode(p).ok()),
                            Err(Unopened::NoKeyRing) => None,
                            Err(Unopened::Decrypt) => {
                                undecryptable += 1;
                                None
                            }
                            _ => Some(None),
                        }
                    }
                    _ => Some(None),
                };
                match footer {
                    Some(None) => out.problems.push(VerifyProblem::BadFooter(path.clone())),
                    Some(Some(f)) if f.records != seg_records + undecodable => {
                        out.problems.push(VerifyProblem::RecordCount(
                            path.clone(),
                            f.records,
                            seg_records + undecodable,
                        ))
                    }
                    _ => {}
                }
            }
            out.records += seg_records;
            if undecryptable > 0 {
                out.problems
                    .push(VerifyProblem::Undecryptable(path.clone(), undecryptable));
            }
            if opener.out_of_order > 0 {
                out.problems.push(VerifyProblem::FrameSequence(
                    path.clone(),
                    opener.out_of_order,
                ));
            }
            if undecodable > 0 {
                out.problems
                    .push(VerifyProblem::Undecodable(path.clone(), undecodable));
            }
        }
        Ok(out)
    }
}
