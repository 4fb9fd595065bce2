//! [`Encoded`]: field values in the record's form, written ahead of their record (the
//! `tracing` layer's per-thread scratch).

use super::{
    clip, FieldRef, MAX_STR_LEN, TAG_BOOL, TAG_F64, TAG_I64, TAG_NONE, TAG_STR, TAG_TRUNCATED,
    TAG_U64,
};

/// Field values encoded ahead of their record, in the record's own form, into a buffer
/// that never grows: the `tracing` layer's per-thread scratch, filled one value at a time as
/// tracing lends them, then copied into the ring whole.
///
/// Strings are clipped to the instance's limit as [`Writer::value`] clips them, and also to
/// the room left (keeping [`Encoded::RESERVE`] bytes for the scalars that may follow): a
/// string cut for lack of room is tagged truncated like one cut at the limit.
pub(crate) struct Encoded {
    buf: Box<[u8]>,
    len: usize,
    truncated: bool,
}

impl Encoded {
    /// Bytes kept free for scalar values after the strings (64 values of 9 bytes).
    pub(crate) const RESERVE: usize = 64 * 9;

    pub(crate) fn with_capacity(cap: usize) -> Self {
        Encoded {
            buf: vec![0; cap.max(2 * Self::RESERVE)].into_boxed_slice(),
            len: 0,
            truncated: false,
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// The encoded values.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Whether a string was cut.
    #[inline]
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Room for one more string's bytes: the limit, within the buffer less the reserve.
    #[inline]
    fn room(&self, max_str: usize) -> usize {
        let left = self.buf.len() - self.len;
        max_str
            .min(MAX_STR_LEN)
            .min(left.saturating_sub(Self::RESERVE + 3))
    }

    /// Appends `bytes`; past the end of the buffer (more than 64 scalars after the strings
    /// filled it) they are not written and the record is marked truncated, never a panic.
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.truncated = true,
        }
    }

    /// Appends a scalar, `None`, or a string.
    #[inline(always)]
    pub(crate) fn value(&mut self, v: &FieldRef<'_>, max_str: usize) {
        match *v {
            FieldRef::U64(x) => self.scalar(TAG_U64, x),
            FieldRef::I64(x) => self.scalar(TAG_I64, x as u64),
            FieldRef::F64(x) => self.scalar(TAG_F64, x.to_bits()),
            FieldRef::Bool(x) => self.put(&[TAG_BOOL, x as u8]),
            FieldRef::None => self.put(&[TAG_NONE]),
            FieldRef::Str(s) => self.str(s, max_str),
        }
    }

    /// Appends a string: tag, length, bytes, in one bounds check when it fits whole.
    #[inline]
    fn str(&mut self, s: &str, max_str: usize) {
        let room = self.room(max_str);
        let at = self.len;
        if s.len() <= room {
            // `room` leaves at least 3 bytes past the string free, so this always matches.
            if let Some(dst) = self.buf.get_mut(at..at + 3 + s.len()) {
                let (head, body) = dst.split_at_mut(3);
                let n = (s.len() as u16).to_le_bytes();
                head.copy_from_slice(&[TAG_STR, n[0], n[1]]);
                body.copy_from_slice(s.as_bytes());
                self.len = at + 3 + s.len();
                return;
            }
        }
        self.str_cut(s, room);
    }

    /// [`Encoded::str`] for a string longer than the room: cut at a character boundary and
    /// tagged truncated.
    #[cold]
    #[inline(never)]
    fn str_cut(&mut self, s: &str, room: usize) {
        let (s, cut) = clip(s, room);
        let tag = if cut {
            TAG_STR | TAG_TRUNCATED
        } else {
            TAG_STR
        };
        let n = (s.len() as u16).to_le_bytes();
        self.put(&[tag, n[0], n[1]]);
        self.put(s.as_bytes());
        self.truncated |= cut;
    }

    #[inline(always)]
    fn scalar(&mut self, tag: u8, bits: u64) {
        let mut b = [0u8; 9];
        b[0] = tag;
        b[1..].copy_from_slice(&bits.to_le_bytes());
        self.put(&b);
    }

    /// Appends `args` rendered as a string value, cut (at a character boundary) where the
    /// string limit or the room ends; rendering stops there.
    pub(crate) fn display(&mut self, args: std::fmt::Arguments<'_>, max_str: usize) {
        let at = self.len;
        let room = self.room(max_str);
        self.put(&[TAG_STR, 0, 0]);
        if self.len == at {
            // Not even room for the tag (only past `RESERVE` scalars): marked truncated.
            return;
        }
        let start = self.len;
        let mut w = Bounded {
            buf: &mut self.buf[start..start + room],
            len: 0,
            cut: false,
        };
        let _ = std::fmt::Write::write_fmt(&mut w, args);
        let (len, cut) = (w.len, w.cut);
        self.len += len;
        self.buf[at + 1..at + 3].copy_from_slice(&(len as u16).to_le_bytes());
        if cut {
            self.buf[at] |= TAG_TRUNCATED;
            self.truncated = true;
        }
    }
}

/// Text written into a fixed window, cut at a character boundary where it ends; the
/// formatting stops there (an `Err`), so a huge rendering costs no more than the room.
struct Bounded<'a> {
    buf: &'a mut [u8],
    len: usize,
    cut: bool,
}

impl std::fmt::Write for Bounded<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let (kept, cut) = clip(s, self.buf.len() - self.len);
        self.buf[self.len..self.len + kept.len()].copy_from_slice(kept.as_bytes());
        self.len += kept.len();
        if cut {
            self.cut = true;
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}
