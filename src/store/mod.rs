//! The durable, queryable log: a sink that writes every record to binary segment files
//! ([`SegmentLog`]), recovery after a crash ([`RecoveryReport`]), and queries over the
//! segments and the live recent window ([`LogQuery`], [`LogReader`],
//! [`Telemetry::query_logs`](crate::Telemetry::query_logs)).
//!
//! # Layout
//!
//! A log is a directory of segment files named by sequence number
//! (`00000000000000000007.twseg`). The collector appends each batch it drains to the newest
//! segment, in the ring's own binary form (no JSON on the way) with times converted to Unix
//! nanoseconds, inside frames that carry a length and a CRC-32C. Names, tags and `event!`
//! call sites are written into a segment before the first record that uses them, so any one
//! segment decodes alone. A segment is sealed once it reaches
//! [`segment_bytes`](SegmentLogOptions::segment_bytes) (64 MiB) or
//! [`segment_age`](SegmentLogOptions::segment_age) (1 h): a footer then records its record
//! count, time range, levels, kinds and series, and a sparse index (one entry per ~256 KiB),
//! so a query skips a segment or a stretch of one without reading it. Retention deletes whole
//! sealed segments, by total size and by age.
//!
//! Sealing happens off the collector thread. At a roll the collector writes the segment's
//! last records to the OS, begins the next segment and hands the full one to a background
//! sealer thread (started at the first roll, joined when the log closes), which appends the
//! footer, `fdatasync`s the segment (the whole 64 MiB, the expensive part), closes it and
//! applies retention; the sync of the directory that makes a new segment's name durable
//! runs there too, after the seal before it (on ext4 it would wait for that seal's journal
//! commit). Records are never written after a footer: the old segment's records
//! all reach the OS before the next segment takes any. A crash between the roll and the
//! seal leaves the older segment unsealed next to the newer one; the next open seals both
//! (see *Recovery*). Under the `Sync` policies a sync, and so a
//! [`Telemetry::flush`](crate::Telemetry::flush), first waits for the sealer, so "on disk"
//! covers the rolled-over segments too. A failed seal costs no record (a segment left without
//! its footer is sealed by the next open); it is counted in
//! [`SegmentLogStats::failed_seals`] and reported as a sink error by the log's next
//! `end_pass` or `flush`.
//!
//! # What survives what
//!
//! | [`Durability`] | a crash of the process (`kill -9`, a panic, an abort) | a power loss or kernel crash |
//! |---|---|---|
//! | `EveryBatch` (default) | every record the collector has written: each batch reaches the OS before the collector moves on | what the OS had written back (typically up to ~30 s lost) |
//! | `SyncEvery(d)` | as `EveryBatch` | all but the last `d` (and the last `flush_interval`) |
//! | `SyncEveryBatch` | as `EveryBatch` | every batch the collector finished (one `fdatasync` per batch: group commit) |
//! | `Buffered` | all but up to 1 MiB or one `flush_interval` (100 ms) of records | as the crash, plus what the OS had not written back |
//!
//! Records still in a thread's ring when the process dies were never delivered and are lost
//! under every policy. [`Telemetry::flush`](crate::Telemetry::flush) returns once every
//! record accepted before it is written to the OS, and, under the two `Sync` policies, on
//! disk; when the disk refuses them (full, failing) it returns
//! [`FlushError::SinkFailed`](crate::FlushError::SinkFailed) instead, and the records stay
//! in memory and are written at the next pass or flush once it takes writes again (up to
//! [`MAX_PENDING_BYTES`]; past that the unwritten part of the segment is given up and counted
//! in [`SegmentLogStats::lost_records`], and the next flush fails too). At shutdown the log
//! tries once more to write what is pending; what the disk still refuses is counted in
//! `lost_records` and `shutdown`/`close` return
//! [`ShutdownError::SinkFailed`](crate::ShutdownError::SinkFailed). Nothing is lost
//! uncounted.
//! A damaged records frame costs the records in that frame only (at most ~32 KiB of
//! them). A dictionary frame (a series, call site or thread definition, needed by every later
//! record of the segment that refers to it) is written twice in a row: one damaged copy
//! costs nothing (the other is read); with both damaged, the records that need it are
//! counted as undecodable ([`LogResults::undecodable`], [`ReadDamage::undecodable`]) and in
//! [`ReadDamage::lost_records`] against the footer's count, never returned wrong.
//!
//! # Encryption at rest
//!
//! [`SegmentLogOptions::encrypt`] seals every frame under a [`KeyRing`](crate::KeyRing)'s
//! active key (AES-256-GCM; the key id travels in each frame, so rotation needs nothing
//! more). The associated data binds the segment's sequence number and the frame's counter,
//! which is also kept in the clear: a frame moved to another segment or position fails to
//! decrypt, and one dropped or reordered shows as a gap in the counters
//! ([`VerifyProblem::FrameSequence`], [`LogResults::sequence_gaps`]). The footer is a frame
//! like the others: its authenticated counter is the number of frames sealed before it, so
//! the frame just before it cannot be dropped unseen either. A segment is bound to its
//! sequence number, which must match its file name ([`VerifyProblem::WrongSequence`]:
//! renamed or swapped files), and segment numbers must follow each other from the oldest
//! segment on ([`VerifyProblem::MissingSegments`]: retention deletes only the oldest). These
//! two checks apply to plain logs too, where checksums cannot resist a forger but show an
//! accident. A frame that does not decrypt is reported as such
//! ([`VerifyProblem::Undecryptable`], [`LogResults::undecryptable_frames`]): with the wrong
//! key ring, every frame. Checksums stay on the
//! outer bytes, so a torn tail is found and cut without the key; recovery of a segment whose
//! frames do not open with the ring given is refused ([`OpenError::Encrypted`]) rather than
//! cut. Readers take the ring: [`LogReader::key_ring`], `tickwatch-log --keys KEYFILE`; the
//! live instance's queries use the log's.
//!
//! # Recovery
//!
//! Opening a log ([`SegmentLogOptions::open`]) seals every segment that a crash left unsealed:
//! it is cut back at its last whole, checksummed frame (a torn or corrupt tail is cut and
//! counted in [`RecoveryReport::bytes_cut`]) and given a footer; writing continues in a new
//! segment. Only unsealed segments are scanned (sealed ones are known by their footers), so
//! opening costs one segment's scan whatever the log's size. In a sealed segment a damaged
//! frame is stepped over when the log is read (counted in
//! [`LogResults::corrupt_frames`]): the records after it are kept.
//!
//! A segment whose header is damaged is never removed, cut or sealed by recovery: it is kept
//! as it is and listed in [`RecoveryReport::damaged_headers`], and every reader reads its
//! frames through a header guessed from its file name (the sequence) and its frames
//! (encrypted or not). Only a file that cannot hold a frame (shorter than a header, or a
//! header-sized file whose header is not valid: a crash while the segment was created) is
//! removed ([`RecoveryReport::removed`]). What a read could not read is in
//! [`ReadDamage`] ([`LogReader::for_each_checked`], [`LogStats::damage`]).

