//! A custom sink that counts what it is handed, per kind, without decoding records; and
//! output helpers.

use super::*;

#[derive(Default)]
pub(crate) struct Aggregate {
    /// metric, counter, latency, resource, event, other (audit records and later kinds)
    pub(crate) kinds: [u64; 6],
    /// `Dropped` notices and the records they account for.
    pub(crate) drop_notices: u64,
    pub(crate) dropped: u64,
}

pub(crate) struct CountingSink(pub(crate) Arc<Mutex<Aggregate>>);

impl Sink for CountingSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut agg = self.0.lock().map_err(|_| SinkError::new("poisoned"))?;
        let agg = &mut *agg;
        // Each record's kind is its frame's first byte: nothing is decoded.
        for kind in batch.kinds() {
            agg.kinds[match kind {
                RecordKind::Metric => 0,
                RecordKind::Counter => 1,
                RecordKind::Latency => 2,
                RecordKind::Resource => 3,
                RecordKind::Event => 4,
                _ => 5,
            }] += 1;
        }
        // Keeping no kind leaves the drop notice alone.
        for rec in batch.iter_where(|_| false) {
            if let RecordView::Dropped { count, .. } = rec {
                agg.drop_notices += 1;
                agg.dropped += count;
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "counting"
    }
}

// ---------------------------------------------------------------------------------------------
// Output helpers

/// 1234567 -> "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds, human-sized: "412ns", "3.10µs", "1.25ms", "2.00s".
pub(crate) fn dur(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{:.2}µs", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

pub(crate) fn count_lines(path: &Path) -> io::Result<(u64, u64)> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((lines, bytes));
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

pub(crate) fn check(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}
