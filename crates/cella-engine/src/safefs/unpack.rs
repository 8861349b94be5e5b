//! Tar entries written into a directory so that nothing lands outside it.
//!
//! Every entry's parent is resolved from the root directory's fd with
//! openat2(RESOLVE_IN_ROOT): a symlink met on the way is followed as if that
//! directory were `/`, which is what docker's chrooted unpacker does, so an
//! archive holding `x -> /etc` and then `x/passwd` writes `<root>/etc/passwd`
//! and never the host's. Each entry is then created relative to its parent's
//! fd without following a final symlink, for every entry type: files,
//! directories, hard links (whose source is resolved the same way),
//! symlinks, devices, fifos, and OCI whiteouts and opaque markers.
//!
//! Used for image layers (`pull`, `load`, `import`) and for `cp -` into a
//! container, whose root is /proc/PID/root.

use crate::error::{At, Error, Result};
use cella_sys::fd::{RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// What becomes of OCI whiteout entries (`.wh.NAME`, `.wh..wh..opq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// overlayfs's form: a 0:0 character device in the name's place, and
    /// `trusted.overlay.opaque=y` on an opaque directory (needs root).
    Overlay,
    /// Kept as the marker files (unprivileged: the copy fallback reads them).
    Markers,
    /// Not whiteouts at all: plain entries of those names (`cp -`).
    Literal,
}

/// How an archive is unpacked.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub whiteouts: Whiteouts,
    /// Character and block devices are created (else skipped).
    pub devices: bool,
    /// Entries get the archive's owners (root only).
    pub same_owner: bool,
}

impl Options {
    /// An image layer, as this process's privilege allows.
    pub fn layer() -> Options {
        let root = cella_sys::process::geteuid() == 0;
        Options {
            whiteouts: if root { Whiteouts::Overlay } else { Whiteouts::Markers },
            devices: root,
            same_owner: root,
        }
    }

    /// Files copied into a container (`cp -`): no whiteouts, no devices,
    /// owned by whoever copies.
    pub fn copy() -> Options {
        Options {
            whiteouts: Whiteouts::Literal,
            devices: false,
            same_owner: false,
        }
    }
}

/// A tar path as relative components, refusing anything that climbs out.
pub fn clean(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!(
                    "archive entry {} leaves the directory it is unpacked into: refusing the archive",
                    path.display()
                )))
            }
        }
    }
    Ok(out)
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// The directory `rel` under `root`, resolved as if `root` were `/` and
/// created (0755) where missing.
fn parent_dir(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    if rel.as_os_str().is_empty() {
        return cella_sys::fd::openat(root, Path::new("."), flags, 0).at("open", Path::new("."));
    }
    let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    match cella_sys::fd::openat2(root, rel, flags, 0, resolve) {
        Ok(fd) => return Ok(fd),
        Err(e) if errno(&e) == libc::ENOENT => {}
        Err(e) => return Err(e).at("open directory", rel),
    }
    let up = parent_dir(root, rel.parent().unwrap_or(Path::new("")))?;
    let last = Path::new(rel.file_name().unwrap_or_default());
    match cella_sys::fd::mkdirat(up.as_fd(), last, 0o755) {
        Ok(()) => {}
        Err(e) if errno(&e) == libc::EEXIST => {}
        Err(e) => return Err(e).at("create directory", rel),
    }
    cella_sys::fd::openat2(root, rel, flags, 0, resolve).map_err(|e| {
        if errno(&e) == libc::ENOENT {
            Error::Invalid(format!(
                "archive entry directory {} goes through a symlink to a missing directory: refusing the archive",
                rel.display()
            ))
        } else {
            Error::Io {
                what: "open directory",
                path: rel.to_path_buf(),
                err: e,
            }
        }
    })
}

