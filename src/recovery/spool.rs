//! [`Spool`]: at-least-once delivery through a sink's outage, with the refused batches kept
//! on disk in the segment log's format.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sink::{Batch, Record, Replay, Sink, SinkError, SinkNotice};
use crate::store::{each_view, list_segments, read_footer, OpenError, SegmentLog};
use crate::Timestamp;

/// How long one batch or flush may spend replaying (whole segments; at least one): the
/// collector's other work waits meanwhile.
const REPLAY_SLICE: Duration = Duration::from_millis(2);

/// The file listing the spool segments whose records may already have reached the sink.
const DUPLICATES_FILE: &str = "possible-duplicates";

/// What a full spool gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpoolFull {
    /// The batch that does not fit: the spool keeps the oldest records (default).
    #[default]
    DropNewest,
    /// Whole segments, oldest first, until the batch fits: the spool keeps the newest.
    DropOldest,
}

/// How a [`Spool`] is set up; [`SpoolOptions::open`] makes it.
#[derive(Debug, Clone)]
#[must_use]
pub struct SpoolOptions {
    dir: PathBuf,
    max_bytes: u64,
    full: SpoolFull,
    segment_bytes: u64,
    first_retry: Duration,
    max_retry: Duration,
}

impl SpoolOptions {
    /// A spool in `dir` (created if needed): at most 1 GiB, [`SpoolFull::DropNewest`],
    /// 1 MiB segments, the sink retried after 100 ms doubling to 5 s.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: 1 << 30,
            full: SpoolFull::DropNewest,
            segment_bytes: 1 << 20,
            first_retry: Duration::from_millis(100),
            max_retry: Duration::from_secs(5),
        }
    }

    /// The most bytes the spool's files may hold, at least 64 KiB: a batch is spooled while
    /// the spool holds less (so it can go past by one batch). The size is measured every
    /// 20 ms and estimated in between (from the batches' sizes in the ring, within a few
    /// percent of their size on disk).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(64 * 1024);
        self
    }

    /// What a full spool gives up.
    pub fn when_full(mut self, policy: SpoolFull) -> Self {
        self.full = policy;
        self
    }

    /// The size a spool segment is sealed at (the unit of replay and of
    /// [`SpoolFull::DropOldest`]; at least 4 KiB).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }

    /// The first and the longest wait before offering the failing sink the spool again
    /// (`first` at least 1 ms, `max` at least `first`).
    pub fn retry_after(mut self, first: Duration, max: Duration) -> Self {
        self.first_retry = first.max(Duration::from_millis(1));
        self.max_retry = max.max(self.first_retry);
        self
    }

    /// Wraps `inner`. Whatever a previous process left in the directory (its torn tail cut)
    /// is replayed first, as soon as `inner` accepts.
    pub fn open<S: Sink>(self, inner: S) -> Result<Spool<S>, OpenError> {
        // Opening the directory as a log cuts a torn tail and seals what a crash left open.
        drop(SegmentLog::options(&self.dir).open()?);
        let counters = Arc::new(Counters::default());
        let (mut records, mut oldest) = (0u64, u64::MAX);
        let segments = list_segments(&self.dir).map_err(|e| OpenError::Dir(self.dir.clone(), e))?;
        for (_, path) in &segments {
            if let Some((f, _)) = read_footer(path, None) {
                records += f.records;
                oldest = oldest.min(f.first);
            }
        }
        counters.records.store(records, Relaxed);
        counters
            .oldest_ns
            .store(if oldest == u64::MAX { 0 } else { oldest }, Relaxed);
        counters.bytes.store(dir_bytes(&self.dir), Relaxed);
        let duplicates = std::fs::read_to_string(self.dir.join(DUPLICATES_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let pending = !segments.is_empty();
        Ok(Spool {
            inner,
            retry: pending.then(|| (Instant::now(), self.first_retry)),
            opts: self,
            writer: None,
            pending,
            duplicates,
            counters,
            notice: None,
            error: String::new(),
            size: (0, Instant::now() - SIZE_RESCAN * 2),
            reported: None,
        })
    }
}

#[derive(Debug, Default)]
struct Counters {
    spooled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    /// The oldest spooled record's time, Unix ns (0: none).
    oldest_ns: AtomicU64,
}

/// What a spool has done and holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Records written to the spool since it was opened.
    pub spooled: u64,
    /// Records replayed to the sink since it was opened.
    pub replayed: u64,
    /// Records given up because the spool was full (or could not be written).
    pub dropped: u64,
    /// Records in the spool now.
    pub records: u64,
    /// Bytes of the spool's files now.
    pub bytes: u64,
    /// When the oldest record in the spool was taken.
    pub oldest: Option<Timestamp>,
}

