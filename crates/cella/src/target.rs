//! What a user names a process by: a PID, or a cella container (its init).

use anyhow::{bail, Result};
use std::path::PathBuf;

static RUNTIME_ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Where containers are looked up (`cella --runtime-root DIR`).
pub fn set_runtime_root(dir: PathBuf) {
    let _ = RUNTIME_ROOT.set(dir);
}

fn runtime_root() -> PathBuf {
    RUNTIME_ROOT
        .get()
        .cloned()
        .unwrap_or_else(cella_runtime::container::default_root)
}

/// The host PID for `name`: a number is a PID (checked to exist); anything
/// else is looked up as a container in cella's runtime state.
pub fn pid_of(name: &str) -> Result<i32> {
    if let Ok(pid) = name.parse::<i32>() {
        if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            bail!("no process {pid}");
        }
        return Ok(pid);
    }
    match container_pid(name)? {
        Some(pid) => Ok(pid),
        None => bail!("{name:?} is neither a PID nor a cella container (see `cella-runtime list`)"),
    }
}

/// The init PID of a running cella container, None if there is no such container.
pub fn container_pid(id: &str) -> Result<Option<i32>> {
    if cella_runtime::ids::validate(id).is_err() {
        return Ok(None);
    }
    let dir = runtime_root().join(id);
    if !dir.join(cella_runtime::container::STATE_FILE).exists() {
        return Ok(None);
    }
    let state = cella_runtime::container::read_persisted(&dir)?;
    if !state.init_alive() {
        bail!("container {id} is not running (no process to take namespaces from)");
    }
    Ok(Some(state.pid))
}