/// Removes `name` in `dir` whatever it is (a directory with all it holds),
/// never following a symlink.
pub fn remove_at(dir: BorrowedFd<'_>, name: &Path) -> std::io::Result<()> {
    let st = match cella_sys::fd::lstatat(dir, name) {
        Ok(st) => st,
        Err(e) if errno(&e) == libc::ENOENT => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return cella_sys::fd::unlinkat(dir, name, 0);
    }
    let sub = cella_sys::fd::openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
    let listing = PathBuf::from(format!("/proc/self/fd/{}", sub.as_raw_fd()));
    for e in std::fs::read_dir(&listing)? {
        remove_at(sub.as_fd(), Path::new(&e?.file_name()))?;
    }
    cella_sys::fd::unlinkat(dir, name, libc::AT_REMOVEDIR)
}

/// Owner, mode, time and extended attributes of an entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Extended attributes an archive may set: user.*, file capabilities, and
/// trusted.* other than overlayfs's own (which would steer the overlay:
/// opaque directories come as `.wh..wh..opq`, never as an xattr).
fn xattr_allowed(name: &str, root: bool) -> bool {
    name.starts_with("user.")
        || (root && name == "security.capability")
        || (root && name.starts_with("trusted.") && !name.starts_with("trusted.overlay."))
}

fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>, rel: &Path, root: bool) -> Result<Meta> {
    let h = entry.header();
    let mut m = Meta {
        mode: h.mode().unwrap_or(0o644) & 0o7777,
        uid: h.uid().unwrap_or(0) as u32,
        gid: h.gid().unwrap_or(0) as u32,
        mtime: h.mtime().unwrap_or(0) as i64,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions().at("read pax header of", rel)? {
        for ext in exts {
            let ext = ext.at("read pax header of", rel)?;
            let (Ok(key), value) = (ext.key(), ext.value_bytes()) else {
                continue;
            };
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
            };
            match key {
                "uid" => m.uid = num().unwrap_or(m.uid as i64) as u32,
                "gid" => m.gid = num().unwrap_or(m.gid as i64) as u32,
                "mtime" => m.mtime = num().unwrap_or(m.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        if xattr_allowed(name, root) {
                            m.xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
    }
    Ok(m)
}

/// Owner (when asked), mode and extended attributes on an open file or directory.
fn apply_to_fd(fd: BorrowedFd<'_>, m: &Meta, opts: &Options, rel: &Path, mode: bool) -> Result<()> {
    if opts.same_owner {
        cella_sys::fd::fchown(fd, m.uid, m.gid).at("chown", rel)?;
    }
    // After chown, which clears set-id bits.
    if mode {
        cella_sys::fd::fchmod(fd, m.mode).at("chmod", rel)?;
    }
    for (name, value) in &m.xattrs {
        match cella_sys::fd::fsetxattr(fd, name, value) {
            Ok(()) => {}
            Err(e) if matches!(errno(&e), libc::ENOTSUP | libc::EPERM) => {}
            Err(e) => return Err(e).at("set extended attribute on", rel),
        }
    }
    Ok(())
}

/// A whiteout or opaque marker in `dir`; false when `name` is neither.
fn whiteout(dir: BorrowedFd<'_>, name: &OsStr, opts: &Options, rel: &Path) -> Result<bool> {
    let Some(hidden) = name.as_bytes().strip_prefix(b".wh.") else {
        return Ok(false);
    };
    let marker = |dir: BorrowedFd<'_>| -> Result<()> {
        remove_at(dir, Path::new(name)).at("replace", rel)?;
        cella_sys::fd::openat(
            dir,
            Path::new(name),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o600,
        )
        .at("create whiteout marker", rel)
        .map(drop)
    };
    if hidden == b".wh..opq" {
        match opts.whiteouts {
            Whiteouts::Overlay => cella_sys::fd::fsetxattr(dir, "trusted.overlay.opaque", b"y")
                .at("mark opaque (needs root for trusted.* xattrs)", rel)?,
            _ => marker(dir)?,
        }
        return Ok(true);
    }
    if hidden.starts_with(b".wh.") {
        // aufs's own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content, as docker skips it.
        return Ok(true);
    }
    if hidden.is_empty() || hidden == b"." || hidden == b".." {
        return Err(Error::Invalid(format!(
            "archive entry {} is a whiteout of no entry: refusing the archive",
            rel.display()
        )));
    }
    match opts.whiteouts {
        Whiteouts::Overlay => {
            let hidden = Path::new(OsStr::from_bytes(hidden));
            remove_at(dir, hidden).at("replace", rel)?;
            cella_sys::fd::mknodat(dir, hidden, libc::S_IFCHR, 0).at("create whiteout", rel)?;
        }
        _ => marker(dir)?,
    }
    Ok(true)
}

/// Makes `name` in `dir` a directory (keeping one that is there); returns it open.
fn make_dir(dir: BorrowedFd<'_>, name: &Path, rel: &Path) -> Result<OwnedFd> {
    if let Ok(st) = cella_sys::fd::lstatat(dir, name) {
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            remove_at(dir, name).at("replace", rel)?;
        }
    }
    match cella_sys::fd::mkdirat(dir, name, 0o700) {
        Ok(()) => {}
        Err(e) if errno(&e) == libc::EEXIST => {}
        Err(e) => return Err(e).at("create directory", rel),
    }
    cella_sys::fd::openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).at("open directory", rel)
}

/// The parent directory and the name of a (clean, non-empty) relative path.
fn split(rel: &Path) -> (&Path, &Path) {
    (
        rel.parent().unwrap_or(Path::new("")),
        Path::new(rel.file_name().unwrap_or_default()),
    )
}

/// The target of a symlink or hard link entry.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, rel: &Path) -> Result<PathBuf> {
    entry
        .link_name()
        .at("read link target of", rel)?
        .map(|t| t.into_owned())
        .ok_or_else(|| Error::Invalid(format!("archive link {} has no target", rel.display())))
}

