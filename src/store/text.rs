//! The text form of a [`LogQuery`], for people: `level>=warn target=risk order_id=42 since=5m
//! "rejected"`.
//!
//! ```text
//! query    := or
//! or       := and ( "OR" and )*
//! and      := unary+                      adjacent terms are ANDed
//! unary    := "NOT" unary | "(" or ")" | term
//! term     := "text"                      the message contains text
//!           | name op value               a field (see Filter), or an option below
//!           | name "=*"                   the field is present
//! op       := = | != | > | >= | < | <=
//! value    := word | "quoted text"
//! ```
//!
//! Options, allowed only at the top level (not under `OR` or `NOT`): `level` (with `=`, `>=`,
//! `>`, `<=`, `<`; `trace` … `error`), `target=text` (contains), `message=text` (contains),
//! `since=` and `until=` (a duration before now such as `5m`, `"2h 30m"` (quoted: it has a
//! space), `1d`, or an RFC 3339 time), `kind=event,latency,…`, `series=name`, `limit=N`, `order=newest|oldest`,
//! `cursor=…`. Keywords `AND` (optional), `OR` and `NOT` are upper case; anything else is a
//! field name. Errors give the byte offset of the offending token: the value when the value
//! is what is wrong (`order_id>abc` points at `abc`), the term otherwise.

use std::str::FromStr;
use std::time::Duration;

use super::query::{CmpOp, Filter, LogQuery, Order, QueryError};
use crate::logging::Level;
use crate::sink::RecordKind;
use crate::time::{SystemClock, WallClock};
use crate::Timestamp;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Text(String),
    Term {
        name: String,
        op: String,
        value: String,
        /// Where the value starts (errors about the value point there).
        value_at: usize,
    },
    Word(String),
}

