//! A container's state directory: `<root>/<id>/` holding `state.json`, the
//! `start.sock` that the waiting init listens on, and nothing else.
//!
//! The directory is created with mkdir(2), so of two concurrent `create`s of
//! one ID exactly one wins; every command that changes a container holds an
//! exclusive flock on the directory while it works.

use crate::error::{Context, Error, Result};
use cella_spec::{Hooks, State, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const START_SOCKET: &str = "start.sock";

/// What cella keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    pub id: String,
    pub oci_version: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host PID of the container's init.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat), to tell it from a reused PID.
    pub pid_start: u64,
    pub created: String,
    pub owner: u32,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// The container's cgroup (absent when running without one, e.g. rootless).
    #[serde(default)]
    pub cgroup: Option<cella_cgroups::Cgroup>,
    /// The systemd scope that holds the cgroup (systemd driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::cgroup::Scope>,
    /// Whether the container has its own PID namespace (then killing init ends all).
    #[serde(default)]
    pub own_pid_ns: bool,
    /// The container's process, the base of `exec` (the bundle may be gone by then).
    #[serde(default)]
    pub process: Option<cella_spec::Process>,
    /// The seccomp profile every `exec` process gets too.
    #[serde(default)]
    pub seccomp: Option<cella_spec::seccomp::Seccomp>,
}

/// The default state root: /run/cella for root, $XDG_RUNTIME_DIR/cella
/// otherwise, also for uid 0 of a user namespace (rootless podman), as runc.
pub fn default_root() -> PathBuf {
    if cella_sys::process::geteuid() == 0 && !cella_sys::process::in_user_namespace() {
        return PathBuf::from("/run/cella");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("cella"),
        _ => PathBuf::from(format!("/tmp/cella-{}", cella_sys::process::geteuid())),
    }
}

/// Checks that the directory `fd` (at `path`) is this user's own and that
/// no one else may write in it: state found there was written by us.
pub fn check_private_dir(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let st = cella_sys::fd::fstat(fd).at("stat", path)?;
    let euid = cella_sys::process::geteuid();
    let untrusted = |why: String| Error::Untrusted {
        path: path.to_path_buf(),
        why,
        fix: "remove it, or set XDG_RUNTIME_DIR (or --root) to a directory of your own",
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(untrusted("not a directory".into()));
    }
    if st.st_uid != euid {
        return Err(untrusted(format!(
            "owned by uid {}, not by you (uid {euid})",
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(untrusted(format!(
            "others may write in it (mode {:o})",
            st.st_mode & 0o7777
        )));
    }
    Ok(())
}

/// Opens an existing directory of state and checks it is private.
fn open_private_dir(path: &Path) -> Result<OwnedFd> {
    let fd = cella_sys::fd::open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open", path)?;
    check_private_dir(fd.as_fd(), path)?;
    Ok(fd)
}

/// Makes (0700) or opens the state root `root` and checks it is private.
pub fn ensure_root(root: &Path) -> Result<()> {
    match std::fs::create_dir(root) {
        Ok(()) => set_mode(root, 0o700)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(root).at("create state root", root)?;
            set_mode(root, 0o700)?;
        }
        Err(e) => return Err(e).at("create state root", root),
    }
    open_private_dir(root).map(drop)
}

/// An open, locked state directory.
pub struct StateDir {
    pub dir: PathBuf,
    _lock: OwnedFd,
}

impl StateDir {
    /// Creates `<root>/<id>` (failing if it exists) and locks it.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        crate::ids::validate(id)?;
        ensure_root(root)?;
        let dir = root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists(id.into())),
            Err(e) => return Err(e).at("create state directory", &dir),
        }
        set_mode(&dir, 0o711)?;
        let lock = lock_dir(&dir, false)?;
        Ok(StateDir { dir, _lock: lock })
    }

    /// Opens and locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        crate::ids::validate(id)?;
        let dir = root.join(id);
        let lock = match cella_sys::fd::open(&dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into(), root.display().to_string()))
            }
            Err(e) => return Err(e).at("open state directory", &dir),
        };
        open_private_dir(root)?;
        check_private_dir(lock.as_fd(), &dir)?;
        cella_sys::fd::flock_exclusive(lock.as_fd(), false).at("lock state directory", &dir)?;
        Ok(StateDir { dir, _lock: lock })
    }

    pub fn load(&self) -> Result<Persisted> {
        read_persisted(&self.dir)
    }

    /// The status as the holder of this lock sees it: no create can be in
    /// progress, so a state without an init is a create that crashed.
    pub fn status(&self, p: &Persisted) -> Status {
        if p.pid == 0 {
            return Status::Stopped;
        }
        p.status(&self.dir)
    }

    /// Writes state.json atomically: a temporary file, then its name. A
    /// record that exists is swapped with the new one (RENAME_EXCHANGE) and
    /// the old one unlinked, not renamed over: ext4 answers a rename over a
    /// file by allocating the new file's blocks and starting their write
    /// (auto_da_alloc), which the `delete` a few milliseconds later then
    /// pays again to free (measured on this ext4: rename over 116 µs and
    /// unlink 400 µs, against 45 + 37 µs and 70 µs).
    pub fn save(&self, p: &Persisted) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let text = serde_json::to_vec(p).expect("state serialises");
        std::fs::write(&tmp, text).at("write", &tmp)?;
        let dst = self.dir.join(STATE_FILE);
        match cella_sys::fd::exchange(&tmp, &dst) {
            Ok(()) => std::fs::remove_file(&tmp).at("remove the previous record", &tmp),
            // No record yet, or a filesystem that cannot swap names.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL)) => {
                std::fs::rename(&tmp, &dst).at("rename into place", &dst)
            }
            Err(e) => Err(e).at("swap in the new record", &dst),
        }
    }

    /// In a forked child: closes the child's copy of the lock's fd (the
    /// runtime keeps the lock; a child holding a copy would keep it locked
    /// until it execs).
    pub(crate) fn close_in_child(self) {
        drop(self._lock);
    }

    /// The start socket's full path (for messages and removal).
    pub fn start_socket(&self) -> PathBuf {
        self.dir.join(START_SOCKET)
    }

    /// A path for bind/connect of the start socket that is short whatever the
    /// state directory's length: through the open directory fd. A Unix socket
    /// path must fit 108 bytes, and containerd's root plus a 64-character id
    /// does not.
    pub fn start_socket_short(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}/{START_SOCKET}", self._lock.as_raw_fd()))
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).at("remove state directory", &self.dir),
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).at("chmod", p)
}

