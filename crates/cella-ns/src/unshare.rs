//! `cella ns unshare`: util-linux unshare's model. New namespaces for this
//! process (then, with --fork, for a child that runs the command), optional
//! id maps, mount propagation, /proc for a new PID namespace, and namespaces
//! persisted to files by a helper that stays in the original mount namespace.

use crate::persist::Error;
use std::path::PathBuf;

pub struct Unshare {
    /// (type, CLONE_NEW* flag, file to persist it to)
    pub namespaces: Vec<(&'static str, u64, Option<PathBuf>)>,
    pub fork: bool,
    pub kill_child: Option<i32>,
    pub mount_proc: Option<PathBuf>,
    /// (inside, outside) single-id maps, e.g. -r: (0, own uid).
    pub map_user: Option<(u32, u32)>,
    pub map_group: Option<(u32, u32)>,
    /// "allow" or "deny" for /proc/self/setgroups.
    pub setgroups: Option<String>,
    /// MS_* propagation for "/" when a mount namespace is new (None: unchanged).
    pub propagation: Option<u64>,
    pub time_offsets: String,
    pub root: Option<PathBuf>,
    pub wd: Option<PathBuf>,
}

fn e(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |err| Error(format!("{what}: {err}"))
}

impl Unshare {
    fn flags(&self) -> u64 {
        self.namespaces.iter().fold(0, |f, n| f | n.1)
    }

    /// Sets everything up in this process; the caller then execs, or (with
    /// --fork) forks and the child calls `finish_in_child` and execs.
    pub fn apply(&self) -> Result<(), Error> {
        let flags = self.flags();
        // A helper forked first stays in our original namespaces, so that its
        // bind mounts of the new namespaces land where the caller can see them.
        let persist: Vec<(&str, PathBuf)> = self
            .namespaces
            .iter()
            .filter_map(|(k, _, f)| f.clone().map(|f| (*k, f)))
            .collect();
        let helper = if persist.is_empty() {
            None
        } else {
            Some(spawn_persister(persist)?)
        };
        cella_sys::ns::unshare(flags).map_err(e(format!("unshare({flags:#x})")))?;
        if let Some((pipe, pid)) = helper {
            use std::os::fd::AsRawFd;
            cella_sys::fd::write_all_raw(pipe.as_raw_fd(), b"go").map_err(e("signal the persist helper"))?;
            drop(pipe);
            match cella_sys::process::waitpid(pid, false).map_err(e("wait for the persist helper"))? {
                Some((_, cella_sys::process::Exit::Code(0))) => {}
                _ => return Err(Error("persisting a namespace to its file failed (see above)".into())),
            }
        }
        if flags & cella_sys::ns::CLONE_NEWUSER != 0 {
            if let Some(s) = &self.setgroups {
                std::fs::write("/proc/self/setgroups", s).map_err(e("write /proc/self/setgroups"))?;
            } else if self.map_group.is_some() {
                // An unprivileged gid_map needs setgroups denied first.
                let _ = std::fs::write("/proc/self/setgroups", "deny");
            }
            if let Some((inside, outside)) = self.map_user {
                std::fs::write("/proc/self/uid_map", format!("{inside} {outside} 1\n"))
                    .map_err(e("write /proc/self/uid_map"))?;
            }
            if let Some((inside, outside)) = self.map_group {
                std::fs::write("/proc/self/gid_map", format!("{inside} {outside} 1\n"))
                    .map_err(e("write /proc/self/gid_map"))?;
            }
        }
        if !self.time_offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", &self.time_offsets)
                .map_err(e("write /proc/self/timens_offsets"))?;
        }
        if flags & cella_sys::ns::CLONE_NEWNS != 0 {
            if let Some(p) = self.propagation {
                let slash = std::path::Path::new("/");
                cella_sys::mount::mount(
                    None,
                    &cella_sys::mount::Target::Path(slash),
                    None,
                    p | libc::MS_REC,
                    None,
                )
                .map_err(e("set the propagation of /"))?;
            }
        }
        Ok(())
    }

    /// In the process that will exec (after the fork, if any).
    pub fn finish_in_child(&self) -> Result<(), Error> {
        if let Some(sig) = self.kill_child {
            cella_sys::process::set_parent_death_signal(sig).map_err(e("prctl(PR_SET_PDEATHSIG)"))?;
        }
        if let Some(dir) = &self.mount_proc {
            let t = cella_sys::mount::Target::Path(dir);
            cella_sys::mount::mount(None, &t, None, libc::MS_PRIVATE | libc::MS_REC, None).ok();
            cella_sys::mount::mount(
                Some(std::path::Path::new("proc")),
                &t,
                Some("proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )
            .map_err(e(format!("mount proc on {}", dir.display())))?;
        }
        if let Some(r) = &self.root {
            cella_sys::mount::chroot(r).map_err(e(format!("chroot {}", r.display())))?;
            cella_sys::process::chdir(std::path::Path::new("/")).map_err(e("chdir /"))?;
        }
        if let Some(w) = &self.wd {
            cella_sys::process::chdir(w).map_err(e(format!("chdir {}", w.display())))?;
        }
        Ok(())
    }
}

/// Forks a helper that waits for "go", then bind-mounts the parent's new
/// namespaces (pid and time: the ones for children) onto their files.
fn spawn_persister(items: Vec<(&str, PathBuf)>) -> Result<(std::os::fd::OwnedFd, i32), Error> {
    use std::os::fd::AsRawFd;
    let parent = cella_sys::process::getpid();
    let (r, w) = cella_sys::fd::pipe().map_err(e("pipe"))?;
    match cella_sys::ns::fork().map_err(e("fork the persist helper"))? {
        cella_sys::ns::Forked::Child => {
            drop(w);
            let mut b = [0u8; 2];
            if cella_sys::fd::read_raw(r.as_raw_fd(), &mut b).unwrap_or(0) == 0 {
                cella_sys::process::exit_now(1);
            }
            for (kind, file) in items {
                let proc_name = match kind {
                    "pid" => "pid_for_children",
                    "time" => "time_for_children",
                    k => k,
                };
                let src = PathBuf::from(format!("/proc/{parent}/ns/{proc_name}"));
                if !file.exists() && std::fs::File::create(&file).is_err() {
                    eprintln!("cella: create {}", file.display());
                    cella_sys::process::exit_now(1);
                }
                if let Err(err) = cella_sys::mount::mount(
                    Some(&src),
                    &cella_sys::mount::Target::Path(&file),
                    None,
                    libc::MS_BIND,
                    None,
                ) {
                    eprintln!("cella: bind {} onto {}: {err}", src.display(), file.display());
                    cella_sys::process::exit_now(1);
                }
            }
            cella_sys::process::exit_now(0)
        }
        cella_sys::ns::Forked::Parent(pid) => Ok((w, pid)),
    }
}
