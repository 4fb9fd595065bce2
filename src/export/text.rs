//! The lexical rules of the Prometheus text format 0.0.4: names, label names, escaping and
//! numbers, each written straight into the output `String` (no allocation per sample).

/// What an empty metric name becomes (an empty name is not a valid metric name).
pub const EMPTY_METRIC_NAME: &str = "unnamed";

/// What an empty label name becomes.
pub const EMPTY_LABEL_NAME: &str = "_";

/// Appends `name` to `out` as a valid metric name, `[a-zA-Z_][a-zA-Z0-9_]*`.
///
/// Every other character (including each non-ASCII character, and `:`, which the format
/// allows but reserves for recording rules) becomes `_`; a leading digit gets a `_` prefix;
/// an empty name becomes [`EMPTY_METRIC_NAME`]. Names that are already valid are copied
/// unchanged.
///
/// ```
/// let mut out = String::new();
/// tickwatch::export::sanitize_metric_name("2fast.order-rtt", &mut out);
/// assert_eq!(out, "_2fast_order_rtt");
/// ```
pub fn sanitize_metric_name(name: &str, out: &mut String) {
    sanitize(name, out, EMPTY_METRIC_NAME);
}

/// Appends `name` to `out` as a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__` (reserved for Prometheus' own labels).
///
/// Same rules as [`sanitize_metric_name`]; in addition a leading run of two or more `_`
/// becomes a single `_`, and an empty name becomes [`EMPTY_LABEL_NAME`].
///
/// ```
/// let mut out = String::new();
/// tickwatch::export::sanitize_label_name("__venue id", &mut out);
/// assert_eq!(out, "_venue_id");
/// ```
pub fn sanitize_label_name(name: &str, out: &mut String) {
    let start = out.len();
    sanitize(name, out, EMPTY_LABEL_NAME);
    let written = &out[start..];
    let leading = written.bytes().take_while(|&b| b == b'_').count();
    if leading >= 2 {
        out.replace_range(start..start + leading - 1, "");
    }
}

fn sanitize(name: &str, out: &mut String, empty: &str) {
    if name.is_empty() {
        out.push_str(empty);
        return;
    }
    if name.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if name.bytes().all(valid) {
        out.push_str(name);
        return;
    }
    for c in name.chars() {
        if c.is_ascii() && valid(c as u8) {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Appends `value` escaped for a label value (inside `"`): `\` as `\\`, `"` as `\"` and a
/// line feed as `\n`. Everything else, UTF-8 included, is copied as is.
///
/// ```
/// let mut out = String::new();
/// tickwatch::export::escape_label_value("a\"b\\c\nd é", &mut out);
/// assert_eq!(out, r#"a\"b\\c\nd é"#);
/// ```
pub fn escape_label_value(value: &str, out: &mut String) {
    escape(value, out, true);
}

/// Appends `text` escaped for a `# HELP` line: `\` as `\\` and a line feed as `\n`.
pub fn escape_help(text: &str, out: &mut String) {
    escape(text, out, false);
}

fn escape(value: &str, out: &mut String, quote: bool) {
    let bytes = value.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quote => "\\\"",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&value[from..i]);
        out.push_str(replacement);
        from = i + 1;
    }
    out.push_str(&value[from..]);
}

/// Appends `v` as the format's float: shortest round-trip decimal, `NaN`, `+Inf` or `-Inf`.
pub(crate) fn write_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        out.push_str(zmij::Buffer::new().format_finite(v));
    }
}

/// Appends `v` in decimal.
pub(crate) fn write_u64(v: u64, out: &mut String) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(s: &str) -> String {
        let mut o = String::new();
        sanitize_metric_name(s, &mut o);
        o
    }

    fn label(s: &str) -> String {
        let mut o = String::new();
        sanitize_label_name(s, &mut o);
        o
    }

    #[test]
    fn metric_names() {
        assert_eq!(metric("orders_filled"), "orders_filled");
        assert_eq!(metric(""), "unnamed");
        assert_eq!(metric("9lives"), "_9lives");
        assert_eq!(metric("a:b"), "a_b");
        assert_eq!(metric("latência"), "lat_ncia");
        assert_eq!(metric("a\"b\\c\nd"), "a_b_c_d");
        assert_eq!(metric("日本"), "__");
    }

    #[test]
    fn label_names() {
        assert_eq!(label("venue"), "venue");
        assert_eq!(label(""), "_");
        assert_eq!(label("__name__"), "_name__");
        assert_eq!(label("___x"), "_x");
        assert_eq!(label("_x"), "_x");
        assert_eq!(label("1x"), "_1x");
        assert_eq!(label("__"), "_");
        assert_eq!(label("é"), "_");
    }

    #[test]
    fn escaping() {
        let mut o = String::new();
        escape_label_value("plain", &mut o);
        assert_eq!(o, "plain");
        o.clear();
        escape_label_value("\\\"\n\r\t€", &mut o);
        assert_eq!(o, "\\\\\\\"\\n\r\t€");
        o.clear();
        escape_help("say \"hi\"\\\n", &mut o);
        assert_eq!(o, "say \"hi\"\\\\\\n");
    }

    #[test]
    fn floats() {
        let f = |v: f64| {
            let mut o = String::new();
            write_float(v, &mut o);
            o
        };
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(0.25).parse::<f64>().unwrap(), 0.25);
        assert_eq!(f(1e-6).parse::<f64>().unwrap(), 1e-6);
        assert_eq!(f(-3.0).parse::<f64>().unwrap(), -3.0);
    }
}
