//! Signal names as `kill` accepts them: `KILL`, `SIGKILL`, `sigkill`, `9`, `SIGRTMIN+3`.

const NAMES: [(&str, i32); 31] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
];

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// Parses a signal name or number; `None` when it is not a signal.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=SIGRTMAX).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if name == "SYS" {
        return Some(31);
    }
    if let Some(&(_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Some(n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() { 0 } else { rest.parse().ok()? };
        let n = base + sign * off;
        (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return match rest.strip_prefix('+') {
            Some(r) => rt(SIGRTMIN, r, 1),
            None if rest.is_empty() => Some(SIGRTMIN),
            None => None,
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return match rest.strip_prefix('-') {
            Some(r) => rt(SIGRTMAX, r, -1),
            None if rest.is_empty() => Some(SIGRTMAX),
            None => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_with_and_without_prefix_and_numbers() {
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("SIGKILL"), Some(9));
        assert_eq!(parse("sigterm"), Some(15));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("SYS"), Some(31));
        assert_eq!(parse("SIGRTMIN+2"), Some(36));
        assert_eq!(parse("RTMAX-1"), Some(63));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("65"), None);
        assert_eq!(parse("SIGNOPE"), None);
        assert_eq!(parse("RTMIN+99"), None);
        assert_eq!(parse(""), None);
    }
}
