//! Prometheus naming conventions, applied so that `promtool check metrics` finds nothing to
//! report whatever the application named its series.
//!
//! promtool lints every family (its `promlint` rules): counters end in `_total` and nothing
//! else does; only histograms end in `_bucket`, and only histograms and summaries in `_sum`
//! or `_count`; only histograms carry an `le` label and only summaries a `quantile` label;
//! names and label names are snake_case; a name does not repeat its type (`_counter`,
//! `_gauge`, `_histogram`, `_summary`), abbreviate a unit (`_ms`, `_s`, `_kb`, ...) or use a
//! unit that is not a base unit (`milliseconds`, `minutes`, `kilobytes`, ...).
//!
//! tickwatch rewrites rather than refuses (a by-name call on the hot path has nobody to
//! refuse to). On the words of a name, split at `_`, after
//! [`sanitize_metric_name`](super::sanitize_metric_name):
//!
//! | in the name | becomes | why |
//! |---|---|---|
//! | `orderRtt` | `order_rtt` | snake_case: `_` between a lower- and an upper-case letter, then all lower case |
//! | `x_counter`, `x_gauge_y` | `x`, `x_y` | the `# TYPE` line already says it |
//! | `_s`, `_sec` | `_seconds` | spelled out (a base unit) |
//! | `_ms`, `_us`, `_ns` | `_millisecond`, `_microsecond`, `_nanosecond` | spelled out; singular, since promtool asks for base units and the values are not rescaled |
//! | `_kb`, `_mb`, `_gb`, `_tb`, `_pb`, `_b` | `_kilobyte`, ..., `_byte` | same |
//! | `_m`, `_h`, `_d` | `_minute`, `_hour`, `_day` | same (`_m` is read as minutes) |
//! | `milliseconds`, `minutes`, `kilobytes`, `bits`, `inches`, ... | `millisecond`, `minute`, `kilobyte`, `bit`, `inch` | a unit that is not a base unit, made singular |
//! | `fahrenheit`, `rankine`, `millicelsius` | `degfahrenheit`, ... | same, for units without a plural |
//!
//! Then, by kind: a **counter** gets its unit suffix (from
//! [`Telemetry::describe`](crate::Telemetry::describe)) and `_total`; a **gauge** gets its
//! unit suffix, and `_value` if it would otherwise end in `_total`, `_bucket`, `_sum` or
//! `_count`; a **latency** loses every time-unit word after its first word (its values are
//! exported in seconds, whatever the name said) and gets `_seconds`.
//!
//! Label names are sanitized
//! ([`sanitize_label_name`](super::sanitize_label_name)) and made snake_case the same way;
//! a tag named `le` or `quantile` becomes `exported_le` / `exported_quantile` (Prometheus'
//! own convention for a label that clashes with one it sets), on every kind.
//!
//! Two series that meet under one name after these rules are a conflict (see
//! [`crate::export`]): the first registered is exported, the later one counted.

use crate::metrics::Unit;
use crate::series::SeriesKind;

/// The family name a series called `name` of `kind` (with `unit` from
/// [`Telemetry::describe`](crate::Telemetry::describe)) gets in the Prometheus exposition.
///
/// ```
/// use tickwatch::export::naming::metric_family_name;
/// use tickwatch::metrics::SeriesKind;
/// assert_eq!(metric_family_name("orderRtt_ms", SeriesKind::Latency, None), "order_rtt_seconds");
/// assert_eq!(metric_family_name("fills", SeriesKind::Counter, None), "fills_total");
/// assert_eq!(metric_family_name("queue_total", SeriesKind::Metric, None), "queue_total_value");
/// ```
pub fn metric_family_name(name: &str, kind: SeriesKind, unit: Option<Unit>) -> String {
    let mut sanitized = String::new();
    super::sanitize_metric_name(name, &mut sanitized);
    let kind = match kind {
        SeriesKind::Counter => NameKind::Counter,
        SeriesKind::Latency => NameKind::Histogram,
        SeriesKind::Metric | SeriesKind::Resource => NameKind::Gauge,
    };
    let mut out = String::new();
    write_metric_name(&sanitized, kind, unit, &mut out);
    out
}

/// The label name a tag key `key` gets in the Prometheus exposition.
///
/// ```
/// use tickwatch::export::naming::label_name;
/// assert_eq!(label_name("venueId"), "venue_id");
/// assert_eq!(label_name("le"), "exported_le");
/// ```
pub fn label_name(key: &str) -> String {
    let mut sanitized = String::new();
    super::sanitize_label_name(key, &mut sanitized);
    let mut out = String::new();
    write_label_name(&sanitized, &mut out);
    out
}

/// What kind of family a name is being made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Counter,
    Gauge,
    Histogram,
}

/// The metric type words promtool does not want in a name (its `MetricType` names).
const TYPE_WORDS: [&str; 4] = ["counter", "gauge", "histogram", "summary"];

