//! The binary record layout: encoded on the hot path straight into the ring, decoded on the
//! collector.
//!
//! Every payload starts with a 16-byte header, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | kind (`kind::*`) |
//! | 1 | flags (`FLAG_*`) |
//! | 2..4 | `aux`: field count (static events), level (dynamic events), else 0 |
//! | 4..8 | `id`: series id (samples) or call-site id (static events), else 0 |
//! | 8..16 | tick reading taken on the calling thread ([`crate::time`]) |
//!
//! then the body:
//!
//! * samples (metric, counter, latency, resource): one 8-byte value (f64 bits or u64), so a
//!   sample is 24 bytes, 32 with the ring's frame header;
//! * static event: `aux` fields, each a tag byte then its value;
//! * packed static event ([`FLAG_PACKED`]; every value an integer, float or bool, at most
//!   [`MAX_PACKED`]): no tags, one 8-byte word per value; `aux` holds the values' types, two
//!   bits each from the lowest (`PACKED_U64`, `PACKED_I64`, `PACKED_F64`, `PACKED_BOOL`),
//!   the count is in the flags' high nibble and must equal the body's length / 8 (so a cut
//!   record is refused). The call site's types are known when it is
//!   compiled, so the layout is a constant there: a three-field event is 40 bytes (48 with
//!   the ring's frame header) written as five aligned words, with one bounds check;
//! * dynamic event: message, target (strings), a u16 count, then per field a name (string),
//!   a tag byte and its value;
//! * audit: six strings: actor, action, resource, outcome, rule, detail;
//!
//! A field value is `U64`/`I64`/`F64` (8 bytes), `Bool` (1 byte) or `Str` (u16 length then
//! UTF-8 bytes). Strings longer than the instance's limit are cut at a character boundary
//! and their tag carries [`TAG_TRUNCATED`]; the record then carries [`FLAG_TRUNCATED`].
//!
//! Decoding checks every length and tag and never reads past the payload: a payload that does
//! not follow this layout is a [`DecodeError`], never a panic.

use crate::logging::{FieldRef, Level};

#[cfg(feature = "tracing")]
mod encoded;
#[cfg(feature = "tracing")]
pub(crate) use encoded::Encoded;

/// Record kinds (byte 0).
pub(crate) mod kind {
    pub(crate) const METRIC: u8 = 1;
    pub(crate) const COUNTER: u8 = 2;
    pub(crate) const LATENCY: u8 = 3;
    pub(crate) const RESOURCE: u8 = 4;
    pub(crate) const EVENT: u8 = 5;
    pub(crate) const DYN_EVENT: u8 = 6;
    pub(crate) const AUDIT: u8 = 7;
}

/// A string in this record was truncated.
pub(crate) const FLAG_TRUNCATED: u8 = 1;
/// A latency value is in clock ticks (from a timer guard), not nanoseconds.
pub(crate) const FLAG_TICKS: u8 = 2;
/// A static event in the packed form (see the module docs).
pub(crate) const FLAG_PACKED: u8 = 4;
/// The most values a packed event carries (two bits of type each in the 16-bit `aux`).
pub(crate) const MAX_PACKED: usize = 8;
const PACKED_U64: u16 = 0;
const PACKED_I64: u16 = 1;
const PACKED_F64: u16 = 2;
const PACKED_BOOL: u16 = 3;

const TAG_U64: u8 = 1;
const TAG_I64: u8 = 2;
const TAG_F64: u8 = 3;
const TAG_BOOL: u8 = 4;
const TAG_STR: u8 = 5;
const TAG_NONE: u8 = 6;
/// Set on a `TAG_STR` whose string was cut.
pub(crate) const TAG_TRUNCATED: u8 = 0x80;

/// Header size.
pub(crate) const HEADER_LEN: usize = 16;
/// Size of a sample payload.
pub(crate) const SAMPLE_LEN: usize = HEADER_LEN + 8;
/// The hard ceiling on any string's length in a record (the u16 length prefix).
pub(crate) const MAX_STR_LEN: usize = u16::MAX as usize;

