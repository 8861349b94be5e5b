//! cgroups for cella containers on pure v1, pure v2 and hybrid machines.
//!
//! The layout is read once from /proc/self/mountinfo. A container's cgroup is
//! one directory per mounted hierarchy (v1 controllers, named v1 hierarchies
//! such as name=systemd, and the v2 tree), all at the same relative path.

mod apply;
pub mod cpuset;
pub mod devicefilter;
mod freezer;
mod hierarchy;
mod stats;
pub mod systemd;

pub use apply::{blkio_to_io_weight, device_rule_line, shares_to_weight};

pub use hierarchy::{Hierarchy, Layout, Mode};
use serde::{Deserialize, Serialize};

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Messages carry their cause in the text (one line for runc-style logs);
    // the field is not named `source`, or thiserror would chain it too.
    #[error("cgroup {op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("reading /proc/self/mountinfo: {0}")]
    Mountinfo(io::Error),
    #[error("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")]
    NoCgroupFs,
    #[error("invalid cgroupsPath {0:?}: it must not contain '..'")]
    BadPath(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("systemd: {op} {unit}: {err}")]
    Systemd {
        op: String,
        unit: String,
        err: cella_dbus::Error,
    },
    #[error("systemd: the job to {op} {unit} ended with \"{result}\" (see journalctl -u {unit})")]
    SystemdJob { op: String, unit: String, result: String },
    #[error("systemd: a unit {0} exists already and is running: another container with this name? Choose another id, or stop that unit")]
    SystemdUnitExists(String),
    #[error("the systemd cgroup driver cannot reach {which}: {err}; is systemd running? Without it use the cgroupfs driver (no --systemd-cgroup)")]
    SystemdUnreachable {
        which: &'static str,
        err: cella_dbus::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |err| Error::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// One directory of a container's cgroup, in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    pub path: PathBuf,
    /// The v1 controllers of this hierarchy; empty for the v2 tree.
    #[serde(default)]
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted (v2 controllers are enabled from here down).
    pub mountpoint: PathBuf,
}

impl CgroupDir {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }
}

/// A container's cgroup: the same relative path in every hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub dirs: Vec<CgroupDir>,
}

