//! Where tickwatch's own threads run: a name and a CPU set for the collector, the HTTP
//! endpoint and the exporters ([`ThreadPlacement`]), and [`pin_current_thread`] for the
//! trading threads themselves.
//!
//! A trading engine keeps its hot threads on cores of their own (often isolated with
//! `isolcpus`/`nohz_full`); the collector must then run elsewhere, or every wake-up of it
//! evicts a trading thread for tens of microseconds. Pinning is Linux's
//! `sched_setaffinity(2)`; on other systems it is a documented no-op (the thread is still
//! named).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A thread's name and the CPUs it may run on.
///
/// The default (no name, no CPUs) keeps tickwatch's own name and lets the OS place the thread
/// anywhere. In a configuration file, `{ name = "tw-collector", cpus = [1] }`.
///
/// ```
/// use tickwatch::{Telemetry, ThreadPlacement};
/// let tw = Telemetry::builder()
///     .collector_placement(ThreadPlacement::new().name("md-collector").cpus([0]))
///     .start()
///     .unwrap();
/// # tw.shutdown().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ThreadPlacement {
    /// The thread's name (as `top -H` and `ps -L` show it; Linux keeps the first 15 bytes).
    /// `None`: tickwatch's own (`tickwatch-collector-1`, ...).
    pub name: Option<String>,
    /// The CPUs (as numbered by the OS, `0..` up to the machine's count) the thread may run
    /// on. Empty: anywhere.
    pub cpus: Vec<usize>,
}

impl ThreadPlacement {
    /// No name, no CPU set: the OS decides.
    pub fn new() -> ThreadPlacement {
        ThreadPlacement::default()
    }

    /// Names the thread.
    pub fn name(mut self, name: impl Into<String>) -> ThreadPlacement {
        self.name = Some(name.into());
        self
    }

    /// Restricts the thread to these CPUs.
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> ThreadPlacement {
        self.cpus = cpus.into_iter().collect();
        self
    }

    /// Checks the CPU set against [`MAX_CPU`] (whether the CPUs exist is only known when the
    /// thread is pinned: a machine can lose CPUs between start-up and then).
    pub fn validate(&self) -> Result<(), PinError> {
        if let Some(&cpu) = self.cpus.iter().find(|&&c| c >= MAX_CPU) {
            return Err(PinError::CpuOutOfRange { cpu });
        }
        Ok(())
    }

    /// The name to give the thread: this placement's, or `default`.
    pub(crate) fn thread_name(&self, default: impl FnOnce() -> String) -> String {
        self.name.clone().unwrap_or_else(default)
    }

    /// Pins the calling thread to this placement's CPUs (nothing if there are none).
    pub(crate) fn apply(&self) -> Result<(), PinError> {
        if self.cpus.is_empty() {
            return Ok(());
        }
        pin_current_thread(&self.cpus)
    }
}

/// Why a placed thread did not start.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// The OS refused a thread.
    Io(std::io::Error),
    /// The thread started but could not be pinned; it ended without running its work.
    Pin(PinError),
}

/// Spawns a thread named by `placement` (or `default_name`), pins it there, and runs `work`
/// on it. Waits until the thread is pinned, so that a CPU set the OS refuses is the caller's
/// error (the thread then ends without running `work`), not a thread silently running
/// elsewhere.
pub(crate) fn spawn_placed(
    placement: &ThreadPlacement,
    default_name: impl FnOnce() -> String,
    work: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, SpawnError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let pin = placement.clone();
    let handle = std::thread::Builder::new()
        .name(placement.thread_name(default_name))
        .spawn(move || {
            let pinned = pin.apply();
            let ok = pinned.is_ok();
            let _ = tx.send(pinned);
            if ok {
                work();
            }
        })
        .map_err(SpawnError::Io)?;
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(SpawnError::Pin(e))
        }
        // The thread ended before reporting: only a panic in `apply` could do that.
        Err(_) => {
            let _ = handle.join();
            Err(SpawnError::Io(std::io::Error::other(
                "the thread ended before it was placed",
            )))
        }
    }
}

/// Waits at most `timeout` for a sender thread to say it is done (or to end without saying),
/// then joins it; `false` if the time ran out, leaving the thread detached (it ends after its
/// current request). The exporters' stop: one bounded wait, never a join that could hang.
#[cfg(any(feature = "otlp", feature = "alertmanager"))]
pub(crate) fn join_within(
    done: &std::sync::mpsc::Receiver<()>,
    handle: &mut Option<std::thread::JoinHandle<()>>,
    timeout: std::time::Duration,
) -> bool {
    match done.recv_timeout(timeout) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
            true
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
    }
}