mod active;
mod backup;
mod dictionary;
mod footer;
mod format;
pub mod fs;
mod options;
mod query;
mod reader;
mod recovery;
mod retention;
mod scan;
mod seal;
mod sealer;
mod segment;
mod text;
mod verify;
mod writer;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

pub use backup::{backup, backup_with, verify_backup, BackupError, BackupFile, Manifest, MANIFEST};
pub use options::{
    SegmentLogOptions, DEFAULT_SEGMENT_AGE, DEFAULT_SEGMENT_BYTES, MAX_PENDING_BYTES,
};
pub use query::{CmpOp, Cursor, Filter, LogQuery, LogResults, Order, QueryError};
pub use reader::{LogReader, LogStats, ReadDamage};
pub use recovery::RecoveryReport;
pub use verify::{Verify, VerifyProblem};
pub use writer::SegmentLog;
// For the spool (crate::recovery), which keeps refused batches in segments.
pub(crate) use reader::each_view;
pub(crate) use recovery::{list as list_segments, read_footer};

/// When a [`SegmentLog`]'s records reach the operating system and the disk (see the table in
/// the [module docs](self)). A *batch* here is everything the collector drained in one pass
/// over the threads' rings: the log hands it to the OS in one `write(2)` at the end of the
/// pass ([`Sink::end_pass`](crate::sink::Sink::end_pass)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every batch is written to the OS (`write(2)`) before the collector moves on; never
    /// synced but at a segment's seal. A `kill -9` loses nothing the collector wrote.
    #[default]
    EveryBatch,
    /// As `EveryBatch`, and `fdatasync` when this long has passed since the last one (checked
    /// at each batch and each flush).
    SyncEvery(Duration),
    /// As `EveryBatch`, and `fdatasync` after every batch: a batch is on disk before the
    /// collector moves on (group commit: one sync covers every record of the batch).
    SyncEveryBatch,
    /// Gathered in memory and written in blocks of 1 MiB, at each flush (every
    /// `flush_interval` while records arrive) and at a seal.
    Buffered,
}

/// Why a log could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory could not be created or listed.
    Dir(PathBuf, std::io::Error),
    /// A segment could not be read or repaired.
    Segment(PathBuf, std::io::Error),
    /// An unsealed segment's frames are encrypted and the key ring given (if any) does not
    /// open them: it is left as it is rather than cut.
    Encrypted(PathBuf),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Dir(p, e) => write!(
                f,
                "cannot open the log directory {}: {e} (check that it exists or can be created, and its permissions)",
                p.display()
            ),
            OpenError::Segment(p, e) => write!(
                f,
                "cannot recover segment {}: {e} (check its permissions and the free space)",
                p.display()
            ),
            OpenError::Encrypted(p) => write!(
                f,
                "cannot recover segment {}: its frames are encrypted and do not open with the key ring given (give the ring it was written with: SegmentLogOptions::encrypt)",
                p.display()
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Dir(_, e) | OpenError::Segment(_, e) => Some(e),
            OpenError::Encrypted(_) => None,
        }
    }
}