impl Cgroup {
    /// Resolves `cgroups_path` (absolute from each hierarchy's root, or
    /// relative to this process's own cgroup there) against the layout.
    pub fn resolve(layout: &Layout, cgroups_path: &str) -> Result<Cgroup> {
        if cgroups_path.split('/').any(|c| c == "..") {
            return Err(Error::BadPath(cgroups_path.into()));
        }
        let dirs = layout
            .hierarchies
            .iter()
            .map(|h| {
                let rel = if let Some(abs) = cgroups_path.strip_prefix('/') {
                    PathBuf::from(abs)
                } else {
                    Path::new(h.own.trim_start_matches('/')).join(cgroups_path)
                };
                CgroupDir {
                    path: h.mountpoint.join(rel),
                    controllers: h.controllers.clone(),
                    mountpoint: h.mountpoint.clone(),
                }
            })
            .collect();
        Ok(Cgroup { dirs })
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.path.as_path())
    }

    /// The directory of the v1 hierarchy that has `controller`.
    pub fn v1(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// The v2 directory, if a v2 tree is mounted.
    pub fn v2(&self) -> Option<&CgroupDir> {
        self.dirs.iter().find(|d| d.is_v2())
    }

    /// Creates every directory (and missing parents). On v1 cpuset, copies
    /// cpuset.cpus and cpuset.mems down from the parent, since an empty
    /// cpuset refuses tasks. On failure, removes what it created.
    pub fn create(&self) -> Result<()> {
        for (i, dir) in self.dirs.iter().enumerate() {
            let cpuset = dir.controllers.iter().any(|c| c == "cpuset");
            if let Err(e) = create_dir(&dir.path, cpuset) {
                for done in &self.dirs[..i] {
                    let _ = std::fs::remove_dir(&done.path);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Creates the v2 directory alone (and missing parents), if there is
    /// one: what a child started into its cgroup (CLONE_INTO_CGROUP) needs
    /// before it exists. `create` makes the rest later.
    pub fn create_v2(&self) -> Result<()> {
        self.v2().map_or(Ok(()), |d| create_dir(&d.path, false))
    }

    /// Moves process `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        let mut buf = pid.to_string();
        buf.push('\n');
        for dir in self.paths() {
            let p = dir.join("cgroup.procs");
            std::fs::write(&p, &buf).map_err(io_err("join", &p))?;
        }
        Ok(())
    }

    /// Moves the calling thread into this cgroup in every v1 hierarchy by
    /// writing 0 to each `tasks` file. For a single-threaded process that
    /// is the whole process, and the kernel skips the global threadgroup
    /// lock (and the RCU grace period its writer waits for, 7-15 ms) that
    /// a PID written to `cgroup.procs` takes.
    pub fn join_self_v1(&self) -> Result<()> {
        for dir in self.dirs.iter().filter(|d| !d.is_v2()) {
            let p = dir.path.join("tasks");
            std::fs::write(&p, b"0").map_err(io_err("join", &p))?;
        }
        Ok(())
    }

    /// Host PIDs of every process in the cgroup (read from the first hierarchy
    /// that exists), sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        for dir in self.paths() {
            let p = dir.join("cgroup.procs");
            match std::fs::read_to_string(&p) {
                Ok(text) => {
                    let mut v: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
                    v.sort_unstable();
                    return Ok(v);
                }
                Err(e) if removed(&e) => continue,
                Err(e) => return Err(io_err("read", &p)(e)),
            }
        }
        Ok(Vec::new())
    }

    /// Sends `sig` to every process in the cgroup. SIGKILL goes through
    /// cgroup.kill where the kernel has it (v2, also in a hybrid's v2 tree),
    /// which cannot miss a process that forks meanwhile.
    pub fn signal_all(&self, sig: i32) -> Result<usize> {
        if sig == libc::SIGKILL {
            if let Some(v2) = self.v2() {
                let kill = v2.path.join("cgroup.kill");
                if std::fs::write(&kill, "1").is_ok() {
                    return Ok(self.pids()?.len());
                }
            }
        }
        let mut n = 0;
        for pid in self.pids()? {
            if cella_sys::process::kill(pid, sig).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes the container's own directory in every hierarchy (and the
    /// cgroups made inside it); retries briefly while the kernel is still
    /// reaping exiting tasks (EBUSY). Missing directories are fine. Parents
    /// stay, as runc, crun and docker leave theirs: another container is
    /// likely to need them next, and each directory costs a cgroup's
    /// creation in every hierarchy (a third of a start's cgroup work).
    pub fn remove(&self) -> Result<()> {
        self.paths().try_for_each(remove_dir_retrying)
    }

    /// Whether process `pid` is in this cgroup (or below it) in every
    /// hierarchy, by its /proc/PID/cgroup.
    pub fn holds(&self, pid: i32) -> bool {
        let Ok(text) = cella_sys::fd::read_generated_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        !self.dirs.is_empty()
            && self.dirs.iter().all(|d| {
                let Ok(rel) = d.path.strip_prefix(&d.mountpoint) else {
                    return false;
                };
                let want = Path::new("/").join(rel);
                text.lines().any(|l| {
                    let mut f = l.splitn(3, ':');
                    let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
                    let same_hierarchy = if d.is_v2() {
                        ctrls.is_empty()
                    } else {
                        !ctrls.is_empty() && ctrls.split(',').eq(d.controllers.iter().map(String::as_str))
                    };
                    same_hierarchy && Path::new(path).starts_with(&want)
                })
            })
    }

    pub fn exists(&self) -> bool {
        self.paths().any(|d| d.is_dir())
    }
}

/// A cgroup's file that is gone: its directory removed before the open
/// (ENOENT) or between the open and the read (ENODEV), as systemd removes
/// a scope's cgroup the moment its last process exits.
fn removed(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

fn create_dir(dir: &Path, cpuset: bool) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = dir.parent().ok_or_else(|| io_err("create", dir)(e))?;
            create_dir(parent, cpuset)?;
            match std::fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create", dir)(e)),
            }
        }
        Err(e) => return Err(io_err("create", dir)(e)),
    }
    if cpuset {
        copy_cpuset_from_parent(dir)?;
    }
    Ok(())
}

