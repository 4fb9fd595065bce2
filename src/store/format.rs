//! The segment file format: a header, checksummed frames, and (once sealed) a footer frame
//! and a trailer that points at it.
//!
//! ```text
//! header   32 bytes  magic "TWSEG\0\x01\0" · sequence u64 · created (Unix ns) u64 ·
//!                    flags u32 (bit 0: frames sealed, see `seal`) · CRC-32C of the 28
//!                    bytes before it
//! frame    8 bytes   body length u32 · CRC-32C of (length bytes ++ body)
//!          body      type u8 · payload
//! ...
//! footer   a frame of type FOOTER (sealed segments only)
//! trailer  16 bytes  footer offset u64 · "TWSEGEND"
//! ```
//!
//! Everything is little-endian. The checksum covers the length as well as the body, so a
//! flipped length bit is caught instead of sending a reader into the middle of the next
//! frame. Frame types:
//!
//! * `SERIES` (id u32, record kind u8, name, tag count u16, key/value pairs), `CALLSITE` (id
//!   u32, level u8, format-argument count u16, line u32, target, message, file, field count
//!   u16, names) and `THREAD` (index u32, has-name u8, name): the dictionary, written into a
//!   segment before the first record that refers to it, so that one segment decodes alone;
//! * `RECORDS`: records of one producing thread (thread u32, count u32, first and last time
//!   u64, level bits u8, kind bits u16), each a u32 length and the record in the ring's own
//!   binary form ([`crate::record`]) with its tick reading replaced by Unix nanoseconds (and
//!   a latency measured in ticks converted to nanoseconds);
//! * `FOOTER`: record count, time range, level and kind bits, the dictionary frames'
//!   offsets, the series present, and a sparse index: one entry (byte range, time range,
//!   records, level and kind bits) per ~256 KiB of frames.
//!
//! Strings are a u16 length and UTF-8 bytes. Decoding checks every length and never reads
//! past its input: bad bytes are an error, never a panic.

use crate::record::kind;

/// The first 8 bytes of every segment (format version 1).
pub(crate) const MAGIC: [u8; 8] = *b"TWSEG\0\x01\0";
/// The last 8 bytes of a sealed segment.
pub(crate) const END_MAGIC: [u8; 8] = *b"TWSEGEND";
/// Size of the segment header.
pub(crate) const HEADER_LEN: usize = 32;
/// Size of a frame's length and checksum.
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Size of the trailer of a sealed segment.
pub(crate) const TRAILER_LEN: usize = 16;
/// The largest frame body a reader accepts: a longer length is damage, not data.
pub(crate) const MAX_FRAME_BODY: usize = 1 << 26;
/// A `RECORDS` frame is closed once its body reaches this size (a frame is the unit a
/// corruption costs and the unit a query skips).
pub(crate) const RECORDS_FRAME_TARGET: usize = 32 * 1024;
/// Frames between two sparse-index entries.
pub(crate) const INDEX_GROUP_BYTES: u64 = 256 * 1024;
/// The file name suffix of a segment.
pub(crate) const SUFFIX: &str = "twseg";

/// Frame types.
pub(crate) mod frame {
    pub(crate) const SERIES: u8 = 1;
    pub(crate) const CALLSITE: u8 = 2;
    pub(crate) const THREAD: u8 = 3;
    pub(crate) const RECORDS: u8 = 4;
    pub(crate) const FOOTER: u8 = 5;
    /// An encrypted frame ([`super::super::seal`]).
    pub(crate) const SEALED: u8 = 6;
}

/// A record kind of the log only: "this thread dropped `count` records" (the ring's
/// `Dropped` notice): header with the time, then the count as u64.
pub(crate) const KIND_DROPPED: u8 = 0x40;

