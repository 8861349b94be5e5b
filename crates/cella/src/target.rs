//! What a user names a process by: a PID, or a container (its init): an
//! engine container by name or id, or a cella-runtime container by id.

use anyhow::{bail, Result};
use cella_engine::Engine;

static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

/// Where containers are looked up (`cella --root DIR --runroot DIR`).
pub fn set_engine(e: Engine) {
    let _ = ENGINE.set(e);
}

fn engine() -> Engine {
    ENGINE.get().cloned().unwrap_or_else(|| Engine::new(None, None))
}

/// The host PID for `name`: a number is a PID (checked to exist); anything
/// else is looked up as a container.
pub fn pid_of(name: &str) -> Result<i32> {
    if let Ok(pid) = name.parse::<i32>() {
        if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            bail!("no process {pid}");
        }
        return Ok(pid);
    }
    match container_pid(name)? {
        Some(pid) => Ok(pid),
        None => bail!("{name:?} is neither a PID nor a cella container (see `cella ps`)"),
    }
}

/// The init PID of a running container, None if there is no such container.
pub fn container_pid(name: &str) -> Result<Option<i32>> {
    container_pid_matching(name, false)
}

/// As `container_pid`, by exact name or full id only (no id prefixes): for
/// a word that may as well be a command (`cella ns enter NAME CMD`).
pub fn container_pid_exact(name: &str) -> Result<Option<i32>> {
    container_pid_matching(name, true)
}

fn container_pid_matching(name: &str, exact: bool) -> Result<Option<i32>> {
    let e = engine();
    let found = e
        .container(name)
        .ok()
        .filter(|c| !exact || c.name == name || c.id == name);
    if let Some(c) = found {
        if c.state.pid <= 0 {
            bail!("container {name} is not running (no process to take namespaces from)");
        }
        return Ok(Some(c.state.pid));
    }
    Ok(e.runtime_container_pid(name)?)
}
