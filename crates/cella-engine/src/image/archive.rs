//! An image archive (`docker save`, `podman save`, oci-archive) read as a set
//! of members, never unpacked onto the file system as it stands: each
//! regular member is copied into a private directory under a name of ours,
//! and everything else (symlinks, hard links, devices, fifos) is only
//! remembered. A name the archive's documents use is then looked up among
//! the members: symlinks and hard links are followed within the archive
//! (docker's own archives link a layer shared by two images), and what is
//! found must be a regular member. A symlink to `/host/secret.json`, to
//! `../../x` or to `/dev/zero` can never make a host file part of an image.

use crate::error::{At, Error, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

enum Member {
    /// Copied to `<dir>/<index>`.
    File(usize),
    Symlink(PathBuf),
    HardLink(PathBuf),
    Directory,
    /// Devices, fifos, anything else: never read.
    Other(&'static str),
}

pub struct Members {
    dir: PathBuf,
    members: HashMap<PathBuf, Member>,
}

/// A member name made relative and plain; `..` that would climb above the
/// archive's top is refused.
fn normalize(base: &Path, name: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = base.iter().collect();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

impl Members {
    /// Reads the tar stream `input`, keeping regular members in `dir` (a
    /// fresh directory of the caller's).
    pub fn read(input: impl Read, dir: &Path) -> Result<Members> {
        let mut archive = tar::Archive::new(input);
        let mut members = HashMap::new();
        let mut next = 0usize;
        for entry in archive.entries().at("read archive", dir)? {
            let mut entry = entry.at("read archive entry", dir)?;
            let raw = entry.path().at("read archive entry name", dir)?.into_owned();
            let Some(name) = normalize(Path::new(""), &raw) else {
                // A member that cannot be named inside the archive is never
                // looked up; documents naming it find nothing.
                continue;
            };
            let link = || -> Result<PathBuf> {
                Ok(entry
                    .link_name()
                    .at("read link of archive member", &name)?
                    .map(|l| l.into_owned())
                    .unwrap_or_default())
            };
            let m = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let file = dir.join(next.to_string());
                    let mut out = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&file)
                        .at("create", &file)?;
                    std::io::copy(&mut entry, &mut out).at("copy archive member", &name)?;
                    next += 1;
                    Member::File(next - 1)
                }
                tar::EntryType::Symlink => Member::Symlink(link()?),
                tar::EntryType::Link => Member::HardLink(link()?),
                tar::EntryType::Directory => Member::Directory,
                tar::EntryType::Char => Member::Other("a character device"),
                tar::EntryType::Block => Member::Other("a block device"),
                tar::EntryType::Fifo => Member::Other("a fifo"),
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
                _ => Member::Other("of an unknown type"),
            };
            members.insert(name, m);
        }
        Ok(Members {
            dir: dir.to_path_buf(),
            members,
        })
    }

    /// True when the archive has a member of that name (of any kind).
    pub fn has(&self, name: &str) -> bool {
        normalize(Path::new(""), Path::new(name)).is_some_and(|n| self.members.contains_key(&n))
    }

    /// The private copy of the regular member `name`, following symlinks
    /// and hard links inside the archive.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        let refuse = |why: String| Error::Invalid(format!("archive member {name:?} {why}: refusing the archive"));
        let mut cur =
            normalize(Path::new(""), Path::new(name)).ok_or_else(|| refuse("points outside the archive".into()))?;
        for _ in 0..40 {
            let here = cur.parent().unwrap_or(Path::new("")).to_path_buf();
            let next = match self.members.get(&cur) {
                None => return Err(refuse("is not in the archive".into())),
                Some(Member::File(i)) => return Ok(self.dir.join(i.to_string())),
                Some(Member::Directory) => return Err(refuse("is a directory".into())),
                Some(Member::Other(what)) => return Err(refuse(format!("is {what}, not a regular file"))),
                Some(Member::Symlink(t)) if t.is_absolute() => {
                    return Err(refuse(format!("is a symlink to {}, outside the archive", t.display())))
                }
                Some(Member::Symlink(t)) => normalize(&here, t),
                Some(Member::HardLink(t)) => normalize(Path::new(""), t),
            };
            cur = next.ok_or_else(|| refuse("links outside the archive".into()))?;
        }
        Err(refuse("has too many levels of links".into()))
    }

    /// The regular member `name`, at most `limit` bytes.
    pub fn bytes(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let f = self.file(name)?;
        let file = std::fs::File::open(&f).at("open", &f)?;
        crate::safefs::inroot::read_bounded(file, limit, Path::new(name))
    }

    /// The JSON member `name` (at most MAX_DOCUMENT bytes).
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.bytes(name, crate::safefs::inroot::MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: name.into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }

    #[test]
    fn members_resolve_inside_the_archive_only() {
        let dir = std::env::temp_dir().join(format!("cella-archive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = archive(|b| {
            file(b, "a/layer.tar", b"layer");
            link(b, tar::EntryType::Symlink, "b/layer.tar", "../a/layer.tar");
            link(b, tar::EntryType::Link, "c.tar", "a/layer.tar");
            link(b, tar::EntryType::Symlink, "cfg.json", "/etc/passwd");
            link(b, tar::EntryType::Symlink, "up.json", "../../../etc/passwd");
            link(b, tar::EntryType::Symlink, "zero", "/dev/zero");
            link(b, tar::EntryType::Symlink, "loop", "loop");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            b.append_data(&mut h, "fifo", &[][..]).unwrap();
        });
        let m = Members::read(&bytes[..], &dir).unwrap();
        for ok in ["a/layer.tar", "b/layer.tar", "./b/../c.tar"] {
            assert_eq!(std::fs::read(m.file(ok).unwrap()).unwrap(), b"layer", "{ok}");
        }
        for bad in [
            "cfg.json",
            "up.json",
            "zero",
            "loop",
            "fifo",
            "a",
            "missing",
            "../x",
            "/etc/passwd",
        ] {
            assert!(m.file(bad).is_err(), "{bad}");
        }
        assert!(m.bytes("a/layer.tar", 3).is_err(), "bounded");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
