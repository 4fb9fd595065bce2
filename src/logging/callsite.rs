//! Static call-site metadata for [`crate::event!`], registered once per process.
//!
//! A record from `event!` carries only a 32-bit call-site id and the field values; level,
//! target, message, field names, file and line stay in this static and are looked up by the
//! collector. Ids are process-wide, so every instance shares them.

use super::{FieldRef, Level};
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
    /// How many of an event's leading values are the message's format arguments (the rest
    /// are the named `fields`).
    args: u8,
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
            args: 0,
            id: AtomicU32::new(0),
        }
    }

    /// A call site whose message is a format string taking `args` arguments, which come
    /// before the named fields in each event's values (see [`Callsite::format_message`]).
    #[doc(hidden)]
    pub const fn with_args(mut self, args: u8) -> Self {
        self.args = args;
        self
    }

    /// One call site per [`Level`], indexed by `level as usize`: for an `event!` whose level
    /// is known only at run time. Each registers (takes an id) only when first used.
    #[doc(hidden)]
    pub const fn per_level(
        target: &'static str,
        message: &'static str,
        fields: &'static [&'static str],
        file: &'static str,
        line: u32,
        args: u8,
    ) -> [Self; 5] {
        [
            Self::new(Level::Trace, target, message, fields, file, line).with_args(args),
            Self::new(Level::Debug, target, message, fields, file, line).with_args(args),
            Self::new(Level::Info, target, message, fields, file, line).with_args(args),
            Self::new(Level::Warn, target, message, fields, file, line).with_args(args),
            Self::new(Level::Error, target, message, fields, file, line).with_args(args),
        ]
    }

    /// How many of an event's leading values are the message's format arguments.
    pub fn args(&self) -> usize {
        self.args as usize
    }

    /// How many values an event of this call site carries: its format arguments, then its
    /// named fields. A record with another count is not this call site's.
    pub fn values(&self) -> usize {
        self.args() + self.fields.len()
    }

    /// Writes `message`, a format string as `event!` takes it, with `args` in place of its
    /// placeholders: `{}` (Display) and `{:?}` (Debug: strings quoted, a whole float
    /// with `.0`) take the next argument, `{{` and `}}` are braces. Anything else between braces (a named or
    /// formatted placeholder, which `event!` does not take) is written as it is; a
    /// placeholder with no argument left is written as it is too.
    pub fn format_message<'a>(
        message: &str,
        args: impl IntoIterator<Item = FieldRef<'a>>,
        out: &mut impl std::fmt::Write,
    ) -> std::fmt::Result {
        let mut args = args.into_iter();
        let mut rest = message;
        while let Some(at) = rest.find(['{', '}']) {
            out.write_str(&rest[..at])?;
            let tail = &rest[at..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.write_str(&tail[..1])?;
                rest = &tail[2..];
            } else if let Some(after) = tail.strip_prefix("{}") {
                match args.next() {
                    Some(v) => write!(out, "{v}")?,
                    None => out.write_str("{}")?,
                }
                rest = after;
            } else if let Some(after) = tail.strip_prefix("{:?}") {
                match args.next() {
                    Some(FieldRef::Str(s)) => write!(out, "{s:?}")?,
                    Some(FieldRef::F64(x)) => write!(out, "{x:?}")?,
                    Some(v) => write!(out, "{v}")?,
                    None => out.write_str("{:?}")?,
                }
                rest = after;
            } else {
                out.write_str(&tail[..1])?;
                rest = &tail[1..];
            }
        }
        out.write_str(rest)
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
