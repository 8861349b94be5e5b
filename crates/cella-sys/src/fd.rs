//! Files and descriptors: openat2 and the *at calls, stat, xattrs, dup,
//! pipes, close-on-exec sweeps, raw reads and writes, flock, whole reads
//! of files the kernel generates.

use crate::{check, check_int, cpath};
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

/// Swaps the names `a` and `b` atomically (renameat2 RENAME_EXCHANGE):
/// both must exist. EINVAL where the filesystem cannot.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let (ca, cb) = (cpath(a)?, cpath(b)?);
    // SAFETY: both are valid C strings for the call.
    check_int(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    })
    .map(drop)
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

/// Marks every descriptor from `first` on close-on-exec (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`), falling back to a walk of /proc/self/fd.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range with CLOEXEC closes nothing; it only sets flags.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    for fd in open_fds_from(first)? {
        set_cloexec(fd, true).ok();
    }
    Ok(())
}

/// Closes every descriptor from `first` up (a process that keeps running
/// with only what it was given, as a daemon does).
pub fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range closes the fds of this process from `first` up;
    // the caller owns none of them any more (a fresh program's inheritance).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if ret == 0 {
        return Ok(());
    }
    for fd in open_fds_from(first)? {
        close_raw(fd);
    }
    Ok(())
}

/// The open descriptors from `first` up, from /proc/self/fd (where
/// close_range is missing).
fn open_fds_from(first: u32) -> io::Result<Vec<RawFd>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?.file_name().to_str().and_then(|s| s.parse::<RawFd>().ok()) {
            if fd as u32 >= first {
                out.push(fd);
            }
        }
    }
    Ok(out)
}

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

/// O_NONBLOCK on: reads return EAGAIN instead of waiting.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take integers; a closed fd yields EBADF.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// `dup3(old, new, 0)`: makes `new` refer to `old` (without close-on-exec).
pub fn dup_to(old: RawFd, new: RawFd) -> io::Result<()> {
    if old == new {
        return set_cloexec(new, false);
    }
    // SAFETY: integer arguments; dup3 atomically replaces `new`.
    check_int(unsafe { libc::dup3(old, new, 0) }).map(drop)
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

/// Reads a file the kernel generates as it is read (procfs, sysfs), whole,
/// in as few read(2)s as it takes: such a file reports size 0, and
/// `std::fs::read` then probes with 32 bytes and doubles, seven reads for
/// a 1 KiB mountinfo, each of which walks the seq_file to its position
/// again.
pub fn read_generated(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 16 << 10];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(2 * len, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// [`read_generated`] as text (not UTF-8: an InvalidData error).
pub fn read_generated_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read_generated(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_file_is_read_whole_in_few_reads() {
        // Longer than the first buffer: the loop grows it.
        let dir = std::env::temp_dir().join(format!("cella-read-generated-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        let text: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&big, &text).unwrap();
        let got = read_generated(&big);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.unwrap(), text);
        // procfs: the same text std reads, in its 32-byte probes.
        let ours = read_generated_string("/proc/self/cgroup").unwrap();
        assert_eq!(ours, std::fs::read_to_string("/proc/self/cgroup").unwrap());
        assert!(read_generated("/proc/self/no-such-file").is_err());
    }
}
