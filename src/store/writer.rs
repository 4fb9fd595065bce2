//! [`SegmentLog`]: the sink that appends every record to segment files.

use std::io;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use super::active::{write_out, Active};
use super::dictionary::{CallsiteDef, SeriesDef, ThreadDef};
use super::footer::FooterBuilder;
use super::format::{
    self, frame, RecordsHead, KIND_DROPPED, RECORDS_FRAME_TARGET, RECORDS_HEAD_LEN,
};
use super::options::SegmentLogOptions;
use super::recovery::RecoveryReport;
use super::seal::{self, FLAG_ENCRYPTED};
use super::sealer::{Job, SealCtx, Sealer};
use super::{Durability, LogHandle, LogShared, MAX_PENDING_BYTES};
use crate::record::{self, kind, Raw, FLAG_TICKS};
use crate::security::crypto::{CryptoError, KeyRing};
use crate::sink::{Batch, Sink, SinkError};

/// Copies of each dictionary frame (series, call site, thread definitions) in a segment.
const DICTIONARY_COPIES: usize = 2;

/// Under [`Durability::Buffered`], bytes gathered before a write to the OS.
const BUFFERED_BYTES: usize = 1024 * 1024;

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
    /// Scratch for one frame's payload.
    frame: Vec<u8>,
    /// Sealing a frame failed (the key ring refused): reported by the next `write`.
    crypto_error: Option<CryptoError>,
    /// `lost_records` when the last `flush` returned: a flush fails if records were given
    /// up since, even if the disk takes writes again.
    lost_at_flush: u64,
    /// Seals rolled-over segments off the collector thread.
    sealer: Sealer,
}

fn mark(set: &mut Vec<bool>, id: usize) -> bool {
    if set.len() <= id {
        set.resize(id + 1, false);
    }
    !std::mem::replace(&mut set[id], true)
}

