//! What a container holds and what it changed: `export` (its filesystem
//! as a tar stream, without volumes or the kernel's filesystems) and
//! `diff` (docker's A/C/D list of its own layer against its image).
//! Both read the container's layer and the image's through descriptors,
//! never following a symlink a layer holds.

use crate::container::Container;
use crate::error::{At, Error, Result};
use crate::store::paths::Paths;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `export`: the container's filesystem (its layer over the image's) as a
/// tar stream, read from a read-only view of the layers (see
/// `copy::stopped_root`), so a running container's /proc, /sys and
/// volumes are not in it, as docker leaves them out.
pub fn export(paths: &Paths, c: &Container, out: impl std::io::Write) -> Result<()> {
    let root = crate::container::copy::stopped_root(paths, c)?;
    crate::container::copy::tar_tree(root.as_fd(), out)
}

/// The container's own layer as an OCI layer tar (`commit`): its files,
/// overlayfs's whiteouts as `.wh.NAME` and opaque directories as
/// `.wh..wh..opq`, without the mount points engine and runtime made.
pub fn layer_tar(paths: &Paths, c: &Container, out: impl std::io::Write) -> Result<()> {
    let upper = c.dir(paths).join("diff");
    let top = cella_sys::fd::open(&upper, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|_| {
        Error::Conflict(format!(
            "container {} has no layer of its own (its root is a copy: rootless or --userns auto); commit needs one",
            c.name
        ))
    })?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    tar_layer_dir(&mut b, top.as_fd(), Path::new(""))?;
    b.into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .at("write layer of", &upper)
}

