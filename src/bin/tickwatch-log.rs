//! `tickwatch-log`: read a tickwatch segment log after the process that wrote it is gone.
//! It never modifies the log it reads.
//!
//! ```text
//! tickwatch-log cat DIR [--text]           every record, one JSON line each (or text)
//! tickwatch-log query DIR 'QUERY' [--text] the records a query matches (JSON lines)
//! tickwatch-log verify DIR                 check every frame (exit 1 if damaged)
//! tickwatch-log stats DIR [--json]         segments, records per kind, time range, bytes
//! tickwatch-log backup DIR DEST            a consistent copy while DIR is written
//!                                          (with --keys KEYFILE, the key file too)
//! tickwatch-log verify-backup DEST         exit 0 only if every file matches its manifest
//! tickwatch-log check-config FILE          validate a configuration file (and the
//!                                          TICKWATCH_* overrides) without starting anything
//! ```
//!
//! `--keys KEYFILE` opens a log written with `SegmentLogOptions::encrypt` (the key file
//! format of `KeyRingBuilder::key_file`); with `--kek-env VAR`, KEYFILE is a wrapped key file
//! (`KeyRingBuilder::persist`) opened under the key-encryption key in environment variable
//! VAR (read only: the key file is not rewritten).
//!
//! Exit status: 0 on success, 1 when `verify` finds damage (a torn tail at the end of the
//! newest segment, as a crash leaves, is reported but is not damage) or no segment at all,
//! when `cat`, `query` or `stats` left records out (an unreadable segment, a damaged or
//! undecodable frame, frames that do not decrypt with the key ring given, a segment missing
//! or renamed: each said on stderr, after the output), or `check-config` an invalid
//! configuration (the error names the key and its line), 2 on a usage error or an
//! unreadable log directory.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use tickwatch::sink::Record;
use tickwatch::store::{LogQuery, LogReader, LogResults, ReadDamage, VerifyProblem};

const USAGE: &str = "usage:
  tickwatch-log cat DIR [--text] [--keys KEYFILE [--kek-env VAR]]
  tickwatch-log query DIR 'QUERY' [--text] [--keys KEYFILE [--kek-env VAR]]
  tickwatch-log verify DIR [--keys KEYFILE [--kek-env VAR]]
  tickwatch-log stats DIR [--json] [--keys KEYFILE [--kek-env VAR]]
  tickwatch-log backup DIR DEST [--keys KEYFILE]
  tickwatch-log verify-backup DEST
  tickwatch-log check-config FILE

QUERY is the text form of a log query, for example
  'level>=warn target=risk order_id=42 since=5m \"rejected\"'
(see the tickwatch::store docs for the grammar).

Exit status: 0 on success; 1 when verify finds damage or no segments, or when cat, query
or stats left records out (unreadable segments, damaged or undecodable frames, frames that
do not decrypt with the key ring given, missing or renamed segments: said on stderr);
2 on a usage error or an unreadable log directory.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tickwatch-log: {e}");
            ExitCode::from(2)
        }
    }
}

/// The flags any command takes (`--keys` and `--kek-env` with a value).
const FLAGS: [&str; 5] = ["--text", "--json", "--keys", "--kek-env", "--help"];

