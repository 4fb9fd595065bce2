//! [`SegmentLogOptions`]: how a [`SegmentLog`] is set up before it opens its directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::fs::{LogFs, StdFs};
use super::recovery;
use super::writer::SegmentLog;
use super::{Durability, LogShared, OpenError};
use crate::security::crypto::KeyRing;

/// The default segment size: a segment is sealed and a new one begun past it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The default segment age: a segment older than this is sealed at the next batch or flush.
pub const DEFAULT_SEGMENT_AGE: Duration = Duration::from_secs(3600);
/// Bytes kept in memory while the disk refuses them; past it the unwritten part of the
/// segment is given up (its records counted as lost) and a new segment begun.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// Options of a [`SegmentLog`], set before it opens its directory.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until `.open()`"]
pub struct SegmentLogOptions {
    pub(super) dir: PathBuf,
    pub(super) segment_bytes: u64,
    pub(super) segment_age: Duration,
    pub(super) retain_bytes: Option<u64>,
    pub(super) retain_age: Option<Duration>,
    pub(super) durability: Durability,
    pub(super) fs: Arc<dyn LogFs>,
    pub(super) samples: bool,
    pub(super) key_ring: Option<Arc<KeyRing>>,
    /// `fdatasync` a segment when it is sealed (the spool turns it off; see
    /// [`crate::recovery::Spool`]).
    pub(super) sync_on_seal: bool,
}

impl SegmentLogOptions {
    /// Seals every frame of the segments this log writes under `ring`'s active key
    /// (AES-256-GCM, the key id in each frame; see [`crate::store`]): reading them needs the
    /// ring ([`LogReader::key_ring`](super::LogReader::key_ring), `tickwatch-log --keys`).
    /// A frame moved, dropped or reordered is detected. The ring also opens the log's
    /// earlier sealed segments for recovery and queries.
    pub fn encrypt(mut self, ring: Arc<KeyRing>) -> Self {
        self.key_ring = Some(ring);
        self
    }

    /// Whether samples (metrics, counters, latencies, resources) are logged, or only events,
    /// audit records and drop notices (samples are aggregated either way). Default `true`:
    /// every record. A sample not logged costs the log a look at its first byte.
    pub fn samples(mut self, on: bool) -> Self {
        self.samples = on;
        self
    }

    /// Seals a segment once it holds at least this many bytes. Default 64 MiB; at least 4 KiB.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }

    /// Seals a segment once it is this old (checked at each batch and flush). Default 1 h.
    pub fn segment_age(mut self, age: Duration) -> Self {
        self.segment_age = age;
        self
    }

    /// Deletes the oldest sealed segments while the log's sealed segments hold more than this
    /// many bytes (checked each time a segment is sealed). The newest segment is always kept,
    /// so the log can exceed this by one segment (a segment never splits one collector pass).
    /// Default: keep everything.
    pub fn retain_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retain_bytes = bytes;
        self
    }

    /// Whether sealing a segment syncs it (default `true`).
    pub(crate) fn sync_on_seal(mut self, on: bool) -> Self {
        self.sync_on_seal = on;
        self
    }

    /// Deletes sealed segments whose newest record is older than this (checked each time a
    /// segment is sealed), except the newest segment. Default: keep everything.
    pub fn retain_age(mut self, age: Option<Duration>) -> Self {
        self.retain_age = age;
        self
    }

    /// When records reach the OS and the disk. Default [`Durability::EveryBatch`].
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// The file layer (tests put faults in it). Default [`StdFs`].
    pub fn fs(mut self, fs: Arc<dyn LogFs>) -> Self {
        self.fs = fs;
        self
    }

    /// Opens the directory (creating it if needed), recovers what a crash left (see
    /// [`RecoveryReport`](super::RecoveryReport)) and returns the sink; writing begins in a new segment.
    pub fn open(self) -> Result<SegmentLog, OpenError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| OpenError::Dir(self.dir.clone(), e))?;
        let recovery = recovery::recover(&self.dir, &*self.fs, self.key_ring.as_deref())?;
        let shared = Arc::new(LogShared::new(self.dir.clone(), self.key_ring.clone()));
        Ok(SegmentLog::new(self, recovery, shared))
    }
}

impl SegmentLog {
    /// Options for a log in `dir`, with the defaults.
    pub fn options(dir: impl AsRef<Path>) -> SegmentLogOptions {
        SegmentLogOptions {
            dir: dir.as_ref().to_path_buf(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_age: DEFAULT_SEGMENT_AGE,
            retain_bytes: None,
            sync_on_seal: true,
            retain_age: None,
            durability: Durability::default(),
            fs: Arc::new(StdFs),
            samples: true,
            key_ring: None,
        }
    }
}