impl SegmentLog {
    /// The sink over a directory `opts` opened and recovered.
    pub(super) fn new(
        opts: SegmentLogOptions,
        recovery: RecoveryReport,
        shared: Arc<LogShared>,
    ) -> SegmentLog {
        SegmentLog {
            next_seq: recovery.next_sequence,
            recovery,
            shared,
            opts,
            seg: None,
            scratch: Vec::with_capacity(RECORDS_FRAME_TARGET * 2),
            defs: Vec::new(),
            body: Vec::with_capacity(RECORDS_FRAME_TARGET + 4096),
            head: RecordsHead::default(),
            last_sync: Instant::now(),
            unsynced: false,
            frame: Vec::new(),
            crypto_error: None,
            lost_at_flush: 0,
            sealer: Sealer::default(),
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
        let flags = if self.opts.key_ring.is_some() {
            FLAG_ENCRYPTED
        } else {
            0
        };
        let header = format::header(seq, created_nanos, flags);
        if let Err(e) = file.append(&header) {
            drop(file);
            let _ = self.opts.fs.remove(&path);
            return Err(e);
        }
        // The new name must survive a power loss for the records in it to. Synced on the
        // sealer thread, after the previous segment's seal: on ext4 a directory sync waits
        // for the journal commit that the seal's `fdatasync` of the whole old segment is
        // flushing, tens of ms the collector would stall for. A sync of the segment under
        // the `Sync` policies first waits for the sealer, so for it the name is on disk.
        self.sealer
            .submit(Job::SyncDir(self.opts.dir.clone(), self.opts.fs.clone()));
        self.next_seq += 1;
        let len = format::HEADER_LEN as u64;
        self.seg = Some(Active {
            seq,
            counter: 0,
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

    /// Appends one frame (`ty`, `payload`) to `scratch`, sealed if the log encrypts;
    /// returns its offset in the segment and its length.
    fn emit(
        scratch: &mut Vec<u8>,
        ring: Option<&KeyRing>,
        seg: &mut Active,
        ty: u8,
        payload: &[u8],
    ) -> Result<(u64, u64), CryptoError> {
        let at = scratch.len();
        seal::append_frame(ring, seg.seq, seg.counter, ty, payload, scratch)?;
        if ring.is_some() {
            seg.counter += 1;
        }
        Ok((seg.len + at as u64, (scratch.len() - at) as u64))
    }

    /// Closes the open records frame: its dictionary frames, then the frame.
    fn close_frame(&mut self, seg: &mut Active) {
        if self.head.count == 0 {
            return;
        }
        let ring = self.opts.key_ring.as_deref();
        let (mark, counter) = (self.scratch.len(), seg.counter);
        self.frame.clear();
        let mut head = [0u8; RECORDS_HEAD_LEN];
        self.head.write(&mut head);
        self.frame.extend_from_slice(&head);
        self.frame.extend_from_slice(&self.body);
        // Dictionary frames (encoded plain into `defs`), written twice, then the records
        // frame; the footer learns of them once all are in `scratch`. Twice: a definition is
        // written once per segment and every later record of the segment needs it, so one
        // damaged copy must not cost them (the reader takes whichever copy checks out).
        let mut placed: Vec<(u64, u64, usize, usize)> = Vec::new();
        let mut result = Ok(());
        'copies: for _copy in 0..DICTIONARY_COPIES {
            let mut at = 0;
            while let format::FrameAt::Frame { ty, payload, next } =
                format::frame_at(&self.defs, at)
            {
                match Self::emit(&mut self.scratch, ring, seg, ty, payload) {
                    Ok((off, len)) => placed.push((off, len, at, next)),
                    Err(e) => {
                        result = Err(e);
                        break 'copies;
                    }
                }
                at = next;
            }
        }
        let records = result
            .and_then(|()| Self::emit(&mut self.scratch, ring, seg, frame::RECORDS, &self.frame));
        match records {
            Ok((off, len)) => {
                for (off, len, start, end) in placed {
                    if let format::FrameAt::Frame { ty, payload, .. } =
                        format::frame_at(&self.defs[..end], start)
                    {
                        seg.footer.add(off, len, ty, payload);
                    }
                }
                seg.footer.add(off, len, frame::RECORDS, &self.frame);
                seg.pending_records += u64::from(self.head.count);
            }
            Err(e) => {
                // The ring refused (a key's use budget spent, say): these records cannot be
                // written sealed, and are not written plain. Counted, reported by `write`.
                self.scratch.truncate(mark);
                seg.counter = counter;
                // Their dictionary entries were not written: forget which were, so that the
                // next records that need them write them again.
                seg.series.clear();
                seg.callsites.clear();
                seg.threads.clear();
                self.shared
                    .stats
                    .lost_records
                    .fetch_add(u64::from(self.head.count), Relaxed);
                self.crypto_error = Some(e);
            }
        }
        self.defs.clear();
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
            // Cut what a failed write left, so that the file holds exactly the records not
            // counted as lost (best effort: recovery cuts a torn tail anyway).
            if seg.torn {
                let _ = seg.file.set_len(seg.written);
            }
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
        if result.is_ok() && sync {
            // "Synced" covers the segments sealed in the background too: wait for them.
            result = self.sealer.wait_idle();
        }
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

    /// Seals the active segment: everything pending written (on the collector), then the
    /// footer and trailer, synced, and retention, handed to the background sealer so that
    /// the collector goes on at once (the next batch begins a new segment). Records never
    /// follow a footer: if the pending records cannot be written the segment stays active
    /// (sealing is tried again at the next batch); if the footer cannot, the segment is left
    /// unsealed (the next open recovers it), the error counted and reported by the next
    /// `write`, `end_pass` or `flush`.
    fn seal(&mut self) -> io::Result<()> {
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        self.commit(seg, true, false)?;
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        {
            let mut live = self.shared.live.lock();
            live.active = None;
            live.pending.clear();
        }
        // The new segment's bytes are not synced yet (its header): the next sync due syncs
        // it, after waiting for this seal.
        self.unsynced = true;
        let ctx = SealCtx {
            dir: self.opts.dir.clone(),
            fs: self.opts.fs.clone(),
            ring: self.opts.key_ring.clone(),
            sync: self.opts.sync_on_seal,
            retain_bytes: self.opts.retain_bytes,
            retain_age: self.opts.retain_age,
            shared: self.shared.clone(),
        };
        self.sealer.submit(Job::Seal(ctx, Box::new(seg)));
        Ok(())
    }

    fn flush_inner(&mut self) -> Result<(), SinkError> {
        let sync = !matches!(
            self.opts.durability,
            Durability::EveryBatch | Durability::Buffered
        );
        if self.roll_due() {
            self.seal()?;
            if sync {
                // On disk means the footer's sync, on the sealer, is done.
                self.sealer.wait_idle()?;
            }
            return Ok(());
        }
        let Some(seg) = self.seg.take() else {
            if sync {
                self.sealer.wait_idle()?;
            }
            return Ok(());
        };
        self.commit(seg, true, sync)?;
        Ok(())
    }

    /// The last word at close: seals (a final attempt to write what is pending), and counts
    /// what still cannot be written as lost. Returns the records lost.
    fn close(&mut self) -> u64 {
        let _ = self.seal();
        self.sealer.stop();
        let Some(mut seg) = self.seg.take() else {
            return 0;
        };
        // `seal` keeps the segment only when its pending records could not be written.
        let lost = seg.pending_records;
        if seg.torn {
            let _ = seg.file.set_len(seg.written);
        }
        {
            let mut live = self.shared.live.lock();
            live.pending.clear();
            live.active = None;
        }
        self.shared.stats.lost_records.fetch_add(lost, Relaxed);
        lost
    }

    fn roll_due(&self) -> bool {
        self.seg.as_ref().is_some_and(|s| {
            s.len >= self.opts.segment_bytes || s.created.elapsed() >= self.opts.segment_age
        })
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
        if let Some(e) = self.crypto_error.take() {
            self.seg = Some(seg);
            return Err(SinkError::new(format!(
                "segment log: records not written, the key ring refused to seal them: {e}"
            )));
        }
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
        if !matches!(self.opts.durability, Durability::Buffered) {
            if let Some(seg) = self.seg.take() {
                let sync = self.sync_due();
                self.commit(seg, true, sync)?;
            }
        }
        // A background seal that failed since the last look (after this pass's own work).
        self.sealer.take_error()?;
        Ok(())
    }

    /// Writes every record given so far to the OS and, under the `Sync` policies, syncs it.
    /// Fails while any record is still unwritten (the disk refused it: it stays pending and
    /// is written at the next pass or flush) and when records were given up since the last
    /// flush, so that an `Ok` always means what the policy promises.
    fn flush(&mut self) -> Result<(), SinkError> {
        let result = self
            .flush_inner()
            .and_then(|()| self.sealer.take_error().map_err(SinkError::from));
        let lost = self.shared.stats.lost_records.load(Relaxed);
        let lost_since = lost - self.lost_at_flush;
        self.lost_at_flush = lost;
        result?;
        if lost_since > 0 {
            return Err(SinkError::new(format!(
                "segment log: {lost_since} records lost since the last flush (see SegmentLogStats::lost_records)"
            )));
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "segment-log"
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        // A clean stop seals the active segment, so the next open has nothing to recover;
        // what the disk still refuses is counted as lost (the final flush reported it).
        self.close();
    }
}
