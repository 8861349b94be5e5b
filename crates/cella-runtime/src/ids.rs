//! Container IDs: letters, digits and `_+-.`, not starting with `.` (runc's rule),
//! so that an ID is always one safe path component.

use crate::error::{Error, Result};

pub fn validate(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::BadId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_runc_ids_and_refuses_paths() {
        for ok in ["a", "web-1", "x_y+z.1", "ABC123"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "../x", "a b", "a\0b", "é"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
