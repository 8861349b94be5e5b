//! `cella cp`: files between the host and a running container. Paths in the
//! container are resolved with openat2(RESOLVE_IN_ROOT) from its root
//! (/proc/PID/root), and trees are walked with *at calls that never follow
//! a symlink, so nothing in the container can redirect a copy to the host.

use crate::error::{At, Error, Result};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

fn root_of(pid: i32) -> Result<OwnedFd> {
    let p = PathBuf::from(format!("/proc/{pid}/root"));
    cella_sys::fd::open(&p, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open the container's root", &p)
}

fn in_root(root: BorrowedFd<'_>, path: &Path, flags: i32) -> Result<OwnedFd> {
    cella_sys::fd::openat2(root, path, flags, 0, cella_sys::fd::RESOLVE_IN_ROOT).at("open in the container", path)
}

fn kind(fd: BorrowedFd<'_>, what: &Path) -> Result<u32> {
    Ok(cella_sys::fd::fstat(fd).at("stat", what)?.st_mode & libc::S_IFMT)
}

/// Copies the open file `src` (a regular file, directory or, by `link`, a
/// symlink) to `name` inside the open directory `dst`, recursively.
fn copy_at(src: BorrowedFd<'_>, src_mode: u32, dst: BorrowedFd<'_>, name: &Path) -> Result<()> {
    let fmt = src_mode & libc::S_IFMT;
    let perm = src_mode & 0o7777;
    match fmt {
        libc::S_IFREG => {
            let _ = cella_sys::fd::unlinkat(dst, name, 0);
            let out = cella_sys::fd::openat(
                dst,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW,
                perm,
            )
            .at("create", name)?;
            let mut out = std::fs::File::from(out);
            let mut input = std::fs::File::from(src.try_clone_to_owned().at("dup", name)?);
            std::io::copy(&mut input, &mut out).at("copy", name)?;
            out.flush().at("write", name)?;
            Ok(())
        }
        libc::S_IFDIR => {
            match cella_sys::fd::mkdirat(dst, name, perm.max(0o700)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Error::Io {
                        what: "create directory",
                        path: name.to_path_buf(),
                        source: e,
                    })
                }
            }
            let sub = cella_sys::fd::openat(dst, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                .at("open directory", name)?;
            let listing = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&src)));
            for e in std::fs::read_dir(&listing).at("list", name)?.flatten() {
                let child = PathBuf::from(e.file_name());
                let st = std::fs::symlink_metadata(e.path()).at("stat", &child)?;
                use std::os::unix::fs::MetadataExt;
                if st.file_type().is_symlink() {
                    let target = cella_sys::fd::readlinkat(src, &child).at("read link", &child)?;
                    let _ = cella_sys::fd::unlinkat(sub.as_fd(), &child, 0);
                    cella_sys::fd::symlinkat(&target, sub.as_fd(), &child).at("create link", &child)?;
                    continue;
                }
                if !(st.is_file() || st.is_dir()) {
                    continue; // devices, fifos, sockets: not copied, as docker cp
                }
                let flags = libc::O_RDONLY | libc::O_NOFOLLOW | if st.is_dir() { libc::O_DIRECTORY } else { 0 };
                let fd = cella_sys::fd::openat(src, &child, flags, 0).at("open", &child)?;
                copy_at(fd.as_fd(), st.mode(), sub.as_fd(), &child)?;
            }
            let _ = cella_sys::fd::fchmodat(dst, name, perm);
            Ok(())
        }
        _ => Err(Error::Invalid(format!(
            "{}: only files, directories and symlinks are copied",
            name.display()
        ))),
    }
}

/// Where a copy lands: into `dst` if it is an existing directory (keeping
/// the source's name), else as `dst` itself. Returns (parent dir, name).
fn target(root: Option<BorrowedFd<'_>>, dst: &Path, src_name: &Path) -> Result<(OwnedFd, PathBuf)> {
    let open_dir = |p: &Path| -> Result<OwnedFd> {
        match root {
            Some(r) => in_root(r, p, libc::O_RDONLY | libc::O_DIRECTORY),
            None => cella_sys::fd::open(p, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open directory", p),
        }
    };
    if let Ok(d) = open_dir(dst) {
        return Ok((d, src_name.to_path_buf()));
    }
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    let name = dst
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file name", dst.display())))?;
    Ok((open_dir(parent)?, PathBuf::from(name)))
}

/// Host `src` into the container whose init is `pid`, at `dst`.
pub fn into_container(pid: i32, src: &Path, dst: &Path) -> Result<()> {
    let root = root_of(pid)?;
    let meta = std::fs::metadata(src).at("read", src)?;
    let flags = libc::O_RDONLY | if meta.is_dir() { libc::O_DIRECTORY } else { 0 };
    let sfd = cella_sys::fd::open(src, flags, 0).at("open", src)?;
    let mode = cella_sys::fd::fstat(sfd.as_fd()).at("stat", src)?.st_mode;
    let name = src.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let (dir, name) = target(Some(root.as_fd()), dst, &name)?;
    copy_at(sfd.as_fd(), mode, dir.as_fd(), &name)
}

/// `src` in the container whose init is `pid` to the host's `dst`.
pub fn from_container(pid: i32, src: &Path, dst: &Path) -> Result<()> {
    let root = root_of(pid)?;
    let sfd = in_root(root.as_fd(), src, libc::O_RDONLY)?;
    let fmt = kind(sfd.as_fd(), src)?;
    let sfd = if fmt == libc::S_IFDIR {
        in_root(root.as_fd(), src, libc::O_RDONLY | libc::O_DIRECTORY)?
    } else {
        sfd
    };
    let mode = cella_sys::fd::fstat(sfd.as_fd()).at("stat", src)?.st_mode;
    let name = src
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("root"));
    let (dir, name) = target(None, dst, &name)?;
    copy_at(sfd.as_fd(), mode, dir.as_fd(), &name)
}