/// v1 cpuset refuses tasks while cpuset.cpus or cpuset.mems is empty, and a
/// new cgroup starts empty: copy the values down, filling an empty parent
/// first (another create may have made the parent a moment ago).
fn copy_cpuset_from_parent(dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        fill_cpuset_file(dir, file)?;
    }
    Ok(())
}

fn fill_cpuset_file(dir: &Path, file: &str) -> Result<String> {
    let own = dir.join(file);
    let Ok(cur) = std::fs::read_to_string(&own) else {
        return Ok(String::new());
    };
    if !cur.trim().is_empty() {
        return Ok(cur.trim().to_string());
    }
    let Some(parent) = dir.parent() else {
        return Ok(String::new());
    };
    let val = fill_cpuset_file(parent, file)?;
    std::fs::write(&own, &val).map_err(io_err("write", &own))?;
    Ok(val)
}

fn remove_dir_retrying(dir: &Path) -> Result<()> {
    let mut delay = std::time::Duration::from_millis(1);
    for _ in 0..12 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Busy: tasks still exiting, or child cgroups made inside the
            // container (cgroup namespace), which go first.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                remove_children(dir)?;
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(io_err("remove", dir)(e)),
        }
    }
    std::fs::remove_dir(dir).map_err(io_err("remove (still busy)", dir))
}

fn remove_children(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_dir_retrying(&e.path())?;
        }
    }
    Ok(())
}

impl Cgroup {
    /// Keeps only the hierarchies where this process may create the
    /// directory (its nearest existing ancestor is writable): for an
    /// unprivileged caller, the hierarchies delegated to it.
    pub fn retain_writable(&mut self) {
        self.dirs.retain(|d| {
            let mut p = d.path.as_path();
            loop {
                if p.exists() {
                    return cella_sys::fd::writable(p);
                }
                match p.parent() {
                    Some(parent) => p = parent,
                    None => return false,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::parse(
            "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            "4:memory:/user/shell\n0::/\n",
        )
    }

    #[test]
    fn a_removed_cgroup_has_no_processes() {
        // Removed before the read (no directory) or during it (ENODEV, what
        // the kernel answers a file opened before its cgroup's rmdir).
        let gone = Cgroup::resolve(&layout(), "/cella-test-no-such-cgroup/x").unwrap();
        assert_eq!(gone.pids().unwrap(), Vec::<i32>::new());
        assert!(removed(&io::Error::from_raw_os_error(libc::ENODEV)));
        assert!(!removed(&io::Error::from_raw_os_error(libc::EACCES)));
    }

    #[test]
    fn absolute_and_relative_paths() {
        let l = layout();
        let abs = Cgroup::resolve(&l, "/cella/abc").unwrap();
        assert_eq!(abs.dirs[0].path, Path::new("/sys/fs/cgroup/memory/cella/abc"));
        assert_eq!(abs.dirs[1].path, Path::new("/sys/fs/cgroup/unified/cella/abc"));
        assert_eq!(abs.v1("memory"), Some(Path::new("/sys/fs/cgroup/memory/cella/abc")));
        assert!(abs.v2().is_some());
        let rel = Cgroup::resolve(&l, "c1").unwrap();
        assert_eq!(rel.dirs[0].path, Path::new("/sys/fs/cgroup/memory/user/shell/c1"));
        assert!(Cgroup::resolve(&l, "/a/../../etc").is_err());
    }
}
