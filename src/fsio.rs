//! The file layer under the segment log and the key ring's key file: the small surface their
//! writers need from a file system, so that tests can put faults between them and the disk
//! (a failed write, a short write, a full disk, a crash between two steps, a power loss that
//! drops what was not synced). Public as [`crate::store::fs`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Opens, removes, renames and syncs the files of a log or a key file. [`StdFs`] is the real
/// one.
pub trait LogFs: Send + Sync + fmt::Debug + 'static {
    /// Creates a new file (an error if it exists) for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Opens an existing file for appending (recovery seals a segment it finds unsealed).
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Removes a file (retention).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (after a create, a remove or a rename).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists (the key file's last
    /// step). Default: [`std::fs::rename`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
}

/// A segment file open for appending.
pub trait LogFile: Send + fmt::Debug {
    /// Appends all of `buf`. On an error some prefix of it may have been written: the
    /// caller cuts the file back with [`LogFile::set_len`] before it writes again.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes every byte appended so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl LogFs for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        Ok(Box::new(StdFile(
            OpenOptions::new().append(true).open(path)?,
        )))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

#[derive(Debug)]
struct StdFile(File);

impl LogFile for StdFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}