/// The highest CPU number + 1 a set can name (the kernel's `CPU_SETSIZE`, 1,024).
pub const MAX_CPU: usize = 1024;

/// Why a thread could not be pinned. Pinning happens on the new thread itself, before it
/// does any work; the thread's owner (`start()`, `MetricsEndpoint::serve`,
/// the exporters' `start`) waits for it and returns this error rather than run a thread
/// somewhere it was not meant to be.
#[derive(Debug)]
#[non_exhaustive]
pub enum PinError {
    /// The set is empty: name at least one CPU.
    EmptySet,
    /// A CPU number at or above [`MAX_CPU`]: CPUs are numbered from 0 as
    /// `/sys/devices/system/cpu/online` lists them.
    CpuOutOfRange {
        /// The CPU named.
        cpu: usize,
    },
    /// The OS refused (`EINVAL`: none of the CPUs is online or allowed to this process, e.g.
    /// outside its cgroup's cpuset; `EPERM`: not allowed).
    Os(std::io::Error),
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::EmptySet => write!(f, "empty CPU set: name at least one CPU"),
            PinError::CpuOutOfRange { cpu } => write!(
                f,
                "CPU {cpu} is out of range (at most {}); CPUs are numbered from 0, see /sys/devices/system/cpu/online",
                MAX_CPU - 1
            ),
            PinError::Os(e) => write!(
                f,
                "the OS refused the CPU set ({e}); check that the CPUs are online and in this process's cpuset (taskset -p, /sys/fs/cgroup)"
            ),
        }
    }
}

impl std::error::Error for PinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PinError::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// Restricts the calling thread to `cpus` (Linux: `sched_setaffinity(2)`; elsewhere a no-op
/// that returns `Ok`). For a trading thread that should keep a core of its own:
///
/// ```
/// // CPU 0 exists wherever this runs.
/// tickwatch::pin_current_thread(&[0]).unwrap();
/// assert!(tickwatch::pin_current_thread(&[]).is_err());
/// ```
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), PinError> {
    if cpus.is_empty() {
        return Err(PinError::EmptySet);
    }
    if let Some(&cpu) = cpus.iter().find(|&&c| c >= MAX_CPU) {
        return Err(PinError::CpuOutOfRange { cpu });
    }
    os::pin(cpus)
}

#[cfg(all(target_os = "linux", not(miri)))]
mod os {
    use super::PinError;
    use rustix::thread::{sched_setaffinity, CpuSet};

    pub(super) fn pin(cpus: &[usize]) -> Result<(), PinError> {
        let mut set = CpuSet::new();
        for &cpu in cpus {
            if cpu >= CpuSet::MAX_CPU {
                return Err(PinError::CpuOutOfRange { cpu });
            }
            set.set(cpu);
        }
        sched_setaffinity(None, &set).map_err(|e| PinError::Os(e.into()))
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
mod os {
    use super::PinError;

    /// A no-op: this system has no `sched_setaffinity` (documented on the public function).
    pub(super) fn pin(_cpus: &[usize]) -> Result<(), PinError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sets_are_typed_errors() {
        assert!(matches!(pin_current_thread(&[]), Err(PinError::EmptySet)));
        assert!(matches!(
            pin_current_thread(&[MAX_CPU]),
            Err(PinError::CpuOutOfRange { cpu: MAX_CPU })
        ));
        let p = ThreadPlacement::new().cpus([3, MAX_CPU + 5]);
        assert!(matches!(
            p.validate(),
            Err(PinError::CpuOutOfRange { cpu }) if cpu == MAX_CPU + 5
        ));
        assert!(
            ThreadPlacement::new().apply().is_ok(),
            "no CPUs: nothing to do"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pins_and_the_os_sees_it() {
        // On a thread of its own, so the test runner's threads keep their placement.
        std::thread::spawn(|| {
            pin_current_thread(&[0]).unwrap();
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            let allowed = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .unwrap()
                .trim()
                .to_owned();
            assert_eq!(allowed, "0");
            // A CPU this machine does not have (but below MAX_CPU) alone: the OS refuses.
            assert!(matches!(
                pin_current_thread(&[MAX_CPU - 1]),
                Err(PinError::Os(_))
            ));
        })
        .join()
        .unwrap();
    }
}