/// The bit of a record kind byte in a kind set (`1 << n`).
pub(crate) fn kind_bit(k: u8) -> u16 {
    match k {
        kind::METRIC => 1 << 0,
        kind::COUNTER => 1 << 1,
        kind::LATENCY => 1 << 2,
        kind::RESOURCE => 1 << 3,
        kind::EVENT | kind::DYN_EVENT => 1 << 4,
        kind::AUDIT => 1 << 5,
        KIND_DROPPED => 1 << 6,
        _ => 1 << 15,
    }
}

/// The file name of segment `seq`: fixed width, so names sort as numbers.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}.{SUFFIX}")
}

/// The sequence number in a segment's file name.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A segment's header.
pub(crate) fn header(seq: u64, created_nanos: u64, flags: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&created_nanos.to_le_bytes());
    h[24..28].copy_from_slice(&flags.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) seq: u64,
    pub(crate) flags: u32,
}

/// The header at the start of `b`, if it is one.
pub(crate) fn parse_header(b: &[u8]) -> Option<Header> {
    let h = b.get(..HEADER_LEN)?;
    if h[..8] != MAGIC || crc32c::crc32c(&h[..28]).to_le_bytes() != h[28..32] {
        return None;
    }
    Some(Header {
        seq: le64(&h[8..16]),
        flags: le32(&h[24..28]),
    })
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Starts a frame of type `ty` at the end of `buf`; returns where it starts.
pub(crate) fn begin_frame(buf: &mut Vec<u8>, ty: u8) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    buf.push(ty);
    at
}

/// Fills in the length and checksum of the frame begun at `at`.
pub(crate) fn end_frame(buf: &mut [u8], at: usize) {
    let body_len = buf.len() - at - FRAME_HEADER_LEN;
    let len = (body_len as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &buf[at + FRAME_HEADER_LEN..]);
    buf[at..at + 4].copy_from_slice(&len);
    buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What is at an offset of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameAt<'a> {
    /// A whole frame whose checksum holds: its type, payload, and where the next one starts.
    Frame {
        ty: u8,
        payload: &'a [u8],
        next: usize,
    },
    /// The bytes end inside a frame's header or body (a write cut short).
    Incomplete,
    /// A whole frame that does not check out (or a length no frame can have).
    Corrupt,
    /// Nothing left.
    End,
}

/// Reads the frame at `at`.
pub(crate) fn frame_at(data: &[u8], at: usize) -> FrameAt<'_> {
    let Some(rest) = data.get(at..) else {
        return FrameAt::End;
    };
    if rest.is_empty() {
        return FrameAt::End;
    }
    if rest.len() < FRAME_HEADER_LEN {
        return FrameAt::Incomplete;
    }
    let len = le32(&rest[..4]) as usize;
    if len == 0 || len > MAX_FRAME_BODY {
        return FrameAt::Corrupt;
    }
    let Some(body) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return FrameAt::Incomplete;
    };
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rest[..4]), body);
    if crc != le32(&rest[4..8]) {
        return FrameAt::Corrupt;
    }
    FrameAt::Frame {
        ty: body[0],
        payload: &body[1..],
        next: at + FRAME_HEADER_LEN + len,
    }
}

/// The offset of the next whole, checksummed frame after a damaged one at `at`, found by
/// trying every later offset (a length that cannot be right is rejected before the
/// checksum is computed, so this is cheap on random bytes).
pub(crate) fn resync(data: &[u8], at: usize, end: usize) -> Option<usize> {
    let data = &data[..end.min(data.len())];
    (at + 1..data.len()).find(|&i| {
        // Cheap checks first: a length that fits and a known type byte; then the checksum.
        let Some(h) = data.get(i..i + FRAME_HEADER_LEN + 1) else {
            return false;
        };
        let len = le32(&h[..4]) as usize;
        len > 0
            && len <= data.len() - i - FRAME_HEADER_LEN
            && (frame::SERIES..=frame::SEALED).contains(&h[FRAME_HEADER_LEN])
            && matches!(frame_at(data, i), FrameAt::Frame { .. })
    })
}

