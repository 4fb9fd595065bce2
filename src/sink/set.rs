//! [`SinkSet`]: one sink whose members can be replaced while the engine runs.
//!
//! Why: the collector owns the sinks it was started with, but a live configuration reload
//! may add sinks and remove others. The set is one of those sinks; changes queued through its
//! handle apply on the collector thread at a batch boundary, so no record is lost and none
//! is duplicated, and removed sinks are flushed, then closed. (This module is private: the
//! full account, with an example, is on [`SinkSet`].)

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Batch, Record, Replay, Sink, SinkError, SinkNotice};

/// A sink that hands every call to each of its members, in order, and whose members can be
/// replaced while the engine runs: live reload of the sink set.
///
/// The collector owns the sinks it was started with. A configuration reload may name other
/// sinks: new ones to add, old ones to close. Start a `SinkSet` as one of the collector's
/// sinks; its [`SinkSetHandle`] queues a [`SinkSetChange`] from any thread, and the set
/// applies it on the collector thread at a batch boundary: at the start of its next `write`,
/// `write_records`, `end_pass`, `tick` or `flush` call. So every batch goes to exactly the
/// members present when it was written (no record is lost, none reaches a member twice), and
/// a removed member is flushed, then dropped (closing its file), before any later batch.
/// With nothing queued, a call costs one atomic load more than its members'.
///
/// Member names are unique: a member added under a name already present replaces it.
/// A failing (or panicking) member does not stop the others; the call returns one error
/// naming every member that failed, counted once in `Stats::sink_errors`.
///
/// [`Sink::counters`] is `None`: the collector asks for them once, at start, and the members
/// change. [`Sink::write_records`] goes to every member, so a [`crate::recovery::Spool`]
/// belongs around a member rather than around the set.
///
/// ```
/// use std::time::Duration;
/// use tickwatch::sink::{MemorySink, SinkSet, SinkSetChange};
///
/// let (old, new) = (MemorySink::new(), MemorySink::new());
/// let (set, handle) = SinkSet::new(vec![("old".into(), Box::new(old.clone()))]);
/// let tw = tickwatch::Telemetry::builder().sink(set).start()?;
/// tw.counter("orders", &[]).add(1);
/// tw.flush()?;
/// let change = SinkSetChange::default().removing("old").adding("new", new.clone());
/// let generation = handle.change(change);
/// tw.counter("orders", &[]).add(1);
/// tw.flush()?; // the change applies before this batch is written
/// assert!(handle.wait_applied(generation, Duration::from_secs(5)));
/// assert_eq!(handle.members(), ["new"]);
/// assert_eq!((old.len(), new.len()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SinkSet {
    name: String,
    members: Vec<Member>,
    shared: Arc<Shared>,
    /// A notice of the set's own (a degraded member removed), given before the members'.
    notice: Option<SinkNotice>,
}

struct Member {
    name: String,
    sink: Box<dyn Sink>,
    /// Its last notice said degraded.
    degraded: bool,
}

/// Queues changes to a [`SinkSet`] from any thread and tells when they are applied.
/// Clones share the set.
#[derive(Clone, Debug)]
pub struct SinkSetHandle {
    shared: Arc<Shared>,
}

/// One change to a [`SinkSet`]'s members: `remove` first, then `add`.
///
/// Each removed member (by name) is flushed, then dropped; a name no member has is ignored
/// (counted: [`SinkSetHandle::unknown_removals`]). Then each added member is appended at the
/// end, in order. A name both removed and added is a replacement; adding a name that is
/// already present (and not removed) replaces that member the same way: flushed, dropped,
/// then the new one appended.
#[derive(Default)]
pub struct SinkSetChange {
    /// Names of the members to flush and drop.
    pub remove: Vec<String>,
    /// Members to append, with their names.
    pub add: Vec<(String, Box<dyn Sink>)>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Something is in `queue`: the one load a call makes when nothing is.
    pending: AtomicBool,
    queue: Mutex<Queue>,
    applied: Mutex<Applied>,
    applied_cv: Condvar,
    /// `applied.generation`, readable without the lock.
    applied_generation: AtomicU64,
    unknown_removals: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    issued: u64,
    changes: Vec<(u64, SinkSetChange)>,
    /// The set is gone: changes are dropped, never applied.
    closed: bool,
}

