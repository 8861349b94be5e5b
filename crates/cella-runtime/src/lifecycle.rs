//! start, state, kill, delete and list of existing containers.

use crate::container::{self, Persisted, StateDir};
use crate::error::{Context, Error, Result};
use cella_spec::{State, Status};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

fn wrong(p: &Persisted, status: Status, what: &str) -> Error {
    Error::WrongState {
        id: p.id.clone(),
        status: status.as_str(),
        what: what.into(),
    }
}

/// Starts a created container: the init runs its startContainer hooks and
/// execs the process; then the poststart hooks run here.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    let status = dir.status(&p);
    if status != Status::Created {
        return Err(wrong(&p, status, "only a created container can be started"));
    }
    let sock = dir.start_socket();
    let mut conn = UnixStream::connect(dir.start_socket_short()).at("connect to the waiting init at", &sock)?;
    conn.write_all(b"start").at("signal start on", &sock)?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).at("read start reply on", &sock)?;
    let _ = std::fs::remove_file(&sock);
    if reply != "ok" {
        let msg = reply
            .strip_prefix("error: ")
            .unwrap_or("the container init exited before it could start");
        return Err(Error::Init(msg.to_string()));
    }
    run_poststart(&p);
    Ok(())
}

/// The poststart hooks of a container just started (failures are warnings).
pub(crate) fn run_poststart(p: &Persisted) {
    if let Some(h) = &p.hooks {
        if !h.poststart.is_empty() {
            let json = serde_json::to_vec(&p.oci_state(Status::Running)).expect("state serialises");
            crate::hooks::run_all_warn("poststart", &h.poststart, &json);
        }
    }
}

/// The OCI state of a container.
pub fn state(root: &Path, id: &str) -> Result<State> {
    crate::ids::validate(id)?;
    let dir = root.join(id);
    if !dir.exists() {
        return Err(Error::NotFound(id.into(), root.display().to_string()));
    }
    match container::read_persisted(&dir) {
        Ok(p) => Ok(p.oci_state(p.status(&dir))),
        // No state.json and no create holding the lock: a create that was
        // killed before it recorded anything, which runc reports as gone.
        Err(e) if e.is_not_found() && !container::is_locked(&dir) => {
            Err(Error::NotFound(id.into(), root.display().to_string()))
        }
        Err(_) if container::is_locked(&dir) => Ok(State {
            oci_version: cella_spec::OCI_VERSION.into(),
            id: id.into(),
            status: Status::Creating,
            pid: 0,
            bundle: String::new(),
            annotations: Default::default(),
        }),
        Err(e) => Err(e),
    }
}

/// What `kill` says of a container whose processes are gone: containerd's
/// shim and go-runc match this text (or ESRCH) to treat the process as
/// ended, as runc says it; any other answer makes them retry forever.
const NOT_RUNNING: &str = "container not running";

/// Sends `sig` to the init (or, with `all`, to every process in the
/// container's cgroup). A stopped container: `all` has nothing left to
/// signal and succeeds, as runc's does; a signal to its init fails with
/// "container not running".
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    let status = dir.status(&p);
    if status == Status::Stopped {
        return if all {
            Ok(())
        } else {
            Err(wrong(&p, status, NOT_RUNNING))
        };
    }
    if let (true, Some(cg)) = (all, &p.cgroup) {
        cg.signal_all(sig)?;
        return Ok(());
    }
    signal_init(&p, sig)
}

/// Signals the init through a pidfd proven to be our init (not a reused PID).
fn signal_init(p: &Persisted, sig: i32) -> Result<()> {
    let Some(pidfd) = p.init_pidfd()? else {
        return Err(wrong(p, Status::Stopped, NOT_RUNNING));
    };
    match cella_sys::poll::pidfd_send_signal(pidfd.as_fd(), sig) {
        Ok(()) => Ok(()),
        // It ended meanwhile.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(wrong(p, Status::Stopped, NOT_RUNNING)),
        Err(e) => Err(e).op(|| format!("send signal {sig} to pid {}", p.pid)),
    }
}

/// Deletes a container: refuses a running one unless `force`, kills what is
/// left, removes the cgroup, runs poststop hooks, removes the state.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match StateDir::open(root, id) {
        Ok(d) => d,
        Err(Error::NotFound(..)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let p = match dir.load() {
        Ok(p) => p,
        // We hold the directory's lock, so no create is running: without a
        // state.json it is a create killed before it recorded anything (a
        // cgroup is only made after the state names it); runc removes such
        // a directory the same way.
        Err(e) if e.is_not_found() => return dir.remove(),
        // Damaged beyond reading: --force removes what is left of it.
        Err(e) if force => {
            crate::log::warn(&format!("{e}: removing the state of container {id:?} as it is"));
            return dir.remove();
        }
        Err(e) => return Err(e),
    };
    let status = dir.status(&p);
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(wrong(&p, status, "stop it first or use `delete --force`"));
    }
    if status != Status::Stopped {
        kill_and_wait(&p)?;
    }
    if let Some(cg) = &p.cgroup {
        cg.signal_all(libc::SIGKILL)?;
    }
    if let Some(scope) = &p.scope {
        crate::cgroup::stop_scope(scope);
    }
    if let Some(cg) = &p.cgroup {
        cg.remove()?;
    }
    if let Some(h) = &p.hooks {
        if !h.poststop.is_empty() {
            let json = serde_json::to_vec(&p.oci_state(Status::Stopped)).expect("state serialises");
            crate::hooks::run_all_warn("poststop", &h.poststop, &json);
        }
    }
    dir.remove()
}

/// SIGKILLs the init (its PID namespace dies with it) or every process of the
/// cgroup, and waits up to 10 s for the init to be gone.
fn kill_and_wait(p: &Persisted) -> Result<()> {
    let Some(pidfd) = p.init_pidfd()? else {
        return Ok(());
    };
    if let Some(cg) = &p.cgroup {
        // A frozen task cannot die: thaw first.
        if cg.is_frozen() {
            cg.thaw()?;
        }
        cg.signal_all(libc::SIGKILL)?;
    }
    match cella_sys::poll::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
        // Killed through its cgroup and already reaped (systemd, a subreaper).
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
        r => r.op(|| format!("kill pid {}", p.pid))?,
    }
    // The pidfd becomes readable when the process exits; a zombie (its parent
    // has not reaped it yet) counts as gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if cella_sys::poll::poll_readable(pidfd.as_fd(), 50).unwrap_or(true) || !p.init_alive() {
            return Ok(());
        }
    }
    Err(Error::Init(format!(
        "pid {} did not exit within 10 s of SIGKILL",
        p.pid
    )))
}

/// One row of `list`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListEntry {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    pub owner: String,
}

pub fn list(root: &Path) -> Result<Vec<ListEntry>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("read state root", root),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        let Ok(p) = container::read_persisted(&dir) else {
            continue;
        };
        let status = p.status(&dir);
        out.push(ListEntry {
            oci_version: p.oci_version.clone(),
            id: p.id.clone(),
            pid: if status == Status::Stopped { 0 } else { p.pid },
            status,
            bundle: p.bundle.display().to_string(),
            rootfs: p.rootfs.display().to_string(),
            created: p.created.clone(),
            annotations: p.annotations.clone(),
            owner: cella_sys::process::user_name(p.owner),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