/// promtool's unit abbreviations, spelled out.
const ABBREVIATIONS: [(&str, &str); 14] = [
    ("s", "seconds"),
    ("sec", "seconds"),
    ("ms", "millisecond"),
    ("us", "microsecond"),
    ("ns", "nanosecond"),
    ("b", "byte"),
    ("kb", "kilobyte"),
    ("mb", "megabyte"),
    ("gb", "gigabyte"),
    ("tb", "terabyte"),
    ("pb", "petabyte"),
    ("m", "minute"),
    ("h", "hour"),
    ("d", "day"),
];

/// promtool's units (each with its base unit) and unit prefixes: a word that is a prefix
/// and a unit, or a unit that is not its own base, is flagged.
const UNITS: [(&str, &str); 24] = [
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const PREFIXES: [&str; 18] = [
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mebi", "mibi", "giga", "gibi", "tera", "tebi", "peta",
];
/// Listed apart to keep `PREFIXES` one line per row above; promtool has both.
const MORE_PREFIXES: [&str; 1] = ["pebi"];

/// Words that name a unit of time, dropped from a latency's name (exported in seconds).
fn is_time_word(w: &str) -> bool {
    matches!(
        w,
        "s" | "sec"
            | "secs"
            | "second"
            | "seconds"
            | "ms"
            | "us"
            | "ns"
            | "millis"
            | "micros"
            | "nanos"
            | "m"
            | "h"
            | "d"
            | "minute"
            | "minutes"
            | "hour"
            | "hours"
            | "day"
            | "days"
            | "week"
            | "weeks"
    ) || PREFIXES
        .iter()
        .chain(&MORE_PREFIXES)
        .any(|p| matches!(w.strip_prefix(p), Some("second" | "seconds")))
}

/// Whether promtool's unit rule flags `w`: a prefixed unit, or a unit that is not a base.
fn flagged_unit(w: &str) -> bool {
    UNITS.iter().any(|&(unit, base)| {
        (w == unit && unit != base)
            || PREFIXES
                .iter()
                .chain(&MORE_PREFIXES)
                .any(|p| w.strip_prefix(p) == Some(unit))
    })
}

/// Appends the singular (or `deg`-prefixed) form of a flagged unit word.
fn write_unflagged_unit(w: &str, out: &mut String) {
    if w.ends_with("celsius") || !w.ends_with('s') {
        out.push_str("deg");
        out.push_str(w);
    } else if let Some(stem) = w.strip_suffix("ches") {
        out.push_str(stem);
        out.push_str("ch");
    } else {
        out.push_str(&w[..w.len() - 1]);
    }
}

/// The longest word compared with the tables above (longer words match none of them).
const MAX_WORD: usize = 32;

/// `w` in lower case, in `buf`; `None` if it is longer than any word in the tables.
fn lower<'b>(w: &str, buf: &'b mut [u8; MAX_WORD]) -> Option<&'b str> {
    let b = buf.get_mut(..w.len())?;
    b.copy_from_slice(w.as_bytes());
    b.make_ascii_lowercase();
    std::str::from_utf8(b).ok()
}

/// Appends `sanitized` (already [`sanitize_metric_name`](super::sanitize_metric_name)d)
/// to `out` under the rules of the module docs, with the suffixes of `kind` and `unit`.
pub(crate) fn write_metric_name(
    sanitized: &str,
    kind: NameKind,
    unit: Option<Unit>,
    out: &mut String,
) {
    let start = out.len();
    let mut first = true;
    let mut buf = [0u8; MAX_WORD];
    for (i, word) in SnakeWords::new(sanitized).enumerate() {
        let Some(w) = lower(word, &mut buf) else {
            // Longer than any listed word: kept, in lower case.
            if !first {
                out.push('_');
            }
            first = false;
            push_lower(word, out);
            continue;
        };
        if i > 0 && kind == NameKind::Histogram && is_time_word(w) {
            continue;
        }
        if i > 0 && TYPE_WORDS.contains(&w) {
            continue;
        }
        if !first {
            out.push('_');
        }
        first = false;
        if let Some(&(_, full)) = ABBREVIATIONS.iter().find(|(a, _)| *a == w) {
            if i > 0 {
                out.push_str(full);
                continue;
            }
        }
        if flagged_unit(w) {
            write_unflagged_unit(w, out);
        } else {
            out.push_str(w);
        }
    }
    if out[start..].starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(start, '_');
    }
    if out.len() == start || out[start..].bytes().all(|b| b == b'_') {
        out.truncate(start);
        out.push_str(super::EMPTY_METRIC_NAME);
    }
    match kind {
        NameKind::Counter => {
            if out[start..].ends_with("_total") {
                out.truncate(out.len() - "_total".len());
            }
            push_unit(out, start, unit);
            out.push_str("_total");
        }
        NameKind::Gauge => {
            push_unit(out, start, unit);
            if ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .any(|s| out[start..].ends_with(s))
            {
                out.push_str("_value");
            }
        }
        NameKind::Histogram => {
            if !out[start..].ends_with("_seconds") {
                out.push_str("_seconds");
            }
        }
    }
}

