//! Resource control of running containers: pause, resume, ps, update, events.

use crate::container::{Persisted, StateDir};
use crate::error::{Error, Result};
use cella_spec::{Resources, Status};
use std::path::Path;
use std::time::Duration;

fn wrong(p: &Persisted, status: Status, what: &str) -> Error {
    Error::WrongState {
        id: p.id.clone(),
        status: status.as_str(),
        what: what.into(),
    }
}

fn cgroup_of(p: &Persisted) -> Result<&cella_cgroups::Cgroup> {
    p.cgroup.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "container {:?} has no cgroup (rootless without delegation): nothing to control",
            p.id
        ))
    })
}

/// Freezes every process of a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    match dir.status(&p) {
        Status::Running => Ok(cgroup_of(&p)?.freeze()?),
        other => Err(wrong(&p, other, "only a running container can be paused")),
    }
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    match dir.status(&p) {
        Status::Paused => Ok(cgroup_of(&p)?.thaw()?),
        other => Err(wrong(&p, other, "only a paused container can be resumed")),
    }
}

/// Host PIDs of the container's processes.
pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    if dir.status(&p) == Status::Stopped {
        return Ok(Vec::new());
    }
    match &p.cgroup {
        Some(cg) => Ok(cg.pids()?),
        None => Ok(vec![p.pid]),
    }
}

/// Live changes: `resources` is merged over nothing (only the fields given
/// are written), as runc's `update` does.
pub fn update(root: &Path, id: &str, resources: &Resources) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let p = dir.load()?;
    let status = dir.status(&p);
    if status == Status::Stopped {
        return Err(wrong(&p, status, "a stopped container cannot be updated"));
    }
    let cg = cgroup_of(&p)?;
    if let Some(scope) = &p.scope {
        crate::cgroup::update_scope(scope, resources, cg.v2().is_some() && cg.dirs.len() == 1)?;
    }
    for w in cg.apply(resources, &[])? {
        crate::log::warn(&w);
    }
    Ok(())
}

/// Streams runc-style event lines to `out`: `stats` every `interval` (or
/// once with `stats_once`), and `oom` whenever the OOM killer fired. Ends
/// when the container stops.
pub fn events(root: &Path, id: &str, interval: Duration, stats_once: bool, out: &mut dyn std::io::Write) -> Result<()> {
    let (p, dir) = {
        let d = StateDir::open(root, id)?;
        (d.load()?, d.dir.clone())
    };
    let cg = cgroup_of(&p)?;
    let emit = |out: &mut dyn std::io::Write, v: serde_json::Value| -> Result<()> {
        writeln!(out, "{v}").and_then(|_| out.flush()).map_err(|e| Error::Sys {
            op: "write event".into(),
            err: e,
        })
    };
    if stats_once {
        return emit(out, serde_json::json!({"type": "stats", "id": id, "data": cg.stats()}));
    }
    let mut ooms = cg.oom_kills();
    // OOM kills are checked more often than stats are sent.
    let tick = interval.min(Duration::from_millis(100));
    let mut since_stats = interval;
    loop {
        // Stopped is read before the OOM counter, so that an OOM kill that
        // ends the container is still reported before returning.
        let stopped = p.status(&dir) == Status::Stopped;
        let now = cg.oom_kills();
        if now > ooms {
            emit(out, serde_json::json!({"type": "oom", "id": id}))?;
            ooms = now;
        }
        if stopped {
            return Ok(());
        }
        if since_stats >= interval {
            emit(out, serde_json::json!({"type": "stats", "id": id, "data": cg.stats()}))?;
            since_stats = Duration::ZERO;
        }
        std::thread::sleep(tick);
        since_stats += tick;
    }
}
