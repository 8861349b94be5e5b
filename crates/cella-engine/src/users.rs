//! `-u USER[:GROUP]` resolved in the container's own /etc/passwd and
//! /etc/group, as docker does.

use crate::error::{Error, Result};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

fn entries(file: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

/// Resolves `spec` ("", "name", "uid", "name:group", "uid:gid") against
/// `etc` (the container's /etc). Numeric ids need no entry; names do.
pub fn resolve(etc: &Path, spec: &str) -> Result<Ids> {
    let passwd = entries(&etc.join("passwd"));
    let group = entries(&etc.join("group"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_groups() {
        let etc = std::env::temp_dir().join(format!("cella-users-{}", std::process::id()));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(etc.join("group"), "root:x:0:\nwww:x:33:\nlog:x:4:web,other\n").unwrap();
        let r = resolve(&etc, "").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let w = resolve(&etc, "web").unwrap();
        assert_eq!((w.uid, w.gid, w.additional_gids.clone()), (33, 33, vec![4]));
        assert_eq!(resolve(&etc, "33").unwrap().uid, 33);
        assert_eq!(resolve(&etc, "web:log").unwrap().gid, 4);
        assert_eq!(
            resolve(&etc, "1234:5678").unwrap(),
            Ids {
                uid: 1234,
                gid: 5678,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert!(resolve(&etc, "nobody-here")
            .unwrap_err()
            .to_string()
            .contains("unable to find user"));
        assert!(resolve(&etc, "web:nogroup").is_err());
        std::fs::remove_dir_all(&etc).unwrap();
    }
}