/// Cuts `s` to at most `max` bytes at a character boundary; says whether it cut.
#[inline]
pub(crate) fn clip(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// Encoded size of a string after clipping to `max` (exactly what [`Writer::str`] writes).
#[inline(always)]
fn str_len(s: &str, max: usize) -> usize {
    2 + clip(s, max.min(MAX_STR_LEN)).0.len()
}

/// Encoded size of a field value (tag included).
#[inline(always)]
pub(crate) fn value_len(v: &FieldRef<'_>, max_str: usize) -> usize {
    1 + match v {
        FieldRef::U64(_) | FieldRef::I64(_) | FieldRef::F64(_) => 8,
        FieldRef::Bool(_) => 1,
        FieldRef::None => 0,
        FieldRef::Str(s) => str_len(s, max_str),
    }
}

/// Payload size of a static event with these values.
#[inline]
pub(crate) fn event_len(values: &[FieldRef<'_>], max_str: usize) -> usize {
    HEADER_LEN + values_len(values, max_str)
}

/// Encoded size of field values (tags included), without the header.
#[inline]
pub(crate) fn values_len(values: &[FieldRef<'_>], max_str: usize) -> usize {
    values.iter().map(|v| value_len(v, max_str)).sum()
}

/// Payload size of a dynamic event.
pub(crate) fn dyn_event_len(
    message: &str,
    target: &str,
    fields: &[(&str, FieldRef<'_>)],
    max_str: usize,
) -> usize {
    HEADER_LEN
        + str_len(message, max_str)
        + str_len(target, max_str)
        + 2
        + fields
            .iter()
            .map(|(n, v)| str_len(n, max_str) + value_len(v, max_str))
            .sum::<usize>()
}

/// Payload size of an audit record.
pub(crate) fn audit_len(parts: &[&str; 6], max_str: usize) -> usize {
    HEADER_LEN + parts.iter().map(|s| str_len(s, max_str)).sum::<usize>()
}

/// The longest string limit, at most `max_str`, under which an audit record of `parts` fits
/// in `budget` payload bytes: an audit record is never refused for its size, its longest
/// strings are cut instead (each to the same limit, at a character boundary; the record is
/// then flagged truncated). 0 if even empty strings do not fit (a ring below the builder's
/// minimum).
pub(crate) fn audit_fit(parts: &[&str; 6], max_str: usize, budget: usize) -> usize {
    let max_str = max_str.min(MAX_STR_LEN);
    if audit_len(parts, max_str) <= budget {
        return max_str;
    }
    // `audit_len` grows with the limit: find the largest limit that fits.
    let (mut lo, mut hi) = (0, max_str); // fits at `lo` (or nothing does), not at `hi`
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if audit_len(parts, mid) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// A bounds-checked writer over a frame the size of which was computed by the `*_len`
/// functions above.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    truncated: bool,
}

impl<'a> Writer<'a> {
    #[inline(always)]
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            truncated: false,
        }
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    #[inline(always)]
    pub(crate) fn header(&mut self, kind: u8, flags: u8, aux: u16, id: u32, ticks: u64) {
        let mut h = [0u8; HEADER_LEN];
        h[0] = kind;
        h[1] = flags;
        h[2..4].copy_from_slice(&aux.to_le_bytes());
        h[4..8].copy_from_slice(&id.to_le_bytes());
        h[8..16].copy_from_slice(&ticks.to_le_bytes());
        self.put(&h);
    }

    #[inline(always)]
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    #[inline(always)]
    pub(crate) fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }

    /// Writes a length-prefixed string, clipped to `max`; returns whether it was clipped.
    #[inline(always)]
    pub(crate) fn str(&mut self, s: &str, max: usize) -> bool {
        let (s, cut) = clip(s, max.min(MAX_STR_LEN));
        self.u16(s.len() as u16);
        self.put(s.as_bytes());
        self.truncated |= cut;
        cut
    }

    #[inline(always)]
    pub(crate) fn value(&mut self, v: &FieldRef<'_>, max_str: usize) {
        match *v {
            FieldRef::U64(x) => {
                self.put(&[TAG_U64]);
                self.u64(x)
            }
            FieldRef::I64(x) => {
                self.put(&[TAG_I64]);
                self.u64(x as u64)
            }
            FieldRef::F64(x) => {
                self.put(&[TAG_F64]);
                self.u64(x.to_bits())
            }
            FieldRef::Bool(x) => self.put(&[TAG_BOOL, x as u8]),
            FieldRef::None => self.put(&[TAG_NONE]),
            FieldRef::Str(s) => {
                let at = self.pos;
                self.put(&[TAG_STR]);
                if self.str(s, max_str) {
                    self.buf[at] |= TAG_TRUNCATED;
                }
            }
        }
    }

    /// Marks the record truncated although no string of its own was cut (a `?`/`%` field
    /// rendered on the calling thread did not fit its buffer).
    #[inline(always)]
    pub(crate) fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// Marks the record truncated in its header if any string was cut. Call last.
    #[inline(always)]
    pub(crate) fn finish(self) -> bool {
        if self.truncated {
            self.buf[1] |= FLAG_TRUNCATED;
        }
        self.truncated
    }
}

/// Writes a sample payload (exactly [`SAMPLE_LEN`] bytes), as three 8-byte words.
#[inline(always)]
pub(crate) fn encode_sample(buf: &mut [u8], kind: u8, flags: u8, id: u32, ticks: u64, value: u64) {
    let head = sample_head(kind, flags, id);
    let mut words = [0u8; SAMPLE_LEN];
    words[0..8].copy_from_slice(&head.to_le_bytes());
    words[8..16].copy_from_slice(&ticks.to_le_bytes());
    words[16..24].copy_from_slice(&value.to_le_bytes());
    buf[..SAMPLE_LEN].copy_from_slice(&words);
}

/// The packed layout and words of `values`, or `None` if they do not pack (see
/// [`packed_layout`]). On an array built where it is inlined, this folds to constants and
/// plain moves.
#[inline(always)]
pub(crate) fn pack<const N: usize>(values: &[FieldRef<'_>; N]) -> Option<(u16, [u64; N])> {
    if N > MAX_PACKED {
        return None;
    }
    let mut layout = 0u16;
    let mut words = [0u64; N];
    for i in 0..N {
        let (code, w) = match values[i] {
            FieldRef::U64(x) => (PACKED_U64, x),
            FieldRef::I64(x) => (PACKED_I64, x as u64),
            FieldRef::F64(x) => (PACKED_F64, x.to_bits()),
            FieldRef::Bool(x) => (PACKED_BOOL, x as u64),
            FieldRef::Str(_) | FieldRef::None => return None,
        };
        layout |= code << (2 * i);
        words[i] = w;
    }
    Some((layout, words))
}

/// The first word of a packed event: kind, flags (with the value count), layout, call site.
#[inline(always)]
pub(crate) fn packed_head(callsite: u32, layout: u16, n: usize, truncated: bool) -> u64 {
    let flags = FLAG_PACKED | if truncated { FLAG_TRUNCATED } else { 0 } | (n as u8) << 4;
    kind::EVENT as u64 | (flags as u64) << 8 | (layout as u64) << 16 | (callsite as u64) << 32
}

/// The first word of a sample: kind, flags, series id.
#[inline(always)]
pub(crate) fn sample_head(kind: u8, flags: u8, id: u32) -> u64 {
    kind as u64 | (flags as u64) << 8 | (id as u64) << 32
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Shorter than its header or than a length inside it says.
    Truncated,
    /// Unknown kind byte.
    UnknownKind(u8),
    /// Unknown field tag.
    UnknownTag(u8),
    /// A level byte out of range.
    BadLevel(u16),
    /// A string that is not UTF-8.
    NotUtf8,
    /// Bytes left over after the last field.
    TrailingBytes,
}

/// A decoded payload; ids are not yet resolved to names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Raw<'a> {
    Sample {
        kind: u8,
        flags: u8,
        id: u32,
        ticks: u64,
        value: u64,
    },
    Event {
        flags: u8,
        callsite: u32,
        ticks: u64,
        fields: Fields<'a>,
    },
    DynEvent {
        flags: u8,
        level: Level,
        ticks: u64,
        message: &'a str,
        target: &'a str,
        fields: Fields<'a>,
    },
    /// actor, action, resource, outcome, rule, detail.
    Audit {
        flags: u8,
        ticks: u64,
        parts: [&'a str; 6],
    },
}

/// Validated field bytes of an event; iterate for `(name, value, truncated)`.
/// Static events have no names in the record (`None`); dynamic events do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fields<'a> {
    bytes: &'a [u8],
    count: u16,
    named: bool,
    /// The packed form's types still to read (two bits per value), or `None` if tagged.
    packed: Option<u16>,
}

impl<'a> Fields<'a> {
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Option<&'a str>, FieldRef<'a>, bool);

    fn next(&mut self) -> Option<Self::Item> {
        if self.count == 0 {
            return None;
        }
        let mut r = Reader {
            buf: self.bytes,
            pos: 0,
        };
        if let Some(layout) = self.packed {
            let v = packed_value(layout & 3, r.u64().ok()?)?;
            self.packed = Some(layout >> 2);
            self.bytes = &self.bytes[r.pos..];
            self.count -= 1;
            return Some((None, v, false));
        }
        let item = r.field(self.named).ok()?;
        self.bytes = &self.bytes[r.pos..];
        self.count -= 1;
        Some(item)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?
                .try_into()
                .map_err(|_| DecodeError::Truncated)?,
        ))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?
                .try_into()
                .map_err(|_| DecodeError::Truncated)?,
        ))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?
                .try_into()
                .map_err(|_| DecodeError::Truncated)?,
        ))
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::NotUtf8)
    }
    fn field(&mut self, named: bool) -> Result<(Option<&'a str>, FieldRef<'a>, bool), DecodeError> {
        let name = if named { Some(self.str()?) } else { None };
        let tag = self.u8()?;
        let v = match tag & !TAG_TRUNCATED {
            TAG_U64 if tag == TAG_U64 => FieldRef::U64(self.u64()?),
            TAG_I64 if tag == TAG_I64 => FieldRef::I64(self.u64()? as i64),
            TAG_F64 if tag == TAG_F64 => FieldRef::F64(f64::from_bits(self.u64()?)),
            TAG_BOOL if tag == TAG_BOOL => match self.u8()? {
                0 => FieldRef::Bool(false),
                1 => FieldRef::Bool(true),
                _ => return Err(DecodeError::UnknownTag(tag)),
            },
            TAG_STR => FieldRef::Str(self.str()?),
            TAG_NONE if tag == TAG_NONE => FieldRef::None,
            _ => return Err(DecodeError::UnknownTag(tag)),
        };
        Ok((name, v, tag & TAG_TRUNCATED != 0))
    }
    /// Walks `count` fields to check them; returns the bytes they span.
    fn fields(&mut self, count: u16, named: bool) -> Result<Fields<'a>, DecodeError> {
        let start = self.pos;
        for _ in 0..count {
            self.field(named)?;
        }
        Ok(Fields {
            bytes: &self.buf[start..self.pos],
            count,
            named,
            packed: None,
        })
    }

    /// The rest of the payload as a packed event's values, checked against `layout`.
    fn packed(&mut self, flags: u8, layout: u16) -> Result<Fields<'a>, DecodeError> {
        let rest = &self.buf[self.pos..];
        let count = usize::from(flags >> 4);
        match rest.len().cmp(&(count * 8)) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated),
            std::cmp::Ordering::Greater => return Err(DecodeError::TrailingBytes),
            std::cmp::Ordering::Equal => {}
        }
        if count > MAX_PACKED || (count < MAX_PACKED && layout >> (2 * count) != 0) {
            // Types for values that are not there.
            return Err(DecodeError::UnknownTag(layout as u8));
        }
        for (i, word) in rest.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(word.try_into().map_err(|_| DecodeError::Truncated)?);
            packed_value((layout >> (2 * i)) & 3, w).ok_or(DecodeError::UnknownTag(TAG_BOOL))?;
        }
        self.pos = self.buf.len();
        Ok(Fields {
            bytes: rest,
            count: count as u16,
            named: false,
            packed: Some(layout),
        })
    }
}

