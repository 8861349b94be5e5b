//! Writing a new user namespace's uid/gid maps: directly as root or for the
//! caller's own single id, through newuidmap/newgidmap for /etc/subuid ranges.

use crate::error::{Error, Result};
use cella_spec::IdMapping;

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

fn ranges(maps: &[IdMapping]) -> Vec<cella_idmap::IdRange> {
    maps.iter()
        .map(|m| cella_idmap::IdRange {
            inner: m.container_id,
            outer: m.host_id,
            count: m.size,
        })
        .collect()
}

pub fn write(pid: i32, how: MapWriter, uid_maps: &[IdMapping], gid_maps: &[IdMapping]) -> Result<()> {
    use cella_idmap::{Ids, Writer};
    let writer = match how {
        MapWriter::Direct => Writer::Direct,
        MapWriter::OwnIdsOnly => {
            cella_idmap::deny_setgroups(pid).map_err(idmap_err)?;
            Writer::Direct
        }
        MapWriter::Helpers => Writer::Helper,
    };
    cella_idmap::write(pid, Ids::Users, &ranges(uid_maps), writer).map_err(idmap_err)?;
    if !gid_maps.is_empty() {
        cella_idmap::write(pid, Ids::Groups, &ranges(gid_maps), writer).map_err(idmap_err)?;
    }
    Ok(())
}

fn idmap_err(e: cella_idmap::Error) -> Error {
    Error::Config(format!("user namespace id maps: {e}"))
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
        assert_eq!(cella_idmap::map_text(&ranges(&m)), "0 1000 1\n1 100000 65536\n");
    }
}
