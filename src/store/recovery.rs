//! Opening a log after a crash: every segment that was never sealed is cut back to its last
//! whole, checksummed frame and sealed, so that writing continues in a new segment and every
//! segment but the one being written has a footer.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::footer::{Footer, FooterBuilder};
use super::format::{self, frame, FrameAt};
use super::fs::LogFs;
use super::segment::{walk, Walk};
use super::OpenError;

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
    /// Files removed because not even their header was whole (a crash while a segment was
    /// being created).
    pub removed: Vec<PathBuf>,
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

/// A sealed segment's footer, read through its trailer without reading the segment.
pub(crate) fn read_footer(path: &Path) -> Option<(Footer, u64)> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < (format::HEADER_LEN + format::TRAILER_LEN) as u64 {
        return None;
    }
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
    match format::frame_at(&buf, 0) {
        FrameAt::Frame {
            ty: frame::FOOTER,
            payload,
            next,
        } if next == buf.len() => Footer::decode(payload).ok().map(|f| (f, at)),
        _ => None,
    }
}

/// Recovers every unsealed segment of `dir`.
pub(crate) fn recover(dir: &Path, fs: &dyn LogFs) -> Result<RecoveryReport, OpenError> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let segments = list(dir).map_err(|e| OpenError::Dir(dir.to_path_buf(), e))?;
    report.segments = segments.len() as u64;
    report.next_sequence = segments.last().map_or(0, |(s, _)| s + 1);
    for (_, path) in &segments {
        if let Some((footer, _)) = read_footer(path) {
            report.records += footer.records;
            continue;
        }
        let data = std::fs::read(path).map_err(|e| OpenError::Segment(path.clone(), e))?;
        if format::parse_header(&data).is_none() {
            // Not even a whole header: nothing in it was ever a record.
            fs.remove(path)
                .map_err(|e| OpenError::Segment(path.clone(), e))?;
            report.bytes_cut += data.len() as u64;
            report.removed.push(path.clone());
            continue;
        }
        let (footer, good_end) = rebuild(&data);
        let mut file = fs
            .open_append(path)
            .map_err(|e| OpenError::Segment(path.clone(), e))?;
        let io = |e| OpenError::Segment(path.clone(), e);
        if (good_end as u64) < data.len() as u64 {
            file.set_len(good_end as u64).map_err(io)?;
            report.bytes_cut += (data.len() - good_end) as u64;
        }
        let mut tail = Vec::new();
        footer.encode(&mut tail, good_end as u64);
        file.append(&tail).map_err(io)?;
        file.sync().map_err(io)?;
        report.recovered_segments += 1;
        report.recovered_records += footer.records;
        report.records += footer.records;
    }
    if report.recovered_segments > 0 || !report.removed.is_empty() {
        fs.sync_dir(dir)
            .map_err(|e| OpenError::Dir(dir.to_path_buf(), e))?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The footer of an unsealed segment's whole frames, and where they end: the first damaged
/// or incomplete frame, or a footer frame left by a seal the crash interrupted, ends it.
pub(crate) fn rebuild(data: &[u8]) -> (Footer, usize) {
    let mut b = FooterBuilder::new();
    let mut footer_at = None;
    let end = walk(
        data,
        format::HEADER_LEN,
        data.len(),
        Walk::StopAtDamage,
        |at, len, ty, payload| {
            if ty == frame::FOOTER {
                footer_at.get_or_insert(at);
            } else if footer_at.is_none() {
                b.add(at as u64, len as u64, ty, payload);
            }
        },
    );
    (b.finish(), footer_at.unwrap_or(end.good_end))
}
