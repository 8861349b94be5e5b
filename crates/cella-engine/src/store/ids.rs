//! Container ids (64 hex digits, as docker's) and generated names.

use crate::error::{At, Result};
use std::io::Read;

/// A random 64-hex-digit id.
pub fn random_id() -> Result<String> {
    let p = std::path::Path::new("/dev/urandom");
    let mut bytes = [0u8; 32];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .at("read", p)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: [&str; 16] = [
    "brave", "calm", "clever", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nimble", "proud",
    "quiet", "sharp", "swift", "wise",
];
const NOUNS: [&str; 16] = [
    "ada", "babbage", "curie", "dijkstra", "euler", "fermi", "gauss", "hopper", "knuth", "lamport", "lovelace",
    "noether", "ritchie", "shannon", "thompson", "turing",
];

/// A docker-style name (`adjective_scientist`) derived from the id, with a
/// number added if it is taken.
pub fn generated_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let b = id.as_bytes();
    let pick = |i: usize| (b.get(i).copied().unwrap_or(0) as usize) % 16;
    let base = format!("{}_{}", ADJECTIVES[pick(0)], NOUNS[pick(1)]);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|n| !taken(n))
        .expect("some number is free")
}

/// Names as docker accepts them: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
pub fn check_name(name: &str) -> Result<(), crate::error::Error> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(crate::error::Error::Invalid(format!(
            "invalid container name {name:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )))
    }
}

/// A host name as RFC 1123 has it (dot-separated labels of letters, digits
/// and inner dashes, each at most 63 long) and the kernel takes it (at most
/// 64 bytes). It is written into /etc/hostname and /etc/hosts, so anything
/// else (a newline above all) is refused.
pub fn check_hostname(name: &str, flag: &str) -> Result<(), crate::error::Error> {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 64 && name.split('.').all(label) {
        Ok(())
    } else {
        Err(crate::error::Error::Invalid(format!(
            "{flag} {name:?}: not a valid host name (letters, digits and '-' in dot-separated labels, at most 64 characters)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_names_unique() {
        let a = random_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_id().unwrap());
        let first = generated_name(&a, |_| false);
        let second = generated_name(&a, |n| n == first);
        assert_eq!(second, format!("{first}2"));
        assert!(check_name(&first).is_ok());
        for bad in ["", "-x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_names_follow_rfc_1123() {
        for ok in ["web", "web-1", "a.b.example", "x1", &"a".repeat(63)] {
            assert!(check_hostname(ok, "-h").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a\nb",
            "-web",
            "web-",
            "a..b",
            "a b",
            "a_b",
            &"a".repeat(65),
            "x/y",
            "ünï",
        ] {
            assert!(check_hostname(bad, "-h").is_err(), "{bad:?}");
        }
    }
}
