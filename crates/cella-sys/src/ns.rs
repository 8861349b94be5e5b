//! Namespaces: clone3, unshare, setns, hostname.

use crate::{check, check_int};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

pub const CLONE_NEWTIME: u64 = 0x80;
pub const CLONE_NEWNS: u64 = libc::CLONE_NEWNS as u64;
pub const CLONE_NEWCGROUP: u64 = libc::CLONE_NEWCGROUP as u64;
pub const CLONE_NEWUTS: u64 = libc::CLONE_NEWUTS as u64;
pub const CLONE_NEWIPC: u64 = libc::CLONE_NEWIPC as u64;
pub const CLONE_NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
pub const CLONE_NEWPID: u64 = libc::CLONE_NEWPID as u64;
pub const CLONE_NEWNET: u64 = libc::CLONE_NEWNET as u64;

/// Every namespace type by its /proc/PID/ns name, with its CLONE_NEW*
/// flag, in the order nsenter joins them (user first): the one table of
/// names and flags that the runtime and the namespace tools share.
pub const KINDS: [(&str, u64); 8] = [
    ("user", CLONE_NEWUSER),
    ("cgroup", CLONE_NEWCGROUP),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("pid", CLONE_NEWPID),
    ("time", CLONE_NEWTIME),
    ("mnt", CLONE_NEWNS),
];

/// The CLONE_NEW* flag of a namespace by its /proc name.
pub fn clone_flag(proc_name: &str) -> Option<u64> {
    KINDS.iter().find(|(n, _)| *n == proc_name).map(|(_, f)| *f)
}
pub const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What `clone3` returned: in the parent the child's PID, in the child zero.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// Forks like `fork(2)` but creates the namespaces in `flags` for the child
/// at once (`CLONE_NEW*`). The child gets SIGCHLD as exit signal.
///
/// The caller must be single-threaded: as after `fork`, only the calling
/// thread exists in the child.
pub fn clone3(flags: u64) -> io::Result<Forked> {
    clone3_into(flags, None)
}

/// `clone3` that also places the child in the cgroup v2 directory `cgroup`
/// (CLONE_INTO_CGROUP): no migration afterwards.
pub fn clone3_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: flags | if cgroup.is_some() { CLONE_INTO_CGROUP } else { 0 },
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork:
    // the child runs on a copy of the parent's stack; `args` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Plain `fork(2)`, for a process that must be single-threaded. Under a
/// seccomp filter that answers clone3 with ENOSYS (as docker's and cella's
/// default profiles do), it falls back to the older fork.
pub fn fork() -> io::Result<Forked> {
    match clone3(0) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // SAFETY: the caller is single-threaded (see above), as fork requires.
            match check_int(unsafe { libc::fork() })? {
                0 => Ok(Forked::Child),
                pid => Ok(Forked::Parent(pid)),
            }
        }
        other => other,
    }
}

pub fn unshare(flags: u64) -> io::Result<()> {
    // SAFETY: unshare takes only an integer.
    check_int(unsafe { libc::unshare(flags as libc::c_int) }).map(drop)
}

/// Joins the namespace that `fd` refers to (a /proc/PID/ns/* file or a bind mount of one).
pub fn setns(fd: BorrowedFd<'_>, nstype: u64) -> io::Result<()> {
    // SAFETY: the fd is borrowed, so it is open for the duration of the call.
    check_int(unsafe { libc::setns(fd.as_raw_fd(), nstype as libc::c_int) }).map(drop)
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    check_int(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn gethostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    check_int(unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) })?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// `ioctl(NS_GET_NSTYPE)`: the CLONE_NEW* type of a namespace file.
pub fn ns_get_type(fd: RawFd) -> io::Result<u64> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument.
    let ret = unsafe { libc::ioctl(fd, NS_GET_NSTYPE) };
    check_int(ret).map(|t| t as u64)
}

/// setns(2) with a pidfd: enters every namespace in `flags` of that process
/// at once (Linux 5.8+), the user namespace first as the kernel orders it.
pub fn setns_pidfd(pidfd: BorrowedFd<'_>, flags: u64) -> io::Result<()> {
    // SAFETY: the fd is borrowed for the call; flags is an integer.
    check_int(unsafe { libc::setns(pidfd.as_raw_fd(), flags as libc::c_int) }).map(drop)
}

fn ns_ioctl_fd(fd: RawFd, request: libc::c_ulong) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: NS_GET_USERNS/NS_GET_PARENT take no argument and return a new fd.
    let ret = check_int(unsafe { libc::ioctl(fd, request) })?;
    // SAFETY: a new descriptor returned by the kernel.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(ret) })
}

/// `ioctl(NS_GET_USERNS)`: the user namespace that owns a namespace.
pub fn ns_get_userns(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    ns_ioctl_fd(fd, 0xb701)
}

/// `ioctl(NS_GET_PARENT)`: the parent of a PID or user namespace.
pub fn ns_get_parent(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    ns_ioctl_fd(fd, 0xb702)
}