/// Reads a [`Spool`]'s counters from any thread ([`Spool::handle`]).
#[derive(Debug, Clone)]
pub struct SpoolHandle(Arc<Counters>);

impl SpoolHandle {
    /// The counters now.
    pub fn stats(&self) -> SpoolStats {
        let c = &self.0;
        let oldest = c.oldest_ns.load(Relaxed);
        SpoolStats {
            spooled: c.spooled.load(Relaxed),
            replayed: c.replayed.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            records: c.records.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            oldest: (oldest != 0).then(|| Timestamp::from_unix_nanos(oldest)),
        }
    }
}

/// Wraps a sink so that the batches it refuses go to a bounded on-disk spool, in order, and
/// are replayed oldest first once it accepts again (offered again after a backoff, from 100
/// ms doubling to 5 s, at the next batch, flush or monitoring tick that comes after it).
///
/// * **At least once**: while the spool holds records, new batches go behind them, so each
///   thread's order is kept. The only records a sink may see twice are those of the batch
///   it failed on (it may have taken part of it) and of a replay it failed part-way; they
///   reach it through [`Sink::write_records`] with
///   [`Replay::possible_duplicates`](crate::sink::Replay) set.
/// * **Bounded**: past [`SpoolOptions::max_bytes`], [`SpoolFull`] decides; every record
///   given up is counted ([`SpoolStats::dropped`]).
/// * **Durable across a crash**: each spooled batch is handed to the OS before the collector
///   moves on (a `kill -9` loses none of it); a new process opening the same directory
///   replays it. The spool is not synced (a sync at every 1 MiB segment halved its write
///   rate): a power loss can lose what the OS had not written back yet, and recovery then
///   keeps every whole frame.
/// * **Reported**: the spool's health component (`tickwatch.sink.spool`) reads `Degraded`
///   while it holds records, with the counts, and the `tickwatch_sink_condition` alert fires
///   meanwhile ([`Sink::take_notice`]); [`Spool::handle`] and `Telemetry::stats()`
///   ([`crate::Stats::sinks`]) read the counters.
///
/// The wrapped sink must implement [`Sink::write_records`] (the JSON-lines and memory sinks
/// do). Replay runs on the collector thread, whole spool segments for up to 2 ms per batch
/// or flush, so it never holds the collector for long.
///
/// ```
/// use tickwatch::recovery::SpoolOptions;
/// use tickwatch::sink::MemorySink;
/// # let dir = std::env::temp_dir().join(format!("tw-spool-doc-{}", std::process::id()));
/// let out = MemorySink::new();
/// let spool = SpoolOptions::new(&dir).open(out.clone())?;
/// let stats = spool.handle();
/// let tw = tickwatch::Telemetry::builder().sink(spool).start()?;
/// tw.log_metric("spread", 0.5, &[]);
/// tw.flush()?;
/// assert_eq!(out.len(), 1);
/// assert_eq!(stats.stats().spooled, 0, "the sink took it");
/// # drop(tw); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Spool<S> {
    inner: S,
    opts: SpoolOptions,
    /// The segment being spooled into.
    writer: Option<SegmentLog>,
    /// The spool holds records (new batches go behind them).
    pending: bool,
    /// While the sink is failing: when to offer it the spool again, and the backoff.
    retry: Option<(Instant, Duration)>,
    /// Sequence numbers of the segments whose records may have reached the sink already.
    duplicates: BTreeSet<u64>,
    counters: Arc<Counters>,
    notice: Option<SinkNotice>,
    /// The sink's last error, for the notice.
    error: String,
    /// The spool's size as last measured, plus what was spooled since, and when measured:
    /// listing the directory on every batch would cost more than spooling it.
    size: (u64, Instant),
    /// When the state was last reported while degraded, and the drops then.
    reported: Option<(Instant, u64)>,
}

