//! A segment's dictionary: the series, `event!` call sites and threads its records refer to
//! by id, each written into the segment (as a `SERIES`, `CALLSITE` or `THREAD` frame) before
//! the first record that uses it.

use crate::hash::KeyedMap;

use super::format::{begin_frame, end_frame, frame, Dec, Enc, Malformed};
use crate::logging::Level;
use crate::record::kind;

/// A series as the dictionary holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesDef {
    pub(crate) id: u32,
    pub(crate) kind: u8,
    pub(crate) name: String,
    pub(crate) tags: Vec<(String, String)>,
}

impl SeriesDef {
    pub(crate) fn encode(
        out: &mut Vec<u8>,
        id: u32,
        kind: u8,
        name: &str,
        tags: &[(String, String)],
    ) {
        let at = begin_frame(out, frame::SERIES);
        let n = tags.len().min(u16::MAX as usize);
        let mut e = Enc(out);
        e.u32(id).u8(kind).str(name).u16(n as u16);
        for (k, v) in &tags[..n] {
            e.str(k).str(v);
        }
        end_frame(out, at);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<SeriesDef, Malformed> {
        let mut d = Dec::new(b);
        let id = d.u32()?;
        let kind = d.u8()?;
        if !matches!(
            kind,
            kind::METRIC | kind::COUNTER | kind::LATENCY | kind::RESOURCE
        ) {
            return Err(Malformed);
        }
        let name = d.str()?.to_owned();
        let n = d.u16()?;
        let mut tags = Vec::with_capacity(usize::from(n).min(64));
        for _ in 0..n {
            tags.push((d.str()?.to_owned(), d.str()?.to_owned()));
        }
        d.is_empty().then_some(()).ok_or(Malformed)?;
        Ok(SeriesDef {
            id,
            kind,
            name,
            tags,
        })
    }
}

/// An `event!` call site as the dictionary holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallsiteDef {
    pub(crate) id: u32,
    pub(crate) level: Level,
    pub(crate) args: u16,
    pub(crate) line: u32,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) file: String,
    pub(crate) fields: Vec<String>,
}

impl CallsiteDef {
    pub(crate) fn encode(out: &mut Vec<u8>, id: u32, cs: &crate::logging::Callsite) {
        let at = begin_frame(out, frame::CALLSITE);
        let names = cs.fields();
        let n = names.len().min(u16::MAX as usize);
        let mut e = Enc(out);
        e.u32(id)
            .u8(cs.level() as u8)
            .u16(cs.args().min(u16::MAX as usize) as u16)
            .u32(cs.line())
            .str(cs.target())
            .str(cs.message())
            .str(cs.file())
            .u16(n as u16);
        for name in &names[..n] {
            e.str(name);
        }
        end_frame(out, at);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<CallsiteDef, Malformed> {
        let mut d = Dec::new(b);
        let id = d.u32()?;
        let level = Level::from_u8(d.u8()?).ok_or(Malformed)?;
        let args = d.u16()?;
        let line = d.u32()?;
        let target = d.str()?.to_owned();
        let message = d.str()?.to_owned();
        let file = d.str()?.to_owned();
        let n = d.u16()?;
        let mut fields = Vec::with_capacity(usize::from(n).min(64));
        for _ in 0..n {
            fields.push(d.str()?.to_owned());
        }
        d.is_empty().then_some(()).ok_or(Malformed)?;
        Ok(CallsiteDef {
            id,
            level,
            args,
            line,
            target,
            message,
            file,
            fields,
        })
    }
}

/// A producing thread as the dictionary holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThreadDef {
    pub(crate) index: u32,
    pub(crate) name: Option<String>,
}

impl ThreadDef {
    pub(crate) fn encode(out: &mut Vec<u8>, index: u32, name: Option<&str>) {
        let at = begin_frame(out, frame::THREAD);
        let mut e = Enc(out);
        e.u32(index)
            .u8(name.is_some() as u8)
            .str(name.unwrap_or(""));
        end_frame(out, at);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<ThreadDef, Malformed> {
        let mut d = Dec::new(b);
        let index = d.u32()?;
        let has = d.u8()?;
        let name = d.str()?;
        d.is_empty().then_some(()).ok_or(Malformed)?;
        Ok(ThreadDef {
            index,
            name: match has {
                0 => None,
                1 => Some(name.to_owned()),
                _ => return Err(Malformed),
            },
        })
    }
}

/// A segment's dictionary: what its records' ids mean.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dictionary {
    pub(crate) series: Ids<SeriesDef>,
    pub(crate) callsites: Ids<CallsiteDef>,
    pub(crate) threads: Ids<Option<String>>,
}

/// Ids below this are looked up by index (a reader looks one up per record); a file that
/// claims larger ones (a writer never makes them: ids count from 0) gets a map.
const DENSE_IDS: u32 = 1 << 20;

/// An id -> definition table.
#[derive(Debug, Clone)]
pub(crate) struct Ids<T> {
    dense: Vec<Option<T>>,
    sparse: KeyedMap<u32, T>,
}

impl<T> Default for Ids<T> {
    fn default() -> Self {
        Ids {
            dense: Vec::new(),
            sparse: KeyedMap::default(),
        }
    }
}

impl<T> Ids<T> {
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        if id < DENSE_IDS {
            self.dense.get(id as usize)?.as_ref()
        } else {
            self.sparse.get(&id)
        }
    }

    pub(crate) fn insert(&mut self, id: u32, v: T) {
        if id < DENSE_IDS {
            let i = id as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i] = Some(v);
        } else {
            self.sparse.insert(id, v);
        }
    }
}

impl Dictionary {
    /// Takes a dictionary frame; other frames are ignored.
    pub(crate) fn add(&mut self, ty: u8, payload: &[u8]) -> Result<(), Malformed> {
        match ty {
            frame::SERIES => {
                let d = SeriesDef::decode(payload)?;
                self.series.insert(d.id, d);
            }
            frame::CALLSITE => {
                let d = CallsiteDef::decode(payload)?;
                self.callsites.insert(d.id, d);
            }
            frame::THREAD => {
                let d = ThreadDef::decode(payload)?;
                self.threads.insert(d.index, d.name);
            }
            _ => {}
        }
        Ok(())
    }
}
