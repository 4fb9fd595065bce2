//! Watching a configuration file: [`Telemetry::watch_config`] polls it and reloads the
//! instance when its content changes (no file-notification dependency: one `read` per
//! poll, on a thread of the watch's own).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::reload::Live;
use super::{Config, Telemetry};

/// What a [`ConfigWatch`] has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConfigWatchStats {
    /// Polls of the file.
    pub polls: u64,
    /// Changes acted on: content that differed from the last applied or refused one and read
    /// the same on two polls in a row (a file caught half written is not acted on).
    pub changes: u64,
    /// Reloads that applied.
    pub applied: u64,
    /// Reloads refused (unreadable or invalid file, a fixed key changed): each is in the
    /// audit, the `tickwatch.config` health component and the
    /// [`CONFIG_RELOAD_FAILED`](crate::alerts::CONFIG_RELOAD_FAILED) alert.
    pub refused: u64,
}

#[derive(Default)]
struct Counters {
    polls: AtomicU64,
    changes: AtomicU64,
    applied: AtomicU64,
    refused: AtomicU64,
}

/// A running watch of a configuration file ([`Telemetry::watch_config`]). Stops when
/// dropped, with [`stop`](Self::stop), or at its first poll after the instance is dropped.
#[must_use = "the watch stops when this guard is dropped"]
pub struct ConfigWatch {
    stop: Arc<(Mutex<bool>, Condvar)>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatch")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ConfigWatch {
    /// What the watch has done so far.
    pub fn stats(&self) -> ConfigWatchStats {
        let c = &self.counters;
        ConfigWatchStats {
            polls: c.polls.load(Relaxed),
            changes: c.changes.load(Relaxed),
            applied: c.applied.load(Relaxed),
            refused: c.refused.load(Relaxed),
        }
    }

    /// Stops polling and joins the thread (a reload in progress completes first).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.halt();
    }
}

impl Telemetry {
    /// Reloads the instance from the TOML file at `path` (with the process's `TICKWATCH_*`
    /// overrides, as [`Config::load`]) whenever its content changes, polling every `every`
    /// (at least 1 ms). A change is acted on once two polls in a row read the same new
    /// content (so within two intervals; a file caught half written, as an editor saving in
    /// place may leave it for a moment, is not). Each change is one
    /// [`reload_as`](Telemetry::reload_as) with actor
    /// `file:<path>`: applied, or refused with the running configuration kept and the
    /// refusal audited, shown in health and alerted. The file's content now is the
    /// baseline: it is not applied (start the instance from it).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let config = tickwatch::Config::load("tickwatch.toml")?;
    /// let tw = tickwatch::Telemetry::from_config(config)?;
    /// let _watch = tw.watch_config("tickwatch.toml", Duration::from_secs(1))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch_config(
        &self,
        path: impl AsRef<Path>,
        every: Duration,
    ) -> std::io::Result<ConfigWatch> {
        let path = path.as_ref().to_path_buf();
        let baseline = std::fs::read(&path)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let counters = Arc::new(Counters::default());
        // Weak: dropping the instance ends the watch at its next poll.
        let live = Arc::downgrade(&self.live);
        let thread = std::thread::Builder::new()
            .name("tickwatch-config-watch".into())
            .spawn({
                let (stop, counters) = (stop.clone(), counters.clone());
                move || poll(&live, &path, baseline, every, &stop, &counters)
            })?;
        Ok(ConfigWatch {
            stop,
            counters,
            thread: Some(thread),
        })
    }
}

fn poll(
    live: &Weak<Live>,
    path: &PathBuf,
    mut last: Vec<u8>,
    every: Duration,
    stop: &(Mutex<bool>, Condvar),
    counters: &Counters,
) {
    let every = every.max(Duration::from_millis(1));
    let actor = format!("file:{}", path.display());
    let (lock, wake) = stop;
    // The last content read that differed from `last`, waiting to be read again unchanged.
    let mut seen: Option<Vec<u8>> = None;
    loop {
        {
            let stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (stopped, _) = wake
                .wait_timeout_while(stopped, every, |s| !*s)
                .unwrap_or_else(|e| e.into_inner());
            if *stopped {
                return;
            }
        }
        if live.strong_count() == 0 {
            return; // the instance is gone: nothing left to reload
        }
        counters.polls.fetch_add(1, Relaxed);
        // A file being rewritten in place (truncate, then write) can be read half written,
        // or empty: a change is acted on once two polls in a row read the same content.
        let now = std::fs::read(path).unwrap_or_default();
        if now == last {
            seen = None;
            continue;
        }
        if seen.as_ref() != Some(&now) {
            seen = Some(now);
            continue;
        }
        seen = None;
        counters.changes.fetch_add(1, Relaxed);
        let parsed = match std::str::from_utf8(&now) {
            Ok(text) => Config::from_toml_with_env(text, std::env::vars()),
            Err(_) => Config::load(path),
        };
        last = now;
        let Some(live) = live.upgrade() else {
            return; // the instance is gone
        };
        match live.reload_read(parsed, &actor) {
            Ok(_) => counters.applied.fetch_add(1, Relaxed),
            Err(_) => counters.refused.fetch_add(1, Relaxed),
        };
    }
}
