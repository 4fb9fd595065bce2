//! A file layer that fails: failed writes, short writes, a full disk, and a power loss that
//! drops everything not synced. The sink reports the error, the hot path does not block on
//! it, and once the fault clears writing resumes with nothing lost that the policy promised.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickwatch::sink::Record;
use tickwatch::store::fs::{LogFile, LogFs, StdFs};
use tickwatch::store::{Durability, LogReader, SegmentLog};
use tickwatch::{event, FlushError, Level, ShutdownError, Telemetry, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Every append fails before writing anything.
    Fail,
    /// Every append writes half its bytes, then fails.
    Short,
    /// Every append fails with ENOSPC (no space left on device).
    Full,
}

#[derive(Debug, Default)]
struct State {
    fault: Option<Fault>,
    /// Per file: bytes synced.
    synced: HashMap<PathBuf, u64>,
    failures: u64,
    /// How long each sync takes (a slow disk).
    slow_sync: Duration,
    /// Every sync fails.
    fail_sync: bool,
}

#[derive(Debug, Clone, Default)]
struct FaultFs(Arc<Mutex<State>>);

impl FaultFs {
    fn set(&self, f: Fault) {
        self.0.lock().unwrap().fault = Some(f);
    }
    fn failures(&self) -> u64 {
        self.0.lock().unwrap().failures
    }
    /// Bytes in the files that a power loss now would drop (written, not synced).
    fn unsynced(&self) -> u64 {
        self.0
            .lock()
            .unwrap()
            .synced
            .iter()
            .filter_map(|(p, n)| Some(std::fs::metadata(p).ok()?.len() - n))
            .sum()
    }
    /// A power loss: every file back to what was synced.
    fn lose_power(&self) {
        for (path, len) in &self.0.lock().unwrap().synced {
            // A file removed since (a segment whose header could not be written) is gone.
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
                f.set_len(*len).unwrap();
            }
        }
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn LogFile>,
    path: PathBuf,
    len: u64,
    fs: FaultFs,
}

