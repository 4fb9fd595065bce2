//! Static call-site metadata for [`crate::event!`], registered once per process.
//!
//! A record from `event!` carries only a 32-bit call-site id and the field values; level,
//! target, message, field names, file and line stay in this static and are looked up by the
//! collector. Ids are process-wide, so every instance shares them.

use super::Level;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Every registered call site; id `n` is at index `n - 1` (0 means "not yet registered").
static REGISTRY: RwLock<Vec<&'static Callsite>> = parking_lot::const_rwlock(Vec::new());

/// The metadata of one `event!` invocation. Created by the macro as a `static`; not meant to
/// be built by hand.
#[derive(Debug)]
pub struct Callsite {
    level: Level,
    target: &'static str,
    message: &'static str,
    fields: &'static [&'static str],
    file: &'static str,
    line: u32,
    id: AtomicU32,
}

impl Callsite {
    #[doc(hidden)]
    pub const fn new(
        level: Level,
        target: &'static str,
        message: &'static str,
        fields: &'static [&'static str],
        file: &'static str,
        line: u32,
    ) -> Self {
        Self {
            level,
            target,
            message,
            fields,
            file,
            line,
            id: AtomicU32::new(0),
        }
    }

    /// Severity.
    pub fn level(&self) -> Level {
        self.level
    }
    /// Module path of the call site.
    pub fn target(&self) -> &'static str {
        self.target
    }
    /// The static message.
    pub fn message(&self) -> &'static str {
        self.message
    }
    /// Field names, in the order their values are recorded.
    pub fn fields(&self) -> &'static [&'static str] {
        self.fields
    }
    /// Source file.
    pub fn file(&self) -> &'static str {
        self.file
    }
    /// Source line.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The process-wide id, registering on first use (one write lock, once per call site).
    #[inline]
    pub(crate) fn id(&'static self) -> u32 {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        self.register()
    }

    #[cold]
    fn register(&'static self) -> u32 {
        let mut reg = REGISTRY.write();
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        reg.push(self);
        let id = u32::try_from(reg.len()).unwrap_or(u32::MAX);
        self.id.store(id, Ordering::Release);
        id
    }
}

/// Copies every call site registered after the first `cache.len()` into `cache`.
pub(crate) fn refresh(cache: &mut Vec<&'static Callsite>) {
    let reg = REGISTRY.read();
    if reg.len() > cache.len() {
        cache.extend_from_slice(&reg[cache.len()..]);
    }
}
