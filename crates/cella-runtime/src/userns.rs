//! Writing a new user namespace's uid/gid maps: directly as root or for the
//! caller's own single id, through newuidmap/newgidmap for /etc/subuid ranges.

use crate::error::{Context, Error, Result};
use cella_spec::IdMapping;
use std::path::PathBuf;
use std::process::Command;

/// How the maps will be written; decided before the child exists, because the
/// child must know whether setgroups(2) will be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapWriter {
    /// Root writes /proc/PID/{uid,gid}_map itself.
    Direct,
    /// An unprivileged caller maps only its own uid and gid; setgroups is denied.
    OwnIdsOnly,
    /// newuidmap/newgidmap (setuid helpers) write ranges from /etc/subuid.
    Helpers,
}

pub fn choose(uid_maps: &[IdMapping], gid_maps: &[IdMapping]) -> MapWriter {
    let euid = cella_sys::process::geteuid();
    if euid == 0 {
        return MapWriter::Direct;
    }
    let gid = cella_sys::process::getgid();
    let own = |m: &[IdMapping], id: u32| m.len() == 1 && m[0].size == 1 && m[0].host_id == id;
    if own(uid_maps, euid) && (gid_maps.is_empty() || own(gid_maps, gid)) {
        MapWriter::OwnIdsOnly
    } else {
        MapWriter::Helpers
    }
}

fn map_text(maps: &[IdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

pub fn write(pid: i32, how: MapWriter, uid_maps: &[IdMapping], gid_maps: &[IdMapping]) -> Result<()> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    match how {
        MapWriter::Direct | MapWriter::OwnIdsOnly => {
            if how == MapWriter::OwnIdsOnly {
                let p = proc.join("setgroups");
                std::fs::write(&p, "deny").at("write", &p)?;
            }
            let p = proc.join("uid_map");
            std::fs::write(&p, map_text(uid_maps)).at("write uid mapping", &p)?;
            if !gid_maps.is_empty() {
                let p = proc.join("gid_map");
                std::fs::write(&p, map_text(gid_maps)).at("write gid mapping", &p)?;
            }
            Ok(())
        }
        MapWriter::Helpers => {
            helper("newuidmap", pid, uid_maps)?;
            if !gid_maps.is_empty() {
                helper("newgidmap", pid, gid_maps)?;
            }
            Ok(())
        }
    }
}

fn helper(tool: &str, pid: i32, maps: &[IdMapping]) -> Result<()> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
    }
    let out = cmd.output().op(|| format!("run {tool} (install the uidmap package)"))?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "{tool} failed ({}): {}; check the ranges in /etc/sub{}id",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            if tool == "newuidmap" { "u" } else { "g" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines() {
        let m = [
            IdMapping {
                container_id: 0,
                host_id: 1000,
                size: 1,
            },
            IdMapping {
                container_id: 1,
                host_id: 100000,
                size: 65536,
            },
        ];
        assert_eq!(map_text(&m), "0 1000 1\n1 100000 65536\n");
    }
}
