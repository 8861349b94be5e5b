//! `cella cp`: files between the host and a container (out of a stopped
//! one too), with docker's rules for where a copy lands.
//!
//! The container's side is reached through its root (/proc/PID/root) with
//! openat2(RESOLVE_IN_ROOT), and trees are walked with O_PATH descriptors
//! and *at calls that never follow a symlink: nothing in the container can
//! redirect a copy to the host, and nothing but a regular file or a
//! directory is ever opened for reading (a fifo would block the copy; a
//! device node the container made would read the host's hardware). `-` is a
//! tar stream on stdout (from a container) or stdin (into one, unpacked as
//! `unpack` does, inside the container's root).

use crate::error::{At, Error, Result};
use crate::safefs::unpack;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// One side of a copy as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub path: PathBuf,
    /// `DIR/.`: the directory's contents, not the directory.
    pub contents: bool,
    /// Ends with `/`: must be a directory.
    pub dir_wanted: bool,
}

impl Spec {
    pub fn parse(s: &str) -> Spec {
        let contents = s.ends_with("/.") || s == ".";
        Spec {
            path: PathBuf::from(s),
            contents,
            dir_wanted: s.ends_with('/') || contents,
        }
    }

    /// The name a copy of it gets inside a directory.
    fn base_name(&self) -> PathBuf {
        self.path
            .components()
            .rev()
            .find_map(|c| match c {
                Component::Normal(n) => Some(PathBuf::from(n)),
                _ => None,
            })
            .unwrap_or_else(|| PathBuf::from("root"))
    }
}

/// A running container's root. From here on this process holds
/// descriptors of the container's files and of the host's: not dumpable,
/// so that a container sharing our PID namespace cannot reach them
/// through /proc.
pub fn running_root(pid: i32) -> Result<OwnedFd> {
    cella_runtime::selfexe::become_undumpable()?;
    let p = PathBuf::from(format!("/proc/{pid}/root"));
    cella_sys::fd::open(&p, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open the container's root", &p)
}

/// A stopped container's root, read-only: its own changes over the
/// image's layers, as an overlay mounted in a mount namespace of this
/// process's own (so the host never sees it and it goes with the process);
/// a plain copy (rootless, --userns auto) is its directory.
pub fn stopped_root(paths: &crate::store::paths::Paths, c: &crate::container::Container) -> Result<OwnedFd> {
    cella_runtime::selfexe::become_undumpable()?;
    let dir = c.dir(paths);
    let rootfs = dir.join("rootfs");
    let open = |p: &Path| cella_sys::fd::open(p, libc::O_RDONLY | libc::O_DIRECTORY, 0).at("open", p);
    let image = crate::image::find(paths, &c.image_id)?;
    if image.id == crate::image::HOST_ID {
        return Err(Error::Conflict(format!(
            "container {} runs the host image: its files are the host's; cp works with it while it runs",
            c.name
        )));
    }
    let upper = dir.join("diff");
    if !upper.is_dir() {
        // Its root is a copy of the layers (rootless or its own user namespace).
        return open(&rootfs);
    }
    crate::container::monitor::own_mount_namespace()?;
    let mut lower = vec![upper.display().to_string()];
    lower.extend(
        image
            .layers
            .iter()
            .rev()
            .map(|l| crate::image::layer::dir(paths, l).display().to_string()),
    );
    let opts = format!("lowerdir={}", lower.join(":"));
    cella_sys::mount::mount(
        Some(Path::new("overlay")),
        &cella_sys::mount::Target::Path(&rootfs),
        Some("overlay"),
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        Some(&opts),
    )
    .at("mount the stopped container's root on", &rootfs)?;
    open(&rootfs)
}

/// A path of the container, relative to its root.
fn in_root_rel(p: &Path) -> PathBuf {
    let rel: PathBuf = p
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `p` in the container with O_PATH (its last component followed
/// only when `follow`); None when it does not exist.
fn open_in_container(root: BorrowedFd<'_>, p: &Path, follow: bool) -> Result<Option<OwnedFd>> {
    let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
    let resolve = cella_sys::fd::RESOLVE_IN_ROOT | cella_sys::fd::RESOLVE_NO_MAGICLINKS;
    match cella_sys::fd::openat2(root, &in_root_rel(p), flags, 0, resolve) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at("open in the container", p),
    }
}

fn open_on_host(p: &Path, follow: bool) -> Result<Option<OwnedFd>> {
    let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
    match cella_sys::fd::open(p, flags, 0) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at("open", p),
    }
}

fn stat(fd: BorrowedFd<'_>, what: &Path) -> Result<libc::stat> {
    cella_sys::fd::fstat(fd).at("stat", what)
}

/// Only files, directories and symlinks are copied: a named fifo, device
/// node or socket is refused (and never opened).
fn check_copyable(st: &libc::stat, what: &str) -> Result<()> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK => Ok(()),
        fmt => Err(Error::Invalid(format!(
            "{what} is {}: cp copies files, directories and symlinks",
            match fmt {
                libc::S_IFIFO => "a fifo",
                libc::S_IFCHR => "a character device",
                libc::S_IFBLK => "a block device",
                _ => "a socket",
            }
        ))),
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The entries of the directory behind the O_PATH fd `dir`.
fn children(dir: BorrowedFd<'_>, what: &Path) -> Result<(OwnedFd, Vec<PathBuf>)> {
    let d = cella_sys::fd::reopen(dir, libc::O_RDONLY | libc::O_DIRECTORY).at("open directory", what)?;
    let listing = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
    let mut names = Vec::new();
    for e in std::fs::read_dir(&listing).at("list", what)? {
        names.push(PathBuf::from(e.at("list", what)?.file_name()));
    }
    names.sort();
    Ok((d, names))
}

fn child(dir: BorrowedFd<'_>, name: &Path, what: &Path) -> Result<OwnedFd> {
    cella_sys::fd::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0).at("open", what)
}

