//! The PID map: what a process is called at each level of nested PID
//! namespaces (from NSpid in /proc/PID/status), and every process of one PID
//! namespace with its host PID and its PID inside.

use crate::error::Error;

/// One level of a process's PID chain, outermost (the host's view) first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Level {
    pub level: usize,
    /// Inode of the PID namespace at this level (None where it cannot be named).
    pub pidns: Option<u64>,
    pub pid: i32,
}

fn nspid(pid: i32) -> Result<Vec<i32>, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::msg(format!("process {pid}: /proc/{pid}/status: {e}")))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .ok_or_else(|| Error::msg(format!("process {pid}: no NSpid line (kernel too old?)")))?;
    Ok(line.split_whitespace().filter_map(|p| p.parse().ok()).collect())
}

fn pidns_of(pid: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    crate::ls::parse_link(&link.to_string_lossy()).map(|(_, i)| i)
}

/// The chain of `pid` (a host PID): its PID at every level.
pub fn chain(pid: i32) -> Result<Vec<Level>, Error> {
    let pids = nspid(pid)?;
    let depth = pids.len();
    // Name each level's namespace by walking NS_GET_PARENT from the innermost.
    let mut inodes = vec![None; depth];
    if let Some(inner) = pidns_of(pid) {
        inodes[depth - 1] = Some(inner);
        let path = format!("/proc/{pid}/ns/pid");
        let mut fd = cella_sys::fd::open(std::path::Path::new(&path), libc::O_RDONLY, 0).ok();
        for slot in inodes.iter_mut().rev().skip(1) {
            use std::os::fd::{AsFd, AsRawFd};
            let Some(cur) = fd.take() else { break };
            let Ok(parent) = cella_sys::ns::ns_get_parent(cur.as_raw_fd()) else {
                break;
            };
            *slot = cella_sys::fd::fstat(parent.as_fd()).ok().map(|st| st.st_ino);
            fd = Some(parent);
        }
    }
    Ok(pids
        .into_iter()
        .enumerate()
        .map(|(level, pid)| Level {
            level,
            pidns: inodes[level],
            pid,
        })
        .collect())
}

/// Every process in the PID namespace of `pid`: (host PID, PID inside).
pub fn members(pid: i32) -> Result<Vec<(i32, i32)>, Error> {
    let target = pidns_of(pid).ok_or_else(|| Error::msg(format!("process {pid} does not exist")))?;
    let depth = nspid(pid)?.len();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")
        .map_err(|e| Error::msg(format!("/proc: {e}")))?
        .flatten()
    {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pidns_of(p) != Some(target) {
            continue;
        }
        if let Ok(chain) = nspid(p) {
            if chain.len() >= depth {
                out.push((p, chain[depth - 1]));
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}
