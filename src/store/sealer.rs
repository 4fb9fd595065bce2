//! The background sealer of [`SegmentLog`](super::SegmentLog): a rolled-over segment's
//! footer, its `fdatasync`, the directory sync and retention, on a thread of its own so that
//! a roll costs the collector a pending write and a channel send.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::active::{write_out, Active};
use super::footer::{trailer, FooterBuilder};
use super::format::frame;
use super::seal;
use super::LogShared;
use crate::security::crypto::KeyRing;

/// What the background sealer needs to seal a segment and apply retention.
#[derive(Debug)]
pub(super) struct SealCtx {
    pub(super) dir: std::path::PathBuf,
    pub(super) fs: Arc<dyn super::fs::LogFs>,
    pub(super) ring: Option<Arc<KeyRing>>,
    pub(super) sync: bool,
    pub(super) retain_bytes: Option<u64>,
    pub(super) retain_age: Option<std::time::Duration>,
    pub(super) shared: Arc<LogShared>,
}

/// Writes a rolled-over segment's footer and trailer, syncs it (if the options say so),
/// closes it and applies retention. Runs on the sealer thread.
pub(super) fn seal_segment(ctx: &SealCtx, mut seg: Active) -> io::Result<()> {
    let footer = std::mem::replace(&mut seg.footer, FooterBuilder::new()).finish();
    let mut tail = Vec::new();
    let at = seg.len;
    let mut payload = Vec::new();
    footer.encode_payload(&mut payload);
    seal::append_frame(
        ctx.ring.as_deref(),
        seg.seq,
        seg.counter,
        frame::FOOTER,
        &payload,
        &mut tail,
    )
    .map_err(io::Error::other)?;
    tail.extend_from_slice(&trailer(at));
    write_out(&mut seg, &mut tail)?;
    if ctx.sync {
        seg.file.sync()?;
    }
    let seq = seg.seq;
    drop(seg);
    ctx.shared.stats.sealed.fetch_add(1, Relaxed);
    super::retention::apply(
        &ctx.dir,
        &*ctx.fs,
        ctx.retain_bytes,
        ctx.retain_age,
        ctx.ring.as_deref(),
        // Only up to the segment just sealed: the writer is already in a newer one.
        seq,
    );
    Ok(())
}

/// Work for the sealer thread, done in order.
pub(super) enum Job {
    /// Seal a rolled-over segment.
    Seal(SealCtx, Box<Active>),
    /// Sync the directory (a new segment's name). An error is ignored, as it always was: the
    /// directory is synced again with the next segment.
    SyncDir(std::path::PathBuf, Arc<dyn super::fs::LogFs>),
}

impl Job {
    pub(super) fn run(self) -> Result<(), String> {
        match self {
            Job::Seal(ctx, seg) => seal_segment(&ctx, *seg).map_err(|e| {
                ctx.shared.stats.failed_seals.fetch_add(1, Relaxed);
                format!(
                    "segment log: sealing a segment in {} failed (its records are whole; a segment left without its footer is sealed by the next open): {e}",
                    ctx.dir.display()
                )
            }),
            Job::SyncDir(dir, fs) => {
                let _ = fs.sync_dir(&dir);
                Ok(())
            }
        }
    }
}

/// How far the sealer has got.
#[derive(Debug, Default)]
pub(super) struct SealerProgress {
    submitted: u64,
    done: u64,
    /// Seals that failed since the collector last looked, and the last error.
    failed: u64,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct SealerState {
    progress: parking_lot::Mutex<SealerProgress>,
    cv: parking_lot::Condvar,
}

/// The background sealer: one thread, started at the first seal, joined at close. A roll
/// costs the collector a pending write and a channel send; the footer, the `fdatasync` of
/// the whole segment and retention happen here.
#[derive(Debug, Default)]
pub(super) struct Sealer {
    tx: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    state: Arc<SealerState>,
}

impl Sealer {
    pub(super) fn submit(&mut self, job: Job) {
        if self.tx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let state = self.state.clone();
            let spawned = std::thread::Builder::new()
                .name("tickwatch-sealer".into())
                .spawn(move || {
                    for job in rx {
                        let r = job.run();
                        let mut p = state.progress.lock();
                        p.done += 1;
                        if let Err(e) = r {
                            p.failed += 1;
                            p.last_error = Some(e);
                        }
                        state.cv.notify_all();
                    }
                });
            match spawned {
                Ok(h) => {
                    self.tx = Some(tx);
                    self.thread = Some(h);
                }
                Err(_) => {
                    // No thread: do it on the collector, as before.
                    self.run_inline(job);
                    return;
                }
            }
        }
        self.state.progress.lock().submitted += 1;
        if let Some(tx) = &self.tx {
            if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
                // The thread is gone (it panicked): do it here.
                self.state.progress.lock().submitted -= 1;
                self.run_inline(job);
            }
        }
    }

    pub(super) fn run_inline(&self, job: Job) {
        if let Err(e) = job.run() {
            let mut p = self.state.progress.lock();
            p.failed += 1;
            p.last_error = Some(e);
        }
    }

    /// Waits until every seal submitted is done; the first error not yet reported.
    pub(super) fn wait_idle(&self) -> io::Result<()> {
        let mut p = self.state.progress.lock();
        while p.done < p.submitted {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                break;
            }
            self.state
                .cv
                .wait_for(&mut p, std::time::Duration::from_millis(100));
        }
        drop(p);
        self.take_error()
    }

    /// The seals that failed since the last call, as one error.
    pub(super) fn take_error(&self) -> io::Result<()> {
        let mut p = self.state.progress.lock();
        if p.failed == 0 {
            return Ok(());
        }
        let n = std::mem::take(&mut p.failed);
        let e = p.last_error.take().unwrap_or_default();
        Err(io::Error::other(format!("{n} seal(s) failed; last: {e}")))
    }

    /// Seals what was submitted and stops the thread.
    pub(super) fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
