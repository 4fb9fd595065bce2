//! Structured events: levels, typed fields, static call sites, the dynamic [`Event`] and
//! the [`Audit`] record.

mod audit;
mod callsite;
mod field;
mod level;

pub use audit::Audit;
pub(crate) use callsite::refresh as refresh_callsites;
pub use callsite::Callsite;
pub use field::{FieldRef, Value};
pub use level::Level;

/// A structured event built at run time, for code that cannot use [`crate::event!`] (names
/// or messages not known at compile time). Everything is borrowed: building and logging one
/// allocates nothing; the strings are copied into the ring.
///
/// ```
/// use tickwatch::{Event, FieldRef, Level};
/// let venue = String::from("XNAS");
/// let ev = Event {
///     level: Level::Warn,
///     target: "risk",
///     message: "limit breached",
///     fields: &[("venue", FieldRef::Str(&venue)), ("excess", FieldRef::F64(1.5))],
/// };
/// # let _ = ev;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Severity.
    pub level: Level,
    /// Where it comes from (a module path or a component name).
    pub target: &'a str,
    /// What happened.
    pub message: &'a str,
    /// Named, typed values.
    pub fields: &'a [(&'a str, FieldRef<'a>)],
}
