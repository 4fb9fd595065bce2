//! Shared by the tests/prometheus_*.rs files: snapshot builders, an independent parser and
//! checker of the text format 0.0.4, and a promtool runner.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};

use tickwatch::metrics::SeriesKind;
use tickwatch::metrics::{
    Bucket, CounterValue, GaugeStats, GaugeValue, LatencyValue, Percentiles, SeriesSnapshot,
    SeriesValue, Snapshot,
};
use tickwatch::Timestamp;

pub fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
    t.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn counter(name: &str, t: &[(&str, &str)], total: u64) -> SeriesSnapshot {
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind: SeriesKind::Counter,
        value: SeriesValue::Counter(CounterValue {
            total,
            window: None,
            rate_per_sec: 0.0,
        }),
    }
}

pub fn gauge(name: &str, t: &[(&str, &str)], kind: SeriesKind, last: f64) -> SeriesSnapshot {
    let stats = GaugeStats {
        last,
        min: last,
        max: last,
        sum: last,
        count: 1,
    };
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind,
        value: SeriesValue::Gauge(GaugeValue {
            total: stats,
            window: None,
            rate_per_sec: 0.0,
        }),
    }
}

/// A latency series aggregated exactly from `samples_ns`, with buckets at `bounds_secs`.
pub fn latency(
    name: &str,
    t: &[(&str, &str)],
    samples_ns: &[u64],
    bounds_secs: &[f64],
) -> SeriesSnapshot {
    let mut sorted = samples_ns.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let at = |q: f64| {
        if n == 0 {
            0
        } else {
            sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
        }
    };
    let sum: u64 = sorted.iter().sum();
    let total = Percentiles {
        count: n as u64,
        min: sorted.first().copied().unwrap_or(0),
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: sorted.last().copied().unwrap_or(0),
        mean: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
    };
    let buckets = bounds_secs
        .iter()
        .map(|&le| Bucket {
            le_secs: le,
            cumulative: sorted.iter().filter(|&&s| s as f64 / 1e9 <= le).count() as u64,
        })
        .collect();
    SeriesSnapshot {
        name: name.into(),
        tags: tags(t),
        kind: SeriesKind::Latency,
        value: SeriesValue::Latency(LatencyValue {
            total,
            window: None,
            sum_ns: sum,
            rate_per_sec: 0.0,
            clamped: 0,
            buckets,
        }),
    }
}

pub fn snapshot(series: Vec<SeriesSnapshot>) -> Snapshot {
    let mut s = Snapshot::empty(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
    s.uptime_secs = 10.0;
    s.window_secs = 1.0;
    s.series = series;
    s.refused_series = 0;
    s
}

/// One parsed sample: name, labels (unescaped, in output order) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// What [`check`] found: samples in order, family types and HELP texts (unescaped).
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: HashMap<String, String>,
    pub help: HashMap<String, String>,
}

impl Exposition {
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
            })
            .map(|s| s.value)
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn valid_label_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !n.starts_with("__")
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && !s.is_empty() =>
        {
            s.parse().map_err(|e| format!("bad value {s:?}: {e}"))
        }
        _ => Err(format!("bad value {s:?}")),
    }
}

