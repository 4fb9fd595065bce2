//! Wall-clock timestamps as delivered to sinks.

use std::fmt;

/// Nanoseconds since the Unix epoch (UTC), converted by the collector from the tick taken on
/// the hot path.
///
/// ```
/// let t = tickwatch::Timestamp::from_unix_nanos(1_700_000_000_123_456_789);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456789Z");
/// ```
///
/// In JSON (and every serde format) a timestamp is its RFC 3339 string with nine fractional
/// digits, the same form in JSON lines, `/health` and `/snapshot` (see [`crate::schema`]);
/// it deserializes from that string, any RFC 3339 time with an offset and up to nine
/// fractional digits, or an integer of Unix nanoseconds.
///
/// ```
/// use tickwatch::Timestamp;
/// let t: Timestamp = "2023-11-14T22:13:20.123456789Z".parse()?;
/// assert_eq!(t.unix_nanos(), 1_700_000_000_123_456_789);
/// assert_eq!("2023-11-14T23:13:20.5+01:00".parse::<Timestamp>()?.unix_nanos(), 1_700_000_000_500_000_000);
/// assert!("2023-02-29T00:00:00Z".parse::<Timestamp>().is_err());
/// # Ok::<(), tickwatch::ParseTimestampError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

/// Why a string is not a [`Timestamp`]: not RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction]` then
/// `Z` or `+HH:MM`/`-HH:MM`; at most nine fractional digits), a date that does not exist, or
/// a time before 1970 or after 2554-07-21T23:34:33.709551615Z (what `u64` nanoseconds hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTimestampError {
    what: &'static str,
}

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an RFC 3339 timestamp ({}): give e.g. 2026-11-27T08:00:00.123456789Z",
            self.what
        )
    }
}

impl std::error::Error for ParseTimestampError {}

impl std::str::FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rfc3339(s.as_bytes()).map_err(|what| ParseTimestampError { what })
    }
}

fn parse_rfc3339(b: &[u8]) -> Result<Timestamp, &'static str> {
    fn num(b: &[u8], at: usize, len: usize) -> Result<i64, &'static str> {
        let digits = b.get(at..at + len).ok_or("too short")?;
        digits.iter().try_fold(0i64, |n, &d| match d {
            b'0'..=b'9' => Ok(n * 10 + i64::from(d - b'0')),
            _ => Err("a digit was expected"),
        })
    }
    fn sep(b: &[u8], at: usize, want: &[u8]) -> Result<(), &'static str> {
        match b.get(at) {
            Some(c) if want.contains(c) => Ok(()),
            _ => Err("a separator is missing"),
        }
    }
    let year = num(b, 0, 4)?;
    sep(b, 4, b"-")?;
    let month = num(b, 5, 2)?;
    sep(b, 7, b"-")?;
    let day = num(b, 8, 2)?;
    sep(b, 10, b"Tt ")?;
    let (hour, minute, second) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    sep(b, 13, b":")?;
    sep(b, 16, b":")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    // 60 is a leap second, which Unix time does not count: read as the next second's start.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day");
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(d @ b'0'..=b'9') = b.get(at) {
            if at - start == 9 {
                return Err("more than nine fractional digits");
            }
            nanos = nanos * 10 + i64::from(d - b'0');
            at += 1;
        }
        if at == start {
            return Err("no digit after '.'");
        }
        nanos *= 10i64.pow(9 - (at - start) as u32);
    }
    let offset_secs = match b.get(at) {
        Some(b'Z' | b'z') if b.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 => {
            sep(b, at + 3, b":")?;
            let (h, m) = (num(b, at + 1, 2)?, num(b, at + 4, 2)?);
            if h > 23 || m > 59 {
                return Err("no such offset");
            }
            let o = h * 3600 + m * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err("no 'Z' or '+HH:MM' offset at the end"),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    u64::try_from(total)
        .map(Timestamp)
        .map_err(|_| "outside 1970 to 2554")
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01: the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = String::with_capacity(30);
        // Writing into a String cannot fail.
        let _ = self.write_rfc3339(&mut buf);
        s.serialize_str(&buf)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or Unix nanoseconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                u64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::custom("a timestamp before 1970"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Timestamp {
    /// A timestamp from nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> u64 {
        self.0
    }

    /// Writes RFC 3339 with nanoseconds and a `Z` offset: `2026-11-27T08:00:00.123456789Z`.
    pub fn write_rfc3339(self, out: &mut impl fmt::Write) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rfc3339(f)
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, exact for every `i64` day count we can produce).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // Values checked with `date -u -d @SECONDS +%Y-%m-%dT%H:%M:%S`.
        let cases = [
            (0u64, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400_000_000_001, "2000-02-29T00:00:00.000000001Z"),
            (1_709_251_199_999_999_999, "2024-02-29T23:59:59.999999999Z"),
            (4_102_444_800_000_000_000, "2100-01-01T00:00:00.000000000Z"),
            (u64::MAX, "2554-07-21T23:34:33.709551615Z"),
        ];
        for (ns, s) in cases {
            assert_eq!(Timestamp::from_unix_nanos(ns).to_string(), s);
            assert_eq!(s.parse::<Timestamp>().unwrap().unix_nanos(), ns, "{s}");
        }
    }

    #[test]
    fn parsing_refuses_what_is_not_a_time() {
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T08:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T08:00:00.Z",
            "2026-11-27T08:00:00.1234567890Z",
            "2026-11-27T08:00:00Zjunk",
            "2026-11-27T08:00:00+1:00",
            "1969-12-31T23:59:59.999999999Z",
            "2554-07-21T23:34:33.709551616Z",
            "９９９９-11-27T08:00:00Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad:?}");
        }
        assert!("2000-02-29T00:00:00Z".parse::<Timestamp>().is_ok());
        assert_eq!(
            "1970-01-01T01:00:00+01:00"
                .parse::<Timestamp>()
                .unwrap()
                .unix_nanos(),
            0
        );
    }

    proptest::proptest! {
        /// Any text: no panic, and what parses prints back to the same instant.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}|[0-9T:.Z+-]{0,36}") {
            if let Ok(t) = text.parse::<Timestamp>() {
                proptest::prop_assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t));
            }
        }

        /// A time printed with an offset and fewer fractional digits reads back as the
        /// instant it names (checked against `civil_from_days`, the printer's inverse).
        #[test]
        fn offsets_and_short_fractions(ns in 86_400_000_000_000u64..9_000_000_000_000_000_000,
                                       offset_min in -1439i64..=1439, digits in 0usize..=9) {
            let cut = 10u64.pow(9 - digits as u32);
            let whole = Timestamp::from_unix_nanos(ns / cut * cut);
            let local = Timestamp::from_unix_nanos((ns as i64 + offset_min * 60_000_000_000) as u64);
            let mut text = local.to_string();
            text.truncate(19 + if digits > 0 { 1 + digits } else { 0 });
            let sign = if offset_min < 0 { '-' } else { '+' };
            text.push_str(&format!("{sign}{:02}:{:02}", offset_min.abs() / 60, offset_min.abs() % 60));
            proptest::prop_assert_eq!(text.parse::<Timestamp>(), Ok(whole), "{}", text);
        }
    }

    #[test]
    fn serde_is_the_rfc3339_string_and_reads_integers_too() {
        let t = Timestamp::from_unix_nanos(1_700_000_000_000_000_001);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.000000001Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<Timestamp>("1700000000000000001").unwrap(),
            t
        );
        assert!(serde_json::from_str::<Timestamp>("-1").is_err());
    }
}
