//! Mounts: mount(2), the new mount API (open_tree, move_mount, mount_setattr), pivot_root.

use crate::{check, check_int, cpath};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// The target of a mount: a path, or an fd (mounted on through /proc/self/fd/N,
/// so that the kernel mounts on exactly the inode we opened).
pub enum Target<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

fn target_cstring(t: &Target<'_>) -> io::Result<CString> {
    match t {
        Target::Path(p) => cpath(p),
        Target::Fd(fd) => Ok(CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL")),
    }
}

/// `mount(2)`. `source`, `fstype` and `data` may be absent.
pub fn mount(
    source: Option<&Path>,
    target: &Target<'_>,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> io::Result<()> {
    let src = source.map(cpath).transpose()?;
    let tgt = target_cstring(target)?;
    let fs = fstype.map(crate::cstr).transpose()?;
    let dat = data.map(crate::cstr).transpose()?;
    // SAFETY: every pointer is either null or a valid C string alive for the call.
    check_int(unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            tgt.as_ptr(),
            fs.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags as libc::c_ulong,
            dat.as_ref().map_or(std::ptr::null(), |s| s.as_ptr().cast()),
        )
    })
    .map(drop)
}

pub fn umount2(target: &Path, flags: i32) -> io::Result<()> {
    let c = cpath(target)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::umount2(c.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let n = cpath(new_root)?;
    let o = cpath(put_old)?;
    // SAFETY: valid C strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) }).map(drop)
}

pub fn chroot(path: &Path) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::chroot(c.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: integer argument.
    check_int(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)` on the mount that `fd` refers to (recursively when asked):
/// sets and clears MOUNT_ATTR_* flags without touching the others.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clear: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` and the empty path string are valid for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// `open_tree(OPEN_TREE_CLONE)`: a detached copy of the mount at `path` (recursive when asked).
pub fn open_tree_clone(dir: BorrowedFd<'_>, path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: u32 = 1;
    let c = cpath(path)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    // SAFETY: valid C string; integer flags.
    let fd = check(unsafe { libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), c.as_ptr(), flags) })? as RawFd;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(2)` of a detached tree onto the inode that `to` refers to.
pub fn move_mount_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    const F_EMPTY: u32 = 0x04;
    const T_EMPTY: u32 = 0x40;
    // SAFETY: empty C strings with the *_EMPTY_PATH flags; fds are borrowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            F_EMPTY | T_EMPTY,
        )
    })
    .map(drop)
}

/// A new, detached filesystem instance (`fsopen` + `fsconfig` + `fsmount`):
/// `fstype` with string options `opts`, not attached anywhere. The returned
/// fd is the root of the mount; it lives as long as something refers to it.
pub fn new_detached_mount(fstype: &str, opts: &[(&str, &str)], attrs: u64) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: u32 = 1;
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    const FSMOUNT_CLOEXEC: u32 = 1;
    let fs = crate::cstr(fstype)?;
    // SAFETY: valid C string; integer flags.
    let raw = check(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC) })? as RawFd;
    // SAFETY: new descriptor returned by the kernel.
    let ctx = unsafe { OwnedFd::from_raw_fd(raw) };
    for (k, v) in opts {
        let (k, v) = (crate::cstr(k)?, crate::cstr(v)?);
        // SAFETY: valid C strings for key and value; aux is unused for strings.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: CMD_CREATE takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: integer arguments on the configured context.
    let m = check(unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })? as RawFd;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(m) })
}