/// How a copy treats ownership: the copier's (docker cp's default), or the
/// source's uid and gid (`cp -a`, and a volume's copy-up from its image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Copier,
    Source,
}

/// Gives `name` in `dst` the owner of `st` when asked (before its mode:
/// chown clears set-id bits).
fn own(dst: BorrowedFd<'_>, name: &Path, st: &libc::stat, owner: Owner) -> Result<()> {
    if owner == Owner::Source {
        match cella_sys::fd::fchownat(dst, name, st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW) {
            // Unprivileged, other users' ids cannot be given: the copy is ours.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && cella_sys::process::geteuid() != 0 => {}
            r => r.at("chown", name)?,
        }
    }
    Ok(())
}

/// Copies what the O_PATH descriptor `src` refers to as `name` inside the
/// directory `dst`: regular files, directories (recursively) and symlinks;
/// devices, fifos and sockets are left out, as docker cp leaves them.
fn copy_at(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &Path, what: &Path, owner: Owner) -> Result<()> {
    let st = stat(src, what)?;
    let perm = st.st_mode & 0o7777;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            if cella_sys::fd::lstatat(dst, name).is_ok_and(|d| is_dir(&d)) {
                return Err(Error::Invalid(format!(
                    "cannot overwrite directory {} with file {}",
                    name.display(),
                    what.display()
                )));
            }
            let mut input = std::fs::File::from(cella_sys::fd::reopen(src, libc::O_RDONLY).at("open", what)?);
            let _ = cella_sys::fd::unlinkat(dst, name, 0);
            let out = cella_sys::fd::openat(
                dst,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                perm,
            )
            .at("create", name)?;
            let mut out = std::fs::File::from(out);
            std::io::copy(&mut input, &mut out).at("copy", what)?;
            out.flush().at("write", name)?;
            own(dst, name, &st, owner)?;
            cella_sys::fd::fchmod(out.as_fd(), perm).at("chmod", name)
        }
        libc::S_IFDIR => {
            match cella_sys::fd::mkdirat(dst, name, 0o700) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).at("create directory", name),
            }
            let sub = cella_sys::fd::openat(dst, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                .map_err(|_| Error::Invalid(format!("cannot copy directory {} onto a file", what.display())))?;
            copy_children(src, sub.as_fd(), what, owner)?;
            own(dst, name, &st, owner)?;
            cella_sys::fd::fchmod(sub.as_fd(), perm).at("chmod", name)
        }
        libc::S_IFLNK => {
            let target = cella_sys::fd::readlinkat(src, Path::new("")).at("read link", what)?;
            unpack::remove_at(dst, name).at("replace", name)?;
            cella_sys::fd::symlinkat(&target, dst, name).at("create link", name)?;
            own(dst, name, &st, owner)
        }
        _ => Ok(()),
    }
}

/// Copies the entries of the directory `src` (O_PATH) into the directory `dst`.
fn copy_children(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, what: &Path, owner: Owner) -> Result<()> {
    let (dir, names) = children(src, what)?;
    for n in names {
        let path = what.join(&n);
        let c = child(dir.as_fd(), &n, &path)?;
        copy_at(c.as_fd(), dst, &n, &path, owner)?;
    }
    Ok(())
}

