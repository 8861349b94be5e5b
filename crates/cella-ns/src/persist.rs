//! Keeping a namespace alive without a process: a bind mount of
//! /proc/PID/ns/TYPE onto a file (what `unshare --net=FILE` and `ip netns add`
//! do), and releasing it again.

use std::io;
use std::path::{Path, PathBuf};

pub const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The namespace types by their /proc names, as lsns sorts them.
pub const TYPES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

pub use crate::error::Error;

fn err(what: String, e: io::Error) -> Error {
    Error::os(what, e)
}

/// The /proc file of a process's namespace, checked to exist.
pub fn proc_ns_path(pid: i32, kind: &str) -> Result<PathBuf, Error> {
    if !TYPES.contains(&kind) {
        return Err(Error::msg(format!(
            "unknown namespace type {kind:?}: use one of {}",
            TYPES.join(", ")
        )));
    }
    let p = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    std::fs::symlink_metadata(&p).map_err(|e| err(format!("process {pid}: {}", p.display()), e))?;
    Ok(p)
}

/// Bind-mounts the namespace onto `file` (created if missing).
pub fn persist(pid: i32, kind: &str, file: &Path) -> Result<(), Error> {
    let src = proc_ns_path(pid, kind)?;
    if !file.exists() {
        std::fs::File::create(file).map_err(|e| err(format!("create {}", file.display()), e))?;
    }
    cella_sys::mount::mount(
        Some(&src),
        &cella_sys::mount::Target::Path(file),
        None,
        libc::MS_BIND,
        None,
    )
    .map_err(|e| err(format!("bind {} onto {}", src.display(), file.display()), e))
}

/// True when `file` is a namespace file (a bind mount of one, or /proc/PID/ns/*).
pub fn is_namespace_file(file: &Path) -> bool {
    use std::os::fd::AsFd;
    match cella_sys::fd::open(file, libc::O_RDONLY, 0) {
        Ok(fd) => cella_sys::fd::fstatfs_type(fd.as_fd()).is_ok_and(|t| t == NSFS_MAGIC),
        Err(_) => false,
    }
}

/// Unmounts a persisted namespace; the namespace ends with its last user.
pub fn release(file: &Path) -> Result<(), Error> {
    if !is_namespace_file(file) {
        return Err(Error::msg(format!(
            "{} is not a persisted namespace (no nsfs mount there)",
            file.display()
        )));
    }
    cella_sys::mount::umount2(file, libc::MNT_DETACH).map_err(|e| err(format!("unmount {}", file.display()), e))
}
