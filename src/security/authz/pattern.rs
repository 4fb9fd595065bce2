//! Resource patterns: `/`-separated paths whose segments may be wildcards.

use std::fmt;

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// `*`: any one segment.
    Any,
    /// This exact segment.
    Literal(Box<str>),
}

/// A parsed resource pattern: a `/`-separated path whose segments may be wildcards.
///
/// * A literal segment (`orders`, `XNAS`, `42`) matches that exact segment.
/// * `*` matches exactly one segment, whatever it is.
/// * `**`, allowed only as the **last** segment, matches **one or more** further segments:
///   `orders/**` matches `orders/XNAS` and `orders/XNAS/42`, but not `orders` itself.
///   (So a pattern of `k` segments ending in `**` matches the resources of at least `k`
///   segments whose first `k - 1` segments match.)
///
/// A pattern never has an empty segment (`orders//42`, `/orders`, `orders/`) and a wildcard is
/// always a whole segment (`ab*`, `*b`, `a**` are refused). A *resource* with an empty segment
/// (`""`, `orders//42`, `orders/`) is matched by no pattern at all, so it is always denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePattern {
    segments: Box<[Segment]>,
    /// The pattern ended in `**` (not counted in `segments`).
    rest: bool,
}

/// Why a resource pattern was refused; each variant says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty: write at least one segment, e.g. `orders/*` or `**`.
    Empty,
    /// Segment `index` (0-based) is empty (`a//b`, a leading or trailing `/`): remove the
    /// extra `/`.
    EmptySegment {
        /// 0-based position of the empty segment.
        index: usize,
    },
    /// Segment `index` mixes a wildcard with other characters (`ab*`, `*b`, `a**`): a
    /// wildcard must be a whole segment, `*` or a final `**`.
    WildcardInSegment {
        /// 0-based position of the segment.
        index: usize,
        /// The offending segment.
        segment: String,
    },
    /// `**` appears before the last segment: it is only allowed as the final segment; use `*`
    /// for one segment in the middle.
    DoubleStarNotLast {
        /// 0-based position of the `**`.
        index: usize,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => {
                f.write_str("empty pattern: write at least one segment, e.g. `orders/*` or `**`")
            }
            PatternError::EmptySegment { index } => write!(
                f,
                "segment {index} is empty (a doubled, leading or trailing `/`): remove it"
            ),
            PatternError::WildcardInSegment { index, segment } => write!(
                f,
                "segment {index} `{segment}` mixes `*` with other characters: a wildcard must be a whole segment (`*`, or `**` at the end)"
            ),
            PatternError::DoubleStarNotLast { index } => write!(
                f,
                "`**` at segment {index} is not the last segment: it is only allowed at the end; use `*` for one segment"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

impl ResourcePattern {
    /// Parses `pattern` (see [`ResourcePattern`] for the syntax).
    ///
    /// ```
    /// use tickwatch::security::authz::ResourcePattern;
    /// let p = ResourcePattern::parse("orders/*/42").unwrap();
    /// assert!(p.matches("orders/XNAS/42"));
    /// assert!(!p.matches("orders/XNAS/42/fills"));
    /// assert!(ResourcePattern::parse("orders/XN*").is_err());
    /// ```
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let count = pattern.split('/').count();
        let mut segments = Vec::with_capacity(count);
        let mut rest = false;
        for (index, seg) in pattern.split('/').enumerate() {
            if seg.is_empty() {
                return Err(PatternError::EmptySegment { index });
            }
            match seg {
                "*" => segments.push(Segment::Any),
                "**" if index + 1 == count => rest = true,
                "**" => return Err(PatternError::DoubleStarNotLast { index }),
                s if s.contains('*') => {
                    return Err(PatternError::WildcardInSegment {
                        index,
                        segment: s.to_owned(),
                    })
                }
                s => segments.push(Segment::Literal(s.into())),
            }
        }
        Ok(ResourcePattern {
            segments: segments.into_boxed_slice(),
            rest,
        })
    }

    /// Whether `resource` matches. Allocates nothing: the resource is split lazily.
    #[inline]
    pub fn matches(&self, resource: &str) -> bool {
        let mut parts = resource.split('/');
        for seg in self.segments.iter() {
            match parts.next() {
                Some(p) if !p.is_empty() => {
                    if let Segment::Literal(l) = seg {
                        if **l != *p {
                            return false;
                        }
                    }
                }
                _ => return false,
            }
        }
        if self.rest {
            let mut n = 0usize;
            for p in parts {
                if p.is_empty() {
                    return false;
                }
                n += 1;
            }
            n >= 1
        } else {
            parts.next().is_none()
        }
    }

    /// The segments before any final `**`: `None` for `*`, `Some(literal)` otherwise.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        self.segments.iter().map(|s| match s {
            Segment::Any => None,
            Segment::Literal(l) => Some(&**l),
        })
    }

    /// Whether the pattern ends in `**` (one or more further segments).
    pub fn has_rest(&self) -> bool {
        self.rest
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in self.segments() {
            if !first {
                f.write_str("/")?;
            }
            first = false;
            f.write_str(s.unwrap_or("*"))?;
        }
        if self.rest {
            if !first {
                f.write_str("/")?;
            }
            f.write_str("**")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, r: &str) -> bool {
        ResourcePattern::parse(p).unwrap().matches(r)
    }

    #[test]
    fn literal_and_star() {
        assert!(m("orders/XNAS/42", "orders/XNAS/42"));
        assert!(!m("orders/XNAS/42", "orders/XNAS/43"));
        assert!(m("orders/*/42", "orders/XLON/42"));
        assert!(!m("orders/*", "orders/XLON/42"));
        assert!(!m("orders/*/*", "orders/XLON"));
        assert!(m("*", "anything"));
        assert!(!m("*", "a/b"));
    }

    #[test]
    fn double_star_needs_one_or_more() {
        assert!(!m("orders/**", "orders"));
        assert!(m("orders/**", "orders/a"));
        assert!(m("orders/**", "orders/a/b/c"));
        assert!(m("**", "x"));
        assert!(m("*/**", "x/y"));
        assert!(!m("*/**", "x"));
    }

    #[test]
    fn empty_resource_segments_never_match() {
        for p in ["*", "**", "a/*", "a/**", "*/*"] {
            for r in ["", "/", "a/", "a//b", "/a", "a/b/"] {
                assert!(!m(p, r), "{p} matched {r:?}");
            }
        }
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(ResourcePattern::parse(""), Err(PatternError::Empty));
        assert_eq!(
            ResourcePattern::parse("a//b"),
            Err(PatternError::EmptySegment { index: 1 })
        );
        assert_eq!(
            ResourcePattern::parse("/a"),
            Err(PatternError::EmptySegment { index: 0 })
        );
        assert_eq!(
            ResourcePattern::parse("a/"),
            Err(PatternError::EmptySegment { index: 1 })
        );
        assert!(matches!(
            ResourcePattern::parse("a/ab*"),
            Err(PatternError::WildcardInSegment { index: 1, .. })
        ));
        assert!(matches!(
            ResourcePattern::parse("a***"),
            Err(PatternError::WildcardInSegment { index: 0, .. })
        ));
        assert_eq!(
            ResourcePattern::parse("**/a"),
            Err(PatternError::DoubleStarNotLast { index: 0 })
        );
    }

    #[test]
    fn display_round_trips() {
        for p in ["a/*/c", "**", "a/**", "*"] {
            assert_eq!(ResourcePattern::parse(p).unwrap().to_string(), p);
        }
    }
}