fn lock_dir(dir: &Path, nonblock: bool) -> Result<OwnedFd> {
    let fd = cella_sys::fd::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open state directory", dir)?;
    cella_sys::fd::flock_exclusive(fd.as_fd(), nonblock).at("lock state directory", dir)?;
    Ok(fd)
}

/// True when someone else holds the directory's lock (a create in progress).
pub fn is_locked(dir: &Path) -> bool {
    match cella_sys::fd::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
        Ok(fd) => cella_sys::fd::flock_exclusive(fd.as_fd(), true).is_err(),
        Err(_) => false,
    }
}

/// Reads `dir`/state.json: a regular file of this user's (not a link to one),
/// in a directory of this user's that only they may write.
pub fn read_persisted(dir: &Path) -> Result<Persisted> {
    let p = dir.join(STATE_FILE);
    let d = cella_sys::fd::open(dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).at("open", dir)?;
    check_private_dir(d.as_fd(), dir)?;
    let f =
        cella_sys::fd::openat(d.as_fd(), Path::new(STATE_FILE), libc::O_RDONLY | libc::O_NOFOLLOW, 0).at("open", &p)?;
    let st = cella_sys::fd::fstat(f.as_fd()).at("stat", &p)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid != cella_sys::process::geteuid() {
        return Err(Error::Untrusted {
            path: p,
            why: "not a regular file of yours".into(),
            fix: "remove the container's state directory",
        });
    }
    // Sized from the stat: `take` hides the file's size from read_to_end,
    // which would otherwise probe with 32 bytes and double.
    let mut text = Vec::with_capacity((st.st_size as usize).min(16 << 20) + 1);
    std::io::Read::read_to_end(&mut std::fs::File::from(f).take(16 << 20), &mut text).at("read", &p)?;
    serde_json::from_slice(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))
}

/// What /proc/PID/stat says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter (R, S, D, Z, X…).
    pub state: u8,
    /// The kernel's PF_* flags.
    pub flags: u64,
    /// Start time in clock ticks after boot: with the PID, names one process.
    pub start: u64,
}

/// PF_EXITING: set when a process begins to exit, before it leaves its
/// cgroups (from then on a v1 hierarchy shows it in its root).
const PF_EXITING: u64 = 0x4;

impl ProcStat {
    /// Neither a zombie nor dead.
    pub fn live(&self) -> bool {
        self.state != b'Z' && self.state != b'X'
    }

    /// Past the start of its exit.
    pub fn exiting(&self) -> bool {
        self.flags & PF_EXITING != 0
    }
}

/// The process's state, flags and start time from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = cella_sys::fd::read_generated(format!("/proc/{pid}/stat")).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 2..]).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.bytes().next()?;
    // Field 3 is `state`, flags field 9 and start time field 22.
    let flags = fields.nth(5)?.parse().ok()?;
    let start = fields.nth(12)?.parse().ok()?;
    Some(ProcStat { state, flags, start })
}

/// Whether `pid`'s innermost PID (the last of NSpid) is 1, in a namespace
/// other than ours.
fn pid_one_of_its_namespace(pid: i32) -> bool {
    cella_sys::fd::read_generated_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("NSpid:")).is_some_and(|v| {
            let ids: Vec<&str> = v.split_whitespace().collect();
            ids.len() >= 2 && ids.last() == Some(&"1")
        })
    })
}

