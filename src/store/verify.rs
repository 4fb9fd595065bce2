//! [`LogReader::verify`]: every frame of every segment checked, and what was found.

use std::io;
use std::path::PathBuf;

use super::format::{self, frame, FrameAt};
use super::reader::LogReader;
use super::recovery::{list, read_footer};
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
                    if read_footer(path, self.key_ring.as_deref()).is_none()
                        && (self.key_ring.is_some()
                            || !matches!(format::frame_at(&data, at), FrameAt::Frame { ty: frame::SEALED, next, .. } if next == data.len() - format::TRAILER_LEN))
                    {
                        out.problems.push(VerifyProblem::BadFooter(path.clone()));
                    }
                    at
                }
                None => data.len(),
            };
            let mut dict = Dictionary::default();
            let mut undecodable = 0;
            let header = format::parse_header(&data).unwrap_or(format::Header { seq: 0, flags: 0 });
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
                                match frame_records(payload, &dict, |_, _| out.records += 1) {
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
                            Err(_) => out
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
