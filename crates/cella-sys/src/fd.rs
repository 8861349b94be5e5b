//! File descriptors: openat2, memfd sealing, fd passing, close-on-exec sweeps, pidfds.

use crate::{check, check_int, cpath, cstr};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)`: opens `path` relative to `dir` with the given `RESOLVE_*` rules.
/// With `RESOLVE_IN_ROOT`, `..` and absolute symlinks cannot leave `dir`.
pub fn openat2(dir: BorrowedFd<'_>, path: &Path, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    // SAFETY: `c` and `how` are valid for the call; the kernel copies both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = check(ret)? as RawFd;
    // SAFETY: the kernel just returned this new descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(2)` with O_CLOEXEC added.
pub fn openat(dir: BorrowedFd<'_>, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: `c` is a valid C string for the call.
    let fd = check_int(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `open(2)` of an absolute path with O_CLOEXEC added.
pub fn open(path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: `c` is a valid C string for the call.
    let fd = check_int(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    let c = cpath(name)?;
    // SAFETY: `c` is a valid C string for the call.
    check_int(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &Path, mode: u32, dev: u64) -> io::Result<()> {
    let c = cpath(name)?;
    // SAFETY: `c` is a valid C string for the call.
    check_int(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlinkat(target: &Path, dir: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    let n = cpath(name)?;
    // SAFETY: both are valid C strings for the call.
    check_int(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }).map(drop)
}

pub fn fchownat(dir: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32, flags: i32) -> io::Result<()> {
    let n = cpath(name)?;
    // SAFETY: valid C string; plain integers otherwise.
    check_int(unsafe { libc::fchownat(dir.as_raw_fd(), n.as_ptr(), uid, gid, flags) }).map(drop)
}

pub fn makedev(major: u64, minor: u64) -> u64 {
    libc::makedev(major as u32, minor as u32)
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: zeroed stat is a valid value; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check_int(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fstatfs(2)`: the filesystem magic of what `fd` refers to.
pub fn fstatfs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: zeroed statfs is valid; the kernel fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check_int(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type as i64)
}

/// A sealed in-memory copy of a file (for running the runtime from memory).
pub fn sealed_memfd_copy(src: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let cname = cstr(name)?;
    // SAFETY: `cname` is a valid C string.
    let raw = check_int(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    // SAFETY: new descriptor returned by the kernel.
    let mem = unsafe { OwnedFd::from_raw_fd(raw) };
    let size = fstat(src)?.st_size as usize;
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

/// Marks every descriptor from `first` on close-on-exec (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`), falling back to a walk of /proc/self/fd.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range with CLOEXEC closes nothing; it only sets flags.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let fd: i32 = match entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(fd) => fd,
            None => continue,
        };
        if fd as u32 >= first {
            set_cloexec(fd, true).ok();
        }
    }
    Ok(())
}

/// Sets or clears FD_CLOEXEC on a raw descriptor number.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD take integers; a closed fd yields EBADF.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, new) }).map(drop)
}

/// `dup3(old, new, 0)`: makes `new` refer to `old` (without close-on-exec).
pub fn dup_to(old: RawFd, new: RawFd) -> io::Result<()> {
    if old == new {
        return set_cloexec(new, false);
    }
    // SAFETY: integer arguments; dup3 atomically replaces `new`.
    check_int(unsafe { libc::dup3(old, new, 0) }).map(drop)
}

/// A connected pair of SOCK_SEQPACKET Unix sockets, close-on-exec.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check_int(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both were just returned by the kernel.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `data` and optionally one descriptor (SCM_RIGHTS) on a Unix socket.
pub fn send_with_fd(sock: BorrowedFd<'_>, data: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // 64-bit aligned buffer big enough for one fd's control message.
    let mut cbuf = [0u64; 4];
    // SAFETY: zeroed msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points at `cbuf`, which is large enough for one
        // cmsghdr carrying one int, so CMSG_FIRSTHDR is non-null and in bounds.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        }
    }
    // SAFETY: msg describes valid buffers for the duration of the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    check(n as libc::c_long).map(drop)
}

/// Receives one message of at most `buf.len()` bytes and an optional descriptor.
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 4];
    // SAFETY: zeroed msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg describes valid buffers for the duration of the call.
    let n = loop {
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fd = None;
    // SAFETY: the kernel filled msg_control; CMSG_* walk within msg_controllen.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
            let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
            fd = Some(OwnedFd::from_raw_fd(raw));
        }
    }
    Ok((n, fd))
}

pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::mkfifo(c.as_ptr(), mode) }).map(drop)
}

