//! What the monitor gives back when its container ends (or could not
//! start): the network, the image root, the runtime's state; and `rm`'s
//! removal of a container's files.

use crate::container::Container;
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::path::Path;

/// What an ended container gives back to the runtime: its state and
/// cgroups, and the image root.
pub(super) fn release_runtime(paths: &Paths, c: &Container) {
    let _ = cella_runtime::lifecycle::delete(&paths.runroot, &c.id, true);
    unmount_rootfs(&c.dir(paths));
}

/// The image root in container directory `dir` goes with the monitor's
/// mount namespace; unmounted first so that nothing holds it meanwhile (a
/// no-op where it is not mounted, as in the host's namespace).
fn unmount_rootfs(dir: &Path) {
    let _ = cella_sys::mount::umount2(&dir.join("rootfs"), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW);
}

/// A removed container's files, moved out of the store's view (into
/// trash/, named as the store's sweep expects: container-PID-ID) and
/// deleted with its runtime state (its cgroups, the runtime's record) when
/// this is dropped: outside the store lock and, for `--rm`, after the
/// caller has been told the exit. If this process dies first, the next
/// store lock sweeps both (`store::lock`).
#[must_use = "dropping it deletes the files now"]
pub struct Trash {
    dir: Option<std::path::PathBuf>,
    runtime: Option<(std::path::PathBuf, String)>,
}

impl Drop for Trash {
    fn drop(&mut self) {
        if let Some((runroot, id)) = self.runtime.take() {
            let _ = cella_runtime::lifecycle::delete(&runroot, &id, true);
        }
        if let Some(p) = self.dir.take() {
            unmount_rootfs(&p);
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// The name in trash/ of container `id`'s files, removed by process `pid`.
fn trash_name(pid: u32, id: &str) -> String {
    format!("container-{pid}-{id}")
}

/// Removes a container (the caller made sure it no longer runs): under the
/// store lock, its directory, which is gone from `ps -a` and from its name
/// when this returns; the files themselves and the runtime's state go with
/// the returned `Trash`.
pub fn remove_files(paths: &Paths, c: &Container) -> Result<Trash> {
    let _lock = crate::store::lock(paths)?;
    let dir = c.dir(paths);
    let mut trash = Trash {
        dir: None,
        runtime: Some((paths.runroot.clone(), c.id.clone())),
    };
    let into = paths.trash().join(trash_name(std::process::id(), &c.id));
    if std::fs::rename(&dir, &into).is_ok() {
        trash.dir = Some(into);
        return Ok(trash);
    }
    // Not movable (gone already: the NotFound below; trash/ on another
    // filesystem): removed in place. A monitor
    // the record could not name (a damaged state.json) may still be writing
    // its last state.json while the tree goes: try again.
    unmount_rootfs(&dir);
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => {
                return r.map(|()| trash).map_err(|e| Error::Io {
                    what: "remove",
                    path: dir,
                    err: e,
                })
            }
        }
    }
}

/// The bridge network a container is on, if any (not none, host,
/// container:NAME or ns:PATH).
pub(super) fn bridge_network(paths: &Paths, c: &Container) -> Result<Option<crate::network::Network>> {
    match c.config.network.bridge(cella_sys::process::geteuid() != 0) {
        Some(name) => crate::network::find(paths, name).map(Some),
        None => Ok(None),
    }
}

/// Gives back a container's address (its veth went with its namespace).
pub(super) fn release_address(paths: &Paths, c: &mut Container) {
    crate::network::usernet::stop(&c.dir(paths).join("pasta.pid"));
    if (!c.config.ports.is_empty() || c.damaged.is_some()) && cella_sys::process::geteuid() == 0 {
        let _ = crate::network::ports::unpublish(&c.id);
    }
    if let Ok(Some(net)) = bridge_network(paths, c) {
        // The kernel removes the pair with the namespace, but later (a
        // workqueue); removing it now means nothing is left when we return.
        crate::network::detach(&c.id);
        if !c.state.ip_address.is_empty() {
            crate::network::release(paths, &net, &c.id, &c.state.ip_address);
        }
    }
    c.state.ip_address.clear();
}

/// Whether the kernel's OOM killer killed a process of the container (its
/// memory cgroup's oom_kill count), read before the cgroup goes.
pub(super) fn oom_killed(paths: &Paths, c: &Container) -> bool {
    let dir = paths.runroot.join(&c.id);
    let Ok(p) = cella_runtime::container::read_persisted(&dir) else {
        return false;
    };
    p.cgroup.as_ref().is_some_and(|cg| cg.oom_kills() > 0)
}