/// Parses `name{k="v",...} value` (no timestamp: tickwatch writes none).
fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let key = &rest[..eq];
            if !valid_label_name(key) {
                return Err(format!("invalid label name {key:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("unknown escape \\{c}")),
                    },
                    (_, '\n') => return Err("raw newline in label value".into()),
                    (_, c) => value.push(c),
                }
            };
            if labels.iter().any(|(k, _): &(String, String)| k == key) {
                return Err(format!("label {key} twice in one sample"));
            }
            labels.push((key.to_string(), value));
            rest = &rest[close + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err("expected , or } after a label".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if value.contains(' ') {
        return Err("unexpected timestamp or trailing text".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: parse_value(value)?,
    })
}

fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad HELP escape {other:?}")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The family a sample belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suf| {
        let base = name.strip_suffix(suf)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

/// Parses `text` and checks what promtool does not: HELP and TYPE at most once per family
/// and before its samples, every sample typed, families contiguous, no duplicate series,
/// and per histogram: `+Inf` bucket present and equal to `_count`, buckets cumulative
/// (non-decreasing as `le` grows), `_sum` and `_count` present.
pub fn check(text: &str) -> Result<Exposition, String> {
    let mut ex = Exposition::default();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("output does not end with a newline".into());
    }
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen_series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let ctx = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        let mut switch_to = |fam: &str, current: &mut Option<String>| -> Result<(), String> {
            if current.as_deref() != Some(fam) {
                if finished.contains(fam) {
                    return Err(format!("family {fam} is not contiguous"));
                }
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                *current = Some(fam.to_string());
            }
            Ok(())
        };
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            switch_to(name, &mut current).map_err(ctx)?;
            if ex.types.contains_key(name) {
                return Err(ctx("HELP after TYPE or samples".into()));
            }
            if ex
                .help
                .insert(name.into(), unescape_help(help).map_err(ctx)?)
                .is_some()
            {
                return Err(ctx(format!("second HELP for {name}")));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest
                .split_once(' ')
                .ok_or_else(|| ctx("TYPE without type".into()))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                return Err(ctx(format!("unknown type {ty}")));
            }
            switch_to(name, &mut current).map_err(ctx)?;
            if ex.types.insert(name.into(), ty.into()).is_some() {
                return Err(ctx(format!("second TYPE for {name}")));
            }
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let s = parse_sample(line).map_err(ctx)?;
            let fam = family_of(&s.name, &ex.types)
                .ok_or_else(|| ctx("sample of an undeclared family".into()))?
                .to_string();
            switch_to(&fam, &mut current).map_err(ctx)?;
            let mut key = s.labels.clone();
            key.sort();
            if !seen_series.insert((s.name.clone(), key)) {
                return Err(ctx("duplicate series".into()));
            }
            ex.samples.push(s);
        }
    }
    check_histograms(&ex)?;
    Ok(ex)
}

fn check_histograms(ex: &Exposition) -> Result<(), String> {
    // (family, labels without le) -> (buckets in output order, sum, count)
    type Key = (String, Vec<(String, String)>);
    /// Buckets (le, value) in output order, `_sum`, `_count`.
    type Parts = (Vec<(f64, f64)>, Option<f64>, Option<f64>);
    let mut hists: HashMap<Key, Parts> = HashMap::new();
    for s in &ex.samples {
        let fam = family_of(&s.name, &ex.types).unwrap_or_default();
        if ex.types.get(fam).map(String::as_str) != Some("histogram") {
            continue;
        }
        let mut rest: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        rest.sort();
        let e = hists.entry((fam.to_string(), rest)).or_default();
        match &s.name[fam.len()..] {
            "_bucket" => {
                let le = s
                    .labels
                    .iter()
                    .find(|(k, _)| k == "le")
                    .ok_or_else(|| format!("{} bucket without le", s.name))?;
                e.0.push((parse_value(&le.1)?, s.value));
            }
            "_sum" => e.1 = Some(s.value),
            "_count" => e.2 = Some(s.value),
            other => return Err(format!("unexpected histogram sample suffix {other:?}")),
        }
    }
    for ((fam, labels), (mut buckets, sum, count)) in hists {
        let id = format!("{fam}{labels:?}");
        let count = count.ok_or(format!("{id}: no _count"))?;
        sum.ok_or(format!("{id}: no _sum"))?;
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in buckets.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(format!("{id}: le {} twice", w[0].0));
            }
            if w[1].1 < w[0].1 {
                return Err(format!("{id}: buckets not cumulative at le {}", w[1].0));
            }
        }
        match buckets.last() {
            Some(&(le, v)) if le == f64::INFINITY && v == count => {}
            _ => return Err(format!("{id}: +Inf bucket missing or not equal to _count")),
        }
    }
    Ok(())
}

/// `promtool check metrics` on `text`: `(exit code, stdout + stderr)`. Panics with the
/// install command when promtool is missing: the tests that call it are `#[ignore]`d and run
/// by `.ci/run` (which installs it) with `--ignored`, so a missing tool fails, never skips.
pub fn promtool(text: &str) -> (i32, String) {
    let path = std::env::var("PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: `sudo apt-get install prometheus` (it ships promtool), or set PROMTOOL"
    );
    let mut child = Command::new(&path)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), msg)
}
