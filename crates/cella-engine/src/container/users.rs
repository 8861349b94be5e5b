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

/// Where `etc/passwd` and `etc/group` are read: nowhere, a root (the
/// host's, a running container's), or an image's layers, topmost first
/// (each file from the first layer that has it or deletes it).
pub enum Etc<'a> {
    None,
    Root(BorrowedFd<'a>),
    Layers(&'a [std::fs::File]),
}

/// Whether `layer` deletes `rel` (an overlay whiteout, a character device
/// 0/0; or an OCI `.wh.NAME` marker, as unprivileged stores keep them), or
/// hides what is below its directory (an opaque directory).
fn deleted_in(layer: BorrowedFd<'_>, rel: &Path) -> (bool, bool) {
    use crate::safefs::inroot::open_path;
    let whiteout = open_path(layer, rel)
        .ok()
        .and_then(|fd| cella_sys::fd::fstat(std::os::fd::AsFd::as_fd(&fd)).ok())
        .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0);
    let (dir, name) = (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or_default(),
    );
    let marker = open_path(layer, &dir.join(format!(".wh.{}", name.to_string_lossy()))).is_ok();
    // (xattrs cannot be read through an O_PATH descriptor: the directory
    // is opened for reading first.)
    let opaque = open_path(layer, &dir.join(".wh..wh..opq")).is_ok()
        || open_path(layer, dir)
            .and_then(|fd| cella_sys::fd::reopen(std::os::fd::AsFd::as_fd(&fd), libc::O_RDONLY | libc::O_DIRECTORY))
            .is_ok_and(|d| cella_sys::fd::fgetxattr_is(std::os::fd::AsFd::as_fd(&d), "trusted.overlay.opaque", b"y"));
    (whiteout || marker, opaque)
}

impl Etc<'_> {
    /// `etc/NAME`, read inside its root (a symlink planted there cannot
    /// point at the host's files), a regular file of at most 16 MiB.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let rel = Path::new("etc").join(name);
        match self {
            Etc::None => Ok(None),
            Etc::Root(root) => crate::safefs::inroot::read_file(*root, &rel, 16 << 20),
            Etc::Layers(layers) => {
                for l in *layers {
                    let fd = std::os::fd::AsFd::as_fd(l);
                    let (deleted, opaque) = deleted_in(fd, &rel);
                    if deleted {
                        return Ok(None);
                    }
                    if let Some(bytes) = crate::safefs::inroot::read_file(fd, &rel, 16 << 20)? {
                        return Ok(Some(bytes));
                    }
                    if opaque {
                        return Ok(None);
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The lines of `etc/NAME`, split at colons.
fn entries(etc: &Etc<'_>, name: &str) -> Result<Vec<Vec<String>>> {
    let bytes = etc.read(name)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect())
}

/// Resolves `spec` ("", "name", "uid", "name:group", "uid:gid") against the
/// /etc of `root` (a container's or an image layer's root directory; None
/// when there is none). Numeric ids need no entry; names do.
pub fn resolve(etc: &Etc<'_>, spec: &str) -> Result<Ids> {
    let passwd = entries(etc, "passwd")?;
    let group = entries(etc, "group")?;
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
pub fn group_ids(etc: &Etc<'_>, groups: &[String]) -> Result<Vec<u32>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let group = entries(etc, "group")?;
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
        let root = &Etc::Root(std::os::fd::AsFd::as_fd(&root));
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
        assert_eq!(resolve(&Etc::None, "7:8").unwrap().uid, 7, "no /etc: numeric ids only");
        assert!(resolve(&Etc::None, "web").is_err());
        assert_eq!(group_ids(root, &["log".into(), "99".into()]).unwrap(), vec![4, 99]);
        assert!(group_ids(root, &["nope".into()]).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn layers_are_read_topmost_first_with_their_deletions() {
        let base = std::env::temp_dir().join(format!("cella-users-layers-{}", std::process::id()));
        let mk = |layer: &str, files: &[(&str, &str)]| {
            let d = base.join(layer);
            std::fs::create_dir_all(d.join("etc")).unwrap();
            for (name, text) in files {
                std::fs::write(d.join("etc").join(name), text).unwrap();
            }
            std::fs::File::open(&d).unwrap()
        };
        let bottom = mk(
            "bottom",
            &[
                ("passwd", "root:x:0:0::/root:/bin/sh\n"),
                ("group", "root:x:0:\nstaff:x:50:\n"),
            ],
        );
        let top = mk(
            "top",
            &[
                ("passwd", "root:x:0:0::/root:/bin/sh\napp:x:10:10::/app:/bin/sh\n"),
                (".wh.group", ""),
            ],
        );
        let layers = [top, bottom];
        let etc = Etc::Layers(&layers);
        assert_eq!(resolve(&etc, "app").unwrap().uid, 10, "the top layer's passwd");
        assert!(
            group_ids(&etc, &["staff".into()]).is_err(),
            "the top layer deleted group"
        );
        let top_only_group = mk("top2", &[("group", "root:x:0:\nwheel:x:10:\n")]);
        std::fs::write(base.join("top2/etc/.wh..wh..opq"), "").unwrap();
        let layers = [top_only_group, std::fs::File::open(base.join("bottom")).unwrap()];
        let etc = Etc::Layers(&layers);
        assert_eq!(group_ids(&etc, &["wheel".into()]).unwrap(), vec![10]);
        assert!(resolve(&etc, "nobody-here").is_err());
        assert_eq!(
            resolve(&etc, "").unwrap().home,
            "/",
            "an opaque etc hides the passwd below it"
        );
        // overlayfs's own form of an opaque directory (trusted.* needs root,
        // as the whole suite has).
        let top3 = mk("top3", &[("group", "root:x:0:\n")]);
        let etc3 = std::fs::File::open(base.join("top3/etc")).unwrap();
        cella_sys::fd::fsetxattr(std::os::fd::AsFd::as_fd(&etc3), "trusted.overlay.opaque", b"y").unwrap();
        let layers = [top3, std::fs::File::open(base.join("bottom")).unwrap()];
        assert_eq!(resolve(&Etc::Layers(&layers), "").unwrap().home, "/", "opaque by xattr");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