/// What the writer shares with queries: the live state of the segment being written and
/// the counters.
#[derive(Debug)]
pub(crate) struct LogShared {
    pub(crate) dir: PathBuf,
    pub(crate) live: Mutex<Live>,
    pub(crate) stats: Counters,
    /// The ring that opens the log's sealed segments, if it encrypts.
    pub(crate) key_ring: Option<std::sync::Arc<crate::KeyRing>>,
}

impl LogShared {
    fn new(dir: PathBuf, key_ring: Option<std::sync::Arc<crate::KeyRing>>) -> Self {
        LogShared {
            dir,
            live: Mutex::new(Live::default()),
            stats: Counters::default(),
            key_ring,
        }
    }
}

/// The segment being written, as a query sees it: the bytes in its file and the bytes the
/// writer holds that are not there yet. Both change only under the lock, so a query that
/// copies them under it reads one consistent prefix of the segment.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) active: Option<u64>,
    pub(crate) written: u64,
    pub(crate) pending: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records: AtomicU64,
    pub(crate) lost_records: AtomicU64,
    pub(crate) sealed: AtomicU64,
    pub(crate) failed_seals: AtomicU64,
    pub(crate) syncs: AtomicU64,
}

/// A handle on a [`SegmentLog`] that outlives its move into an instance: queries over its
/// directory and live window, and its counters.
#[derive(Debug, Clone)]
pub struct LogHandle {
    shared: std::sync::Arc<LogShared>,
}

/// A [`SegmentLog`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SegmentLogStats {
    /// Records encoded into segments.
    pub records: u64,
    /// Records given up because the disk refused them for too long
    /// ([`MAX_PENDING_BYTES`]), still refused them when the log was closed, or no segment
    /// could be created.
    pub lost_records: u64,
    /// Segments sealed.
    pub sealed: u64,
    /// Seals (done in the background) that failed: the segment was left unsealed, its
    /// records whole, and the next open seals it. Each is also reported as a sink error by
    /// the log's next `end_pass` or `flush`.
    pub failed_seals: u64,
    /// `fdatasync` calls made for the durability policy.
    pub syncs: u64,
}

impl LogHandle {
    /// The log's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.shared.dir
    }

    /// Runs `query` over the sealed segments and the live window of the segment being
    /// written (its bytes in the file and those not yet written), as one ordered result. The
    /// writer is held up only while the live bytes are copied. Run while retention deletes
    /// segments, it returns a gap-free newest part of the log: segments are read newest
    /// first, and one found deleted ends the read (every older one is deleted first).
    pub fn query(&self, query: &LogQuery) -> Result<LogResults, QueryError> {
        let snapshot = {
            let live = self.shared.live.lock();
            live.active.map(|seq| scan::LiveSnapshot {
                seq,
                written: live.written,
                pending: live.pending.clone(),
            })
        };
        scan::run_query(
            &self.shared.dir,
            query,
            snapshot.as_ref(),
            self.shared.key_ring.as_deref(),
        )
    }

    /// The counters.
    pub fn stats(&self) -> SegmentLogStats {
        let c = &self.shared.stats;
        SegmentLogStats {
            records: c.records.load(Relaxed),
            lost_records: c.lost_records.load(Relaxed),
            sealed: c.sealed.load(Relaxed),
            failed_seals: c.failed_seals.load(Relaxed),
            syncs: c.syncs.load(Relaxed),
        }
    }
}

#[cfg(fuzzing)]
pub(crate) mod fuzzing {
    //! Entry points for the fuzz targets.

    /// Walks arbitrary bytes as a segment, in both modes, decoding every record.
    pub(crate) fn segment(data: &[u8]) {
        super::scan::fuzz_segment(data);
    }

    /// Recovers arbitrary bytes as an unsealed segment.
    pub(crate) fn recovery(data: &[u8]) {
        let super::recovery::Rebuilt {
            footer,
            good_end: end,
            ..
        } = super::recovery::rebuild(data, None);
        assert!(end <= data.len().max(super::format::HEADER_LEN));
        // The rebuilt footer encodes and decodes back to itself.
        let mut out = Vec::new();
        footer.encode(&mut out, end as u64);
        let back = match super::format::frame_at(&out, 0) {
            super::format::FrameAt::Frame { payload, .. } => super::footer::Footer::decode(payload),
            other => panic!("footer frame did not read back: {other:?}"),
        };
        assert_eq!(back.ok().as_ref(), Some(&footer));
    }

    /// Parses arbitrary text as a query.
    pub(crate) fn query_text(text: &str) {
        let _ = text.parse::<super::LogQuery>();
    }
}

#[cfg(test)]
mod tests;