fn run(args: &[String]) -> Result<ExitCode, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    // A mistyped flag (`--jsn`) is refused, not ignored.
    if let Some(unknown) = args
        .iter()
        .find(|a| a.starts_with("--") && !FLAGS.contains(&a.as_str()))
    {
        return Err(format!("unknown flag {unknown}\n{USAGE}"));
    }
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args.get(i + 1).ok_or(format!("{name} needs a value")))
            .transpose()
    };
    let keys = value("--keys")?;
    let kek_env = value("--kek-env")?;
    let positional: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with("--") && Some(*a) != keys && Some(*a) != kek_env)
        .collect();
    let (Some(cmd), Some(dir)) = (positional.first(), positional.get(1)) else {
        return Err(USAGE.into());
    };
    let takes = if matches!(cmd.as_str(), "query" | "backup") {
        3
    } else {
        2
    };
    if let Some(extra) = positional.get(takes) {
        return Err(format!("unexpected argument {extra:?}\n{USAGE}"));
    }
    match cmd.as_str() {
        "backup" => {
            let Some(dest) = positional.get(2) else {
                return Err(USAGE.into());
            };
            // With --keys, the key file is copied too (after the segments).
            let also: Vec<&std::path::Path> = keys.iter().map(|k| k.as_ref()).collect();
            let m = tickwatch::store::backup_with(dir.as_ref(), dest.as_ref(), &also)
                .map_err(|e| e.to_string())?;
            let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
            println!(
                "backed up {} files, {bytes} bytes, to {dest} (manifest: {})",
                m.files.len(),
                tickwatch::store::MANIFEST
            );
            return Ok(ExitCode::SUCCESS);
        }
        "check-config" => {
            return Ok(match tickwatch::Config::load(dir) {
                Ok(_) => {
                    println!("{dir}: valid");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("{dir}: {e}");
                    ExitCode::from(1)
                }
            });
        }
        "verify-backup" => {
            let problems =
                tickwatch::store::verify_backup(dir.as_ref()).map_err(|e| e.to_string())?;
            for p in &problems {
                println!("DAMAGED: {p}");
            }
            if problems.is_empty() {
                println!("every file matches the manifest");
                return Ok(ExitCode::SUCCESS);
            }
            return Ok(ExitCode::from(1));
        }
        _ => {}
    }
    let mut reader =
        LogReader::open(dir.as_str()).map_err(|e| format!("cannot read {dir}: {e}"))?;
    if let Some(file) = keys {
        let builder = match kek_env {
            None => tickwatch::KeyRing::builder().key_file(file),
            Some(var) => {
                let kek = tickwatch::security::crypto::SecretKey::from_env(var)
                    .map_err(|e| format!("cannot read the key-encryption key: {e}"))?;
                tickwatch::KeyRing::builder().wrapped_key_file(file, kek)
            }
        };
        let ring = builder
            .build()
            .map_err(|e| format!("cannot load the keys in {file}: {e}"))?;
        reader = reader.key_ring(std::sync::Arc::new(ring));
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let text = flag("--text");
    match cmd.as_str() {
        "cat" => {
            let mut failed = None;
            let (n, damage) = reader
                .for_each_checked(|r, name| {
                    if failed.is_none() {
                        if let Err(e) = print(&mut out, r, name, text) {
                            failed = Some(e);
                        }
                    }
                })
                .map_err(|e| format!("cannot read {dir}: {e}"))?;
            if let Some(e) = failed {
                return broken_pipe_ok(e);
            }
            out.flush().or_else(|e| broken_pipe_ok(e).map(|_| ()))?;
            Ok(report_damage(dir, n, &damage))
        }
        "query" => {
            let Some(text_query) = positional.get(2) else {
                return Err(USAGE.into());
            };
            let mut q: LogQuery = text_query.parse().map_err(|e| format!("{e}"))?;
            // Without `limit=`, every match, a page at a time (a cursor between pages), so a
            // large log is never held in memory whole.
            let all = !text_query
                .split_whitespace()
                .any(|t| t.starts_with("limit="));
            if all {
                q.limit = PAGE;
            }
            let mut res = reader.query(&q).map_err(|e| format!("{e}"))?;
            let mut printed = 0u64;
            loop {
                printed += res.records.len() as u64;
                for r in &res.records {
                    if let Err(e) = print(&mut out, r, None, text) {
                        return broken_pipe_ok(e);
                    }
                }
                let Some(next) = res.next.filter(|_| all) else {
                    break;
                };
                q.cursor = Some(next);
                let page = reader.query(&q).map_err(|e| format!("{e}"))?;
                res = merge_pages(res, page);
            }
            if all {
                // Every match was printed: the pages' own counts overlap where one resumed.
                res.matched = printed;
            }
            eprintln!(
                "{} matched of {} scanned ({} segments read, {} skipped by their footers){}",
                res.matched,
                res.scanned,
                res.segments_read,
                res.segments_skipped,
                match &res.next {
                    Some(c) => format!("; more after: cursor={c}"),
                    None => String::new(),
                }
            );
            out.flush().or_else(|e| broken_pipe_ok(e).map(|_| ()))?;
            let mut damage = ReadDamage::default();
            damage.corrupt_frames = res.corrupt_frames;
            damage.undecodable = res.undecodable;
            damage.sequence_gaps = res.sequence_gaps;
            damage.undecryptable_frames = res.undecryptable_frames;
            damage.damaged_headers = res.damaged_headers;
            damage.missing_segments = res.missing_segments;
            damage.misnamed_segments = res.misnamed_segments;
            Ok(report_damage(dir, res.scanned, &damage))
        }
        "verify" => {
            let v = reader
                .verify()
                .map_err(|e| format!("cannot read {dir}: {e}"))?;
            if v.segments == 0 {
                eprintln!("tickwatch-log: no segments in {dir} (is it a segment log directory?)");
                return Ok(ExitCode::from(1));
            }
            let _ = writeln!(
                out,
                "{} segments, {} frames, {} records checked",
                v.segments, v.frames, v.records
            );
            if let Some((path, bytes)) = &v.torn_tail {
                let _ = writeln!(
                    out,
                    "torn tail: the last {bytes} bytes of {} are an incomplete frame (a crash while writing); recovery will cut them",
                    path.display()
                );
            }
            for p in &v.problems {
                let what = if matches!(p, VerifyProblem::Encrypted(_)) {
                    "note"
                } else {
                    "DAMAGED"
                };
                let _ = writeln!(out, "{what}: {}", describe(p));
            }
            let _ = out.flush();
            Ok(if v.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        "stats" => {
            let s = reader
                .stats()
                .map_err(|e| format!("cannot read {dir}: {e}"))?;
            if flag("--json") {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&s).map_err(|e| e.to_string())?
                );
            } else {
                let span = match (s.first, s.last) {
                    (Some(a), Some(b)) => format!("{a} .. {b}"),
                    _ => "no records".into(),
                };
                let _ = writeln!(
                    out,
                    "records {}\nsegments {}\nbytes {}\ntime {span}",
                    s.records, s.segments, s.bytes
                );
                for (k, n) in &s.kinds {
                    let _ = writeln!(out, "  {k:<9} {n}");
                }
            }
            out.flush().or_else(|e| broken_pipe_ok(e).map(|_| ()))?;
            Ok(report_damage(dir, s.records, &s.damage))
        }
        _ => Err(USAGE.into()),
    }
}