fn err(at: usize, token: &str, expected: &str) -> QueryError {
    QueryError::Parse {
        at,
        token: token.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Reads a quoted string starting at `s[at] == '"'`; returns it and the offset after it.
fn quoted(s: &str, at: usize) -> Result<(String, usize), QueryError> {
    let mut out = String::new();
    let mut chars = s[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, at + 1 + i + 1)),
            '\\' => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => out.push(c),
                Some((_, c)) => {
                    out.push('\\');
                    out.push(c);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(err(at, &s[at..], "a closing `\"`"))
}

fn is_name(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/')
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < s.len() {
        let c = s[at..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        match c {
            '(' => {
                out.push((at, Tok::Open));
                at += 1;
            }
            ')' => {
                out.push((at, Tok::Close));
                at += 1;
            }
            '"' => {
                let (text, next) = quoted(s, at)?;
                out.push((at, Tok::Text(text)));
                at = next;
            }
            c if is_name(c) => {
                let start = at;
                let name_end = s[at..]
                    .find(|c: char| !is_name(c))
                    .map_or(s.len(), |i| at + i);
                let name = &s[start..name_end];
                let rest = &s[name_end..];
                let op = ["!=", ">=", "<=", "=", ">", "<"]
                    .into_iter()
                    .find(|op| rest.starts_with(op));
                let Some(op) = op else {
                    out.push((start, Tok::Word(name.to_owned())));
                    at = name_end;
                    continue;
                };
                let v_at = name_end + op.len();
                let (value, next) = if s[v_at..].starts_with('"') {
                    quoted(s, v_at)?
                } else {
                    let end = s[v_at..]
                        .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
                        .map_or(s.len(), |i| v_at + i);
                    if end == v_at {
                        return Err(err(start, &s[start..end], "a value after the operator"));
                    }
                    if s[v_at..end].starts_with(['=', '<', '>', '!']) {
                        return Err(err(
                            v_at,
                            &s[v_at..end],
                            "a value: the operators are =, !=, >, >=, < and <= (`==` is not one)",
                        ));
                    }
                    (s[v_at..end].to_owned(), end)
                };
                out.push((
                    start,
                    Tok::Term {
                        name: name.to_owned(),
                        op: op.to_owned(),
                        value,
                        value_at: v_at,
                    },
                ));
                at = next;
            }
            _ => {
                let end = s[at..]
                    .find(char::is_whitespace)
                    .map_or(s.len(), |i| at + i);
                return Err(err(
                    at,
                    &s[at..end],
                    "a term such as `name=value` or \"text\"",
                ));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    q: LogQuery,
    /// Options parsed so far.
    options: usize,
}

const OPTIONS: [&str; 10] = [
    "level", "target", "message", "since", "until", "kind", "series", "limit", "order", "cursor",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&(usize, Tok)> {
        self.toks.get(self.pos)
    }

    fn token_text(&self, i: usize) -> String {
        let start = self.toks[i].0;
        let end = self.toks.get(i + 1).map_or(self.src.len(), |t| t.0);
        self.src[start..end].trim_end().to_owned()
    }

    fn or(&mut self, top: bool) -> Result<Option<Filter>, QueryError> {
        let options_before = self.options;
        let mut any = vec![self.and(top)?];
        while let Some((at, Tok::Word(w))) = self.peek() {
            if w != "OR" {
                break;
            }
            let at = *at;
            if self.options != options_before {
                // AND binds tighter than OR: the options would belong to one branch only.
                return Err(err(
                    at,
                    "OR",
                    "no options (level=, since=, ...) in an OR: put the OR in parentheses, as in `level>=warn (a=1 OR b=2)`",
                ));
            }
            self.pos += 1;
            any.push(self.and(false)?);
        }
        if any.len() == 1 {
            return Ok(any.pop().flatten());
        }
        let at = self.toks.get(self.pos.saturating_sub(1)).map_or(0, |t| t.0);
        let all: Option<Vec<Filter>> = any.into_iter().collect();
        all.map(|v| Some(Filter::Or(v)))
            .ok_or_else(|| err(at, "OR", "a condition on each side of OR"))
    }

    /// A run of ANDed terms; `None` if it held only options.
    fn and(&mut self, top: bool) -> Result<Option<Filter>, QueryError> {
        let mut all = Vec::new();
        let mut any_term = false;
        while let Some((_, tok)) = self.peek() {
            match tok {
                Tok::Close => break,
                Tok::Word(w) if w == "OR" => break,
                Tok::Word(w) if w == "AND" => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            any_term = true;
            if let Some(f) = self.unary(top)? {
                all.push(f);
            }
        }
        if !any_term {
            let (at, text) = match self.peek() {
                Some((at, _)) => (*at, self.token_text(self.pos)),
                None => (self.src.len(), String::new()),
            };
            return Err(err(at, &text, "a condition"));
        }
        Ok(match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(Filter::And(all)),
        })
    }

    fn unary(&mut self, top: bool) -> Result<Option<Filter>, QueryError> {
        let i = self.pos;
        let Some((at, tok)) = self.peek().cloned() else {
            return Err(err(self.src.len(), "", "a condition"));
        };
        self.pos += 1;
        match tok {
            Tok::Word(w) if w == "NOT" => {
                let inner = self.unary(false)?;
                let inner = inner.ok_or_else(|| err(at, "NOT", "a condition after NOT"))?;
                Ok(Some(Filter::Not(Box::new(inner))))
            }
            Tok::Open => {
                let inner = self.or(false)?;
                match self.peek() {
                    Some((_, Tok::Close)) => self.pos += 1,
                    _ => return Err(err(at, "(", "a matching `)`")),
                }
                Ok(inner)
            }
            Tok::Close => Err(err(at, ")", "a condition before `)`")),
            Tok::Text(t) => {
                if top && self.q.message.is_none() {
                    self.q.message = Some(t);
                    self.options += 1;
                    Ok(None)
                } else {
                    Err(err(
                        at,
                        &self.token_text(i),
                        "one quoted message text, at the top level",
                    ))
                }
            }
            Tok::Word(w) => Err(err(
                at,
                &w,
                "`name=value`, `name=*`, a comparison, \"text\", NOT, OR or parentheses",
            )),
            Tok::Term {
                name,
                op,
                value,
                value_at,
            } => {
                if OPTIONS.contains(&name.as_str()) {
                    if !top {
                        return Err(err(
                            at,
                            &self.token_text(i),
                            "options such as level=, target= or since= outside OR, NOT and parentheses",
                        ));
                    }
                    let token = self.token_text(i);
                    self.option(at, &token, &name, &op, (value_at, &value))?;
                    self.options += 1;
                    return Ok(None);
                }
                let bad_num = || err(value_at, &value, "a number after a comparison");
                Ok(Some(match op.as_str() {
                    "=" if value == "*" => Filter::Has(name),
                    "=" => Filter::Eq(name, value),
                    "!=" => Filter::Ne(name, value),
                    _ => {
                        let n: f64 = value.parse().map_err(|_| bad_num())?;
                        let op = match op.as_str() {
                            ">" => CmpOp::Gt,
                            ">=" => CmpOp::Ge,
                            "<" => CmpOp::Lt,
                            _ => CmpOp::Le,
                        };
                        Filter::Cmp(name, op, n)
                    }
                }))
            }
        }
    }

    fn option(
        &mut self,
        at: usize,
        token: &str,
        name: &str,
        op: &str,
        (value_at, value): (usize, &str),
    ) -> Result<(), QueryError> {
        // An unusable value: the error points at it, not at the term.
        let bad = |what: &str| err(value_at, value, what);
        let only_eq = |what: &str| {
            if op == "=" {
                Ok(())
            } else {
                Err(err(at, token, what))
            }
        };
        match name {
            "level" => {
                let l = parse_level(value)
                    .ok_or_else(|| bad("a level: trace, debug, info, warn or error"))?;
                let up = |l: Level| Level::from_u8(l as u8 + 1);
                let down = |l: Level| (l as u8).checked_sub(1).and_then(Level::from_u8);
                let none = || err(at, token, "a level range that holds a level");
                match op {
                    "=" => {
                        self.q.min_level = Some(l);
                        self.q.max_level = Some(l);
                    }
                    ">=" => self.q.min_level = Some(l),
                    ">" => self.q.min_level = Some(up(l).ok_or_else(none)?),
                    "<=" => self.q.max_level = Some(l),
                    "<" => self.q.max_level = Some(down(l).ok_or_else(none)?),
                    _ => return Err(err(at, token, "level with =, >=, >, <= or <")),
                }
            }
            "target" => {
                only_eq("target=text")?;
                self.q.target = Some(value.to_owned());
            }
            "message" => {
                only_eq("message=text")?;
                self.q.message = Some(value.to_owned());
            }
            "since" | "until" => {
                only_eq("since=5m or since=2026-12-04T10:00:00Z")?;
                let t = parse_time(value).ok_or_else(|| {
                    bad("a duration before now (5m, 2h, \"2h 30m\", 1d) or an RFC 3339 time")
                })?;
                if name == "since" {
                    self.q.since = Some(t);
                } else {
                    self.q.until = Some(t);
                }
            }
            "kind" => {
                only_eq("kind=event,latency")?;
                for k in value.split(',') {
                    self.q.kinds.push(parse_kind(k).ok_or_else(|| {
                        bad("kinds among metric, counter, latency, resource, event, audit")
                    })?);
                }
            }
            "series" => {
                only_eq("series=name")?;
                self.q.series = Some(value.to_owned());
            }
            "limit" => {
                only_eq("limit=N")?;
                self.q.limit = value
                    .parse()
                    .map_err(|_| bad("a whole number after limit="))?;
            }
            "order" => {
                only_eq("order=newest or order=oldest")?;
                self.q.order = match value {
                    "newest" => Order::NewestFirst,
                    "oldest" => Order::OldestFirst,
                    _ => return Err(bad("order=newest or order=oldest")),
                };
            }
            _ => {
                only_eq("cursor=… as a query returned it")?;
                self.q.cursor = Some(value.parse()?);
            }
        }
        Ok(())
    }
}

fn parse_level(s: &str) -> Option<Level> {
    Some(match s.to_ascii_lowercase().as_str() {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" | "warning" => Level::Warn,
        "error" => Level::Error,
        _ => return None,
    })
}

fn parse_kind(s: &str) -> Option<RecordKind> {
    Some(match s {
        "metric" => RecordKind::Metric,
        "counter" => RecordKind::Counter,
        "latency" => RecordKind::Latency,
        "resource" => RecordKind::Resource,
        "event" => RecordKind::Event,
        "audit" => RecordKind::Audit,
        _ => return None,
    })
}

fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let ago: Duration = humantime_serde::re::humantime::parse_duration(s).ok()?;
    let now = SystemClock.now().unix_nanos();
    let ago = u64::try_from(ago.as_nanos()).ok()?;
    Some(Timestamp::from_unix_nanos(now.saturating_sub(ago)))
}

impl FromStr for LogQuery {
    type Err = QueryError;

    /// Parses the text form (grammar in [`crate::store`]'s query docs): for example
    /// `level>=warn target=risk order_id=42 since=5m "rejected"`.
    fn from_str(s: &str) -> Result<LogQuery, QueryError> {
        let toks = tokenize(s)?;
        let mut p = Parser {
            src: s,
            toks,
            pos: 0,
            q: LogQuery::default(),
            options: 0,
        };
        if p.toks.is_empty() {
            return Ok(p.q);
        }
        let filter = p.or(true)?;
        if let Some((at, _)) = p.peek() {
            let at = *at;
            return Err(err(
                at,
                &p.token_text(p.pos),
                "nothing more (an unmatched `)`?)",
            ));
        }
        p.q.filter = filter;
        Ok(p.q)
    }
}
