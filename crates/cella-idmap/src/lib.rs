//! User namespace id maps, in one place for the runtime, the namespace
//! tools and the engine: a range of ids ([`IdRange`]), the subordinate
//! ranges /etc/subuid and /etc/subgid give a user, and writing a process's
//! uid_map or gid_map from outside its namespace, directly (root, or a
//! caller mapping only its own id) or through the setuid helpers
//! newuidmap/newgidmap (which check the ranges against those files).

use std::path::Path;

/// A range of ids: `count` ids from `inner` inside map to `outer`… outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inner: u32,
    pub outer: u32,
    pub count: u32,
}

/// Which map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    Users,
    Groups,
}

impl Ids {
    fn map_file(self) -> &'static str {
        match self {
            Ids::Users => "uid_map",
            Ids::Groups => "gid_map",
        }
    }

    fn helper(self) -> &'static str {
        match self {
            Ids::Users => "newuidmap",
            Ids::Groups => "newgidmap",
        }
    }

    /// The subordinate id file that the helper checks.
    pub fn subid_file(self) -> &'static str {
        match self {
            Ids::Users => "/etc/subuid",
            Ids::Groups => "/etc/subgid",
        }
    }
}

/// How a map is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// To /proc/PID/{uid,gid}_map ourselves (root, or a single own id).
    Direct,
    /// Through newuidmap/newgidmap.
    Helper,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("write {path}: {err}")]
    Write { path: String, err: std::io::Error },
    #[error("run {tool}: {err} (install the uidmap package)")]
    Spawn { tool: &'static str, err: std::io::Error },
    #[error("{tool} failed ({status}): {stderr}; check the ranges in {file}")]
    Helper {
        tool: &'static str,
        status: String,
        stderr: String,
        file: &'static str,
    },
}

/// The map file's text: one `inner outer count` line per range.
pub fn map_text(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.inner, r.outer, r.count))
        .collect()
}

/// Writes process `pid`'s uid or gid map.
pub fn write(pid: i32, ids: Ids, ranges: &[IdRange], how: Writer) -> Result<(), Error> {
    if how == Writer::Direct {
        let path = format!("/proc/{pid}/{}", ids.map_file());
        return std::fs::write(&path, map_text(ranges)).map_err(|err| Error::Write { path, err });
    }
    let tool = ids.helper();
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(pid.to_string());
    for r in ranges {
        cmd.args([r.inner.to_string(), r.outer.to_string(), r.count.to_string()]);
    }
    let out = cmd.output().map_err(|err| Error::Spawn { tool, err })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Helper {
        tool,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        file: ids.subid_file(),
    })
}

/// Denies setgroups(2) in `pid`'s user namespace (needed before an
/// unprivileged gid_map).
pub fn deny_setgroups(pid: i32) -> Result<(), Error> {
    let path = format!("/proc/{pid}/setgroups");
    std::fs::write(&path, "deny").map_err(|err| Error::Write { path, err })
}

/// The subordinate ranges a sub[ug]id file's text gives the user `name`
/// (or, when `uid` is given, that uid by number), in file order, as
/// (start, count) mapped from inner id 0 up.
pub fn subid_ranges(text: &str, name: &str, uid: Option<u32>) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let owner = f.next()?;
            if owner != name && (uid.is_none() || owner.parse::<u32>().ok() != uid) {
                return None;
            }
            Some(IdRange {
                inner: 0,
                outer: f.next()?.parse().ok()?,
                count: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// The first range a sub[ug]id file gives a user (by name or uid), as
/// util-linux's `--map-users=auto` takes it.
pub fn first_subid_range(file: &Path, name: &str, uid: u32) -> Option<IdRange> {
    let text = std::fs::read_to_string(file).ok()?;
    subid_ranges(&text, name, Some(uid)).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:10\nalice:400000:5\n";
        let r = subid_ranges(text, "alice", None);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].outer, r[0].count, r[1].outer), (100000, 65536, 400000));
        assert_eq!(subid_ranges(text, "carol", Some(1001))[0].outer, 200000);
        assert!(subid_ranges(text, "carol", None).is_empty());
        assert_eq!(
            map_text(&[
                IdRange {
                    inner: 0,
                    outer: 1000,
                    count: 1
                },
                IdRange {
                    inner: 1,
                    outer: 100000,
                    count: 65536
                }
            ]),
            "0 1000 1\n1 100000 65536\n"
        );
    }
}
