//! Retention: whole sealed segments are deleted, oldest first, past a total size or an age.

use std::path::Path;
use std::time::Duration;

use super::fs::LogFs;
use super::recovery::{list, read_footer};
use crate::time::{SystemClock, WallClock};

/// Deletes sealed segments of `dir`, oldest first, while the sealed segments hold more than
/// `max_bytes`, and every sealed segment whose newest record is older than `max_age`. The
/// segment being written has no footer and is never deleted, and neither is the newest
/// segment of the directory, sealed or not: however small the limits (or however large one
/// collector pass, which a segment never splits), the latest records are kept. Segments
/// after `upto` (the one just sealed) are left out. Returns how many were deleted.
pub(crate) fn apply(
    dir: &Path,
    fs: &dyn LogFs,
    max_bytes: Option<u64>,
    max_age: Option<Duration>,
    ring: Option<&crate::security::crypto::KeyRing>,
    upto: u64,
) -> u64 {
    if max_bytes.is_none() && max_age.is_none() {
        return 0;
    }
    let Ok(mut segments) = list(dir) else {
        return 0;
    };
    // Only segments up to `upto` (the one just sealed): the writer may already be writing
    // a newer one while an older one is sealed in the background.
    segments.retain(|(seq, _)| *seq <= upto);
    // The newest counts towards the total (older ones make room for it) but is not deleted.
    let newest = segments.pop().and_then(|(_, path)| {
        read_footer(&path, ring)?;
        std::fs::metadata(&path).ok().map(|m| m.len())
    });
    let now = SystemClock.now().unix_nanos();
    let mut sealed: Vec<_> = segments
        .into_iter()
        .filter_map(|(_, path)| {
            let (footer, _) = read_footer(&path, ring)?;
            let size = std::fs::metadata(&path).ok()?.len();
            Some((path, size, footer.last))
        })
        .collect();
    let mut total: u64 = sealed.iter().map(|s| s.1).sum::<u64>() + newest.unwrap_or(0);
    let mut deleted = 0;
    let cutoff =
        max_age.map(|a| now.saturating_sub(u64::try_from(a.as_nanos()).unwrap_or(u64::MAX)));
    sealed.retain(|(path, size, last)| {
        let too_big = max_bytes.is_some_and(|m| total > m);
        let too_old = cutoff.is_some_and(|c| *last < c);
        if (too_big || too_old) && fs.remove(path).is_ok() {
            total -= size;
            deleted += 1;
            return false;
        }
        true
    });
    if deleted > 0 {
        let _ = fs.sync_dir(dir);
    }
    deleted
}
