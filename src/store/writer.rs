//! [`SegmentLog`]: the sink that appends every record to segment files.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dictionary::{CallsiteDef, SeriesDef, ThreadDef};
use super::footer::FooterBuilder;
use super::format::{
    self, frame, RecordsHead, KIND_DROPPED, RECORDS_FRAME_TARGET, RECORDS_HEAD_LEN,
};
use super::fs::{LogFile, LogFs, StdFs};
use super::recovery::{self, RecoveryReport};
use super::{Durability, LogHandle, LogShared, OpenError};
use crate::record::{self, kind, Raw, FLAG_TICKS};
use crate::sink::{Batch, Sink, SinkError};

/// The default segment size: a segment is sealed and a new one begun past it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The default segment age: a segment older than this is sealed at the next batch or flush.
pub const DEFAULT_SEGMENT_AGE: Duration = Duration::from_secs(3600);
/// Bytes kept in memory while the disk refuses them; past it the unwritten part of the
/// segment is given up (its records counted as lost) and a new segment begun.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;
/// Under [`Durability::Buffered`], bytes gathered before a write to the OS.
const BUFFERED_BYTES: usize = 1024 * 1024;

/// Options of a [`SegmentLog`], set before it opens its directory.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until `.open()`"]
pub struct SegmentLogOptions {
    dir: PathBuf,
    segment_bytes: u64,
    segment_age: Duration,
    retain_bytes: Option<u64>,
    retain_age: Option<Duration>,
    durability: Durability,
    fs: Arc<dyn LogFs>,
    samples: bool,
}

impl SegmentLogOptions {
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
    /// many bytes (checked each time a segment is sealed). Default: keep everything.
    pub fn retain_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retain_bytes = bytes;
        self
    }

    /// Deletes sealed segments whose newest record is older than this (checked each time a
    /// segment is sealed). Default: keep everything.
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
    /// [`RecoveryReport`]) and returns the sink; writing begins in a new segment.
    pub fn open(self) -> Result<SegmentLog, OpenError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| OpenError::Dir(self.dir.clone(), e))?;
        let recovery = recovery::recover(&self.dir, &*self.fs)?;
        let shared = Arc::new(LogShared::new(self.dir.clone()));
        Ok(SegmentLog {
            next_seq: recovery.next_sequence,
            recovery,
            shared,
            opts: self,
            seg: None,
            scratch: Vec::with_capacity(RECORDS_FRAME_TARGET * 2),
            defs: Vec::new(),
            body: Vec::with_capacity(RECORDS_FRAME_TARGET + 4096),
            head: RecordsHead::default(),
            last_sync: Instant::now(),
            unsynced: false,
        })
    }
}

/// A sink that appends every record it is given, in the ring's binary form with times in
/// Unix nanoseconds, to segment files in a directory (format: [`crate::store`]). Read with
/// [`LogReader`](super::LogReader), [`Telemetry::query_logs`](crate::Telemetry::query_logs)
/// or the `tickwatch-log` command.
///
/// ```
/// use tickwatch::store::SegmentLog;
/// use tickwatch::{event, Level, Telemetry};
/// let dir = std::env::temp_dir().join(format!("tw-doc-{}", std::process::id()));
/// let log = SegmentLog::options(&dir).open().unwrap();
/// let tw = Telemetry::builder().segment_log(log).start().unwrap();
/// event!(tw, Level::Warn, "order rejected", order_id = 42u64);
/// tw.flush().unwrap();
/// let found = tw.query_logs(&"order_id=42".parse().unwrap()).unwrap();
/// assert_eq!(found.records.len(), 1);
/// # drop(tw); std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct SegmentLog {
    opts: SegmentLogOptions,
    shared: Arc<LogShared>,
    recovery: RecoveryReport,
    next_seq: u64,
    seg: Option<Active>,
    /// Frames of the batch being encoded, appended to the live pending bytes at its end.
    scratch: Vec<u8>,
    /// Dictionary frames the open records frame needs, written before it.
    defs: Vec<u8>,
    /// The open records frame's records.
    body: Vec<u8>,
    head: RecordsHead,
    last_sync: Instant,
    unsynced: bool,
}