#[derive(Debug, Default)]
struct Applied {
    generation: u64,
    members: Vec<String>,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The members that failed during one call.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Runs `f` on `m`'s sink, noting an error or a panic against it.
    fn call(
        &mut self,
        m: &mut Member,
        what: &str,
        f: impl FnOnce(&mut dyn Sink) -> Result<(), SinkError>,
    ) {
        let failure = match catch_unwind(AssertUnwindSafe(|| f(&mut *m.sink))) {
            Ok(Ok(())) => return,
            // The cause, without `SinkError`'s "sink failed: " once more.
            Ok(Err(e)) => match std::error::Error::source(&e) {
                Some(why) => format!("failed in {what}: {why}"),
                None => format!("failed in {what}: {e}"),
            },
            Err(_) => format!("panicked in {what}"),
        };
        self.0.push(format!("member {:?} {failure}", m.name));
    }

    fn into_result(self, set: &str) -> Result<(), SinkError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SinkError::new(format!("{set}: {}", self.0.join("; "))))
        }
    }
}

impl SinkSet {
    /// A set of `members` (name, sink), in order, and the handle that changes them. A name
    /// given twice keeps the later sink.
    pub fn new(members: Vec<(String, Box<dyn Sink>)>) -> (SinkSet, SinkSetHandle) {
        let shared = Arc::new(Shared::default());
        let mut set = SinkSet {
            name: "sink_set".to_owned(),
            members: Vec::new(),
            shared: shared.clone(),
            notice: None,
        };
        // A duplicate's flush failure (it has been written nothing) is of no interest.
        let add = SinkSetChange {
            add: members,
            ..SinkSetChange::default()
        };
        set.apply(add, &mut Failures::default());
        lock(&shared.applied).members = set.member_names();
        (set, SinkSetHandle { shared })
    }

    /// The set's name ([`Sink::name`]), `"sink_set"` unless given here: its health component
    /// is `tickwatch.sink.<name>`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Applies the queued changes, if any (one atomic load when there are none).
    fn apply_pending(&mut self, failures: &mut Failures) {
        if !self.shared.pending.load(Acquire) {
            return;
        }
        let changes = {
            let mut q = lock(&self.shared.queue);
            self.shared.pending.store(false, Relaxed);
            std::mem::take(&mut q.changes)
        };
        for (generation, change) in changes {
            self.apply(change, failures);
            let mut applied = lock(&self.shared.applied);
            applied.generation = generation;
            applied.members = self.member_names();
            self.shared.applied_generation.store(generation, Release);
            drop(applied);
            self.shared.applied_cv.notify_all();
        }
    }

    fn apply(&mut self, change: SinkSetChange, failures: &mut Failures) {
        for name in &change.remove {
            if !self.retire(name, failures) {
                self.shared.unknown_removals.fetch_add(1, Relaxed);
            }
        }
        for (name, sink) in change.add {
            self.retire(&name, failures);
            self.members.push(Member {
                name,
                sink,
                degraded: false,
            });
        }
    }

    /// Flushes and drops the member called `name`; false if there is none.
    fn retire(&mut self, name: &str, failures: &mut Failures) -> bool {
        let Some(i) = self.members.iter().position(|m| m.name == name) else {
            return false;
        };
        let mut m = self.members.remove(i);
        failures.call(&mut m, "flush before removal", |s| s.flush());
        if let Ok(Some(n)) = catch_unwind(AssertUnwindSafe(|| m.sink.take_notice())) {
            m.degraded = n.degraded;
        }
        if m.degraded {
            self.notice = Some(SinkNotice {
                degraded: self.members.iter().any(|m| m.degraded),
                message: format!("member {name:?} removed while degraded"),
            });
        }
        if catch_unwind(AssertUnwindSafe(|| drop(m))).is_err() {
            failures
                .0
                .push(format!("member {name:?} panicked when dropped"));
        }
        true
    }

    /// Applies pending changes, then runs `f` on every member.
    fn each(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut dyn Sink) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let mut failures = Failures::default();
        self.apply_pending(&mut failures);
        for m in &mut self.members {
            failures.call(m, what, &mut f);
        }
        failures.into_result(&self.name)
    }
}

