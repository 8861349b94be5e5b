//! cpuset lists (`0-3,5,7-8`), validated before they reach the kernel so that
//! a bad value names the field instead of surfacing as EINVAL.

/// The highest CPU or memory node number accepted (the kernel's NR_CPUS
/// ceiling is 8192 on common builds; memory nodes are far fewer).
pub const MAX_ID: u32 = 8191;

/// Parses a cpuset list into sorted, distinct ids.
pub fn parse(s: &str) -> Result<Vec<u32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = vec![false; MAX_ID as usize + 1];
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if a > b {
            return Err(format!("range {part:?} runs backwards"));
        }
        for i in a..=b {
            seen[i as usize] = true;
        }
    }
    Ok(seen
        .iter()
        .enumerate()
        .filter(|(_, &on)| on)
        .map(|(i, _)| i as u32)
        .collect())
}

fn num(s: &str) -> Result<u32, String> {
    let n: u32 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if n > MAX_ID {
        return Err(format!("{n} is above the largest id {MAX_ID}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lists_and_errors() {
        assert_eq!(parse("0-3,5,7-8").unwrap(), [0, 1, 2, 3, 5, 7, 8]);
        assert_eq!(parse("2,1,2").unwrap(), [1, 2]);
        assert_eq!(parse("").unwrap(), Vec::<u32>::new());
        for bad in ["3-1", "a", "1,,2", "0-4000000000", "-1", "1-", "8192"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
