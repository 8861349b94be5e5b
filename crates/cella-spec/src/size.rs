//! Sizes as docker's flags take them (`--memory 512m`, `1.5g`, `64 KiB`):
//! a decimal number, then an optional unit b, k, m, g, t or p (binary
//! multiples, any case, an optional `i` and `b` after it). Computed exactly;
//! a size beyond what an i64 holds is refused, never taken as "unlimited".

/// The number of bytes `s` names, or None when it is not a size or too large.
pub fn parse(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if number.ends_with('.') || frac.len() > 18 {
        return None;
    }
    let mult = 1u128 << shift;
    let whole: u128 = whole.parse().ok()?;
    let mut bytes = whole.checked_mul(mult)?;
    if !frac.is_empty() {
        let f: u128 = frac.parse().ok()?;
        bytes = bytes.checked_add(f * mult / 10u128.pow(frac.len() as u32))?;
    }
    i64::try_from(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_parse_exactly_and_refuse_overflow() {
        assert_eq!(parse("100"), Some(100));
        assert_eq!(parse("64k"), Some(65536));
        assert_eq!(parse("512M"), Some(512 << 20));
        assert_eq!(parse("2gb"), Some(2 << 30));
        assert_eq!(parse("1.5g"), Some(3 << 29));
        assert_eq!(parse("64 KiB"), Some(65536));
        assert_eq!(parse("7t"), Some(7 << 40));
        assert_eq!(parse("8191p"), Some(8191 << 50));
        for bad in [
            "",
            "lots",
            "-1",
            "1.",
            ".5m",
            "1x",
            "8192p",
            "99999999999999999999999",
            "1e9",
            "1..2m",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