/// Owner (when asked) and time of an entry made by name (a symlink or a node).
fn owner_and_time_at(dir: BorrowedFd<'_>, name: &Path, m: &Meta, opts: &Options, rel: &Path) -> Result<()> {
    if opts.same_owner {
        cella_sys::fd::fchownat(dir, name, m.uid, m.gid, libc::AT_SYMLINK_NOFOLLOW).at("chown", rel)?;
    }
    cella_sys::fd::set_mtime_at(dir, name, m.mtime, 0).at("set time of", rel)
}

/// Where an entry goes: its parent directory (open) and its name there.
struct Place<'a> {
    root: BorrowedFd<'a>,
    base: &'a Path,
    dir: OwnedFd,
    name: &'a Path,
    rel: &'a Path,
}

impl Place<'_> {
    fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    fn replace(&self) -> Result<()> {
        remove_at(self.dir(), self.name).at("replace", self.rel)
    }
}

/// Writes one entry (not a whiteout) at its place; returns the bytes of file
/// content written.
fn write_entry<R: Read>(entry: &mut tar::Entry<'_, R>, at: &Place<'_>, m: &Meta, opts: &Options) -> Result<u64> {
    let (name, rel) = (at.name, at.rel);
    let kind = entry.header().entry_type();
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            at.replace()?;
            let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
            let f = cella_sys::fd::openat(at.dir(), name, flags, 0o600).at("create", rel)?;
            let mut file = std::fs::File::from(f);
            let size = std::io::copy(entry, &mut file).at("write", rel)?;
            apply_to_fd(file.as_fd(), m, opts, rel, true)?;
            drop(file);
            cella_sys::fd::set_mtime_at(at.dir(), name, m.mtime, 0).at("set time of", rel)?;
            Ok(size)
        }
        tar::EntryType::Symlink => {
            let target = link_target(entry, rel)?;
            at.replace()?;
            cella_sys::fd::symlinkat(&target, at.dir(), name).at("create symlink", rel)?;
            owner_and_time_at(at.dir(), name, m, opts, rel).map(|()| 0)
        }
        tar::EntryType::Link => {
            let from = at.base.join(clean(&link_target(entry, rel)?)?);
            if from == rel {
                return Err(Error::Invalid(format!(
                    "archive hard link {} links to itself: refusing the archive",
                    rel.display()
                )));
            }
            let (from_parent, from_name) = split(&from);
            let from_dir = parent_dir(at.root, from_parent)?;
            at.replace()?;
            cella_sys::fd::linkat(from_dir.as_fd(), from_name, at.dir(), name).map_err(|e| {
                Error::Invalid(format!(
                    "archive hard link {} to {}: {e}: refusing the archive",
                    rel.display(),
                    from.display()
                ))
            })?;
            Ok(0)
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let fmt = match kind {
                tar::EntryType::Char => libc::S_IFCHR,
                tar::EntryType::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            if fmt != libc::S_IFIFO && !opts.devices {
                return Ok(0);
            }
            let h = entry.header();
            let dev = cella_sys::fd::makedev(
                h.device_major().ok().flatten().unwrap_or(0) as u64,
                h.device_minor().ok().flatten().unwrap_or(0) as u64,
            );
            at.replace()?;
            cella_sys::fd::mknodat(at.dir(), name, fmt | m.mode, dev).at("create device node", rel)?;
            owner_and_time_at(at.dir(), name, m, opts, rel).map(|()| 0)
        }
        tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => Ok(0),
        other => Err(Error::Invalid(format!(
            "archive entry {} has a type cella does not unpack ({other:?}): refusing the archive",
            rel.display()
        ))),
    }
}

