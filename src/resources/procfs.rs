//! Parsers for the few `/proc` files the sampler reads. Pure functions of the file's text:
//! they return the name of the field they could not read, never panic (fuzzed by
//! `fuzz/fuzz_targets/proc_parsers.rs`, property-tested in `tests.rs`).

/// What the sampler uses from `/proc/<pid>/stat` (or `/proc/thread-self/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// User-mode CPU time, in clock ticks (`USER_HZ`).
    pub(crate) utime_ticks: u64,
    /// Kernel-mode CPU time, in clock ticks.
    pub(crate) stime_ticks: u64,
    /// Threads in the process.
    pub(crate) num_threads: u64,
}

/// Parses a `stat` line: `pid (comm) state ppid ... utime stime ... num_threads ...`.
///
/// `comm` may contain spaces and parentheses (`1234 (my (weird) name) S ...`), so the fields
/// are counted from the *last* `)`, as proc(5) advises.
pub(crate) fn parse_stat(text: &str) -> Result<Stat, &'static str> {
    let close = text.rfind(')').ok_or("comm")?;
    // After the `)`: field 3 (state) is index 0, so field n is index n - 3.
    let mut fields = text
        .get(close + 1..)
        .ok_or("comm")?
        .split_ascii_whitespace();
    let mut nth = |skip: usize, name: &'static str| -> Result<u64, &'static str> {
        fields
            .nth(skip)
            .ok_or(name)?
            .parse::<u64>()
            .map_err(|_| name)
    };
    // utime is field 14 (index 11), stime 15, num_threads 20.
    let utime_ticks = nth(11, "utime")?;
    let stime_ticks = nth(0, "stime")?;
    let num_threads = nth(4, "num_threads")?;
    Ok(Stat {
        utime_ticks,
        stime_ticks,
        num_threads,
    })
}

/// What the sampler uses from `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    /// `VmRSS`, in bytes.
    pub(crate) resident_bytes: u64,
    /// `Threads`.
    pub(crate) threads: u64,
}

/// Parses the `VmRSS:` (in `kB`, that is KiB) and `Threads:` lines of a `status` file.
pub(crate) fn parse_status(text: &str) -> Result<Status, &'static str> {
    let mut rss = None;
    let mut threads = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            rss = Some(parse_kib(rest).ok_or("VmRSS")?);
        } else if let Some(rest) = line.strip_prefix("Threads:") {
            threads = Some(rest.trim().parse::<u64>().map_err(|_| "Threads")?);
        }
    }
    Ok(Status {
        resident_bytes: rss.ok_or("VmRSS")?,
        threads: threads.ok_or("Threads")?,
    })
}

/// `"   2168 kB"` to bytes; `None` for anything else or an overflow.
fn parse_kib(rest: &str) -> Option<u64> {
    let mut parts = rest.split_ascii_whitespace();
    let n = parts.next()?.parse::<u64>().ok()?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) => n.checked_mul(1024),
        _ => None,
    }
}

/// Parses a `schedstat` line (`run_ns wait_ns timeslices`): the task's CPU time in
/// nanoseconds.
pub(crate) fn parse_schedstat(text: &str) -> Result<u64, &'static str> {
    text.split_ascii_whitespace()
        .next()
        .ok_or("run time")?
        .parse::<u64>()
        .map_err(|_| "run time")
}
