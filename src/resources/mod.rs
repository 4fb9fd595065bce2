//! Resource sampling: what the process costs (CPU, resident memory, threads, open file
//! descriptors) and what tickwatch itself costs (the collector thread's CPU, split into the
//! time spent inside the sinks and the collector's own work; records per second, drops,
//! ring fill), one [`ResourceSample`] per call of [`ResourceSampler::sample`].
//!
//! Linux only: everything is read from procfs, by direct parsing (no `unsafe`, no
//! dependency). Elsewhere, or in a container without `/proc`, `sample` returns
//! [`SampleError::Unavailable`].
//!
//! The sampler is meant to run **on the collector thread**, on its periodic tick: the
//! collector's own CPU time is read from `/proc/thread-self`, that is, from whichever
//! thread calls `sample`. Rates (CPU ratios, records per second, drops) are computed from
//! the previous call's readings; the first sample has none. (An instance's sampler gets a
//! baseline when the instance starts, so its first sample, at the collector's first tick,
//! already has rates over the time since start.)
//!
//! **Sink time and the collector's own work.** The collector thread's CPU is measured (below).
//! Where the thread's CPU clock can be read (Linux), the collector also measures the CPU its
//! sinks take ([`PipelineCounters::sink_cpu_ns`]: the clock read around every flush and
//! around a random 1 in 16 batches, scaled up; ~250 ns per reading, so ~0.01 % of a core at
//! 4,000 batches/s), and the split is direct: the sinks' CPU is the logging cost, the rest of
//! the thread's CPU the collector's own. Elsewhere the split is apportioned by wall time.
//! The collector counts the wall time it spends inside `Sink::write` and `Sink::flush`
//! ([`PipelineCounters::sink_ns`]) and the time it sleeps ([`PipelineCounters::sleep_ns`]);
//! the rest of the interval it was awake. The sinks' share of the awake time, times the
//! thread's CPU, is [`ResourceSample::sink_cpu_ratio`] (the logging cost); the remainder is
//! [`ResourceSample::collector_own_cpu_ratio`] (draining, decoding, aggregation, tasks: the
//! monitoring cost). Apportioning, rather than subtracting the sinks' wall time from the
//! CPU, keeps the split right when the machine is busy: time the thread spent preempted
//! (inside a sink or not) counts on both sides in proportion instead of all against the
//! collector. A sink blocked on I/O is charged CPU only for the share of the awake time it
//! took, and shows as collector lag rather than as cost.
//!
//! Process CPU comes from `/proc/self/stat` (`utime + stime`, all threads, in clock ticks of
//! `USER_HZ`, which is 100 on every Linux architecture tickwatch runs on; see
//! [`ResourceSampler::with_clock_ticks`]). The calling thread's CPU comes from
//! `/proc/thread-self/schedstat`, in nanoseconds, falling back to
//! `/proc/thread-self/stat` in ticks when schedstat is missing. The kernel brings a running
//! thread's counter up to date at scheduler ticks and context switches, so a thread reading
//! its own lags by up to one scheduler tick (1-4 ms): negligible over the default 1 s
//! interval, noise over a few milliseconds.
//!
//! ```no_run
//! use tickwatch::resources::{PipelineCounters, ResourceSampler};
//! use tickwatch::Timestamp;
//!
//! let mut sampler = ResourceSampler::new();
//! let t0 = Timestamp::from_unix_nanos(1_000_000_000);
//! let first = sampler.sample(t0, &PipelineCounters::default())?;
//! assert!(first.process_cpu_ratio.is_none()); // no interval yet
//! let t1 = Timestamp::from_unix_nanos(2_000_000_000);
//! let second = sampler.sample(t1, &PipelineCounters { delivered: 5_000, ..Default::default() })?;
//! assert_eq!(second.records_per_second, Some(5_000.0));
//! for (name, value) in second.gauges() {
//!     println!("{name} {value}");
//! }
//! # Ok::<(), tickwatch::resources::SampleError>(())
//! ```