/// The footer offset in a sealed segment's trailer.
pub(crate) fn trailer(data: &[u8]) -> Option<usize> {
    if data.len() < HEADER_LEN + TRAILER_LEN {
        return None;
    }
    let t = &data[data.len() - TRAILER_LEN..];
    if t[8..] != END_MAGIC {
        return None;
    }
    let at = usize::try_from(le64(&t[..8])).ok()?;
    (at >= HEADER_LEN && at < data.len() - TRAILER_LEN).then_some(at)
}

/// Appends values to a frame body.
pub(crate) struct Enc<'a>(pub(crate) &'a mut Vec<u8>);

impl Enc<'_> {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A string cut to 65,535 bytes at a character boundary.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        let (s, _) = crate::record::clip(s, u16::MAX as usize);
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
}

/// Reads values from a frame body; every read checks its length.
#[derive(Debug, Clone)]
pub(crate) struct Dec<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

/// A frame body that does not follow the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(le32(self.take(4)?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(le64(self.take(8)?))
    }
    pub(crate) fn str(&mut self) -> Result<&'a str, Malformed> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| Malformed)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// The fixed head of a `RECORDS` frame's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RecordsHead {
    pub(crate) thread: u32,
    pub(crate) count: u32,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) levels: u8,
    pub(crate) kinds: u16,
}

/// Size of [`RecordsHead`] in the payload.
pub(crate) const RECORDS_HEAD_LEN: usize = 4 + 4 + 8 + 8 + 1 + 2;

impl RecordsHead {
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.thread.to_le_bytes());
        out[4..8].copy_from_slice(&self.count.to_le_bytes());
        out[8..16].copy_from_slice(&self.first.to_le_bytes());
        out[16..24].copy_from_slice(&self.last.to_le_bytes());
        out[24] = self.levels;
        out[25..27].copy_from_slice(&self.kinds.to_le_bytes());
    }

    /// The head and the records after it.
    pub(crate) fn read(payload: &[u8]) -> Result<(RecordsHead, &[u8]), Malformed> {
        let mut d = Dec::new(payload);
        let head = RecordsHead {
            thread: d.u32()?,
            count: d.u32()?,
            first: d.u64()?,
            last: d.u64()?,
            levels: d.u8()?,
            kinds: d.u16()?,
        };
        Ok((head, &payload[RECORDS_HEAD_LEN..]))
    }
}

/// The records of a `RECORDS` frame: each a u32 length and the record.
pub(crate) fn records(mut rest: &[u8]) -> impl Iterator<Item = Result<&[u8], Malformed>> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut d = Dec::new(rest);
        let r = d
            .u32()
            .and_then(|n| d.take(n as usize))
            .inspect(|_| rest = &rest[d.pos..]);
        if r.is_err() {
            rest = &[];
        }
        Some(r)
    })
}

/// The header of segment `data`, whose file name gave sequence `name_seq`; when the header
/// is damaged (its checksum fails) but the file holds more than a header, one guessed from
/// what survives: the sequence from the file name, and encryption from the first whole
/// frame's type. The flag says whether it was guessed. `None` only for a file that cannot
/// hold a frame (no header and nothing after it).
pub(crate) fn header_or_guess(data: &[u8], name_seq: u64) -> Option<(Header, bool)> {
    if let Some(h) = parse_header(data) {
        return Some((h, false));
    }
    if data.len() <= HEADER_LEN {
        return None;
    }
    let first = match frame_at(data, HEADER_LEN) {
        FrameAt::Frame { ty, .. } => Some(ty),
        _ => resync(data, HEADER_LEN, data.len()).and_then(|at| match frame_at(data, at) {
            FrameAt::Frame { ty, .. } => Some(ty),
            _ => None,
        }),
    };
    let flags = if first == Some(frame::SEALED) {
        super::seal::FLAG_ENCRYPTED
    } else {
        0
    };
    Some((
        Header {
            seq: name_seq,
            flags,
        },
        true,
    ))
}

/// The sequence number in a segment path's file name (0 if it has none).
pub(crate) fn path_seq(path: &std::path::Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_file_name)
        .unwrap_or(0)
}
