//! The lines of one exposition family, written straight into the output: the `# HELP` and
//! `# TYPE` header, tickwatch's own counters, and one sample line.

use std::ops::Range;

use super::prometheus::FamilyType;
use super::text::{escape_help, write_float, write_u64};
use crate::metrics::SeriesValue;

/// Formatted `le` values by bucket position: histograms usually share their boundaries, so
/// each bound is formatted once per render rather than once per series.
#[derive(Default)]
pub(super) struct LeCache {
    text: String,
    /// Per bucket position: the bound's bits and its text in `text`.
    slots: Vec<(u64, Range<usize>)>,
}

impl LeCache {
    /// Forgets every bound (a new render).
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.slots.clear();
    }

    pub(super) fn get(&mut self, position: usize, le: f64) -> &str {
        let bits = le.to_bits();
        match self.slots.get(position) {
            Some((b, range)) if *b == bits => &self.text[range.clone()],
            _ => {
                let start = self.text.len();
                write_float(le, &mut self.text);
                let slot = (bits, start..self.text.len());
                if position < self.slots.len() {
                    self.slots[position] = slot;
                } else {
                    // Positions are visited in order, so this is the next one.
                    self.slots.push(slot);
                }
                &self.text[start..]
            }
        }
    }
}

pub(super) fn write_header(
    out: &mut String,
    name: &str,
    ty: FamilyType,
    original: &str,
    help: Option<&str>,
) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    if let Some(help) = help {
        escape_help(help, out);
    } else {
        out.push_str("tickwatch ");
        out.push_str(match ty {
            FamilyType::Counter => "counter ",
            FamilyType::Gauge => "gauge ",
            FamilyType::Histogram => "latency ",
            FamilyType::Reserved => "",
        });
        escape_help(original, out);
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(ty.as_str());
    out.push('\n');
}

/// One of tickwatch's own families; a `None` value writes the header alone (nothing
/// measured yet).
pub(super) fn write_own(
    out: &mut String,
    name: &str,
    help: &str,
    ty: FamilyType,
    value: Option<f64>,
) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(ty.as_str());
    out.push('\n');
    if let Some(value) = value {
        out.push_str(name);
        out.push(' ');
        if value.fract() == 0.0 && (0.0..9.007_199_254_740_992e15).contains(&value) {
            // A whole count, written as an integer.
            write_u64(value as u64, out);
        } else {
            write_float(value, out);
        }
        out.push('\n');
    }
}

/// `name{labels[,extra]}` (no braces when empty).
pub(super) fn write_name(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    le: Option<&str>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    out.push_str(labels);
    if let Some(le) = le {
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str("le=\"");
        out.push_str(le);
        out.push('"');
    }
    out.push('}');
}

pub(super) fn write_series(
    out: &mut String,
    name: &str,
    labels: &str,
    value: &SeriesValue,
    le_cache: &mut LeCache,
) {
    match value {
        SeriesValue::Counter(c) => {
            write_name(out, name, "", labels, None);
            out.push(' ');
            write_u64(c.total, out);
            out.push('\n');
        }
        SeriesValue::Gauge(g) => {
            write_name(out, name, "", labels, None);
            out.push(' ');
            write_float(g.total.last, out);
            out.push('\n');
        }
        SeriesValue::Latency(l) => {
            let count = l.total.count;
            let mut prev_le = f64::NEG_INFINITY;
            let mut prev_cum = 0u64;
            let mut position = 0;
            for b in &l.buckets {
                // Keep the output valid for any input: strictly increasing finite bounds,
                // cumulative counts non-decreasing and never above the total.
                if !b.le_secs.is_finite() || b.le_secs <= prev_le {
                    continue;
                }
                prev_le = b.le_secs;
                prev_cum = b.cumulative.clamp(prev_cum, count); // prev_cum <= count holds
                let le = le_cache.get(position, b.le_secs);
                position += 1;
                write_name(out, name, "_bucket", labels, Some(le));
                out.push(' ');
                write_u64(prev_cum, out);
                out.push('\n');
            }
            write_name(out, name, "_bucket", labels, Some("+Inf"));
            out.push(' ');
            write_u64(count, out);
            out.push('\n');
            write_name(out, name, "_sum", labels, None);
            out.push(' ');
            write_float(l.sum_ns as f64 / 1e9, out);
            out.push('\n');
            write_name(out, name, "_count", labels, None);
            out.push(' ');
            write_u64(count, out);
            out.push('\n');
        }
    }
}
