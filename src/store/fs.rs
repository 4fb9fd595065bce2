//! The file layer under the segment log (and the key ring's key file): the small surface the
//! writers need from a file system, so that tests can put faults between them and the disk
//! (a failed write, a short write, a full disk, a power loss that drops what was not synced).

pub use crate::fsio::{LogFile, LogFs, StdFs};
