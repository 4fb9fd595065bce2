//! The segment being written ([`Active`]) and how pending bytes reach its file: shared by
//! the writer (every batch) and the sealer (a rolled-over segment's last bytes and footer).

use std::io;
use std::time::Instant;

use super::footer::FooterBuilder;
use super::fs::LogFile;

/// The segment being written.
#[derive(Debug)]
pub(super) struct Active {
    pub(super) seq: u64,
    /// The next sealed frame's counter (encrypted segments).
    pub(super) counter: u64,
    pub(super) file: Box<dyn LogFile>,
    pub(super) created: Instant,
    /// Bytes of the segment produced so far (in the file, pending, and in `scratch`
    /// once committed).
    pub(super) len: u64,
    /// Bytes known to be in the file.
    pub(super) written: u64,
    /// A write failed part way: cut the file back to `written` before the next one.
    pub(super) torn: bool,
    pub(super) footer: FooterBuilder,
    pub(super) series: Vec<bool>,
    pub(super) callsites: Vec<bool>,
    pub(super) threads: Vec<bool>,
    /// Records in the pending bytes (lost if the segment is given up).
    pub(super) pending_records: u64,
}

/// Writes `pending` at the end of the segment's file, first cutting off what a failed write
/// left, and empties it on success.
pub(super) fn write_out(seg: &mut Active, pending: &mut Vec<u8>) -> io::Result<()> {
    if seg.torn {
        seg.file.set_len(seg.written)?;
        seg.torn = false;
    }
    match seg.file.append(pending) {
        Ok(()) => {
            seg.written += pending.len() as u64;
            pending.clear();
            Ok(())
        }
        Err(e) => {
            seg.torn = true;
            Err(e)
        }
    }
}
