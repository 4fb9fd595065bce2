//! Backup of a log directory while it is written: [`backup`] copies the sealed segments and
//! the segment being written up to its last whole frame, then writes a manifest of every
//! file's size and CRC-32C; [`verify_backup`] checks a copy against its manifest. Restoring is
//! opening the copy ([`SegmentLogOptions::open`](super::SegmentLogOptions::open), which seals
//! the copied active segment, or [`LogReader::open`](super::LogReader::open)).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{self, FrameAt};
use super::recovery::list;

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "MANIFEST.json";

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupFile {
    /// The file's name in the backup directory.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The CRC-32C of its bytes.
    pub crc32c: u32,
    /// True for the segment that was being written, copied up to its last whole frame.
    pub active: bool,
}

/// What a backup holds: its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// When the backup was taken.
    pub taken_at: crate::Timestamp,
    /// Every file, oldest segment first.
    pub files: Vec<BackupFile>,
}

/// Why a backup (or its check) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {
    /// The destination exists and is not an empty directory: choose a new one.
    DestinationNotEmpty(PathBuf),
    /// Reading the log or writing the copy failed.
    Io(PathBuf, std::io::Error),
    /// The manifest is missing or does not parse.
    Manifest(PathBuf, String),
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::DestinationNotEmpty(p) => write!(
                f,
                "backup: {} exists and is not empty: give a new directory",
                p.display()
            ),
            BackupError::Io(p, e) => write!(f, "backup: {}: {e}", p.display()),
            BackupError::Manifest(p, e) => {
                write!(f, "backup: {} is not a backup manifest: {e}", p.display())
            }
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Where the whole frames of a segment's bytes end (the header included): a sealed segment
/// whole, an unsealed one up to its first incomplete or damaged frame.
fn whole_prefix(data: &[u8]) -> usize {
    if format::parse_header(data).is_none() {
        return 0;
    }
    if format::trailer(data).is_some() {
        return data.len();
    }
    let mut at = format::HEADER_LEN;
    while let FrameAt::Frame { next, .. } = format::frame_at(data, at) {
        at = next;
    }
    at
}

/// Copies the log in `src` to the new directory `dest` while the log may be written: a
/// point-in-time copy holding, for every producing thread, a prefix of its records. The
/// manifest is written last (and synced), so a copy without one is incomplete.
///
/// ```
/// use tickwatch::store::{backup, verify_backup, LogReader, SegmentLog};
/// let base = std::env::temp_dir().join(format!("tw-backup-doc-{}", std::process::id()));
/// let (src, dest) = (base.join("log"), base.join("copy"));
/// let tw = tickwatch::Telemetry::builder().segment_log(SegmentLog::options(&src).open()?).start()?;
/// tickwatch::warn!(tw, "kept", n = 1u64);
/// tw.flush()?;
/// let manifest = backup(&src, &dest)?;           // while the instance runs
/// assert!(verify_backup(&dest)?.is_empty());      // every file matches
/// assert_eq!(LogReader::open(&dest)?.stats()?.records, 1);
/// # drop(tw); std::fs::remove_dir_all(&base)?; let _ = manifest;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn backup(src: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    backup_with(src, dest, &[])
}

/// [`backup`], then a whole copy of each of `also` into `dest` under its file name, listed in
/// the manifest: the encrypted log's key file
/// ([`KeyRingBuilder::persist`](crate::security::crypto::KeyRingBuilder::persist) rewrites it
/// by an atomic rename, so a copy is always one whole version of it). They are copied after
/// the segments: a ring writes a key to its file before it uses it, so the copied key file
/// holds every key the copied frames need.
pub fn backup_with(src: &Path, dest: &Path, also: &[&Path]) -> Result<Manifest, BackupError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| BackupError::Io(p, e)
    };
    if let Ok(mut entries) = std::fs::read_dir(dest) {
        if entries.next().is_some() {
            return Err(BackupError::DestinationNotEmpty(dest.to_path_buf()));
        }
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let segments = list(src).map_err(io(src))?;
    let taken_at = crate::time::WallClock::now(&crate::time::SystemClock);
    let mut files = Vec::new();
    for (_, path) in segments {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // Deleted by retention since it was listed: the copy starts after it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                files.clear();
                continue;
            }
            Err(e) => return Err(BackupError::Io(path, e)),
        };
        let keep = whole_prefix(&data);
        if keep == 0 {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let out = dest.join(&name);
        let mut f = std::fs::File::create(&out).map_err(io(&out))?;
        f.write_all(&data[..keep]).map_err(io(&out))?;
        f.sync_all().map_err(io(&out))?;
        files.push(BackupFile {
            name,
            bytes: keep as u64,
            crc32c: crc32c::crc32c(&data[..keep]),
            active: keep != data.len() || format::trailer(&data).is_none(),
        });
    }
    // Files of segments deleted before the copy reached them are not in the manifest.
    let listed: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(dest) {
        for e in entries.flatten() {
            let name = e.file_name();
            if !listed.iter().any(|n| *n == name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for path in also {
        let data = std::fs::read(path).map_err(io(path))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_owned();
        let out = dest.join(&name);
        let mut f = std::fs::File::create(&out).map_err(io(&out))?;
        f.write_all(&data).map_err(io(&out))?;
        f.sync_all().map_err(io(&out))?;
        files.push(BackupFile {
            name,
            bytes: data.len() as u64,
            crc32c: crc32c::crc32c(&data),
            active: false,
        });
    }
    let manifest = Manifest { taken_at, files };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Manifest(dest.join(MANIFEST), e.to_string()))?;
    let tmp = dest.join(format!("{MANIFEST}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&text).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, dest.join(MANIFEST)).map_err(io(dest))?;
    #[cfg(unix)]
    std::fs::File::open(dest)
        .and_then(|d| d.sync_all())
        .map_err(io(dest))?;
    Ok(manifest)
}

/// Checks a backup against its manifest: every listed file present with its size and
/// CRC-32C, and no other segment file. Returns what does not match (empty: the backup is
/// whole).
pub fn verify_backup(dest: &Path) -> Result<Vec<String>, BackupError> {
    let path = dest.join(MANIFEST);
    let text =
        std::fs::read(&path).map_err(|e| BackupError::Manifest(path.clone(), e.to_string()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Manifest(path.clone(), e.to_string()))?;
    let mut problems = Vec::new();
    for f in &manifest.files {
        let p = dest.join(&f.name);
        match std::fs::read(&p) {
            Ok(data) if data.len() as u64 != f.bytes => problems.push(format!(
                "{}: {} bytes, the manifest says {}",
                f.name,
                data.len(),
                f.bytes
            )),
            Ok(data) if crc32c::crc32c(&data) != f.crc32c => problems.push(format!(
                "{}: its checksum does not match the manifest",
                f.name
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: {e}", f.name)),
        }
    }
    for (_, p) in list(dest).map_err(|e| BackupError::Io(dest.to_path_buf(), e))? {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !manifest.files.iter().any(|f| f.name == name) {
            problems.push(format!("{name}: a segment the manifest does not list"));
        }
    }
    Ok(problems)
}