/// `flock(LOCK_EX)` (blocking unless `nonblock`).
pub fn flock_exclusive(fd: BorrowedFd<'_>, nonblock: bool) -> io::Result<()> {
    let op = libc::LOCK_EX | if nonblock { libc::LOCK_NB } else { 0 };
    // SAFETY: integer arguments.
    check_int(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(drop)
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })? as RawFd;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: a null siginfo means "as kill(2)".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// Waits until `fd` is readable or `timeout_ms` passes (`-1`: forever). True when readable.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `poll(2)` on several descriptors for input; returns which are ready (readable or hung up).
pub fn poll_many(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` holds `p.len()` valid pollfd entries.
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(p.iter().map(|x| x.revents != 0).collect());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads into `buf` from a raw fd (used on pipes and ptys); 0 means end of file.
pub fn read_raw(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes all of `buf` to a raw fd.
pub fn write_all_raw(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

pub fn fchmodat(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    let n = cpath(name)?;
    // SAFETY: valid C string; integer mode.
    check_int(unsafe { libc::fchmodat(dir.as_raw_fd(), n.as_ptr(), mode, 0) }).map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &Path, flags: i32) -> io::Result<()> {
    let n = cpath(name)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), flags) }).map(drop)
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

/// Closes a raw descriptor number inherited through fork (e.g. a lock the
/// child must not keep holding). Errors are ignored: the fd may be gone.
pub fn close_raw(fd: RawFd) {
    // SAFETY: the caller owns no Rust object for this fd in this process
    // image (it was copied by fork); closing it cannot invalidate safe code.
    unsafe { libc::close(fd) };
}

/// readlinkat(2): the target of the symlink `name` in `dir`.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let n = cpath(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C string; the buffer is writable for its length.
    let len = unsafe { libc::readlinkat(dir.as_raw_fd(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = check(len as libc::c_long)? as usize;
    buf.truncate(len);
    Ok(std::ffi::OsString::from_vec(buf).into())
}

/// access(path, W_OK) with the real ids: whether this process may write there.
pub fn writable(path: &Path) -> bool {
    match cpath(path) {
        // SAFETY: valid C string; integer mode.
        Ok(c) => unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 },
        Err(_) => false,
    }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both were just returned by the kernel.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `fsetxattr(2)`: sets an extended attribute on an open file.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let n = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C string; pointer and length describe `value`.
    check_int(unsafe { libc::fsetxattr(fd.as_raw_fd(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) }).map(drop)
}

/// True when the extended attribute `name` of `path` (not following a final
/// symlink) holds exactly `want`.
pub fn getxattr_is(path: &std::ffi::CStr, name: &str, want: &[u8]) -> bool {
    let Ok(n) = std::ffi::CString::new(name) else {
        return false;
    };
    let mut buf = [0u8; 16];
    // SAFETY: valid C strings; the buffer pointer and length describe `buf`.
    let r = unsafe { libc::lgetxattr(path.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    r >= 0 && &buf[..r as usize] == want
}

/// `fstatat(2)` of `name` in `dir` without following a final symlink (lstat).
pub fn lstatat(dir: BorrowedFd<'_>, name: &Path) -> io::Result<libc::stat> {
    let n = cpath(name)?;
    // SAFETY: zeroed stat is a valid value; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    check_int(unsafe { libc::fstatat(dir.as_raw_fd(), n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// `linkat(2)` without AT_SYMLINK_FOLLOW: a hard link to exactly the entry
/// `from_name` in `from_dir` (a symlink itself, never its target).
pub fn linkat(from_dir: BorrowedFd<'_>, from_name: &Path, to_dir: BorrowedFd<'_>, to_name: &Path) -> io::Result<()> {
    let f = cpath(from_name)?;
    let t = cpath(to_name)?;
    // SAFETY: valid C strings; integer descriptors.
    check_int(unsafe { libc::linkat(from_dir.as_raw_fd(), f.as_ptr(), to_dir.as_raw_fd(), t.as_ptr(), 0) }).map(drop)
}

/// `fchmod(2)` of an open file.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `fchown(2)` of an open file.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// Sets the access and modification times of `name` in `dir` (not following a
/// final symlink), both to `secs`.`nanos`.
pub fn set_mtime_at(dir: BorrowedFd<'_>, name: &Path, secs: i64, nanos: i64) -> io::Result<()> {
    let n = cpath(name)?;
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos as _,
    };
    let times = [t, t];
    // SAFETY: valid C string; `times` holds the two timespecs utimensat reads.
    check_int(unsafe { libc::utimensat(dir.as_raw_fd(), n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

/// `fstatvfs(3)`'s mount flags (`ST_RDONLY`, `ST_NOSUID`, ...) of what `fd` is on.
pub fn mount_flags(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: zeroed statvfs is valid; the kernel fills it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    check_int(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_flag as u64)
}

/// Whether this process, with its effective ids, may write the file `fd`
/// refers to (`faccessat(AT_EACCESS | AT_EMPTY_PATH)` through /proc/self/fd).
pub fn may_write(fd: BorrowedFd<'_>) -> bool {
    let p = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    // SAFETY: valid C string; integer flags.
    unsafe { libc::faccessat(libc::AT_FDCWD, p.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// Reopens what an `O_PATH` descriptor refers to with real access `flags`
/// (through /proc/self/fd/N: the same inode, whatever its path now names).
pub fn reopen(fd: BorrowedFd<'_>, flags: i32) -> io::Result<OwnedFd> {
    open(Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())), flags, 0)
}

/// True when the extended attribute `name` of the open file `fd` holds exactly `want`.
pub fn fgetxattr_is(fd: BorrowedFd<'_>, name: &str, want: &[u8]) -> bool {
    let Ok(n) = std::ffi::CString::new(name) else {
        return false;
    };
    let mut buf = [0u8; 16];
    // SAFETY: valid C string; the buffer pointer and length describe `buf`.
    let r = unsafe { libc::fgetxattr(fd.as_raw_fd(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    r >= 0 && &buf[..r as usize] == want
}