impl Sink for SinkSet {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.each("write", |s| s.write(batch))
    }

    fn end_pass(&mut self) -> Result<(), SinkError> {
        self.each("end_pass", |s| s.end_pass())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.each("flush", |s| s.flush())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        self.each("tick", |s| s.tick())
    }

    /// The set's own notice first (a degraded member removed), then the first member's
    /// found, its message prefixed with the member's name. `degraded` is the set's condition:
    /// true while any member's last notice said degraded.
    fn take_notice(&mut self) -> Option<SinkNotice> {
        if let Some(n) = self.notice.take() {
            return Some(n);
        }
        let mut message = None;
        for m in &mut self.members {
            if let Some(n) = m.sink.take_notice() {
                m.degraded = n.degraded;
                message = Some(format!("{}: {}", m.name, n.message));
                break;
            }
        }
        Some(SinkNotice {
            message: message?,
            degraded: self.members.iter().any(|m| m.degraded),
        })
    }

    fn write_records(&mut self, records: &[Record], replay: Replay) -> Result<(), SinkError> {
        self.each("write_records", |s| s.write_records(records, replay))
    }
}

impl Drop for SinkSet {
    fn drop(&mut self) {
        let discarded = {
            let mut q = lock(&self.shared.queue);
            q.closed = true;
            std::mem::take(&mut q.changes)
        };
        drop(discarded);
        lock(&self.shared.applied).closed = true;
        self.shared.applied_cv.notify_all();
    }
}

impl fmt::Debug for SinkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkSet")
            .field("name", &self.name)
            .field("members", &self.member_names())
            .finish_non_exhaustive()
    }
}

impl SinkSetHandle {
    /// Queues `change` and returns its generation (1 for the first change, then 2, ...).
    /// Changes apply in generation order, on the collector thread, before the set's next
    /// call: the next batch written, or within a `monitor_tick` (1 s) in a quiet process.
    /// After the set is dropped (the instance shut down), the change is dropped unapplied.
    pub fn change(&self, change: SinkSetChange) -> u64 {
        let mut q = lock(&self.shared.queue);
        q.issued += 1;
        let generation = q.issued;
        if q.closed {
            drop(q);
            drop(change);
        } else {
            q.changes.push((generation, change));
            self.shared.pending.store(true, Release);
        }
        generation
    }

    /// The generation of the last change applied (0 before any).
    pub fn applied(&self) -> u64 {
        self.shared.applied_generation.load(Acquire)
    }

    /// Waits (blocking, on a condition variable) at most `timeout` until change `generation`
    /// is applied; false if it was not by then, or if the set is gone.
    pub fn wait_applied(&self, generation: u64, timeout: Duration) -> bool {
        let applied = lock(&self.shared.applied);
        let cv = &self.shared.applied_cv;
        let waited =
            cv.wait_timeout_while(applied, timeout, |a| a.generation < generation && !a.closed);
        let (applied, _) = waited.unwrap_or_else(PoisonError::into_inner);
        applied.generation >= generation
    }

    /// The members' names, in order, as of the last change applied.
    pub fn members(&self) -> Vec<String> {
        lock(&self.shared.applied).members.clone()
    }

    /// How many names given to remove matched no member, over all applied changes.
    pub fn unknown_removals(&self) -> u64 {
        self.shared.unknown_removals.load(Relaxed)
    }
}

impl SinkSetChange {
    /// Adds `name` to the names to remove.
    #[must_use]
    pub fn removing(mut self, name: impl Into<String>) -> Self {
        self.remove.push(name.into());
        self
    }

    /// Adds `sink`, called `name`, to the members to append.
    #[must_use]
    pub fn adding(mut self, name: impl Into<String>, sink: impl Sink) -> Self {
        self.add.push((name.into(), Box::new(sink)));
        self
    }
}

/// Names only: the sinks themselves need not be `Debug`.
impl fmt::Debug for SinkSetChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let added: Vec<&str> = self.add.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SinkSetChange")
            .field("remove", &self.remove)
            .field("add", &added)
            .finish()
    }
}
