//! What a process that creates or joins a container's namespaces exposes to
//! the container, decided here for all of them: cella-runtime's `create`,
//! `run` and `exec`, and the engine's container monitor (which creates the
//! container; `run`/`start` execute it from the sealed image of rule 1,
//! never entering a container themselves), `exec`, `cp` and `ns enter`.
//!
//! Two rules:
//! 1. The program image cannot be written through /proc/PID/exe
//!    (CVE-2019-5736: a container that makes the joining process execute
//!    `/proc/self/exe`, or opens its exe link, would otherwise hold the host
//!    binary and rewrite it once nothing runs it). `seal_image` runs at the
//!    entry of each such command and re-executes the program from a view
//!    that cannot be written: a read-only overlayfs of its directory that is
//!    mounted nowhere (root; no copy, shared page cache), else a sealed
//!    memfd copy. An unprivileged user whose binary they could not write
//!    anyway needs neither.
//! 2. Until it execs the container's process, a process that enters the
//!    container is not dumpable (`become_undumpable`), so that the
//!    container's processes cannot open its /proc/PID/fd, exe or mem,
//!    whatever uid they share with it (CVE-2016-9962). execve makes the
//!    container's own process dumpable again. `exec` and `ns enter` become
//!    so before joining, `cp` before it opens the container's root; a container's init once its id maps are written,
//!    or, under an unprivileged runtime, once started (see
//!    `init::InitContext::undumpable_early`).

use crate::error::{Context, Result};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `ST_RDONLY` of statvfs: the file lives on a read-only mount.
const ST_RDONLY: u64 = 1;

/// Whether the running image already cannot be written through its exe link.
fn protected(exe: BorrowedFd<'_>) -> bool {
    cella_sys::exec::is_sealed_memfd(exe) || cella_sys::fd::mount_flags(exe).is_ok_and(|f| f & ST_RDONLY != 0)
}

/// Whether a container of ours could write the file: root can write any
/// file; an unprivileged user (whose containers map root to them) only what
/// they may write or own (and so could chmod).
fn writable_by_our_containers(exe: BorrowedFd<'_>) -> bool {
    let euid = cella_sys::process::geteuid();
    euid == 0 || cella_sys::fd::may_write(exe) || cella_sys::fd::fstat(exe).is_ok_and(|st| st.st_uid == euid)
}

/// The running binary seen through a read-only overlayfs of its directory
/// that is attached nowhere: nothing can make it writable, and nothing is
/// copied. None when it cannot be made (no privilege, no overlayfs, a
/// binary replaced since it started).
fn overlay_view(exe: BorrowedFd<'_>) -> Option<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe").ok()?;
    overlay_view_beside(exe, &path, Path::new("/dev"))
}

/// [`overlay_view`] of the binary at `path`, with `second` as the view's
/// second layer if overlayfs takes it.
///
/// overlayfs without an upper layer wants two lower ones. The second is
/// only there to be allowed: /dev, which every system has and which is
/// neither above nor below a binary's directory (overlayfs refuses
/// overlapping layers); its entries show in the view, read-only and
/// nodev, and nothing but the binary is opened from it (a file found in
/// the first layer ends the lookup). Else an empty tmpfs of our own,
/// mounted nowhere either: a superblock made and torn down at every start,
/// which cost 5% of a `run` here.
fn overlay_view_beside(exe: BorrowedFd<'_>, path: &Path, second: &Path) -> Option<OwnedFd> {
    let (dir, name) = (path.parent()?, path.file_name()?);
    let dirfd = cella_sys::fd::open(dir, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
    let attrs = cella_sys::mount::MOUNT_ATTR_RDONLY | cella_sys::mount::MOUNT_ATTR_NODEV;
    let view_over = |layer: &OwnedFd| {
        let lower = format!(
            "/proc/self/fd/{}:/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&dirfd),
            std::os::fd::AsRawFd::as_raw_fd(layer)
        );
        cella_sys::mount::new_detached_mount("overlay", &[("lowerdir", &lower)], attrs).ok()
    };
    let given = cella_sys::fd::open(second, libc::O_PATH | libc::O_DIRECTORY, 0).ok();
    let ovl = match given.as_ref().and_then(view_over) {
        Some(ovl) => ovl,
        None => view_over(&cella_sys::mount::new_detached_mount("tmpfs", &[("size", "4k")], 0).ok()?)?,
    };
    let file = cella_sys::fd::openat(ovl.as_fd(), Path::new(name), libc::O_PATH | libc::O_NOFOLLOW, 0).ok()?;
    // The same binary as the one running (not one installed over it since).
    let (a, b) = (
        cella_sys::fd::fstat(exe).ok()?,
        cella_sys::fd::fstat(file.as_fd()).ok()?,
    );
    let same = a.st_size == b.st_size && a.st_mtime == b.st_mtime && a.st_mtime_nsec == b.st_mtime_nsec;
    same.then_some(file)
}

fn argv_envp() -> (Vec<CString>, Vec<CString>) {
    let argv = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).expect("argv has no NUL"))
        .collect();
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).expect("environment has no NUL")
        })
        .collect();
    (argv, envp)
}