impl Persisted {
    /// True when the init process is alive (not a zombie) and is the one we started.
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        proc_stat(self.pid).is_some_and(|s| s.start == self.pid_start && s.live())
    }

    /// A pidfd of the container's init, once it is proven to be that
    /// process and not another that a reused PID or a planted record names:
    /// its start time, its cgroup (when the container has one) and, in a
    /// PID namespace of its own, PID 1 there. None when the init is gone.
    pub fn init_pidfd(&self) -> Result<Option<OwnedFd>> {
        if self.pid <= 0 {
            return Ok(None);
        }
        let Ok(pidfd) = cella_sys::poll::pidfd_open(self.pid) else {
            return Ok(None);
        };
        if !self.init_alive() {
            return Ok(None);
        }
        let refuse = |why| Error::NotOurProcess {
            id: self.id.clone(),
            pid: self.pid,
            why,
        };
        if let Some(cg) = self.cgroup.as_ref().filter(|c| !c.dirs.is_empty()) {
            if !cg.holds(self.pid) {
                // An exiting init has left its cgroups (v1 shows it in the
                // root) and is gone for every purpose of a caller; the flag
                // is set before it leaves, so this read after sees it.
                if proc_stat(self.pid).is_none_or(|s| s.exiting() || !s.live()) {
                    return Ok(None);
                }
                return Err(refuse("it is not in the container's cgroup"));
            }
        }
        if self.own_pid_ns && !pid_one_of_its_namespace(self.pid) {
            return Err(refuse("it is not PID 1 of a PID namespace of its own"));
        }
        // What /proc said was about the process the pidfd holds only if it
        // still runs now (its PID cannot be reused before it is reaped).
        if cella_sys::poll::poll_readable(pidfd.as_fd(), 0).unwrap_or(true) {
            return Ok(None);
        }
        Ok(Some(pidfd))
    }

    pub fn status(&self, dir: &Path) -> Status {
        // pid 0: written before the init exists; a create is running or crashed.
        // (Callers holding the lock use StateDir::status instead.)
        if self.pid == 0 {
            return if is_locked(dir) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir.join(START_SOCKET).exists() {
            return Status::Created;
        }
        if self.frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    fn frozen(&self) -> bool {
        self.cgroup.as_ref().is_some_and(|c| c.is_frozen())
    }

    /// The OCI state document.
    pub fn oci_state(&self, status: Status) -> State {
        State {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            bundle: self.bundle.display().to_string(),
            annotations: self.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let s = proc_stat(std::process::id() as i32).unwrap();
        // Running, sleeping, or in a disk wait when the machine is busy.
        assert!(s.state.is_ascii_uppercase() && s.live(), "{}", s.state as char);
        assert!(s.start > 0 && !s.exiting(), "{s:?}");
    }

    #[test]
    fn an_exited_child_reads_as_exiting_and_not_live() {
        // A zombie keeps PF_EXITING: the flag an init shows from the start
        // of its exit, when a v1 hierarchy already puts it in the root.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let mut s = proc_stat(pid).unwrap();
        for _ in 0..500 {
            if !s.live() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            s = proc_stat(pid).unwrap();
        }
        child.wait().unwrap();
        assert!(!s.live() && s.exiting(), "{s:?}");
    }

    #[test]
    fn a_second_save_swaps_in_the_new_record_and_leaves_no_other_file() {
        let root = std::env::temp_dir().join(format!("cella-unit-save-{}", std::process::id()));
        let dir = StateDir::create(&root, "rec").unwrap();
        let mut p = Persisted {
            id: "rec".into(),
            oci_version: "1.2.0".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid: 0,
            pid_start: 0,
            created: "2026-12-03T00:00:00Z".into(),
            owner: cella_sys::process::geteuid(),
            annotations: BTreeMap::new(),
            hooks: None,
            cgroup: None,
            scope: None,
            own_pid_ns: true,
            process: None,
            seccomp: None,
        };
        dir.save(&p).unwrap();
        assert_eq!(dir.load().unwrap().pid, 0);
        p.pid = 4242;
        dir.save(&p).unwrap();
        assert_eq!(dir.load().unwrap().pid, 4242);
        let names: Vec<_> = std::fs::read_dir(&dir.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [STATE_FILE], "only the record is left");
        dir.remove().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn concurrent_create_of_one_id_has_one_winner() {
        let root = std::env::temp_dir().join(format!("cella-unit-{}", std::process::id()));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let r = root.clone();
                std::thread::spawn(move || StateDir::create(&r, "same").map(drop).is_ok())
            })
            .collect();
        let wins = handles.into_iter().map(|h| h.join().unwrap()).filter(|&w| w).count();
        assert_eq!(wins, 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