impl LogFs for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = StdFs.create(path)?;
        self.0.lock().unwrap().synced.insert(path.to_path_buf(), 0);
        Ok(Box::new(FaultFile {
            inner,
            path: path.to_path_buf(),
            len: 0,
            fs: self.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let len = std::fs::metadata(path)?.len();
        Ok(Box::new(FaultFile {
            inner: StdFs.open_append(path)?,
            path: path.to_path_buf(),
            len,
            fs: self.clone(),
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
}

impl LogFile for FaultFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let fault = self.fs.0.lock().unwrap().fault.unwrap_or(Fault::None);
        let fail = |s: &FaultFs, e: io::Error| {
            s.0.lock().unwrap().failures += 1;
            Err(e)
        };
        match fault {
            Fault::None => {
                self.inner.append(buf)?;
                self.len += buf.len() as u64;
                Ok(())
            }
            Fault::Fail => fail(&self.fs, io::Error::other("injected write failure")),
            Fault::Short => {
                let half = &buf[..buf.len() / 2];
                self.inner.append(half)?;
                self.len += half.len() as u64;
                fail(&self.fs, io::Error::other("injected short write"))
            }
            Fault::Full => fail(&self.fs, io::Error::from_raw_os_error(28)),
        }
    }
    fn sync(&mut self) -> io::Result<()> {
        let (slow, fail) = {
            let st = self.fs.0.lock().unwrap();
            (st.slow_sync, st.fail_sync)
        };
        std::thread::sleep(slow);
        if fail {
            return Err(io::Error::other("injected sync failure"));
        }
        self.inner.sync()?;
        self.fs
            .0
            .lock()
            .unwrap()
            .synced
            .insert(self.path.clone(), self.len);
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.fs.0.lock().unwrap().fault.unwrap_or(Fault::None) != Fault::None {
            return Err(io::Error::other("injected failure (set_len)"));
        }
        self.inner.set_len(len)?;
        self.len = len;
        Ok(())
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tw-fault-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn seqs(dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    LogReader::open(dir)
        .unwrap()
        .for_each(|r, _| {
            if let Record::Event { fields, .. } = r {
                if let Some((_, Value::U64(n))) = fields.first() {
                    out.push(*n);
                }
            }
        })
        .unwrap();
    out
}

#[test]
fn every_kind_of_write_failure_is_reported_and_nothing_is_lost_once_it_clears() {
    for fault in [Fault::Fail, Fault::Short, Fault::Full] {
        let dir = temp_dir("clears");
        let fs = FaultFs::default();
        let log = SegmentLog::options(&dir)
            .fs(Arc::new(fs.clone()))
            .open()
            .unwrap();
        let tw = Telemetry::builder().segment_log(log).start().unwrap();
        let mut seq = 0u64;
        let mut burst = |tw: &Telemetry, n: u64, flushed: Result<(), FlushError>| {
            // The hot path never waits for the disk: each call returns at once.
            let t = Instant::now();
            for _ in 0..n {
                event!(tw, Level::Info, "tick", seq = seq);
                seq += 1;
            }
            assert!(t.elapsed() < Duration::from_millis(500), "{fault:?}");
            // While the disk refuses the records, `flush` says so.
            assert_eq!(tw.flush(), flushed, "{fault:?}");
        };
        let refused = Err(FlushError::SinkFailed { failed: 1 });
        burst(&tw, 500, Ok(()));
        fs.set(fault);
        burst(&tw, 500, refused);
        burst(&tw, 500, refused);
        assert!(fs.failures() > 0, "{fault:?}: the fault was hit");
        assert!(
            tw.stats().sink_errors > 0,
            "{fault:?}: reported as sink errors"
        );
        fs.set(Fault::None);
        burst(&tw, 500, Ok(()));
        let st = tw.segment_log().unwrap().stats();
        assert_eq!(st.lost_records, 0, "{fault:?}");
        drop(tw);
        let got = seqs(&dir);
        assert_eq!(got, (0..2000).collect::<Vec<_>>(), "{fault:?}");
        assert!(LogReader::open(&dir).unwrap().verify().unwrap().ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_power_loss_keeps_everything_synced_under_sync_every_batch() {
    let dir = temp_dir("power");
    let fs = FaultFs::default();
    let log = SegmentLog::options(&dir)
        .fs(Arc::new(fs.clone()))
        .durability(Durability::SyncEveryBatch)
        .segment_bytes(8 * 1024)
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    for seq in 0..3000u64 {
        event!(tw, Level::Info, "tick", seq = seq);
        if seq % 100 == 99 {
            tw.flush().unwrap();
        }
    }
    tw.flush().unwrap(); // all 3000 on disk
                         // The machine dies: nothing more reaches the disk, and what was not synced is gone.
    fs.set(Fault::Fail);
    for seq in 3000..3100u64 {
        event!(tw, Level::Info, "tick", seq = seq);
    }
    drop(tw);
    fs.lose_power();
    let report = SegmentLog::options(&dir).open().unwrap().recovery().clone();
    let got = seqs(&dir);
    assert!(got.len() >= 3000, "{} survived; {report:?}", got.len());
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Under `SyncEveryBatch`, `flush` is `Ok` only when every record is on disk: it fails while
/// the disk is full, and once space frees the next flush writes and syncs everything.
#[test]
fn a_full_disk_fails_flush_under_sync_every_batch_until_everything_is_on_disk() {
    let dir = temp_dir("full-sync");
    let fs = FaultFs::default();
    let log = SegmentLog::options(&dir)
        .fs(Arc::new(fs.clone()))
        .durability(Durability::SyncEveryBatch)
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    let log = tw.segment_log().unwrap();
    for seq in 0..500u64 {
        event!(tw, Level::Info, "tick", seq = seq);
    }
    assert_eq!(tw.flush(), Ok(()));
    assert_eq!(fs.unsynced(), 0);
    fs.set(Fault::Full);
    for seq in 500..1500u64 {
        event!(tw, Level::Info, "tick", seq = seq);
    }
    let refused = Err(FlushError::SinkFailed { failed: 1 });
    assert_eq!(tw.flush(), refused);
    assert_eq!(tw.flush(), refused, "still full: still refused");
    assert_eq!(
        seqs(&dir),
        (0..500).collect::<Vec<_>>(),
        "nothing more written"
    );
    fs.set(Fault::None);
    assert_eq!(tw.flush(), Ok(()));
    // "Ok" means on disk: a power loss now would lose nothing.
    assert_eq!(fs.unsynced(), 0);
    assert_eq!(seqs(&dir), (0..1500).collect::<Vec<_>>());
    assert_eq!(log.stats().lost_records, 0);
    assert_eq!(tw.close(), Ok(()));
    assert_eq!(seqs(&dir), (0..1500).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A disk that stays full through shutdown: the final flush and seal try once more, and what
/// still cannot be written is counted in `lost_records` and reported by `close`, exactly.
#[test]
fn records_a_full_disk_still_refuses_at_shutdown_are_counted_lost_exactly() {
    for durability in [
        Durability::EveryBatch,
        Durability::SyncEveryBatch,
        Durability::Buffered,
    ] {
        let dir = temp_dir("full-close");
        let fs = FaultFs::default();
        let log = SegmentLog::options(&dir)
            .fs(Arc::new(fs.clone()))
            .durability(durability)
            .open()
            .unwrap();
        let tw = Telemetry::builder().segment_log(log).start().unwrap();
        let log = tw.segment_log().unwrap();
        for seq in 0..600u64 {
            event!(tw, Level::Info, "tick", seq = seq);
        }
        assert_eq!(tw.flush(), Ok(()), "{durability:?}");
        fs.set(Fault::Full);
        for seq in 600..1300u64 {
            event!(tw, Level::Info, "tick", seq = seq);
        }
        assert_eq!(
            tw.flush(),
            Err(FlushError::SinkFailed { failed: 1 }),
            "{durability:?}"
        );
        assert_eq!(
            tw.close(),
            Err(ShutdownError::SinkFailed { failed: 1 }),
            "{durability:?}"
        );
        let st = log.stats();
        let on_disk = seqs(&dir);
        assert_eq!(on_disk, (0..600).collect::<Vec<_>>(), "{durability:?}");
        assert_eq!(st.records, 1300, "{durability:?}");
        assert_eq!(
            st.lost_records,
            1300 - on_disk.len() as u64,
            "{durability:?}: every record not on disk is counted"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Sealing a segment (its footer and the sync of the whole file) happens off the collector:
/// with a disk whose every sync takes 150 ms, rolling over a dozen segments does not hold up
/// the flushes under `EveryBatch`, and every segment is sealed by the time the log closes.
#[test]
fn a_slow_seal_does_not_hold_up_the_collector() {
    let dir = temp_dir("slow-seal");
    let fs = FaultFs::default();
    fs.0.lock().unwrap().slow_sync = Duration::from_millis(150);
    let log = SegmentLog::options(&dir)
        .fs(Arc::new(fs.clone()))
        .segment_bytes(8 * 1024)
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    let log = tw.segment_log().unwrap();
    let t = Instant::now();
    for seq in 0..6000u64 {
        event!(tw, Level::Info, "tick", seq = seq);
        if seq % 300 == 299 {
            tw.flush().unwrap();
        }
    }
    let took = t.elapsed();
    let segments = std::fs::read_dir(&dir).unwrap().count() as u64;
    assert!(segments >= 12, "{segments} segments");
    // Sealed inline, the seals alone would have held the collector for (segments - 1) x
    // 150 ms; in the background the flushes wait for none of them.
    assert!(
        took < Duration::from_millis(150) * (segments as u32 - 1) / 2,
        "{took:?} for {segments} segments"
    );
    assert_eq!(tw.close(), Ok(()));
    // Closing joined the sealer: every segment is sealed, the last one by the close.
    assert_eq!(log.stats().sealed, segments);
    assert_eq!(log.stats().lost_records, 0);
    assert_eq!(seqs(&dir), (0..6000).collect::<Vec<_>>());
    let report = SegmentLog::options(&dir).open().unwrap().recovery().clone();
    assert_eq!(report.recovered_segments, 0, "nothing left unsealed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A seal that fails in the background (here every sync fails, and under `EveryBatch` only
/// seals sync) is counted, reported as a sink error, and costs no record (a segment whose
/// footer did not make it is sealed by the next open).
#[test]
fn a_failed_background_seal_is_counted_reported_and_loses_nothing() {
    let dir = temp_dir("seal-fails");
    let fs = FaultFs::default();
    fs.0.lock().unwrap().fail_sync = true;
    let log = SegmentLog::options(&dir)
        .fs(Arc::new(fs.clone()))
        .segment_bytes(8 * 1024)
        .open()
        .unwrap();
    let tw = Telemetry::builder().segment_log(log).start().unwrap();
    let log = tw.segment_log().unwrap();
    for seq in 0..3000u64 {
        event!(tw, Level::Info, "tick", seq = seq);
        if seq % 300 == 299 {
            let _ = tw.flush();
        }
    }
    let segments = std::fs::read_dir(&dir).unwrap().count() as u64;
    assert!(segments >= 5, "{segments} segments");
    // Every rolled-over segment's seal has failed...
    let t = Instant::now();
    while log.stats().failed_seals < segments - 1 {
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", log.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = tw.flush();
    // ... and was reported (once or more: failures are reported together).
    assert!(tw.stats().sink_errors >= 1);
    assert_eq!(tw.close(), Ok(()));
    let st = log.stats();
    assert_eq!(
        (st.sealed, st.failed_seals),
        (0, segments),
        "the last one at close too"
    );
    assert_eq!(st.lost_records, 0);
    // The footers were written (only their syncs failed): nothing for recovery to do.
    let report = SegmentLog::options(&dir).open().unwrap().recovery().clone();
    assert_eq!(report.recovered_segments, 0, "{report:?}");
    assert_eq!(report.records, 3000, "{report:?}");
    assert_eq!(seqs(&dir), (0..3000).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}