/// The segment being written.
#[derive(Debug)]
struct Active {
    file: Box<dyn LogFile>,
    created: Instant,
    /// Bytes of the segment produced so far (in the file, pending, and in `scratch`
    /// once committed).
    len: u64,
    /// Bytes known to be in the file.
    written: u64,
    /// A write failed part way: cut the file back to `written` before the next one.
    torn: bool,
    footer: FooterBuilder,
    series: Vec<bool>,
    callsites: Vec<bool>,
    threads: Vec<bool>,
    /// Records in the pending bytes (lost if the segment is given up).
    pending_records: u64,
}

fn mark(set: &mut Vec<bool>, id: usize) -> bool {
    if set.len() <= id {
        set.resize(id + 1, false);
    }
    !std::mem::replace(&mut set[id], true)
}

impl SegmentLog {
    /// Options for a log in `dir`, with the defaults.
    pub fn options(dir: impl AsRef<Path>) -> SegmentLogOptions {
        SegmentLogOptions {
            dir: dir.as_ref().to_path_buf(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_age: DEFAULT_SEGMENT_AGE,
            retain_bytes: None,
            retain_age: None,
            durability: Durability::default(),
            fs: Arc::new(StdFs),
            samples: true,
        }
    }

    /// What opening the directory found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// A handle for queries and counters, valid after the log is moved into an instance.
    pub fn handle(&self) -> LogHandle {
        LogHandle {
            shared: self.shared.clone(),
        }
    }

    fn open_segment(&mut self) -> io::Result<()> {
        let seq = self.next_seq;
        let path = self.opts.dir.join(format::file_name(seq));
        let mut file = self.opts.fs.create(&path)?;
        let created_nanos = crate::time::WallClock::now(&crate::time::SystemClock).unix_nanos();
        let header = format::header(seq, created_nanos);
        if let Err(e) = file.append(&header) {
            drop(file);
            let _ = self.opts.fs.remove(&path);
            return Err(e);
        }
        // The new name must survive a power loss for the records in it to.
        let _ = self.opts.fs.sync_dir(&self.opts.dir);
        self.next_seq += 1;
        let len = format::HEADER_LEN as u64;
        self.seg = Some(Active {
            file,
            created: Instant::now(),
            len,
            written: len,
            torn: false,
            footer: FooterBuilder::new(),
            series: Vec::new(),
            callsites: Vec::new(),
            threads: Vec::new(),
            pending_records: 0,
        });
        let mut live = self.shared.live.lock();
        live.active = Some(seq);
        live.written = len;
        live.pending.clear();
        Ok(())
    }

    /// Closes the open records frame: its dictionary frames, then the frame.
    fn close_frame(&mut self, seg: &mut Active) {
        if self.head.count == 0 {
            return;
        }
        let base = seg.len + self.scratch.len() as u64;
        // Dictionary frames, each fed to the footer at its offset.
        let mut at = 0;
        while let format::FrameAt::Frame { ty, payload, next } = format::frame_at(&self.defs, at) {
            seg.footer
                .add(base + at as u64, (next - at) as u64, ty, payload);
            at = next;
        }
        self.scratch.extend_from_slice(&self.defs);
        self.defs.clear();
        let offset = seg.len + self.scratch.len() as u64;
        let start = format::begin_frame(&mut self.scratch, frame::RECORDS);
        let mut head = [0u8; RECORDS_HEAD_LEN];
        self.head.write(&mut head);
        self.scratch.extend_from_slice(&head);
        self.scratch.extend_from_slice(&self.body);
        format::end_frame(&mut self.scratch, start);
        let payload = &self.scratch[start + format::FRAME_HEADER_LEN + 1..];
        seg.footer.add(
            offset,
            (self.scratch.len() - start) as u64,
            frame::RECORDS,
            payload,
        );
        seg.pending_records += u64::from(self.head.count);
        self.body.clear();
        self.head = RecordsHead {
            thread: self.head.thread,
            ..RecordsHead::default()
        };
    }

    fn push_record(&mut self, bytes: &[u8], ts: u64, kind_byte: u8, level: Option<u8>) {
        let h = &mut self.head;
        if h.count == 0 {
            h.first = ts;
            h.last = ts;
        }
        h.first = h.first.min(ts);
        h.last = h.last.max(ts);
        h.count += 1;
        h.kinds |= format::kind_bit(kind_byte);
        if let Some(l) = level {
            h.levels |= 1 << l;
        }
        self.body
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.body.extend_from_slice(bytes);
    }

    /// Encodes a batch into `scratch`; returns the records encoded.
    fn encode(&mut self, seg: &mut Active, batch: &Batch<'_>) -> u64 {
        let thread = batch.thread();
        if mark(&mut seg.threads, thread.index as usize) {
            ThreadDef::encode(&mut self.defs, thread.index, thread.name.as_deref());
        }
        self.head = RecordsHead {
            thread: thread.index,
            ..RecordsHead::default()
        };
        let mut n = 0;
        let mut copy = [0u8; record::SAMPLE_LEN];
        let samples = self.opts.samples;
        for payload in batch.frames.clone() {
            if !samples
                && matches!(
                    payload.first(),
                    Some(&(kind::METRIC | kind::COUNTER | kind::LATENCY | kind::RESOURCE))
                )
            {
                continue;
            }
            let Ok(raw) = record::decode(payload) else {
                continue;
            };
            match raw {
                Raw::Sample {
                    kind: k,
                    flags,
                    id,
                    ticks,
                    value,
                } => {
                    let Some(series) = batch.tables.series.get(id as usize) else {
                        continue;
                    };
                    if series.kind().record_kind() != k {
                        continue;
                    }
                    if mark(&mut seg.series, id as usize) {
                        SeriesDef::encode(&mut self.defs, id, k, series.name(), series.tags());
                    }
                    let ts = batch.clock.timestamp(ticks).unix_nanos();
                    let value = if k == kind::LATENCY && flags & FLAG_TICKS != 0 {
                        batch.clock.ticks_to_nanos(value)
                    } else {
                        value
                    };
                    record::encode_sample(&mut copy, k, flags & !FLAG_TICKS, id, ts, value);
                    self.push_record(&copy, ts, k, None);
                }
                Raw::Event {
                    callsite, ticks, ..
                } => {
                    let Some(cs) = (callsite as usize)
                        .checked_sub(1)
                        .and_then(|i| batch.tables.callsites.get(i))
                    else {
                        continue;
                    };
                    if mark(&mut seg.callsites, callsite as usize) {
                        CallsiteDef::encode(&mut self.defs, callsite, cs);
                    }
                    let ts = batch.clock.timestamp(ticks).unix_nanos();
                    self.push_patched(payload, ts, kind::EVENT, Some(cs.level() as u8));
                }
                Raw::DynEvent { level, ticks, .. } => {
                    let ts = batch.clock.timestamp(ticks).unix_nanos();
                    self.push_patched(payload, ts, kind::DYN_EVENT, Some(level as u8));
                }
                Raw::Audit { ticks, .. } => {
                    let ts = batch.clock.timestamp(ticks).unix_nanos();
                    self.push_patched(payload, ts, kind::AUDIT, None);
                }
            }
            n += 1;
            if self.body.len() >= RECORDS_FRAME_TARGET {
                self.close_frame(seg);
            }
        }
        if batch.dropped > 0 {
            let ts = batch.dropped_at.unix_nanos();
            let mut d = [0u8; record::SAMPLE_LEN];
            record::encode_sample(&mut d, KIND_DROPPED, 0, 0, ts, batch.dropped);
            self.push_record(&d, ts, KIND_DROPPED, None);
            n += 1;
        }
        self.close_frame(seg);
        n
    }

    /// Appends a record whose tick reading (bytes 8..16) becomes Unix nanoseconds.
    fn push_patched(&mut self, payload: &[u8], ts: u64, k: u8, level: Option<u8>) {
        let at = self.body.len() + 4;
        self.push_record(payload, ts, k, level);
        self.body[at + 8..at + 16].copy_from_slice(&ts.to_le_bytes());
    }

    /// Moves `scratch` into the pending bytes and, as the policy says, to the file.
    fn commit(&mut self, mut seg: Active, force_write: bool, sync: bool) -> io::Result<()> {
        let mut live = self.shared.live.lock();
        if live.pending.len() + self.scratch.len() > MAX_PENDING_BYTES {
            // The disk has refused writes for a long time: give up this segment's unwritten
            // part (counted), so memory stays bounded; the next batch begins a new segment.
            let lost = seg.pending_records;
            live.pending.clear();
            live.active = None;
            drop(live);
            self.shared.stats.lost_records.fetch_add(lost, Relaxed);
            self.scratch.clear();
            return Err(io::Error::other(format!(
                "segment log: {lost} records given up after the disk refused {MAX_PENDING_BYTES} bytes"
            )));
        }
        seg.len += self.scratch.len() as u64;
        live.pending.extend_from_slice(&self.scratch);
        self.scratch.clear();
        let write = force_write || sync || live.pending.len() >= BUFFERED_BYTES;
        let mut result = Ok(());
        if write && !live.pending.is_empty() {
            result = write_out(&mut seg, &mut live.pending);
            live.written = seg.written;
            if result.is_ok() {
                seg.pending_records = 0;
                self.unsynced = true;
            }
        }
        drop(live);
        if result.is_ok() && sync && self.unsynced {
            result = seg.file.sync();
            if result.is_ok() {
                self.unsynced = false;
                self.last_sync = Instant::now();
                self.shared.stats.syncs.fetch_add(1, Relaxed);
            }
        }
        self.seg = Some(seg);
        result
    }

    fn sync_due(&self) -> bool {
        match self.opts.durability {
            Durability::SyncEveryBatch => true,
            Durability::SyncEvery(every) => self.last_sync.elapsed() >= every,
            Durability::EveryBatch | Durability::Buffered => false,
        }
    }

    /// Seals the active segment: footer and trailer, written and synced; then retention.
    fn seal(&mut self) -> io::Result<()> {
        let Some(mut seg) = self.seg.take() else {
            return Ok(());
        };
        let footer = std::mem::replace(&mut seg.footer, FooterBuilder::new()).finish();
        footer.encode(&mut self.scratch, seg.len);
        let r = self.commit(seg, true, true);
        let Some(seg) = self.seg.take() else {
            return r;
        };
        if r.is_err() {
            // Keep writing into it; sealing is tried again at the next roll.
            self.seg = Some(seg);
            return r;
        }
        self.shared.live.lock().active = None;
        self.shared.stats.sealed.fetch_add(1, Relaxed);
        drop(seg);
        super::retention::apply(
            &self.opts.dir,
            &*self.opts.fs,
            self.opts.retain_bytes,
            self.opts.retain_age,
        );
        Ok(())
    }

    fn roll_due(&self) -> bool {
        self.seg.as_ref().is_some_and(|s| {
            s.len >= self.opts.segment_bytes || s.created.elapsed() >= self.opts.segment_age
        })
    }
}

/// Writes `pending` at the end of the segment's file, first cutting off what a failed write
/// left, and empties it on success.
fn write_out(seg: &mut Active, pending: &mut Vec<u8>) -> io::Result<()> {
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

impl Sink for SegmentLog {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if self.seg.is_none() {
            if let Err(e) = self.open_segment() {
                let n = batch.len() as u64;
                self.shared.stats.lost_records.fetch_add(n, Relaxed);
                return Err(SinkError::new(format!(
                    "segment log: cannot begin a segment in {}: {e} ({n} records lost)",
                    self.opts.dir.display()
                )));
            }
        }
        let Some(mut seg) = self.seg.take() else {
            return Ok(());
        };
        let n = self.encode(&mut seg, batch);
        self.shared.stats.records.fetch_add(n, Relaxed);
        // Written to the OS at the end of the collector's pass (`end_pass`), with the other
        // threads' batches of the pass. On an error the records stay pending (written at
        // the next pass or flush) or, if the disk has refused them too long, are given up
        // and counted (see `commit`).
        self.commit(seg, false, false)?;
        if self.roll_due() {
            self.seal()?;
        }
        Ok(())
    }

    fn end_pass(&mut self) -> Result<(), SinkError> {
        if matches!(self.opts.durability, Durability::Buffered) {
            return Ok(());
        }
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        let sync = self.sync_due();
        self.commit(seg, true, sync)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.roll_due() {
            self.seal()?;
            return Ok(());
        }
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        let sync = !matches!(
            self.opts.durability,
            Durability::EveryBatch | Durability::Buffered
        );
        self.commit(seg, true, sync)?;
        Ok(())
    }

    fn name(&self) -> &str {
        "segment-log"
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        // A clean stop seals the active segment, so the next open has nothing to recover.
        let _ = self.seal();
    }
}