/// Matches per page of a `query` without `limit=`.
const PAGE: usize = 10_000;

/// `acc` with the next page's records and counts: scans (the work done) add up; damage
/// counts are the largest any page saw (each page may read the same damaged segment again).
fn merge_pages(mut acc: LogResults, page: LogResults) -> LogResults {
    acc.records = page.records;
    acc.scanned += page.scanned;
    acc.matched += page.matched;
    acc.limited = page.limited;
    acc.next = page.next;
    acc.segments_read += page.segments_read;
    acc.segments_skipped += page.segments_skipped;
    acc.corrupt_frames = acc.corrupt_frames.max(page.corrupt_frames);
    acc.undecodable = acc.undecodable.max(page.undecodable);
    acc.sequence_gaps = acc.sequence_gaps.max(page.sequence_gaps);
    acc.undecryptable_frames = acc.undecryptable_frames.max(page.undecryptable_frames);
    acc.damaged_headers = acc.damaged_headers.max(page.damaged_headers);
    acc.missing_segments = acc.missing_segments.max(page.missing_segments);
    acc.misnamed_segments = acc.misnamed_segments.max(page.misnamed_segments);
    acc
}

/// Says on stderr what a read left out; exit 1 if anything, 0 otherwise. `records` is what
/// was read (or scanned): none at all with frames that do not decrypt is the wrong ring.
fn report_damage(dir: &str, records: u64, damage: &ReadDamage) -> ExitCode {
    if damage.is_clean() {
        return ExitCode::SUCCESS;
    }
    if damage.undecryptable_frames > 0 && records == 0 {
        eprintln!(
            "tickwatch-log: decryption failed: wrong key ring? no frame of {dir} opens with the keys given"
        );
    }
    eprintln!("tickwatch-log: {dir}: records were left out or the log was altered (run verify for where):");
    for line in damage.describe() {
        eprintln!("  {line}");
    }
    ExitCode::from(1)
}

/// `tickwatch-log cat DIR | head` closes the pipe early: not an error.
fn broken_pipe_ok(e: io::Error) -> Result<ExitCode, String> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("cannot write: {e}"))
    }
}

fn describe(p: &VerifyProblem) -> String {
    match p {
        VerifyProblem::CorruptFrame(path, at) => {
            format!(
                "{}: a frame at byte {at} fails its checksum",
                path.display()
            )
        }
        VerifyProblem::BadFooter(path) => {
            format!("{}: the trailer points at no valid footer", path.display())
        }
        VerifyProblem::Undecodable(path, n) => format!(
            "{}: {n} records do not decode against the segment's dictionary",
            path.display()
        ),
        VerifyProblem::IncompleteFrame(path, at) => format!(
            "{}: ends inside a frame at byte {at} but is not the newest segment",
            path.display()
        ),
        VerifyProblem::FrameSequence(path, n) => format!(
            "{}: {n} encrypted frames out of sequence (a frame dropped, moved or reordered)",
            path.display()
        ),
        VerifyProblem::MissingSegments(after, before) => format!(
            "segments {} to {} are missing between {after} and {before} (deleted or renamed; retention deletes only the oldest)",
            after + 1,
            before - 1
        ),
        VerifyProblem::WrongSequence(path, seq) => format!(
            "{}: its header says segment {seq}, not the number in its file name (renamed or swapped)",
            path.display()
        ),
        VerifyProblem::RecordCount(path, footer, found) => format!(
            "{}: the footer counts {footer} records, the frames hold {found} (frames dropped or damaged)",
            path.display()
        ),
        VerifyProblem::Undecryptable(path, n) => format!(
            "{}: {n} frames do not decrypt with the key ring given (decryption failed: wrong key ring, or frames altered)",
            path.display()
        ),
        VerifyProblem::BadHeader(path) => format!(
            "{}: no valid segment header (any frames after it were still checked, through a header guessed from the file name)",
            path.display()
        ),
        VerifyProblem::Encrypted(path) => format!(
            "{}: encrypted; only its checksums were checked (give --keys KEYFILE)",
            path.display()
        ),
        other => format!("{other:?}"),
    }
}

