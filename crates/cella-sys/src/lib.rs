//! Thin wrappers over the Linux system calls that cella uses.
//!
//! Every `unsafe` block of the project lives in this crate, each with a
//! `// SAFETY:` line. The wrappers take Rust types, return `io::Result`, and
//! do no allocation beyond building C strings for paths.

pub mod bpf;
pub mod caps;
pub mod exec;
pub mod fd;
pub mod mount;
pub mod ns;
pub mod poll;
pub mod process;
pub mod socket;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Turns a `-1` return value into the current `errno`.
pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub(crate) fn check_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a path to a C string; a path with a NUL byte is an `InvalidInput` error.
pub fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub(crate) fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}
