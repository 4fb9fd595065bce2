//! Typed event field values: borrowed on the hot path, owned in delivered records.

use std::fmt;

/// A field value as passed to [`crate::event!`] or [`crate::Event`]: copied into the ring in
/// binary, never formatted on the calling thread.
///
/// Built with `From` from every integer type, `f32`/`f64`, `bool`, `&str`, `&String`, and an
/// `Option` of any of them (by value: for an `&Option<String>` pass `.as_deref()`) (`None` becomes [`FieldRef::None`], JSON `null`). NaN and
/// infinities are carried as they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string, copied into the ring (truncated past the instance's `max_string_len`).
    Str(&'a str),
    /// No value: an `Option` field that was `None`.
    None,
}

macro_rules! from_int {
    ($variant:ident as $t:ty: $($src:ty),*) => {$(
        impl From<$src> for FieldRef<'_> {
            #[inline(always)]
            fn from(v: $src) -> Self {
                FieldRef::$variant(v as $t)
            }
        }
        impl From<&$src> for FieldRef<'_> {
            #[inline(always)]
            fn from(v: &$src) -> Self {
                FieldRef::$variant(*v as $t)
            }
        }
    )*};
}
from_int!(U64 as u64: u8, u16, u32, u64, usize);
from_int!(I64 as i64: i8, i16, i32, i64, isize);
from_int!(F64 as f64: f32, f64);
from_int!(Bool as bool: bool);

impl<'a> From<&'a str> for FieldRef<'a> {
    #[inline(always)]
    fn from(v: &'a str) -> Self {
        FieldRef::Str(v)
    }
}

impl<'a> From<&'a &str> for FieldRef<'a> {
    #[inline(always)]
    fn from(v: &'a &str) -> Self {
        FieldRef::Str(v)
    }
}

impl<'a> From<&'a String> for FieldRef<'a> {
    #[inline(always)]
    fn from(v: &'a String) -> Self {
        FieldRef::Str(v.as_str())
    }
}

impl<'a, T: Into<FieldRef<'a>>> From<Option<T>> for FieldRef<'a> {
    #[inline(always)]
    fn from(v: Option<T>) -> Self {
        v.map_or(FieldRef::None, Into::into)
    }
}

impl FieldRef<'_> {
    /// An owned copy.
    pub fn to_value(&self) -> Value {
        match *self {
            FieldRef::U64(v) => Value::U64(v),
            FieldRef::I64(v) => Value::I64(v),
            FieldRef::F64(v) => Value::F64(v),
            FieldRef::Bool(v) => Value::Bool(v),
            FieldRef::Str(s) => Value::Str(s.to_owned()),
            FieldRef::None => Value::None,
        }
    }
}

impl fmt::Display for FieldRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::U64(v) => v.fmt(f),
            FieldRef::I64(v) => v.fmt(f),
            FieldRef::F64(v) => v.fmt(f),
            FieldRef::Bool(v) => v.fmt(f),
            FieldRef::Str(v) => v.fmt(f),
            FieldRef::None => f.write_str("None"),
        }
    }
}

/// An owned field value, as held by [`crate::sink::Record::Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float (NaN and infinities included).
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string (possibly truncated; see the record's `truncated` flag).
    Str(String),
    /// No value (an `Option` field that was `None`).
    None,
}

impl Value {
    /// A borrowed view.
    pub fn as_ref(&self) -> FieldRef<'_> {
        match self {
            Value::U64(v) => FieldRef::U64(*v),
            Value::I64(v) => FieldRef::I64(*v),
            Value::F64(v) => FieldRef::F64(*v),
            Value::Bool(v) => FieldRef::Bool(*v),
            Value::Str(s) => FieldRef::Str(s),
            Value::None => FieldRef::None,
        }
    }
}
