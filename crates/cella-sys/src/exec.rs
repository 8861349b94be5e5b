//! Executing: sealed memfd copies of a program, execve and fexecve, and
//! the working directory check that goes with them.

use crate::{check, check_int, cstr};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A sealed in-memory copy of a file (for running the runtime from memory).
pub fn sealed_memfd_copy(src: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let cname = cstr(name)?;
    // SAFETY: `cname` is a valid C string.
    let raw = check_int(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    // SAFETY: new descriptor returned by the kernel.
    let mem = unsafe { OwnedFd::from_raw_fd(raw) };
    let size = crate::fd::fstat(src)?.st_size as usize;
    let mut left = size;
    while left > 0 {
        // SAFETY: both descriptors are open; a null offset uses the file position.
        let n = unsafe { libc::sendfile(mem.as_raw_fd(), src.as_raw_fd(), std::ptr::null_mut(), left) };
        match check(n as libc::c_long)? {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short copy into memfd")),
            n => left -= n as usize,
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an integer argument.
    check_int(unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(mem)
}

/// The seals on a memfd (`F_GET_SEALS`), or an error for a file that is not one.
pub fn get_seals(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: F_GET_SEALS takes no argument.
    check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// True when `fd` is a memfd sealed against writing, growing and shrinking.
pub fn is_sealed_memfd(fd: BorrowedFd<'_>) -> bool {
    let need = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    matches!(get_seals(fd), Ok(s) if s & need == need)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the program behind `fd`.
/// Returns only on failure.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    let empty = c"";
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that
    // outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// `execve(2)`; returns only on failure.
pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: as for fexecve.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// getcwd(2): fails with ENOENT when the cwd is outside this process's root.
pub fn getcwd() -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let mut buf = vec![0u8; 4096];
    // SAFETY: the buffer is writable for its length.
    let p = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let n = check(p)? as usize;
    buf.truncate(n.saturating_sub(1));
    if buf.first() != Some(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    Ok(std::ffi::OsString::from_vec(buf).into())
}