fn tar_layer_dir<W: std::io::Write>(b: &mut tar::Builder<W>, dir: BorrowedFd<'_>, rel: &Path) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| Error::Io {
            what: "write layer entry",
            path: p.clone(),
            err: e,
        }
    };
    let listing = cella_sys::fd::reopen(dir, libc::O_RDONLY | libc::O_DIRECTORY).at("open", rel)?;
    if !rel.as_os_str().is_empty() && cella_sys::fd::fgetxattr_is(listing.as_fd(), "trusted.overlay.opaque", b"y") {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, rel.join(".wh..wh..opq"), std::io::empty())
            .map_err(io(rel))?;
    }
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listing)))
            .at("list", rel)?
            .flatten()
            .map(|e| PathBuf::from(e.file_name()))
            .collect();
    names.sort();
    for name in names {
        let path = rel.join(&name);
        if SETUP.iter().any(|s| Path::new(s.trim_start_matches('/')) == path) {
            continue;
        }
        let fd = cella_sys::fd::openat(listing.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0).at("open", &path)?;
        let st = cella_sys::fd::fstat(fd.as_fd()).at("stat", &path)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        if is_whiteout(&st) {
            let wh = rel.join(format!(".wh.{}", name.display()));
            h.set_mode(0o644);
            b.append_data(&mut h, wh, std::io::empty()).map_err(io(&path))?;
            continue;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {
                h.set_size(st.st_size as u64);
                let f = std::fs::File::from(cella_sys::fd::reopen(fd.as_fd(), libc::O_RDONLY).at("open", &path)?);
                b.append_data(&mut h, &path, f).map_err(io(&path))?;
            }
            libc::S_IFDIR => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, &path, std::io::empty()).map_err(io(&path))?;
                tar_layer_dir(b, fd.as_fd(), &path)?;
            }
            libc::S_IFLNK => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = cella_sys::fd::readlinkat(fd.as_fd(), Path::new("")).at("read link", &path)?;
                b.append_link(&mut h, &path, target).map_err(io(&path))?;
            }
            fmt @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
                h.set_entry_type(match fmt {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                h.set_device_major(libc::major(st.st_rdev)).map_err(io(&path))?;
                h.set_device_minor(libc::minor(st.st_rdev)).map_err(io(&path))?;
                b.append_data(&mut h, &path, std::io::empty()).map_err(io(&path))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// One line of `diff`: docker's kind (A added, C changed, D deleted) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// Opens `rel` in the layer `layer` without following any symlink on the way.
fn open_in_layer(layer: BorrowedFd<'_>, rel: &Path) -> Option<OwnedFd> {
    let resolve = cella_sys::fd::RESOLVE_IN_ROOT | cella_sys::fd::RESOLVE_NO_SYMLINKS;
    cella_sys::fd::openat2(layer, rel, libc::O_PATH | libc::O_NOFOLLOW, 0, resolve).ok()
}

fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

/// Whether the image (its layers, top first) has `rel`: the first layer
/// that holds it or a whiteout of it decides.
fn in_image(layers: &[OwnedFd], rel: &Path) -> bool {
    for l in layers {
        if let Some(fd) = open_in_layer(l.as_fd(), rel) {
            return cella_sys::fd::fstat(fd.as_fd()).is_ok_and(|st| !is_whiteout(&st));
        }
    }
    false
}

/// `diff`: what the container's own layer (overlayfs's upper directory)
/// adds, changes and deletes, sorted by path. Containers whose root is a
/// copy (rootless, --userns auto) keep no such layer.
pub fn diff(paths: &Paths, c: &Container) -> Result<Vec<Change>> {
    let image = crate::image::find(paths, &c.image_id)?;
    if image.id == crate::image::HOST_ID {
        return Err(Error::Conflict(format!(
            "container {} runs the host image: its changes are written to its own layer only for stored images",
            c.name
        )));
    }
    let upper = c.dir(paths).join("diff");
    let open_dir = |p: &Path| cella_sys::fd::open(p, libc::O_PATH | libc::O_DIRECTORY, 0).at("open", p);
    let top = match open_dir(&upper) {
        Ok(fd) => fd,
        Err(_) => {
            return Err(Error::Conflict(format!(
                "container {} has no layer of its own (its root is a copy: rootless or --userns auto); diff needs one",
                c.name
            )))
        }
    };
    let layers: Vec<OwnedFd> = image
        .layers
        .iter()
        .rev()
        .map(|l| open_dir(&crate::image::layer::dir(paths, l)))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    walk(top.as_fd(), Path::new(""), &layers, false, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(without_setup(out))
}

/// What the engine and runtime put into every container's layer (mount
/// points of the generated /etc files and of the kernel's filesystems):
/// docker keeps these in an init layer under the container's, so its diff
/// never shows them.
const SETUP: [&str; 6] = [
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
    "/dev",
];

fn without_setup(changes: Vec<Change>) -> Vec<Change> {
    let setup = |p: &str| {
        SETUP
            .iter()
            .any(|s| p == *s || (*s == "/dev" && p.starts_with("/dev/")))
    };
    let kept: Vec<Change> = changes.into_iter().filter(|c| !setup(&c.path)).collect();
    // A directory shown changed only for what was left out is not changed.
    let touched = |dir: &str| {
        let prefix = format!("{dir}/");
        kept.iter().any(|c| c.path.starts_with(&prefix))
    };
    kept.iter()
        .filter(|c| {
            !(c.kind == 'C' && SETUP.iter().any(|s| s.starts_with(&format!("{}/", c.path))) && !touched(&c.path))
        })
        .cloned()
        .collect()
}

fn walk(dir: BorrowedFd<'_>, rel: &Path, layers: &[OwnedFd], added: bool, out: &mut Vec<Change>) -> Result<()> {
    let listing = cella_sys::fd::reopen(dir, libc::O_RDONLY | libc::O_DIRECTORY).at("open", rel)?;
    let names: Vec<PathBuf> = std::fs::read_dir(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listing)))
        .at("list", rel)?
        .flatten()
        .map(|e| PathBuf::from(e.file_name()))
        .collect();
    for name in names {
        let path = rel.join(&name);
        let fd = cella_sys::fd::openat(listing.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0).at("open", &path)?;
        let st = cella_sys::fd::fstat(fd.as_fd()).at("stat", &path)?;
        let shown = format!("/{}", path.display());
        let existed = !added && in_image(layers, &path);
        if is_whiteout(&st) {
            out.push(Change { kind: 'D', path: shown });
            continue;
        }
        out.push(Change {
            kind: if existed { 'C' } else { 'A' },
            path: shown,
        });
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            walk(fd.as_fd(), &path, layers, !existed, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_layer_is_left_out() {
        let ch = |k: char, p: &str| Change {
            kind: k,
            path: p.into(),
        };
        let all = vec![
            ch('C', "/etc"),
            ch('A', "/etc/hostname"),
            ch('A', "/etc/hosts"),
            ch('A', "/proc"),
            ch('C', "/seed"),
            ch('D', "/seed/file"),
        ];
        assert_eq!(without_setup(all), vec![ch('C', "/seed"), ch('D', "/seed/file")]);
        let mine = vec![ch('C', "/etc"), ch('A', "/etc/hosts"), ch('A', "/etc/motd")];
        assert_eq!(without_setup(mine), vec![ch('C', "/etc"), ch('A', "/etc/motd")]);
    }
}