/// A packed value from its two-bit type and its word; `None` for a bool that is not 0 or 1.
fn packed_value(code: u16, w: u64) -> Option<FieldRef<'static>> {
    Some(match code {
        PACKED_U64 => FieldRef::U64(w),
        PACKED_I64 => FieldRef::I64(w as i64),
        PACKED_F64 => FieldRef::F64(f64::from_bits(w)),
        _ => match w {
            0 => FieldRef::Bool(false),
            1 => FieldRef::Bool(true),
            _ => return None,
        },
    })
}

/// Decodes one payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Raw<'_>, DecodeError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let kind = r.u8()?;
    let flags = r.u8()?;
    let aux = r.u16()?;
    let id = r.u32()?;
    let ticks = r.u64()?;
    let raw = match kind {
        kind::METRIC | kind::COUNTER | kind::LATENCY | kind::RESOURCE => Raw::Sample {
            kind,
            flags,
            id,
            ticks,
            value: r.u64()?,
        },
        kind::EVENT => Raw::Event {
            flags,
            callsite: id,
            ticks,
            fields: if flags & FLAG_PACKED != 0 {
                r.packed(flags, aux)?
            } else {
                r.fields(aux, false)?
            },
        },
        kind::DYN_EVENT => {
            let level = u8::try_from(aux)
                .ok()
                .and_then(Level::from_u8)
                .ok_or(DecodeError::BadLevel(aux))?;
            let message = r.str()?;
            let target = r.str()?;
            let count = r.u16()?;
            Raw::DynEvent {
                flags,
                level,
                ticks,
                message,
                target,
                fields: r.fields(count, true)?,
            }
        }
        kind::AUDIT => Raw::Audit {
            flags,
            ticks,
            parts: [r.str()?, r.str()?, r.str()?, r.str()?, r.str()?, r.str()?],
        },
        other => return Err(DecodeError::UnknownKind(other)),
    };
    if r.pos != payload.len() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests;
