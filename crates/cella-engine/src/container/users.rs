//! `-u USER[:GROUP]` resolved in the container's own /etc/passwd and
//! /etc/group, as docker does.

use crate::error::{Error, Result};
use std::os::fd::BorrowedFd;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// The lines of `etc/NAME` under `root`, split at colons. The file is read
/// in that root (a symlink planted there cannot point at the host's files)
/// and only if it is a regular file of at most 16 MiB.
fn entries(root: Option<BorrowedFd<'_>>, name: &str) -> Result<Vec<Vec<String>>> {
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let rel = Path::new("etc").join(name);
    let bytes = crate::safefs::inroot::read_file(root, &rel, 16 << 20)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect())
}

/// Resolves `spec` ("", "name", "uid", "name:group", "uid:gid") against the
/// /etc of `root` (a container's or an image layer's root directory; None
/// when there is none). Numeric ids need no entry; names do.
pub fn resolve(root: Option<BorrowedFd<'_>>, spec: &str) -> Result<Ids> {
    let passwd = entries(root, "passwd")?;
    let group = entries(root, "group")?;
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .iter()
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, home, name) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f.get(5).cloned().unwrap_or_else(|| "/".into()),
            Some(f[0].clone()),
        ),
        (None, Ok(n)) => (n, 0, "/".into(), None),
        (None, Err(_)) => {
            return Err(Error::NotFound(format!(
                "unable to find user {user}: no matching entries in the container's /etc/passwd"
            )))
        }
    };
    if let Some(g) = grp {
        gid = match group.iter().find(|f| f.len() >= 3 && f[0] == g) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| {
                Error::NotFound(format!(
                    "unable to find group {g}: no matching entries in the container's /etc/group"
                ))
            })?,
        };
    }
    // Supplementary groups: those that list the user by name.
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) => group
            .iter()
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == n))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.dedup();
    Ok(Ids {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// `--group-add` groups: names looked up in the container's /etc/group,
/// numbers as they are.
pub fn group_ids(root: Option<BorrowedFd<'_>>, groups: &[String]) -> Result<Vec<u32>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let group = entries(root, "group")?;
    groups
        .iter()
        .map(|g| match group.iter().find(|f| f.len() >= 3 && &f[0] == g) {
            Some(f) => f[2].parse().map_err(|_| {
                Error::Invalid(format!(
                    "--group-add {g}: the container's /etc/group has no number for it"
                ))
            }),
            None => g.parse().map_err(|_| {
                Error::NotFound(format!(
                    "--group-add {g}: no such group in the container's /etc/group (use a number)"
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_groups() {
        let base = std::env::temp_dir().join(format!("cella-users-{}", std::process::id()));
        let etc = base.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(etc.join("group"), "root:x:0:\nwww:x:33:\nlog:x:4:web,other\n").unwrap();
        let root = std::fs::File::open(&base).unwrap();
        let root = Some(std::os::fd::AsFd::as_fd(&root));
        let r = resolve(root, "").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let w = resolve(root, "web").unwrap();
        assert_eq!((w.uid, w.gid, w.additional_gids.clone()), (33, 33, vec![4]));
        assert_eq!(resolve(root, "33").unwrap().uid, 33);
        assert_eq!(resolve(root, "web:log").unwrap().gid, 4);
        assert_eq!(
            resolve(root, "1234:5678").unwrap(),
            Ids {
                uid: 1234,
                gid: 5678,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert!(resolve(root, "nobody-here")
            .unwrap_err()
            .to_string()
            .contains("unable to find user"));
        assert!(resolve(root, "web:nogroup").is_err());
        assert_eq!(resolve(None, "7:8").unwrap().uid, 7, "no /etc: numeric ids only");
        assert!(resolve(None, "web").is_err());
        assert_eq!(group_ids(root, &["log".into(), "99".into()]).unwrap(), vec![4, 99]);
        assert!(group_ids(root, &["nope".into()]).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
