//! Event severity.

use std::fmt;

/// How severe an event is. Ordered by severity: `Trace < Debug < Info < Warn < Error`, so
/// `level >= Level::Warn` means "Warn or worse".
///
/// Note for code coming from `log` or `tracing`: their `Level` types order the other way
/// (`tracing::Level::ERROR < tracing::Level::TRACE`, by verbosity), so a comparison copied
/// from there must be reversed.
///
/// An instance drops events below its configured level before they are encoded
/// ([`crate::TelemetryBuilder::level`]); that is filtering, not loss, and is not counted.
///
/// In configuration (serde) a level is its lower-case name, `"warn"`; the upper-case form
/// of the JSON output (`"WARN"`) is accepted too.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Level {
    /// Very detailed tracing, normally off.
    #[serde(alias = "TRACE")]
    Trace = 0,
    /// Diagnostic detail.
    #[serde(alias = "DEBUG")]
    Debug = 1,
    /// Normal operation worth recording.
    #[serde(alias = "INFO")]
    Info = 2,
    /// Something unexpected that the system handled.
    #[serde(alias = "WARN")]
    Warn = 3,
    /// Something failed.
    #[serde(alias = "ERROR")]
    Error = 4,
}

impl Level {
    /// The upper-case name used in JSON output (`"INFO"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// The level with this wire code, if any.
    pub(crate) const fn from_u8(v: u8) -> Option<Level> {
        Some(match v {
            0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            4 => Level::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