/// The running program as an image that cannot be written (see the
/// module's rule 1), to execute a process that will create or join a
/// container from it. None when this process already runs from such an
/// image or needs none: its /proc/self/exe is then as good.
pub fn sealed_program() -> Result<Option<OwnedFd>> {
    let exe = Path::new("/proc/self/exe");
    let fd = cella_sys::fd::open(exe, libc::O_RDONLY, 0).at("open", exe)?;
    if protected(fd.as_fd()) || !writable_by_our_containers(fd.as_fd()) {
        return Ok(None);
    }
    let name = PathBuf::from(std::env::args_os().next().unwrap_or_default());
    let name = name.file_name().and_then(|n| n.to_str()).unwrap_or("cella");
    Ok(Some(match overlay_view(fd.as_fd()) {
        Some(view) => view,
        None => {
            cella_sys::exec::sealed_memfd_copy(fd.as_fd(), name).op(|| "copy the program into a sealed memfd".into())?
        }
    }))
}

/// Re-executes the current command from an image that cannot be written
/// (see the module's rule 1), unless it already runs from one or needs
/// none. Returns only then (or on error); call it before anything else.
pub fn seal_image() -> Result<()> {
    let Some(sealed) = sealed_program()? else {
        return Ok(());
    };
    let (argv, envp) = argv_envp();
    let err = cella_sys::exec::fexecve(sealed.as_fd(), &argv, &envp);
    Err(err).op(|| "re-execute the program from its sealed image".into())
}

/// Rule 2: this process (and what it forks) is not dumpable until it execs.
pub fn become_undumpable() -> Result<()> {
    cella_sys::process::set_dumpable(false).op(|| "prctl(PR_SET_DUMPABLE, 0)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view of this test binary beside `second`: it is the binary
    /// (same size), and it cannot be opened for writing.
    fn check_view(second: &Path) {
        let path = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = cella_sys::fd::open(&path, libc::O_RDONLY, 0).unwrap();
        let view = overlay_view_beside(exe.as_fd(), &path, second).expect("a view");
        let seen = cella_sys::fd::fstat(view.as_fd()).unwrap();
        assert_eq!(seen.st_size, cella_sys::fd::fstat(exe.as_fd()).unwrap().st_size);
        assert!(protected(view.as_fd()), "the view is a read-only mount");
        let through = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&view));
        let err = std::fs::OpenOptions::new().append(true).open(&through).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }

    #[test]
    #[cfg_attr(not(cella_test_root), ignore = "overlayfs mounts need root")]
    fn the_view_is_read_only_beside_dev() {
        check_view(Path::new("/dev"));
    }

    #[test]
    #[cfg_attr(not(cella_test_root), ignore = "overlayfs mounts need root")]
    fn a_second_layer_overlayfs_refuses_falls_back_to_a_tmpfs() {
        // The binary's own directory twice: overlapping layers, refused.
        let path = std::fs::read_link("/proc/self/exe").unwrap();
        check_view(path.parent().unwrap());
    }
}
