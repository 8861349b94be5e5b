//! Moments in records: parsed once when a record is read, written as
//! RFC 3339 UTC (docker's form, in records and in `inspect`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        }
    }

    /// RFC 3339 as images and Go programs write it: `YYYY-MM-DDTHH:MM:SS`,
    /// an optional fraction, then `Z` or `±HH:MM`.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| num_of(s.get(r)?);
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut rest = &s[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            for (i, c) in frac.bytes().take(9).take(digits).enumerate() {
                nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
                let sign = match rest.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (oh, om) = (num_of(&rest[1..3])?, num_of(&rest[4..6])?);
                sign * (oh * 3600 + om * 60)
            }
            _ => return None,
        };
        Some(Timestamp {
            secs: days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset,
            nanos,
        })
    }

    /// A moment as docker's `logs --since/--until` take it: RFC 3339, a
    /// date (`2024-05-01`, midnight UTC), Unix seconds (`1714550400.5`),
    /// or a Go duration before now (`10m`, `1h30m`, `1.5h`, `42s`).
    pub fn parse_moment(s: &str) -> Option<Timestamp> {
        if let Some(t) = Timestamp::parse(s) {
            return Some(t);
        }
        if s.len() == 10 && s.as_bytes()[4] == b'-' {
            return Timestamp::parse(&format!("{s}T00:00:00Z"));
        }
        if let Some((secs, frac)) = s
            .split_once('.')
            .or(Some((s, "")))
            .filter(|(a, _)| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        {
            if frac.bytes().all(|b| b.is_ascii_digit()) {
                let nanos = format!("{frac:0<9}").get(..9)?.parse().ok()?;
                return Some(Timestamp {
                    secs: secs.parse().ok()?,
                    nanos,
                });
            }
        }
        let ago = go_duration(s)?;
        let now = Timestamp::now();
        let total = (now.secs as i128) * 1_000_000_000 + now.nanos as i128 - ago.as_nanos() as i128;
        Some(Timestamp {
            secs: total.div_euclid(1_000_000_000) as i64,
            nanos: total.rem_euclid(1_000_000_000) as u32,
        })
    }

    pub fn from_unix_nanos(n: i128) -> Timestamp {
        Timestamp {
            secs: n.div_euclid(1_000_000_000) as i64,
            nanos: n.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// Seconds since the epoch.
    pub fn unix_secs(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds since the epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// How long ago it was (zero for a moment in the future).
    pub fn age(&self) -> Duration {
        let now = Timestamp::now();
        let secs = (now.secs - self.secs).max(0) as u64;
        Duration::from_secs(secs)
    }
}

/// A Go duration: numbers (with fractions) each with a unit of ns, us,
/// ms, s, m or h (`1h30m`, `1.5s`).
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * scale;
    }
    Some(Duration::from_secs_f64(total))
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(_) => Timestamp::default(),
        }
    }
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&cella_runtime::log::rfc3339(self.secs, self.nanos))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an RFC 3339 time")))
    }
}

/// For `Option<Timestamp>` fields: none is written as "" (as records
/// always had it); "" reads as none, and so does a time that cannot be
/// read (an image's own `created` may be anything: the record must still
/// load).
pub mod optional {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(Timestamp::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn moments_as_docker_logs_takes_them() {
        let t = |s: &str| Timestamp::parse_moment(s);
        assert_eq!(t("2024-05-01"), Timestamp::parse("2024-05-01T00:00:00Z"));
        assert_eq!(t("1714521600"), Timestamp::parse("2024-05-01T00:00:00Z"));
        assert_eq!(
            t("1714521600.25").unwrap(),
            Timestamp::parse("2024-05-01T00:00:00.25Z").unwrap()
        );
        let now = Timestamp::now();
        for (s, secs) in [("10m", 600), ("1h30m", 5400), ("1.5s", 1), ("42s", 42)] {
            let ago = now.secs - t(s).unwrap().secs;
            assert!((secs..=secs + 1).contains(&ago), "{s}: {ago}");
        }
        for bad in ["", "soon", "10x", "2024-13-01", "1.2.3"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_what_it_writes() {
        let t = Timestamp::now();
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
    }

    #[test]
    fn reads_what_images_and_go_write() {
        let t = Timestamp::parse("2023-11-14T22:13:20Z").unwrap();
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 0));
        let t = Timestamp::parse("2023-11-14T22:13:20.5Z").unwrap();
        assert_eq!(t.nanos, 500_000_000);
        // A fraction longer than nanoseconds is cut, an offset applied.
        let t = Timestamp::parse("2023-11-15T00:13:20.1234567891+02:00").unwrap();
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 123_456_789));
        assert_eq!(Timestamp::parse("1969-12-31T23:59:59Z").unwrap().secs, -1);
        assert_eq!(Timestamp::parse("2026-11-22T12:00:05.5Z").unwrap().secs, 1_795_348_805);
        assert_eq!(Timestamp::parse("2000-02-29T00:00:00Z").unwrap().secs, 951_782_400);
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for s in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "+023-11-14T22:13:20Z",
        ] {
            assert_eq!(Timestamp::parse(s), None, "{s}");
        }
    }

    #[test]
    fn optional_fields_keep_the_empty_string() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct R {
            #[serde(with = "super::optional", default)]
            at: Option<Timestamp>,
        }
        let none: R = serde_json::from_str(r#"{"at":""}"#).unwrap();
        assert_eq!(none, R { at: None });
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"at":""}"#);
        let missing: R = serde_json::from_str("{}").unwrap();
        assert_eq!(missing, R { at: None });
        let odd: R = serde_json::from_str(r#"{"at":"last week"}"#).unwrap();
        assert_eq!(odd, R { at: None });
        let some: R = serde_json::from_str(r#"{"at":"1970-01-01T00:00:01Z"}"#).unwrap();
        assert_eq!(some.at.unwrap().secs, 1);
    }
}
