//! Opening a log after a crash: every segment that was never sealed is cut back to its last
//! whole, checksummed frame and sealed, so that writing continues in a new segment and every
//! segment but the one being written has a footer.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::footer::{trailer, Footer, FooterBuilder};
use super::format::{self, frame, FrameAt};
use super::fs::LogFs;
use super::seal::{self, Opener, FLAG_ENCRYPTED};
use super::segment::{walk, Walk};
use super::OpenError;
use crate::security::crypto::KeyRing;

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files found.
    pub segments: u64,
    /// Segments found unsealed (a crash, a kill or a full disk stopped their writer) and
    /// sealed now.
    pub recovered_segments: u64,
    /// Records in the recovered segments, kept.
    pub recovered_records: u64,
    /// Records in the whole log (from the sealed segments' footers and the recovered ones).
    pub records: u64,
    /// Bytes cut off the end of recovered segments: a frame cut short by the crash, or a
    /// damaged frame and everything after it.
    pub bytes_cut: u64,
    /// Files removed because they could not hold a frame: shorter than a header, or a
    /// header with nothing after it, which is not a valid one (a crash while a segment was
    /// being created).
    pub removed: Vec<PathBuf>,
    /// Segments whose header is damaged but which hold frames: kept as they are (never
    /// removed, never cut or sealed), their frames read as far as they check out (the
    /// sequence taken from the file name, encryption from the frames). `tickwatch-log
    /// verify` reports them.
    pub damaged_headers: Vec<PathBuf>,
    /// Records counted in the segments of [`damaged_headers`](Self::damaged_headers)
    /// (included in [`records`](Self::records)).
    pub damaged_header_records: u64,
    /// The sequence number the next segment gets.
    pub next_sequence: u64,
    /// How long opening took.
    pub elapsed: Duration,
}