fn push_unit(out: &mut String, start: usize, unit: Option<Unit>) {
    let suffix = unit.map_or("", Unit::suffix);
    if !suffix.is_empty() && !out[start..].ends_with(suffix) {
        out.push_str(suffix);
    }
}

/// Appends a sanitized label name in snake_case, `le` and `quantile` renamed.
pub(crate) fn write_label_name(sanitized: &str, out: &mut String) {
    let start = out.len();
    for (i, word) in SnakeWords::new(sanitized).enumerate() {
        if i > 0 {
            out.push('_');
        }
        push_lower(word, out);
    }
    if matches!(&out[start..], "le" | "quantile") {
        out.insert_str(start, "exported_");
    }
}

fn push_lower(word: &str, out: &mut String) {
    let from = out.len();
    out.push_str(word);
    out[from..].make_ascii_lowercase();
}

/// The words of a name split at `_` (empty words kept, so `a__b` keeps its double
/// underscore), with a word break between a lower- and an upper-case ASCII letter.
struct SnakeWords<'a> {
    rest: Option<&'a str>,
}

impl<'a> SnakeWords<'a> {
    fn new(name: &'a str) -> Self {
        SnakeWords { rest: Some(name) }
    }
}

impl<'a> Iterator for SnakeWords<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let bytes = rest.as_bytes();
        let mut end = rest.len();
        let mut skip = 0;
        for i in 0..bytes.len() {
            if bytes[i] == b'_' {
                end = i;
                skip = 1;
                break;
            }
            if i > 0 && bytes[i - 1].is_ascii_lowercase() && bytes[i].is_ascii_uppercase() {
                end = i;
                break;
            }
        }
        // Both split points are at ASCII bytes, so on character boundaries.
        self.rest = (end < rest.len()).then(|| &rest[end + skip..]);
        Some(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, kind: NameKind, unit: Option<Unit>) -> String {
        let mut s = String::new();
        super::super::sanitize_metric_name(name, &mut s);
        let mut out = String::new();
        write_metric_name(&s, kind, unit, &mut out);
        out
    }

    fn label(name: &str) -> String {
        let mut s = String::new();
        super::super::sanitize_label_name(name, &mut s);
        let mut out = String::new();
        write_label_name(&s, &mut out);
        out
    }

    #[test]
    fn names_follow_the_conventions() {
        use NameKind::*;
        let cases = [
            ("orders_filled", Counter, None, "orders_filled_total"),
            ("orders_total", Counter, None, "orders_total"),
            ("orderRtt", Histogram, None, "order_rtt_seconds"),
            ("order_rtt_ms", Histogram, None, "order_rtt_seconds"),
            (
                "order_rtt_microseconds",
                Histogram,
                None,
                "order_rtt_seconds",
            ),
            ("queue_total", Gauge, None, "queue_total_value"),
            ("queue_sum", Gauge, None, "queue_sum_value"),
            ("x_bucket", Gauge, None, "x_bucket_value"),
            ("x_count", Gauge, Some(Unit::Bytes), "x_count_bytes"),
            ("wait_ms", Gauge, None, "wait_millisecond"),
            ("wait_milliseconds", Gauge, None, "wait_millisecond"),
            ("uptime_minutes", Gauge, None, "uptime_minute"),
            ("size_kb", Gauge, None, "size_kilobyte"),
            ("reach_inches", Gauge, None, "reach_inch"),
            ("temp_fahrenheit", Gauge, None, "temp_degfahrenheit"),
            ("fills_counter", Counter, None, "fills_total"),
            ("depth_gauge_now", Gauge, None, "depth_now"),
            ("gauge", Gauge, None, "gauge"),
            ("_counter", Counter, None, "unnamed_total"),
            ("ms", Histogram, None, "ms_seconds"),
            ("h", Histogram, None, "h_seconds"),
            ("_ms", Histogram, None, "unnamed_seconds"),
            ("HTTPRequests", Counter, None, "httprequests_total"),
            ("queue", Gauge, Some(Unit::Bytes), "queue_bytes"),
            ("queue_bytes", Gauge, Some(Unit::Bytes), "queue_bytes"),
            ("sent", Counter, Some(Unit::Bytes), "sent_bytes_total"),
            ("sent_total", Counter, Some(Unit::Bytes), "sent_bytes_total"),
            ("a:c", Gauge, None, "a_c"),
            ("a:b", Gauge, None, "a_byte"),
        ];
        for (name, kind, unit, want) in cases {
            assert_eq!(metric(name, kind, unit), want, "{name} as {kind:?}");
        }
    }

    #[test]
    fn labels_follow_the_conventions() {
        assert_eq!(label("venue"), "venue");
        assert_eq!(label("venueId"), "venue_id");
        assert_eq!(label("le"), "exported_le");
        assert_eq!(label("quantile"), "exported_quantile");
        assert_eq!(label("LE"), "exported_le");
        assert_eq!(label("__x"), "_x");
    }
}