/// A named volume's first use: what the image has at `path` (resolved in
/// `root`, the container's root; a symlink there cannot lead out) copied
/// into the volume's directory `into` with owners and modes, as docker
/// does. Nothing when the image has no directory there.
pub fn copy_up(root: BorrowedFd<'_>, path: &Path, into: BorrowedFd<'_>) -> Result<()> {
    let Some(src) = open_in_container(root, path, true)? else {
        return Ok(());
    };
    let st = stat(src.as_fd(), path)?;
    if !is_dir(&st) {
        return Ok(());
    }
    copy_children(src.as_fd(), into, path, Owner::Source)?;
    let owned = if cella_sys::process::geteuid() == 0 {
        cella_sys::fd::fchown(into, st.st_uid, st.st_gid).at("chown", path)
    } else {
        Ok(())
    };
    owned.and_then(|()| cella_sys::fd::fchmod(into, st.st_mode & 0o7777).at("chmod", path))
}

/// The whole tree under the directory `root` as a tar stream (`export`):
/// each entry named by its path below `root`.
pub fn tar_tree(root: BorrowedFd<'_>, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let top = cella_sys::fd::reopen(root, libc::O_PATH | libc::O_DIRECTORY).at("open", Path::new("/"))?;
    let (dir, names) = children(top.as_fd(), Path::new("/"))?;
    for n in names {
        let path = Path::new("/").join(&n);
        let c = child(dir.as_fd(), &n, &path)?;
        append_tar(&mut b, c.as_fd(), &n, &path)?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .at("write archive to", Path::new("stdout"))
}

/// Appends what `src` (O_PATH) refers to, as `name`, to a tar stream.
fn append_tar<W: Write>(b: &mut tar::Builder<W>, src: BorrowedFd<'_>, name: &Path, what: &Path) -> Result<()> {
    let st = stat(src, what)?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    let io = |e: std::io::Error| Error::Io {
        what: "write archive entry",
        path: what.to_path_buf(),
        err: e,
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            h.set_size(st.st_size as u64);
            let f = std::fs::File::from(cella_sys::fd::reopen(src, libc::O_RDONLY).at("open", what)?);
            b.append_data(&mut h, name, f).map_err(io)
        }
        libc::S_IFDIR => {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, name, std::io::empty()).map_err(io)?;
            let (dir, names) = children(src, what)?;
            for n in names {
                let path = what.join(&n);
                let c = child(dir.as_fd(), &n, &path)?;
                append_tar(b, c.as_fd(), &name.join(&n), &path)?;
            }
            Ok(())
        }
        libc::S_IFLNK => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = cella_sys::fd::readlinkat(src, Path::new("")).at("read link", what)?;
            b.append_link(&mut h, name, target).map_err(io)
        }
        fmt @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            h.set_entry_type(match fmt {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
            h.set_device_major(major).map_err(io)?;
            h.set_device_minor(minor).map_err(io)?;
            b.append_data(&mut h, name, std::io::empty()).map_err(io)
        }
        _ => Ok(()),
    }
}

/// Where a copy of `src` (of type `src_st`) lands for the destination
/// `dst`, docker's rules: into an existing directory under the source's
/// name (its contents, for `SRC/.`); else as `dst` itself, in `dst`'s
/// existing parent. Returns the directory and the name (None: the contents
/// go straight into the directory).
fn landing(
    src: &Spec,
    src_st: &libc::stat,
    dst: &Spec,
    existing: Option<(OwnedFd, libc::stat)>,
    parent: impl FnOnce(&Path) -> Result<Option<OwnedFd>>,
) -> Result<(OwnedFd, Option<PathBuf>)> {
    let dir_fd = |fd: OwnedFd| cella_sys::fd::reopen(fd.as_fd(), libc::O_RDONLY | libc::O_DIRECTORY);
    match existing {
        Some((fd, st)) if is_dir(&st) => {
            let d = dir_fd(fd).at("open directory", &dst.path)?;
            if src.contents && is_dir(src_st) {
                Ok((d, None))
            } else {
                Ok((d, Some(src.base_name())))
            }
        }
        Some(_) if is_dir(src_st) => Err(Error::Invalid(format!(
            "cannot copy a directory to a file: {} exists and is not a directory",
            dst.path.display()
        ))),
        Some(_) if dst.dir_wanted => Err(Error::Invalid(format!("{} is not a directory", dst.path.display()))),
        _ if dst.dir_wanted && !is_dir(src_st) => Err(Error::NotFound(format!(
            "the destination directory {} does not exist",
            dst.path.display()
        ))),
        _ => {
            let name = dst
                .path
                .file_name()
                .map(PathBuf::from)
                .ok_or_else(|| Error::Invalid(format!("{}: not a file name", dst.path.display())))?;
            let up = match dst.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ if dst.path.is_absolute() => PathBuf::from("/"),
                _ => PathBuf::from("."),
            };
            let p = parent(&up)?.ok_or_else(|| {
                Error::NotFound(format!("the destination's directory {} does not exist", up.display()))
            })?;
            Ok((dir_fd(p).at("open directory", &up)?, Some(name)))
        }
    }
}