/// How often a spool that holds records refreshes its report (health, alert).
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// How old the measured size may get before the directory is listed again.
const SIZE_RESCAN: Duration = Duration::from_millis(20);

impl<S> std::fmt::Debug for Spool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.opts.dir)
            .field("pending", &self.pending)
            .field("stats", &SpoolHandle(self.counters.clone()).stats())
            .finish_non_exhaustive()
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl<S: Sink> Spool<S> {
    /// Reads the spool's counters from any thread.
    pub fn handle(&self) -> SpoolHandle {
        SpoolHandle(self.counters.clone())
    }

    /// The spool's size: measured at most [`SIZE_RESCAN`] ago, plus the ring bytes of what
    /// was spooled since (about what it takes on disk).
    fn bytes(&mut self) -> u64 {
        if self.size.1.elapsed() >= SIZE_RESCAN {
            self.size = (dir_bytes(&self.opts.dir), Instant::now());
            self.counters.bytes.store(self.size.0, Relaxed);
        }
        self.size.0
    }

    /// The size must be measured again (segments were deleted).
    fn rescan(&mut self) {
        self.size.1 = Instant::now() - SIZE_RESCAN * 2;
    }

    /// Reports the spool's state (degraded) when it starts holding records, when it starts
    /// dropping, and otherwise at most once a second: a notice per spooled batch would cost
    /// more than spooling it (a message, a health update and an alert each).
    fn degraded(&mut self) {
        let dropped = self.counters.dropped.load(Relaxed);
        let now_i = Instant::now();
        let due = match self.reported {
            None => true,
            Some((at, d)) => (d == 0 && dropped > 0) || now_i.duration_since(at) >= NOTICE_EVERY,
        };
        if !due {
            return;
        }
        self.reported = Some((now_i, dropped));
        let s = SpoolHandle(self.counters.clone()).stats();
        let now = crate::time::WallClock::now(&crate::time::SystemClock).unix_nanos();
        let age = s
            .oldest
            .map_or(0.0, |t| now.saturating_sub(t.unix_nanos()) as f64 / 1e9);
        self.notice = Some(SinkNotice {
            degraded: true,
            message: format!(
                "sink {:?} is failing ({}): {} records spooled in {} ({} bytes, oldest {age:.1} s old), {} replayed, {} dropped; replaying with backoff",
                self.inner.name(),
                self.error,
                s.records,
                self.opts.dir.display(),
                s.bytes,
                s.replayed,
                s.dropped
            ),
        });
    }

    /// The sink refused; back off.
    fn failed(&mut self, e: &SinkError) {
        self.error = e.to_string();
        let next = match self.retry {
            Some((_, b)) => (b * 2).min(self.opts.max_retry),
            None => self.opts.first_retry,
        };
        self.retry = Some((Instant::now() + next, next));
    }

    fn save_duplicates(&self) {
        let text: String = self.duplicates.iter().map(|s| format!("{s}\n")).collect();
        let path = self.opts.dir.join(DUPLICATES_FILE);
        let tmp = self.opts.dir.join(format!("{DUPLICATES_FILE}.tmp"));
        let _ = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    }

    /// Writes `batch` behind the spooled records; `in_flight`: the batch the sink failed on
    /// (kept in a segment of its own, marked as possible duplicates).
    fn spool(&mut self, batch: &Batch<'_>, in_flight: bool) -> Result<(), SinkError> {
        let n = batch.len() as u64;
        if !self.make_room() {
            self.counters.dropped.fetch_add(n, Relaxed);
            self.degraded();
            return Ok(());
        }
        if in_flight {
            self.writer = None; // seal: the batch gets a segment of its own
        }
        let written = (|| -> Result<(), SinkError> {
            if self.writer.is_none() {
                // Not synced at a seal: a spool is a buffer through an outage, and a
                // sync per 1 MiB segment halved its write rate (see the type's docs).
                let log = SegmentLog::options(&self.opts.dir)
                    .segment_bytes(self.opts.segment_bytes)
                    .sync_on_seal(false)
                    .open()
                    .map_err(|e| SinkError::new(format!("spool: {e}")))?;
                self.writer = Some(log);
            }
            let w = self.writer.as_mut().expect("opened above");
            w.write(batch)?;
            w.end_pass()
        })();
        if let Err(e) = written {
            self.writer = None;
            self.counters.dropped.fetch_add(n, Relaxed);
            self.degraded();
            return Err(e);
        }
        if in_flight {
            self.writer = None;
            if let Some((seq, _)) = list_segments(&self.opts.dir)
                .ok()
                .and_then(|l| l.last().cloned())
            {
                self.duplicates.insert(seq);
                self.save_duplicates();
            }
        }
        self.pending = true;
        let c = &self.counters;
        c.spooled.fetch_add(n, Relaxed);
        c.records.fetch_add(n, Relaxed);
        if c.oldest_ns.load(Relaxed) == 0 {
            c.oldest_ns.store(
                crate::time::WallClock::now(&crate::time::SystemClock).unix_nanos(),
                Relaxed,
            );
        }
        self.size.0 += batch.byte_len();
        c.bytes.store(self.size.0, Relaxed);
        self.degraded();
        Ok(())
    }

    /// Whether a batch may be spooled now (the spool holds less than `max_bytes`: it can go
    /// past it by one batch), after [`SpoolFull::DropOldest`] made room. Not "whether this
    /// batch fits": a smaller batch after a refused one would leave a hole in the spool.
    fn make_room(&mut self) -> bool {
        let max = self.opts.max_bytes;
        if self.bytes() < max {
            return true;
        }
        if self.opts.full == SpoolFull::DropNewest {
            return false;
        }
        self.writer = None; // seal, so that every segment is whole and counted by its footer
        while dir_bytes(&self.opts.dir) >= max {
            let Some((seq, path)) = list_segments(&self.opts.dir)
                .ok()
                .and_then(|l| l.first().cloned())
            else {
                break;
            };
            let n = read_footer(&path, None).map_or(0, |(f, _)| f.records);
            if std::fs::remove_file(&path).is_err() {
                return false;
            }
            let c = &self.counters;
            c.dropped.fetch_add(n, Relaxed);
            c.records.fetch_sub(n.min(c.records.load(Relaxed)), Relaxed);
            if self.duplicates.remove(&seq) {
                self.save_duplicates();
            }
        }
        self.refresh_oldest();
        self.rescan();
        self.bytes() < max
    }

    fn refresh_oldest(&self) {
        let oldest = list_segments(&self.opts.dir)
            .ok()
            .and_then(|l| l.first().and_then(|(_, p)| read_footer(p, None)))
            .map_or(0, |(f, _)| f.first);
        self.counters.oldest_ns.store(oldest, Relaxed);
        self.counters
            .bytes
            .store(dir_bytes(&self.opts.dir), Relaxed);
    }

    /// Offers the sink the oldest spool segments, one after the other for at most
    /// [`REPLAY_SLICE`], if a retry is due. Returns whether the spool is empty afterwards.
    fn replay_step(&mut self) -> bool {
        let start = Instant::now();
        loop {
            match self.replay_segment() {
                Some(false) if start.elapsed() < REPLAY_SLICE => {}
                Some(drained) => return drained,
                None => return false,
            }
        }
    }

    /// Offers the sink the oldest spool segment, if a retry is due: `Some(drained)` if it took
    /// it, `None` if not (or not yet due).
    fn replay_segment(&mut self) -> Option<bool> {
        if self.retry.is_some_and(|(at, _)| Instant::now() < at) {
            return None;
        }
        self.writer = None; // seal what is being spooled into: it is replayed in turn
        let Some((seq, path)) = list_segments(&self.opts.dir)
            .ok()
            .and_then(|l| l.first().cloned())
        else {
            return Some(self.drained());
        };
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                self.failed(&SinkError::new(format!("spool: {}: {e}", path.display())));
                return None;
            }
        };
        let mut records: Vec<Record> = Vec::new();
        each_view(&data, seq, None, |v, _| records.push(v.to_record()));
        let replay = Replay::new(self.duplicates.contains(&seq));
        match self.inner.write_records(&records, replay) {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                if self.duplicates.remove(&seq) {
                    self.save_duplicates();
                }
                let n = records.len() as u64;
                let c = &self.counters;
                c.replayed.fetch_add(n, Relaxed);
                c.records.fetch_sub(n.min(c.records.load(Relaxed)), Relaxed);
                self.refresh_oldest();
                self.rescan();
                // The sink works: the next step need not wait.
                self.retry = Some((Instant::now(), self.opts.first_retry));
                if list_segments(&self.opts.dir).is_ok_and(|l| l.is_empty()) {
                    return Some(self.drained());
                }
                Some(false)
            }
            Err(e) => {
                // It may have taken part of the segment: a second replay may repeat it.
                if self.duplicates.insert(seq) {
                    self.save_duplicates();
                }
                self.failed(&e);
                self.degraded();
                None
            }
        }
    }

    fn drained(&mut self) -> bool {
        self.pending = false;
        self.reported = None;
        self.retry = None;
        self.counters.records.store(0, Relaxed);
        self.counters.oldest_ns.store(0, Relaxed);
        self.counters
            .bytes
            .store(dir_bytes(&self.opts.dir), Relaxed);
        self.notice = Some(SinkNotice {
            degraded: false,
            message: format!("spool drained into sink {:?}", self.inner.name()),
        });
        true
    }
}

