//! The runtime's own writes into procfs inside the container (sysctls, LSM
//! exec labels) go through a procfs of their own, never through the
//! container's /proc as it stands: a config or an image can put mounts or
//! symlinks over /proc files (a bind of /proc/sys/kernel/core_pattern over
//! /proc/sys/kernel/domainname), and a write through the path would land in
//! the wrong file (CVE-2025-52881). The handle is a fresh procfs instance
//! that is mounted nowhere (fsopen), else a non-recursive detached clone of
//! /proc (open_tree), which carries none of the mounts made over it; paths
//! are resolved in it without crossing mounts or following any symlink, and
//! what is opened is checked to be procfs.

use crate::error::{Context, Error, Result};
use cella_sys::fd::{RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

pub struct Procfs(OwnedFd);

impl Procfs {
    /// A private procfs of this process's PID namespace.
    pub fn open() -> Result<Procfs> {
        let fd = match cella_sys::mount::new_detached_mount("proc", &[], 0) {
            Ok(fd) => fd,
            Err(_) => {
                let dir = cella_sys::fd::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
                    .at("open", Path::new("/"))?;
                cella_sys::mount::open_tree_clone(dir.as_fd(), Path::new("proc"), false)
                    .at("clone the /proc mount", Path::new("/proc"))?
            }
        };
        check_procfs(&fd, Path::new("/proc"))?;
        Ok(Procfs(fd))
    }

    /// Writes `data` to `rel` (e.g. `sys/kernel/domainname`) in this procfs.
    pub fn write(&self, rel: &Path, data: &[u8]) -> Result<()> {
        let resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        let what = Path::new("/proc").join(rel);
        let fd = cella_sys::fd::openat2(self.0.as_fd(), rel, libc::O_WRONLY | libc::O_TRUNC, 0, resolve)
            .at("open", &what)?;
        check_procfs(&fd, &what)?;
        cella_sys::fd::write_all_raw(fd.as_raw_fd(), data).at("write", &what)
    }

    /// `rel` under this process's own directory (`<pid>/rel`: `self` is a
    /// symlink, which these lookups never follow).
    pub fn write_own(&self, rel: &str, data: &[u8]) -> Result<()> {
        let own = format!("{}/{rel}", cella_sys::process::getpid());
        self.write(Path::new(&own), data)
    }

    /// Whether `rel` exists in this procfs.
    pub fn has(&self, rel: &str) -> bool {
        let resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        let own = format!("{}/{rel}", cella_sys::process::getpid());
        cella_sys::fd::openat2(self.0.as_fd(), Path::new(&own), libc::O_PATH, 0, resolve).is_ok()
    }
}

fn check_procfs(fd: &OwnedFd, what: &Path) -> Result<()> {
    let fs = cella_sys::fd::fstatfs_type(fd.as_fd()).at("statfs", what)?;
    if fs != PROC_SUPER_MAGIC {
        return Err(Error::Config(format!(
            "{} is not on procfs (something is mounted over it): refusing to write there",
            what.display()
        )));
    }
    Ok(())
}