mod procfs;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::ThreadId;

use crate::Timestamp;

/// Runs every parser on `text` and returns how many accepted it; for the fuzz target
/// (through `tickwatch::__fuzz`). Must never panic.
#[cfg(any(test, fuzzing))]
pub(crate) fn parse_proc_texts(text: &str) -> usize {
    usize::from(procfs::parse_stat(text).is_ok())
        + usize::from(procfs::parse_status(text).is_ok())
        + usize::from(procfs::parse_schedstat(text).is_ok())
}

/// The counters the collector has about its own pipeline, as running totals: the sampler
/// takes the differences. Every field defaults to 0.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelineCounters {
    /// Records delivered to the sinks since start (`Stats::delivered`).
    pub delivered: u64,
    /// Records dropped since start (`Stats::dropped`, retired threads included).
    pub dropped: u64,
    /// Largest ring fill seen, in bytes: the maximum over lanes of their high-water mark.
    pub ring_high_water_bytes: u64,
    /// The same as a fraction of the ring's capacity (maximum over lanes of
    /// `high_water / capacity`), 0 to 1.
    pub ring_high_water_ratio: f64,
    /// Nanoseconds the collector has spent inside its sinks (`Sink::write` and
    /// `Sink::flush`) since start: wall time on a monotonic clock.
    pub sink_ns: u64,
    /// Nanoseconds the collector has spent asleep (idle) since start; the rest of the wall
    /// time it was awake. 0 when unknown: the sinks' share is then taken of the whole
    /// interval.
    pub sleep_ns: u64,
    /// CPU time the collector spent inside its sinks since start, nanoseconds, measured on
    /// the thread's CPU clock (sampled batches, every flush), when the platform has one.
    /// When given, it splits the collector's CPU directly instead of the wall-time
    /// apportioning by `sink_ns`.
    #[serde(default)]
    pub sink_cpu_ns: Option<u64>,
}

impl PipelineCounters {
    /// Folds one lane's high-water mark (bytes) and capacity (bytes) into the two
    /// high-water fields.
    pub fn add_lane(&mut self, high_water: u64, capacity: u64) {
        self.ring_high_water_bytes = self.ring_high_water_bytes.max(high_water);
        if capacity > 0 {
            let r = high_water as f64 / capacity as f64;
            self.ring_high_water_ratio = self.ring_high_water_ratio.max(r);
        }
    }
}

/// One reading of the process's and tickwatch's resources. Ratios and rates are over the
/// interval since the previous sample and `None` on the first one (an instance's own sampler
/// has a baseline from its start, so its first sample has them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceSample {
    /// When it was taken (the `now` given to `sample`).
    pub taken_at: Timestamp,
    /// Seconds since the previous sample; 0 on the first.
    pub interval_secs: f64,
    /// CPUs this process may run on (`available_parallelism`: affinity and cgroup quota).
    pub cores: u32,
    /// CPU time of the whole process since it started (user + system), seconds.
    pub process_cpu_secs: f64,
    /// Process CPU over the interval as a fraction of **one** core (2.0 = two cores busy).
    pub process_cpu_ratio: Option<f64>,
    /// The same as a fraction of **all** `cores` (1.0 = every core busy).
    pub process_cpu_ratio_all_cores: Option<f64>,
    /// Resident memory (`VmRSS`), bytes.
    pub resident_bytes: u64,
    /// Threads in the process.
    pub threads: u64,
    /// Open file descriptors (the listing's own descriptor not counted).
    pub open_fds: u64,
    /// CPU time of the thread that called `sample` (the collector), seconds since it
    /// started; `None` when procfs does not expose per-thread time.
    pub collector_cpu_secs: Option<f64>,
    /// The collector thread's CPU over the interval, fraction of one core: tickwatch's whole
    /// background cost, sinks included. `None` on a first sample or when `sample` was called
    /// from a different thread than last time.
    pub collector_cpu_ratio: Option<f64>,
    /// Time spent inside the sinks since start, seconds (wall time: see the module
    /// documentation).
    pub sink_secs: f64,
    /// The collector's CPU spent inside the sinks over the interval, fraction of one core:
    /// `collector_cpu_ratio` times the sinks' share of the collector's awake time (see the
    /// module documentation). The logging cost, held against
    /// [`CostBudget::logging_cpu_ratio`](crate::health::CostBudget). Without a per-thread
    /// CPU reading, the sinks' wall time per second of the interval. `None` on a first
    /// sample.
    pub sink_cpu_ratio: Option<f64>,
    /// The collector's own work over the interval, fraction of one core:
    /// `collector_cpu_ratio - sink_cpu_ratio`. Draining, decoding, aggregation and collector
    /// tasks; held against [`CostBudget::monitoring_cpu_ratio`](crate::health::CostBudget).
    /// `None` when `collector_cpu_ratio` is.
    pub collector_own_cpu_ratio: Option<f64>,
    /// Records delivered since start.
    pub delivered: u64,
    /// Records delivered per second over the interval.
    pub records_per_second: Option<f64>,
    /// Records dropped since start.
    pub dropped_total: u64,
    /// Records dropped during the interval (0 on the first sample).
    pub dropped: u64,
    /// Largest ring fill seen, bytes (as given in [`PipelineCounters`]).
    pub ring_high_water_bytes: u64,
    /// Largest ring fill seen, fraction of capacity.
    pub ring_high_water_ratio: f64,
}

