//! Joining namespaces, as nsenter does: those of a process (-t PID), or
//! files (a persisted namespace), user namespace first.

use crate::error::Error;
use std::os::fd::{AsFd, OwnedFd};

/// What to join: a type and the file to open for it.
pub struct Target {
    pub kind: &'static str,
    pub file: std::path::PathBuf,
}

/// Opens every target first (so that a bad path fails before anything is
/// joined), checks each is a namespace of the named type, then joins them
/// in order. Namespaces we are already in are skipped, as nsenter does.
/// Returns the types actually joined.
pub fn join(targets: &[Target]) -> Result<Vec<&'static str>, Error> {
    let mut opened: Vec<(u64, OwnedFd, &Target)> = Vec::new();
    for (kind, flag) in cella_sys::ns::KINDS {
        for t in targets.iter().filter(|t| t.kind == kind) {
            let fd = cella_sys::fd::open(&t.file, libc::O_RDONLY, 0)
                .map_err(|e| Error::msg(format!("open {}: {e}", t.file.display())))?;
            match cella_sys::ns::ns_get_type(std::os::fd::AsRawFd::as_raw_fd(&fd)) {
                Ok(got) if got == flag => {}
                _ => return Err(Error::msg(format!("{} is not a {kind} namespace", t.file.display()))),
            }
            let same = std::fs::read_link(&t.file)
                .ok()
                .zip(std::fs::read_link(format!("/proc/self/ns/{kind}")).ok());
            if matches!(same, Some((a, b)) if a == b) {
                continue;
            }
            opened.push((flag, fd, t));
        }
    }
    for (flag, fd, t) in &opened {
        cella_sys::ns::setns(fd.as_fd(), *flag)
            .map_err(|e| Error::msg(format!("setns {} ({}): {e}", t.file.display(), t.kind)))?;
    }
    Ok(opened.iter().map(|(_, _, t)| t.kind).collect())
}

/// Opens a directory to change into after the namespaces are joined (the
/// target's /proc/PID/root and /proc/PID/cwd must be opened before).
pub fn open_dir(path: &std::path::Path) -> Result<OwnedFd, Error> {
    cella_sys::fd::open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::msg(format!("open directory {}: {e}", path.display())))
}

/// nsenter's -r and -w: chroot into `root`, then chdir to `wd` (or stay at
/// the new root).
pub fn change_root_and_wd(root: Option<&OwnedFd>, wd: Option<&OwnedFd>) -> Result<(), Error> {
    if let Some(r) = root {
        cella_sys::mount::fchdir(r.as_fd()).map_err(|e| Error::msg(format!("fchdir to the new root: {e}")))?;
        cella_sys::mount::chroot(std::path::Path::new("."))
            .map_err(|e| Error::msg(format!("chroot to the new root: {e}")))?;
    }
    if let Some(w) = wd {
        cella_sys::mount::fchdir(w.as_fd()).map_err(|e| Error::msg(format!("fchdir to the working directory: {e}")))?;
    }
    Ok(())
}

/// True when a PID or time namespace was joined: it applies to children only,
/// so the command must run in a fork.
pub fn needs_fork(targets: &[Target]) -> bool {
    targets.iter().any(|t| t.kind == "pid" || t.kind == "time")
}

/// The targets for `-t PID` with these types.
pub fn of_process(pid: i32, kinds: &[&'static str]) -> Result<Vec<Target>, Error> {
    kinds
        .iter()
        .map(|&kind| {
            Ok(Target {
                kind,
                file: crate::persist::proc_ns_path(pid, kind)?,
            })
        })
        .collect()
}