impl<S: Sink> Sink for Spool<S> {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if self.pending && !self.replay_step() {
            return self.spool(batch, false);
        }
        match self.inner.write(batch) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.failed(&e);
                self.spool(batch, true)
            }
        }
    }

    fn end_pass(&mut self) -> Result<(), SinkError> {
        if self.pending {
            return Ok(());
        }
        self.inner.end_pass()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending && !self.replay_step() {
            return Ok(());
        }
        match self.inner.flush() {
            Ok(()) => Ok(()),
            Err(e) => {
                // What the sink buffered may be lost with it (counted as its error); later
                // batches are spooled after a failed write.
                self.failed(&e);
                Err(e)
            }
        }
    }

    fn name(&self) -> &str {
        "spool"
    }

    /// A quiet process has no batches or flushes to replay on: the schedule offers the sink
    /// the spool too.
    fn tick(&mut self) -> Result<(), SinkError> {
        if self.pending && self.replay_step() {
            return self.inner.flush();
        }
        Ok(())
    }

    fn take_notice(&mut self) -> Option<SinkNotice> {
        self.notice.take()
    }

    /// `spooled`, `replayed`, `dropped`, `records` (in the spool now), `bytes` and
    /// `oldest_unix_ns` (0: empty), in [`crate::Stats::sinks`].
    fn counters(&self) -> Option<crate::sink::SinkCounters> {
        let c = self.counters.clone();
        Some(Arc::new(move || {
            vec![
                ("spooled", c.spooled.load(Relaxed)),
                ("replayed", c.replayed.load(Relaxed)),
                ("dropped", c.dropped.load(Relaxed)),
                ("records", c.records.load(Relaxed)),
                ("bytes", c.bytes.load(Relaxed)),
                ("oldest_unix_ns", c.oldest_ns.load(Relaxed)),
            ]
        }))
    }
}