impl ResourceSample {
    /// The gauges to publish for this sample, `(name, value)`; those without a value yet
    /// (rates on a first sample) are left out. Only point-in-time values and rates over the
    /// interval: the running totals (drops, collector CPU seconds) are counters, exported
    /// from `Stats` and the instance's own totals, not gauges.
    ///
    /// `tickwatch_resource_sample_interval_seconds` is the time since the previous sample:
    /// its count is the number of samples and its max the longest gap between two.
    ///
    /// ```
    /// let s = tickwatch::resources::ResourceSample { threads: 7, ..Default::default() };
    /// assert!(s.gauges().contains(&("tickwatch_process_threads", 7.0)));
    /// ```
    pub fn gauges(&self) -> Vec<(&'static str, f64)> {
        let all: [(&'static str, Option<f64>); 12] = [
            ("tickwatch_process_cpu_ratio", self.process_cpu_ratio),
            (
                "tickwatch_process_cpu_ratio_all_cores",
                self.process_cpu_ratio_all_cores,
            ),
            (
                "tickwatch_process_resident_bytes",
                Some(self.resident_bytes as f64),
            ),
            ("tickwatch_process_threads", Some(self.threads as f64)),
            ("tickwatch_process_open_fds", Some(self.open_fds as f64)),
            ("tickwatch_collector_cpu_ratio", self.collector_cpu_ratio),
            (
                "tickwatch_collector_own_cpu_ratio",
                self.collector_own_cpu_ratio,
            ),
            ("tickwatch_sink_cpu_ratio", self.sink_cpu_ratio),
            ("tickwatch_records_per_second", self.records_per_second),
            (
                "tickwatch_ring_high_water_bytes",
                Some(self.ring_high_water_bytes as f64),
            ),
            (
                "tickwatch_ring_high_water_ratio",
                Some(self.ring_high_water_ratio),
            ),
            (
                "tickwatch_resource_sample_interval_seconds",
                (self.interval_secs > 0.0).then_some(self.interval_secs),
            ),
        ];
        all.into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .collect()
    }
}

/// Why [`ResourceSampler::sample`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SampleError {
    /// A procfs file could not be read: not Linux, `/proc` not mounted (some containers),
    /// or not readable. Mount procfs, or leave resource sampling off on this system.
    Unavailable {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A procfs file did not have the expected format: an unusual kernel. Please report it
    /// with the file's content.
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field that could not be read.
        field: &'static str,
    },
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleError::Unavailable { path, source } => write!(
                f,
                "cannot read {}: {source}; resource sampling needs Linux procfs mounted at /proc (mount it, or turn the sampler off)",
                path.display()
            ),
            SampleError::Malformed { path, field } => write!(
                f,
                "unexpected format in {}: cannot read `{field}`; please report this with the file's content",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SampleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SampleError::Unavailable { source, .. } => Some(source),
            SampleError::Malformed { .. } => None,
        }
    }
}