fn copy_into(src: BorrowedFd<'_>, to: (OwnedFd, Option<PathBuf>), what: &Path, owner: Owner) -> Result<()> {
    match to {
        (dir, Some(name)) => copy_at(src, dir.as_fd(), &name, what, owner),
        (dir, None) => copy_children(src, dir.as_fd(), what, owner),
    }
}

/// `cp CONTAINER:SRC DST`: `src` in the container's `root` to the host's
/// `dst` (relative to our working directory; `-` for a tar stream on
/// stdout). `follow`: the source's last component may be a symlink to
/// follow (`-L`).
pub fn from_container(root: OwnedFd, src: &str, dst: &str, follow: bool, owner: Owner) -> Result<()> {
    let s = Spec::parse(src);
    let sfd = open_in_container(root.as_fd(), &s.path, follow)?
        .ok_or_else(|| Error::NotFound(format!("no such file or directory in the container: {src}")))?;
    let st = stat(sfd.as_fd(), &s.path)?;
    check_copyable(&st, src)?;
    if dst == "-" {
        let mut b = tar::Builder::new(std::io::stdout().lock());
        b.follow_symlinks(false);
        append_tar(&mut b, sfd.as_fd(), &s.base_name(), &s.path)?;
        b.into_inner()
            .and_then(|mut w| w.flush())
            .at("write archive to", Path::new("stdout"))?;
        return Ok(());
    }
    let d = Spec::parse(dst);
    let existing = match open_on_host(&d.path, true)? {
        Some(fd) => {
            let st = stat(fd.as_fd(), &d.path)?;
            Some((fd, st))
        }
        None => None,
    };
    let to = landing(&s, &st, &d, existing, |p| open_on_host(p, true))?;
    copy_into(sfd.as_fd(), to, &s.path, owner)
}

/// `cp SRC CONTAINER:DST`: the host's `src` (`-`: a tar stream on stdin,
/// unpacked into the directory `dst`) into the container whose init is `pid`.
pub fn into_container(pid: i32, src: &str, dst: &str, follow: bool, owner: Owner) -> Result<()> {
    let root = running_root(pid)?;
    let d = Spec::parse(dst);
    if src == "-" {
        let dir = open_in_container(root.as_fd(), &d.path, true)?
            .filter(|fd| cella_sys::fd::fstat(fd.as_fd()).is_ok_and(|st| is_dir(&st)))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "the destination directory {dst} does not exist in the container"
                ))
            })?;
        drop(dir);
        let base = in_root_rel(&d.path);
        unpack::unpack(std::io::stdin().lock(), root.as_fd(), &base, unpack::Options::copy())?;
        return Ok(());
    }
    let s = Spec::parse(src);
    let sfd =
        open_on_host(&s.path, follow)?.ok_or_else(|| Error::NotFound(format!("no such file or directory: {src}")))?;
    let st = stat(sfd.as_fd(), &s.path)?;
    check_copyable(&st, src)?;
    let existing = match open_in_container(root.as_fd(), &d.path, true)? {
        Some(fd) => {
            let st = stat(fd.as_fd(), &d.path)?;
            Some((fd, st))
        }
        None => None,
    };
    let to = landing(&s, &st, &d, existing, |p| open_in_container(root.as_fd(), p, true))?;
    copy_into(sfd.as_fd(), to, &s.path, owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_say_contents_and_directories() {
        let s = Spec::parse("/etc/.");
        assert!(s.contents && s.dir_wanted);
        assert_eq!(s.base_name(), Path::new("etc"));
        let s = Spec::parse("out/");
        assert!(!s.contents && s.dir_wanted);
        assert_eq!(Spec::parse("/").base_name(), Path::new("root"));
        assert_eq!(Spec::parse("a/b.txt").base_name(), Path::new("b.txt"));
        assert_eq!(in_root_rel(Path::new("/")), Path::new("."));
        assert_eq!(in_root_rel(Path::new("/a/./b")), Path::new("a/b"));
    }
}
