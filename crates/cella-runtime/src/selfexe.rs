//! Running the runtime from a sealed in-memory copy of itself, so that a
//! container process can never reopen and overwrite the runtime binary on the
//! host through /proc/PID/exe (CVE-2019-5736).

use crate::error::{Context, Result};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Re-executes the current command from a sealed memfd unless already running
/// from one. Returns only when already sealed (or on error).
pub fn ensure_sealed() -> Result<()> {
    let exe = Path::new("/proc/self/exe");
    let fd = cella_sys::fd::open(exe, libc::O_RDONLY, 0).at("open", exe)?;
    if cella_sys::fd::is_sealed_memfd(fd.as_fd()) {
        return Ok(());
    }
    let mem = cella_sys::fd::sealed_memfd_copy(fd.as_fd(), "cella-runtime")
        .op(|| "copy the runtime into a sealed memfd".into())?;
    drop(fd);
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).expect("argv has no NUL"))
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).expect("environment has no NUL")
        })
        .collect();
    let err = cella_sys::fd::fexecve(mem.as_fd(), &argv, &envp);
    Err(err).op(|| "re-execute the runtime from its sealed copy".into())
}