/// What one pass over procfs read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcReadings {
    /// Process `utime + stime`, clock ticks.
    pub(crate) cpu_ticks: u64,
    pub(crate) resident_bytes: u64,
    pub(crate) threads: u64,
    pub(crate) open_fds: u64,
    /// The calling thread's CPU time, nanoseconds.
    pub(crate) thread_cpu_ns: Option<u64>,
}

/// The previous sample's readings, for differences.
#[derive(Debug, Clone, Copy)]
struct Previous {
    at: Timestamp,
    cpu_ticks: u64,
    /// The thread whose CPU `thread_cpu_ns` is; `None` for a baseline taken before the
    /// sampling thread existed (its CPU time was then 0, whichever thread it turns out to
    /// be).
    thread: Option<ThreadId>,
    thread_cpu_ns: Option<u64>,
    delivered: u64,
    dropped: u64,
    sink_ns: u64,
    sleep_ns: u64,
    sink_cpu_ns: Option<u64>,
}

/// Reads the process's resources from procfs and computes rates against the previous
/// reading. Keep one per collector and call [`ResourceSampler::sample`] from the collector
/// thread on each tick.
#[derive(Debug)]
pub struct ResourceSampler {
    root: PathBuf,
    clock_ticks_per_sec: u64,
    cores: u32,
    previous: Option<Previous>,
}

impl Default for ResourceSampler {
    fn default() -> Self {
        Self::new()
    }
}

