//! What the macros expand to; not a stable API.

use std::fmt::{self, Write as _};

use crate::{FieldRef, Telemetry};

pub use crate::time::seam::*;

/// The global `event!` with no instance installed.
pub fn count_call_without_instance() {
    crate::global::count_call_without_instance();
}

/// How many format arguments an `event!` call site has (its arguments, stringified).
pub const fn count_args(args: &[&str]) -> u8 {
    if args.len() > u8::MAX as usize {
        panic!("event!: more than 255 format arguments");
    }
    args.len() as u8
}

/// Whether `event!`'s message can be formatted on the collector: its only placeholders
/// are `{}` and `{:?}` (no `{0}`, `{name}`, nor format spec), and it has arguments if it
/// has `{{`/`}}` escapes (a message without arguments is delivered as it is). Evaluated
/// at compile time on the literal.
pub const fn plain_format(message: &str, args: u8) -> bool {
    let b = message.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if i + 1 < b.len() && b[i + 1] == b'{' => {
                if args == 0 {
                    return false;
                }
                i += 2;
            }
            b'}' if i + 1 < b.len() && b[i + 1] == b'}' => {
                if args == 0 {
                    return false;
                }
                i += 2;
            }
            b'{' if i + 1 < b.len() && b[i + 1] == b'}' => i += 2,
            b'{' if i + 3 < b.len() && b[i + 1] == b':' && b[i + 2] == b'?' && b[i + 3] == b'}' => {
                i += 4
            }
            b'{' | b'}' => return false,
            _ => i += 1,
        }
    }
    true
}

/// A field's name as `stringify!` gives it, without the `r#` of a raw identifier.
pub const fn field_name(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'r', b'#', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(_) => name,
        },
        _ => name,
    }
}

/// A format argument the collector can format: copied into the record as a typed value.
/// Not `f32` (the record widens it to `f64`, which prints other digits) nor `Option`
/// (its `Debug` is not its value's): those are rendered on the calling thread.
pub trait DeferArg {
    fn defer_field(&self) -> FieldRef<'_>;
}
macro_rules! defer_arg {
    ($variant:ident as $t:ty: $($src:ty),*) => {$(
        impl DeferArg for $src {
            #[inline(always)]
            fn defer_field(&self) -> FieldRef<'_> {
                FieldRef::$variant(*self as $t)
            }
        }
    )*};
}
defer_arg!(U64 as u64: u8, u16, u32, u64, usize);
defer_arg!(I64 as i64: i8, i16, i32, i64, isize);
defer_arg!(F64 as f64: f64);
defer_arg!(Bool as bool: bool);
impl DeferArg for str {
    #[inline(always)]
    fn defer_field(&self) -> FieldRef<'_> {
        FieldRef::Str(self)
    }
}
impl DeferArg for String {
    #[inline(always)]
    fn defer_field(&self) -> FieldRef<'_> {
        FieldRef::Str(self)
    }
}
impl<T: DeferArg + ?Sized> DeferArg for &T {
    #[inline(always)]
    fn defer_field(&self) -> FieldRef<'_> {
        (**self).defer_field()
    }
}

/// One format argument of `event!`, by reference: `(&Arg(x)).deferred()` picks
/// [`ArgDeferred`] when `x`'s type is a [`DeferArg`] and [`ArgRendered`] otherwise
/// (autoref specialisation, resolved at compile time).
#[allow(missing_debug_implementations)]
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// The argument travels typed; the collector formats it.
pub trait ArgDeferred<'a> {
    fn deferred(&self) -> bool;
    fn field(&self) -> FieldRef<'a>;
}
impl<'a, T: DeferArg + ?Sized> ArgDeferred<'a> for Arg<'a, T> {
    #[inline(always)]
    fn deferred(&self) -> bool {
        true
    }
    #[inline(always)]
    fn field(&self) -> FieldRef<'a> {
        self.0.defer_field()
    }
}

/// Any other argument: the message is rendered on the calling thread, and this
/// placeholder value is never used.
pub trait ArgRendered<'a> {
    fn deferred(&self) -> bool;
    fn field(&self) -> FieldRef<'a>;
}
impl<'a, T: ?Sized> ArgRendered<'a> for &Arg<'a, T> {
    #[inline(always)]
    fn deferred(&self) -> bool {
        false
    }
    #[inline(always)]
    fn field(&self) -> FieldRef<'a> {
        FieldRef::None
    }
}