/// Unpacks the tar stream `input` into `base` under `root` (`base` relative,
/// "" for `root` itself), resolving everything as if `root` were `/`.
/// Returns the bytes of file content written.
pub fn unpack(input: impl Read, root: BorrowedFd<'_>, base: &Path, opts: Options) -> Result<u64> {
    let privileged = cella_sys::process::geteuid() == 0;
    let mut archive = tar::Archive::new(input);
    let mut size = 0u64;
    // Directories get their mode and time last: a read-only directory would
    // refuse what comes below it, and every entry written into one changes its time.
    let mut dirs: Vec<(PathBuf, u32, i64)> = Vec::new();
    for entry in archive.entries().at("read archive", base)? {
        let mut entry = entry.at("read archive entry", base)?;
        let raw = entry.path().at("read archive entry path", base)?.into_owned();
        let rel = base.join(clean(&raw)?);
        if rel.as_os_str().is_empty() || rel == base {
            continue; // the directory itself ("./")
        }
        let (parent, name) = split(&rel);
        let dir = parent_dir(root, parent)?;
        if opts.whiteouts != Whiteouts::Literal && whiteout(dir.as_fd(), name.as_os_str(), &opts, &rel)? {
            continue;
        }
        let m = meta_of(&mut entry, &rel, privileged)?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            let d = make_dir(dir.as_fd(), name, &rel)?;
            apply_to_fd(d.as_fd(), &m, &opts, &rel, false)?;
            dirs.push((rel.clone(), m.mode, m.mtime));
            continue;
        }
        let at = Place {
            root,
            base,
            dir,
            name,
            rel: &rel,
        };
        size += write_entry(&mut entry, &at, &m, &opts)?;
    }
    for (rel, mode, mtime) in dirs {
        // A later entry may have replaced the directory: then nothing to do.
        let (parent, name) = split(&rel);
        let Ok(dir) = parent_dir(root, parent) else { continue };
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let Ok(d) = cella_sys::fd::openat(dir.as_fd(), name, flags, 0) else {
            continue;
        };
        cella_sys::fd::fchmod(d.as_fd(), mode).at("chmod", &rel)?;
        cella_sys::fd::set_mtime_at(dir.as_fd(), name, mtime, 0).at("set time of", &rel)?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_climb_out_are_refused() {
        assert_eq!(clean(Path::new("./a/b")).unwrap(), Path::new("a/b"));
        assert_eq!(clean(Path::new("/etc/passwd")).unwrap(), Path::new("etc/passwd"));
        assert!(clean(Path::new("a/../../x")).is_err());
        assert!(clean(Path::new("..")).is_err());
    }

    #[test]
    fn only_harmless_xattrs_pass() {
        assert!(xattr_allowed("user.mime", false));
        assert!(!xattr_allowed("security.capability", false));
        assert!(xattr_allowed("security.capability", true));
        assert!(!xattr_allowed("trusted.overlay.redirect", true));
        assert!(!xattr_allowed("trusted.overlay.opaque", true));
        assert!(!xattr_allowed("security.selinux", true));
    }
}