/// The log's segment files, oldest first: `(sequence, path)`.
pub(crate) fn list(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(format::parse_file_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A sealed segment's footer, read through its trailer without reading the segment (opened
/// with `ring` if the segment is encrypted), and the footer frame's offset.
pub(crate) fn read_footer(path: &Path, ring: Option<&KeyRing>) -> Option<(Footer, u64)> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < (format::HEADER_LEN + format::TRAILER_LEN) as u64 {
        return None;
    }
    let mut h = [0u8; format::HEADER_LEN];
    f.read_exact(&mut h).ok()?;
    let header = match format::parse_header(&h) {
        Some(h) => h,
        // A damaged header: guessed from the file name and the first frame (rare: the
        // whole file is read for it).
        None => format::header_or_guess(&std::fs::read(path).ok()?, format::path_seq(path))?.0,
    };
    let mut t = [0u8; format::TRAILER_LEN];
    f.seek(SeekFrom::Start(len - format::TRAILER_LEN as u64))
        .ok()?;
    f.read_exact(&mut t).ok()?;
    if t[8..] != format::END_MAGIC {
        return None;
    }
    let at = u64::from_le_bytes(t[..8].try_into().ok()?);
    let end = len - format::TRAILER_LEN as u64;
    if at < format::HEADER_LEN as u64 || at >= end || end - at > format::MAX_FRAME_BODY as u64 {
        return None;
    }
    let mut buf = vec![0u8; (end - at) as usize];
    f.seek(SeekFrom::Start(at)).ok()?;
    f.read_exact(&mut buf).ok()?;
    let FrameAt::Frame { ty, payload, next } = format::frame_at(&buf, 0) else {
        return None;
    };
    if next != buf.len() {
        return None;
    }
    let mut opener = Opener::new(ring, header.seq, header.flags);
    match opener.open(ty, payload) {
        Ok((frame::FOOTER, payload)) => Footer::decode(payload).ok().map(|f| (f, at)),
        _ => None,
    }
}

/// The first [`format::HEADER_LEN`] bytes of a file (fewer if it is shorter).
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(format::HEADER_LEN);
    f.take(format::HEADER_LEN as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Recovers every unsealed segment of `dir` (`ring` opens encrypted ones).
pub(crate) fn recover(
    dir: &Path,
    fs: &dyn LogFs,
    ring: Option<&KeyRing>,
) -> Result<RecoveryReport, OpenError> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let segments = list(dir).map_err(|e| OpenError::Dir(dir.to_path_buf(), e))?;
    report.segments = segments.len() as u64;
    report.next_sequence = segments.last().map_or(0, |(s, _)| s + 1);
    for (seq, path) in &segments {
        // The header first (32 bytes): a sealed segment is known by its footer and not read.
        let head = read_head(path).map_err(|e| OpenError::Segment(path.clone(), e))?;
        let header = match format::parse_header(&head) {
            Some(h) => Some((h, false)),
            None => {
                let data = std::fs::read(path).map_err(|e| OpenError::Segment(path.clone(), e))?;
                format::header_or_guess(&data, *seq).map(|(h, _)| (h, true))
            }
        };
        let header = match header {
            None => {
                // Not even a whole header and nothing after it: nothing in it was ever a
                // record (a crash while the segment was being created).
                fs.remove(path)
                    .map_err(|e| OpenError::Segment(path.clone(), e))?;
                report.bytes_cut += head.len() as u64;
                report.removed.push(path.clone());
                continue;
            }
            Some((_, true)) => {
                // A damaged header on a file that holds frames: kept as it is (its records
                // are read through the guessed header); never removed, cut or sealed here.
                let n = match read_footer(path, ring) {
                    Some((footer, _)) => footer.records,
                    None => {
                        let data =
                            std::fs::read(path).map_err(|e| OpenError::Segment(path.clone(), e))?;
                        let mut n = 0;
                        super::reader::each_view(&data, *seq, ring, |_, _| n += 1);
                        n
                    }
                };
                report.records += n;
                report.damaged_header_records += n;
                report.damaged_headers.push(path.clone());
                continue;
            }
            Some((header, false)) => header,
        };
        if let Some((footer, _)) = read_footer(path, ring) {
            report.records += footer.records;
            continue;
        }
        let data = std::fs::read(path).map_err(|e| OpenError::Segment(path.clone(), e))?;
        if format::trailer(&data).is_some() {
            // Sealed, but its footer does not read (damaged, or encrypted without the ring):
            // left as it is; readers step over what is damaged.
            continue;
        }
        let rebuilt = rebuild(&data, ring);
        if rebuilt.unopened {
            return Err(OpenError::Encrypted(path.clone()));
        }
        let good_end = rebuilt.good_end;
        let mut file = fs
            .open_append(path)
            .map_err(|e| OpenError::Segment(path.clone(), e))?;
        let io = |e| OpenError::Segment(path.clone(), e);
        if (good_end as u64) < data.len() as u64 {
            file.set_len(good_end as u64).map_err(io)?;
            report.bytes_cut += (data.len() - good_end) as u64;
        }
        let mut tail = Vec::new();
        let mut payload = Vec::new();
        rebuilt.footer.encode_payload(&mut payload);
        let sealing = ring.filter(|_| header.flags & FLAG_ENCRYPTED != 0);
        let (seq, counter) = (header.seq, rebuilt.next_counter);
        seal::append_frame(sealing, seq, counter, frame::FOOTER, &payload, &mut tail)
            .map_err(|e| OpenError::Segment(path.clone(), std::io::Error::other(e)))?;
        tail.extend_from_slice(&trailer(good_end as u64));
        file.append(&tail).map_err(io)?;
        file.sync().map_err(io)?;
        report.recovered_segments += 1;
        report.recovered_records += rebuilt.footer.records;
        report.records += rebuilt.footer.records;
    }
    if report.recovered_segments > 0 || !report.removed.is_empty() {
        fs.sync_dir(dir)
            .map_err(|e| OpenError::Dir(dir.to_path_buf(), e))?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What [`rebuild`] found in an unsealed segment.
#[derive(Debug)]
pub(crate) struct Rebuilt {
    /// The footer of its whole frames.
    pub(crate) footer: Footer,
    /// Where they end: the first damaged or incomplete frame, or a footer frame left by a
    /// seal the crash interrupted.
    pub(crate) good_end: usize,
    /// The counter the footer takes, if the segment is encrypted.
    pub(crate) next_counter: u64,
    /// A whole, checksummed frame did not open (encrypted, and no ring or the wrong one):
    /// nothing may be cut.
    pub(crate) unopened: bool,
}

/// Scans an unsealed segment's frames.
pub(crate) fn rebuild(data: &[u8], ring: Option<&KeyRing>) -> Rebuilt {
    let mut b = FooterBuilder::new();
    let mut footer_at = None;
    let mut unopened = false;
    let (seq, flags) = format::parse_header(data).map_or((0, 0), |h| (h.seq, h.flags));
    let mut opener = Opener::new(ring, seq, flags);
    let mut counter_at_footer = None;
    let end = walk(
        data,
        format::HEADER_LEN,
        data.len(),
        Walk::StopAtDamage,
        |at, len, ty, payload| {
            if footer_at.is_some() || unopened {
                return;
            }
            let before = opener.next_counter();
            match opener.open(ty, payload) {
                Ok((frame::FOOTER, _)) => {
                    footer_at = Some(at);
                    counter_at_footer = Some(before);
                }
                Ok((ty, payload)) => b.add(at as u64, len as u64, ty, payload),
                Err(_) => unopened = true,
            }
        },
    );
    Rebuilt {
        footer: b.finish(),
        good_end: footer_at.unwrap_or(end.good_end),
        next_counter: counter_at_footer.unwrap_or(opener.next_counter()),
        unopened,
    }
}