/// Lets `event!` accept a `Telemetry`, a reference to one, or an `Arc`.
pub trait AsTelemetry {
    fn as_telemetry(&self) -> &Telemetry;
}
impl AsTelemetry for Telemetry {
    fn as_telemetry(&self) -> &Telemetry {
        self
    }
}
impl<T: AsTelemetry + ?Sized> AsTelemetry for &T {
    fn as_telemetry(&self) -> &Telemetry {
        (**self).as_telemetry()
    }
}
impl<T: AsTelemetry + ?Sized> AsTelemetry for std::sync::Arc<T> {
    fn as_telemetry(&self) -> &Telemetry {
        (**self).as_telemetry()
    }
}

/// The bytes a `?value` or `%value` field is rendered into, on the calling thread's
/// stack.
pub const RENDER_LEN: usize = 256;

/// A `?value` / `%value` field rendered into a fixed stack buffer: no allocation; a
/// longer rendering is cut at a character boundary and flagged.
pub struct Render {
    buf: [u8; RENDER_LEN],
    len: usize,
    truncated: bool,
}

impl Render {
    #[inline]
    pub fn debug<T: fmt::Debug + ?Sized>(v: &T) -> Render {
        let mut r = Render::empty();
        let _ = write!(r, "{v:?}");
        r
    }

    #[inline]
    pub fn display<T: fmt::Display + ?Sized>(v: &T) -> Render {
        let mut r = Render::empty();
        let _ = write!(r, "{v}");
        r
    }

    /// An `event!` message rendered on the calling thread.
    #[inline]
    pub fn message(args: fmt::Arguments<'_>) -> Render {
        let mut r = Render::empty();
        let _ = r.write_fmt(args);
        r
    }

    fn empty() -> Render {
        Render {
            buf: [0; RENDER_LEN],
            len: 0,
            truncated: false,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s (or their char-boundary prefixes) are copied in, so this
        // never fails; an empty string stands in if it ever did.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Debug for Render {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Render")
            .field("text", &self.as_str())
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl fmt::Write for Render {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = RENDER_LEN - self.len;
        let n = if s.len() <= room {
            s.len()
        } else {
            self.truncated = true;
            // The longest prefix that fits and ends on a character boundary.
            (0..=room)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0)
        };
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if self.truncated {
            // Stop the formatter: nothing more fits.
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// A `name = value` field's value: anything a [`FieldRef`] converts from.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an event field value",
    label = "not an integer, float, bool, &str, &String or Option of one",
    note = "render it with `name = ?value` (Debug) or `name = %value` (Display), or convert it"
)]
pub trait IntoField<'a> {
    fn into_field(self) -> FieldRef<'a>;
}
// One impl per type (not a blanket one over `Into<FieldRef>`), so that a type that is
// not a field value gets the message above rather than one about `From`.
macro_rules! into_field {
    ($($t:ty),*) => {$(
        impl<'a> IntoField<'a> for $t {
            #[inline(always)]
            fn into_field(self) -> FieldRef<'a> {
                FieldRef::from(self)
            }
        }
        impl<'a> IntoField<'a> for &'a $t {
            #[inline(always)]
            fn into_field(self) -> FieldRef<'a> {
                FieldRef::from(self)
            }
        }
    )*};
}
into_field!(
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    bool,
    &'a str
);
impl<'a> IntoField<'a> for &'a String {
    #[inline(always)]
    fn into_field(self) -> FieldRef<'a> {
        FieldRef::Str(self)
    }
}
impl<'a, T: IntoField<'a>> IntoField<'a> for Option<T> {
    #[inline(always)]
    fn into_field(self) -> FieldRef<'a> {
        self.map_or(FieldRef::None, IntoField::into_field)
    }
}
impl<'a> IntoField<'a> for FieldRef<'a> {
    #[inline(always)]
    fn into_field(self) -> FieldRef<'a> {
        self
    }
}

/// A prepared field value: a plain `FieldRef` or a rendered one.
pub trait Field {
    fn get(&self) -> FieldRef<'_>;
    fn truncated(&self) -> bool;
    /// The value, and `true` into `cut` if its rendering was cut.
    #[inline(always)]
    fn noting(&self, cut: &core::cell::Cell<bool>) -> FieldRef<'_> {
        if self.truncated() {
            cut.set(true);
        }
        self.get()
    }
}
impl Field for FieldRef<'_> {
    #[inline(always)]
    fn get(&self) -> FieldRef<'_> {
        *self
    }
    #[inline(always)]
    fn truncated(&self) -> bool {
        false
    }
}
impl Field for Render {
    #[inline]
    fn get(&self) -> FieldRef<'_> {
        FieldRef::Str(self.as_str())
    }
    #[inline]
    fn truncated(&self) -> bool {
        self.truncated
    }
}
