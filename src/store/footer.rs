//! A sealed segment's footer (record count, time range, levels, kinds, series, the
//! dictionary's offsets and a sparse index) and how it is built from the frames.

use super::format::{
    frame, Dec, Enc, Malformed, RecordsHead, END_MAGIC, HEADER_LEN, INDEX_GROUP_BYTES, TRAILER_LEN,
};

/// One sparse-index entry: a run of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) records: u64,
    pub(crate) levels: u8,
    pub(crate) kinds: u16,
}

impl IndexEntry {
    fn empty(start: u64) -> Self {
        IndexEntry {
            start,
            end: start,
            first: u64::MAX,
            last: 0,
            records: 0,
            levels: 0,
            kinds: 0,
        }
    }

    fn add(&mut self, h: &RecordsHead) {
        self.first = self.first.min(h.first);
        self.last = self.last.max(h.last);
        self.records += u64::from(h.count);
        self.levels |= h.levels;
        self.kinds |= h.kinds;
    }
}

/// A sealed segment's summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Footer {
    pub(crate) records: u64,
    /// Earliest and latest record time (Unix ns); `first > last` when there are none.
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) levels: u8,
    pub(crate) kinds: u16,
    /// Offsets of the dictionary frames.
    pub(crate) dictionary: Vec<u64>,
    /// Ids of the series with a dictionary entry.
    pub(crate) series: Vec<u32>,
    pub(crate) index: Vec<IndexEntry>,
}

impl Footer {
    /// Appends the footer frame (plain) and the trailer; `at` is the footer's offset in the
    /// segment.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn encode(&self, out: &mut Vec<u8>, at: u64) {
        let start = super::format::begin_frame(out, frame::FOOTER);
        self.encode_payload(out);
        super::format::end_frame(out, start);
        out.extend_from_slice(&trailer(at));
    }

    /// Appends the footer's payload.
    pub(crate) fn encode_payload(&self, out: &mut Vec<u8>) {
        let mut e = Enc(out);
        e.u64(self.records)
            .u64(self.first)
            .u64(self.last)
            .u8(self.levels)
            .u16(self.kinds)
            .u32(self.dictionary.len() as u32);
        for d in &self.dictionary {
            e.u64(*d);
        }
        e.u32(self.series.len() as u32);
        for s in &self.series {
            e.u32(*s);
        }
        e.u32(self.index.len() as u32);
        for i in &self.index {
            e.u64(i.start)
                .u64(i.end)
                .u64(i.first)
                .u64(i.last)
                .u64(i.records)
                .u8(i.levels)
                .u16(i.kinds);
        }
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Footer, Malformed> {
        let mut d = Dec::new(b);
        let mut f = Footer {
            records: d.u64()?,
            first: d.u64()?,
            last: d.u64()?,
            levels: d.u8()?,
            kinds: d.u16()?,
            ..Footer::default()
        };
        let n = d.u32()? as usize;
        // Every count is checked against the bytes left before anything is reserved.
        let room = |d: &Dec<'_>, each: usize| (d.buf.len() - d.pos) / each;
        if n > room(&d, 8) {
            return Err(Malformed);
        }
        f.dictionary = (0..n).map(|_| d.u64()).collect::<Result<_, _>>()?;
        let n = d.u32()? as usize;
        if n > room(&d, 4) {
            return Err(Malformed);
        }
        f.series = (0..n).map(|_| d.u32()).collect::<Result<_, _>>()?;
        let n = d.u32()? as usize;
        if n > room(&d, 43) {
            return Err(Malformed);
        }
        for _ in 0..n {
            f.index.push(IndexEntry {
                start: d.u64()?,
                end: d.u64()?,
                first: d.u64()?,
                last: d.u64()?,
                records: d.u64()?,
                levels: d.u8()?,
                kinds: d.u16()?,
            });
        }
        d.is_empty().then_some(()).ok_or(Malformed)?;
        Ok(f)
    }
}

/// Builds a segment's footer from its frames, in order: what the writer does as it writes
/// and what recovery does as it scans a segment that was never sealed.
#[derive(Debug, Clone)]
pub(crate) struct FooterBuilder {
    footer: Footer,
    group: IndexEntry,
}

impl FooterBuilder {
    pub(crate) fn new() -> Self {
        FooterBuilder {
            footer: Footer {
                first: u64::MAX,
                ..Footer::default()
            },
            group: IndexEntry::empty(HEADER_LEN as u64),
        }
    }

    /// Takes the frame of type `ty` at `offset`, `len` bytes long in all, with `payload`.
    pub(crate) fn add(&mut self, offset: u64, len: u64, ty: u8, payload: &[u8]) {
        if self.group.end != offset {
            // Frames are added in order and back to back; a gap (a frame skipped as corrupt)
            // starts a new entry so that no entry covers bytes that were not read.
            self.close_group(offset);
        }
        match ty {
            frame::SERIES | frame::CALLSITE | frame::THREAD => {
                self.footer.dictionary.push(offset);
                if ty == frame::SERIES && payload.len() >= 4 {
                    let id = [payload[0], payload[1], payload[2], payload[3]];
                    self.footer.series.push(u32::from_le_bytes(id));
                }
            }
            frame::RECORDS => {
                if let Ok((h, _)) = RecordsHead::read(payload) {
                    let f = &mut self.footer;
                    f.records += u64::from(h.count);
                    f.first = f.first.min(h.first);
                    f.last = f.last.max(h.last);
                    f.levels |= h.levels;
                    f.kinds |= h.kinds;
                    self.group.add(&h);
                }
            }
            _ => {}
        }
        self.group.end = offset + len;
        if self.group.end - self.group.start >= INDEX_GROUP_BYTES {
            let end = self.group.end;
            self.close_group(end);
        }
    }

    fn close_group(&mut self, next: u64) {
        if self.group.end > self.group.start {
            self.footer.index.push(self.group);
        }
        self.group = IndexEntry::empty(next);
    }

    /// The footer, ready to encode.
    pub(crate) fn finish(mut self) -> Footer {
        let end = self.group.end;
        self.close_group(end);
        self.footer
    }
}

/// The trailer of a sealed segment whose footer frame starts at `at`.
pub(crate) fn trailer(at: u64) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[..8].copy_from_slice(&at.to_le_bytes());
    t[8..].copy_from_slice(&END_MAGIC);
    t
}