fn print(out: &mut impl Write, r: &Record, thread: Option<&str>, text: bool) -> io::Result<()> {
    if !text {
        return writeln!(out, "{}", r.to_json_line(thread));
    }
    let head = format!("{} [{}]", r.timestamp(), r.thread());
    match r {
        Record::Event {
            level,
            target,
            message,
            fields,
            ..
        } => {
            write!(
                out,
                "{head} {:<5} {}: {}",
                level.as_str(),
                clean(target),
                clean(message)
            )?;
            for (k, v) in fields {
                write!(out, " {}={}", clean(k), value(v))?;
            }
            writeln!(out)
        }
        Record::Metric {
            name, tags, value, ..
        } => writeln!(
            out,
            "{head} metric {}{} = {}",
            clean(name),
            tag_text(tags),
            float(*value)
        ),
        Record::Counter {
            name, tags, delta, ..
        } => writeln!(
            out,
            "{head} counter {}{} += {delta}",
            clean(name),
            tag_text(tags)
        ),
        Record::Latency {
            operation,
            tags,
            nanos,
            ..
        } => writeln!(
            out,
            "{head} latency {}{} {nanos} ns",
            clean(operation),
            tag_text(tags)
        ),
        Record::Resource {
            resource,
            tags,
            usage,
            ..
        } => writeln!(
            out,
            "{head} resource {}{} = {}",
            clean(resource),
            tag_text(tags),
            float(*usage)
        ),
        Record::Audit {
            actor,
            action,
            resource,
            outcome,
            rule,
            ..
        } => writeln!(
            out,
            "{head} AUDIT {} {} {}: {} (rule {rule:?})",
            clean(actor),
            clean(action),
            clean(resource),
            clean(outcome)
        ),
        Record::Dropped { count, .. } => writeln!(out, "{head} DROPPED {count} records"),
        other => writeln!(out, "{head} {other:?}"),
    }
}

fn value(v: &tickwatch::Value) -> String {
    match v {
        tickwatch::Value::Str(s) => format!("{s:?}"),
        tickwatch::Value::U64(x) => x.to_string(),
        tickwatch::Value::I64(x) => x.to_string(),
        tickwatch::Value::F64(x) => float(*x),
        tickwatch::Value::Bool(b) => b.to_string(),
        tickwatch::Value::None => "null".into(),
    }
}

fn tag_text(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let t: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{}={v:?}", clean(k)))
        .collect();
    format!("{{{}}}", t.join(","))
}

/// `s` with control characters (line breaks, NUL, escape sequences) escaped as `{:?}` would,
/// so one record stays one line and nothing reaches the terminal raw.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The shortest form that reads back exactly, in scientific notation when the plain one
/// would be long (a subnormal is some 300 digits plain).
fn float(x: f64) -> String {
    if x != 0.0 && x.is_finite() && (x.abs() < 1e-6 || x.abs() >= 1e16) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_keeps_one_record_on_one_line() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(
            clean("two\nlines\r\0\u{1b}[31m"),
            "two\\nlines\\r\\0\\u{1b}[31m"
        );
        assert!(!clean("a\u{7f}b").contains('\u{7f}'));
        assert_eq!(float(1.5), "1.5");
        assert_eq!(float(5e-324), "5e-324");
        assert_eq!(float(1e300), "1e300");
        assert_eq!(float(f64::NAN), "NaN");
        let r = Record::Event {
            timestamp: tickwatch::Timestamp::from_unix_nanos(0),
            thread: 1,
            level: tickwatch::Level::Warn,
            target: "risk\nx".into(),
            message: "line one\nline two".into(),
            fields: vec![("k\n".into(), tickwatch::Value::Str("v\nw".into()))],
            location: None,
            truncated: false,
        };
        let mut out = Vec::new();
        print(&mut out, &r, None, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text}");
    }
}