/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/*/stat`, 100 on x86-64, AArch64 and
/// every other architecture Linux builds with a standard configuration.
pub const DEFAULT_CLOCK_TICKS_PER_SEC: u64 = 100;

impl ResourceSampler {
    /// A sampler on `/proc`.
    pub fn new() -> Self {
        Self::with_proc_root("/proc")
    }

    /// A sampler reading `root` instead of `/proc` (it reads `root/self/stat`,
    /// `root/self/status`, `root/self/fd/` and `root/thread-self/{schedstat,stat}`): for
    /// tests, or a procfs mounted elsewhere.
    pub fn with_proc_root(root: impl AsRef<Path>) -> Self {
        ResourceSampler {
            root: root.as_ref().to_path_buf(),
            clock_ticks_per_sec: DEFAULT_CLOCK_TICKS_PER_SEC,
            cores: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            previous: None,
        }
    }

    /// Sets the clock-tick rate of `/proc/*/stat` (`getconf CLK_TCK`) for an unusual
    /// kernel; 0 is taken as the default.
    pub fn with_clock_ticks(mut self, per_sec: u64) -> Self {
        self.clock_ticks_per_sec = if per_sec == 0 {
            DEFAULT_CLOCK_TICKS_PER_SEC
        } else {
            per_sec
        };
        self
    }

    /// Reads procfs and returns a sample; `now` is the wall-clock time of the tick (a
    /// monotonic source, such as the collector's tick-converted time: if it goes backwards,
    /// that sample has no rates). Call it from the collector thread: `collector_cpu_*` are
    /// the calling thread's. Costs a few tens of microseconds (four small procfs reads and
    /// a directory listing); see the report's measurement.
    pub fn sample(
        &mut self,
        now: Timestamp,
        pipeline: &PipelineCounters,
    ) -> Result<ResourceSample, SampleError> {
        let readings = self.read()?;
        Ok(self.sample_from(now, readings, pipeline, std::thread::current().id()))
    }

    /// Sets the baseline of the next sample to `now`, with `pipeline`'s counters and the
    /// process's CPU time, for a sampling thread **not yet spawned**: its CPU time at this
    /// moment is 0. The instance calls it at start, before spawning the collector, so that
    /// the collector's first sample already has rates. Fails (and leaves no baseline) when
    /// procfs cannot be read.
    pub(crate) fn baseline_before_spawn(
        &mut self,
        now: Timestamp,
        pipeline: &PipelineCounters,
    ) -> Result<(), SampleError> {
        let stat_path = self.root.join("self/stat");
        let stat =
            procfs::parse_stat(&read(&stat_path)?).map_err(|field| malformed(&stat_path, field))?;
        self.previous = Some(Previous {
            at: now,
            cpu_ticks: stat.utime_ticks.saturating_add(stat.stime_ticks),
            thread: None,
            thread_cpu_ns: Some(0),
            delivered: pipeline.delivered,
            dropped: pipeline.dropped,
            sink_ns: pipeline.sink_ns,
            sleep_ns: pipeline.sleep_ns,
            // Before the collector exists its sinks have cost nothing, like its CPU.
            sink_cpu_ns: Some(0),
        });
        Ok(())
    }

    /// The sampling thread's CPU time at the last sample, nanoseconds (`None` before the
    /// first sample or where procfs has no per-thread time).
    pub(crate) fn last_thread_cpu_ns(&self) -> Option<u64> {
        self.previous
            .filter(|p| p.thread.is_some())
            .and_then(|p| p.thread_cpu_ns)
    }

    /// Reads every procfs file the sample needs.
    fn read(&self) -> Result<ProcReadings, SampleError> {
        let stat_path = self.root.join("self/stat");
        let stat =
            procfs::parse_stat(&read(&stat_path)?).map_err(|field| malformed(&stat_path, field))?;
        let status_path = self.root.join("self/status");
        let status = procfs::parse_status(&read(&status_path)?)
            .map_err(|field| malformed(&status_path, field))?;
        let fd_path = self.root.join("self/fd");
        let entries = std::fs::read_dir(&fd_path)
            .map_err(|source| unavailable(&fd_path, source))?
            .count() as u64;
        // On the real procfs the listing's own descriptor is among the entries.
        let open_fds = if self.root == Path::new("/proc") {
            entries.saturating_sub(1)
        } else {
            entries
        };
        Ok(ProcReadings {
            cpu_ticks: stat.utime_ticks.saturating_add(stat.stime_ticks),
            resident_bytes: status.resident_bytes,
            threads: status.threads,
            open_fds,
            thread_cpu_ns: self.thread_cpu_ns(),
        })
    }

    /// The calling thread's CPU time: schedstat (nanoseconds) if present, else stat
    /// (ticks); `None` if neither can be read.
    fn thread_cpu_ns(&self) -> Option<u64> {
        let sched = self.root.join("thread-self/schedstat");
        if let Some(ns) = read(&sched)
            .ok()
            .and_then(|t| procfs::parse_schedstat(&t).ok())
        {
            return Some(ns);
        }
        let stat = read(&self.root.join("thread-self/stat")).ok()?;
        let s = procfs::parse_stat(&stat).ok()?;
        Some(ticks_to_ns(
            s.utime_ticks.saturating_add(s.stime_ticks),
            self.clock_ticks_per_sec,
        ))
    }

    /// The sample from readings: differences against the previous call, then remember.
    pub(crate) fn sample_from(
        &mut self,
        now: Timestamp,
        r: ProcReadings,
        pipeline: &PipelineCounters,
        thread: ThreadId,
    ) -> ResourceSample {
        let ticks = self.clock_ticks_per_sec as f64;
        let mut s = ResourceSample {
            taken_at: now,
            interval_secs: 0.0,
            cores: self.cores,
            process_cpu_secs: r.cpu_ticks as f64 / ticks,
            process_cpu_ratio: None,
            process_cpu_ratio_all_cores: None,
            resident_bytes: r.resident_bytes,
            threads: r.threads,
            open_fds: r.open_fds,
            collector_cpu_secs: r.thread_cpu_ns.map(|ns| ns as f64 / 1e9),
            collector_cpu_ratio: None,
            sink_secs: pipeline.sink_ns as f64 / 1e9,
            sink_cpu_ratio: None,
            collector_own_cpu_ratio: None,
            delivered: pipeline.delivered,
            records_per_second: None,
            dropped_total: pipeline.dropped,
            dropped: 0,
            ring_high_water_bytes: pipeline.ring_high_water_bytes,
            ring_high_water_ratio: pipeline.ring_high_water_ratio,
        };
        if let Some(p) = self.previous {
            // Counters only grow; a smaller reading (a restarted source) counts as no change.
            s.dropped = pipeline.dropped.saturating_sub(p.dropped);
            let dt_ns = now.unix_nanos().saturating_sub(p.at.unix_nanos());
            if dt_ns > 0 {
                let dt = dt_ns as f64 / 1e9;
                s.interval_secs = dt;
                let cpu = r.cpu_ticks.saturating_sub(p.cpu_ticks) as f64 / ticks;
                s.process_cpu_ratio = Some(cpu / dt);
                s.process_cpu_ratio_all_cores = Some(cpu / dt / f64::from(self.cores.max(1)));
                s.records_per_second =
                    Some(pipeline.delivered.saturating_sub(p.delivered) as f64 / dt);
                let sink_ns = pipeline.sink_ns.saturating_sub(p.sink_ns);
                let sleep_ns = pipeline.sleep_ns.saturating_sub(p.sleep_ns);
                let awake_ns = dt_ns.saturating_sub(sleep_ns);
                // The sinks' share of the time the collector was awake.
                let share = if awake_ns > 0 {
                    (sink_ns as f64 / awake_ns as f64).min(1.0)
                } else {
                    0.0
                };
                s.sink_cpu_ratio = Some(sink_ns.min(awake_ns) as f64 / 1e9 / dt);
                // Measured sink CPU, when both readings have it.
                let sink_cpu = match (p.sink_cpu_ns, pipeline.sink_cpu_ns) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
                    _ => None,
                };
                if p.thread.is_none_or(|t| t == thread) {
                    if let (Some(a), Some(b)) = (p.thread_cpu_ns, r.thread_cpu_ns) {
                        let cpu = b.saturating_sub(a) as f64 / 1e9;
                        s.collector_cpu_ratio = Some(cpu / dt);
                        // The sinks' CPU as measured (never more than the thread's), or
                        // else their share of the awake time.
                        let sinks = sink_cpu.map_or(cpu * share, |c| c.min(cpu));
                        s.sink_cpu_ratio = Some(sinks / dt);
                        s.collector_own_cpu_ratio = Some((cpu - sinks) / dt);
                    }
                }
            }
        }
        self.previous = Some(Previous {
            at: now,
            cpu_ticks: r.cpu_ticks,
            thread: Some(thread),
            thread_cpu_ns: r.thread_cpu_ns,
            delivered: pipeline.delivered,
            dropped: pipeline.dropped,
            sink_ns: pipeline.sink_ns,
            sleep_ns: pipeline.sleep_ns,
            sink_cpu_ns: pipeline.sink_cpu_ns,
        });
        s
    }
}

fn ticks_to_ns(ticks: u64, per_sec: u64) -> u64 {
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(per_sec.max(1));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// A procfs file as text. Lossy: a process name (`comm`) may hold any bytes, and the
/// parsers never look inside it.
fn read(path: &Path) -> Result<String, SampleError> {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|source| unavailable(path, source))
}

fn unavailable(path: &Path, source: io::Error) -> SampleError {
    SampleError::Unavailable {
        path: path.to_path_buf(),
        source,
    }
}

fn malformed(path: &Path, field: &'static str) -> SampleError {
    SampleError::Malformed {
        path: path.to_path_buf(),
        field,
    }
}
