//! Reading from a tree that someone else controls: a container's root
//! (/proc/PID/root), an image layer, an OCI layout directory. Paths are
//! resolved with openat2(RESOLVE_IN_ROOT), so an absolute symlink means that
//! tree's `/` and never the host's; only regular files are read (a fifo would
//! block, a device would read the host's hardware), and never more than a
//! caller's bound.

use crate::error::{At, Error, Result};
use cella_sys::fd::{RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The largest JSON document cella reads from an image, an archive or a
/// registry (manifests, indexes, configs; containers/image allows 4 MiB).
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Opens `rel` under `root` with O_PATH, resolved inside `root`.
pub fn open_path(root: BorrowedFd<'_>, rel: &Path) -> std::io::Result<OwnedFd> {
    cella_sys::fd::openat2(root, rel, libc::O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

/// The file type bits (`S_IFMT`) of an open file.
pub fn kind(fd: BorrowedFd<'_>, what: &Path) -> Result<u32> {
    Ok(cella_sys::fd::fstat(fd).at("stat", what)?.st_mode & libc::S_IFMT)
}

/// Opens for reading what the O_PATH descriptor `fd` refers to if it is a
/// regular file or a directory; anything else is refused by name (opening a
/// fifo blocks, opening a device acts on it).
pub fn reopen_for_reading(fd: BorrowedFd<'_>, what: &Path) -> Result<OwnedFd> {
    match kind(fd, what)? {
        libc::S_IFREG => cella_sys::fd::reopen(fd, libc::O_RDONLY).at("open", what),
        libc::S_IFDIR => cella_sys::fd::reopen(fd, libc::O_RDONLY | libc::O_DIRECTORY).at("open", what),
        _ => Err(Error::Invalid(format!(
            "{} is not a regular file or a directory: refusing to read it",
            what.display()
        ))),
    }
}

/// Opens the regular file `rel` under `root` for reading.
pub fn open_file(root: BorrowedFd<'_>, rel: &Path) -> Result<std::fs::File> {
    let fd = open_path(root, rel).at("open", rel)?;
    if kind(fd.as_fd(), rel)? != libc::S_IFREG {
        return Err(Error::Invalid(format!(
            "{} is not a regular file: refusing to read it",
            rel.display()
        )));
    }
    Ok(std::fs::File::from(reopen_for_reading(fd.as_fd(), rel)?))
}

/// Reads at most `limit` bytes of `reader`; more is an error naming `what`.
pub fn read_bounded(reader: impl Read, limit: u64, what: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).at("read", what)?;
    if bytes.len() as u64 > limit {
        return Err(Error::Invalid(format!(
            "{} is larger than {} bytes: refusing it",
            what.display(),
            limit
        )));
    }
    Ok(bytes)
}

/// The regular file `rel` under `root`, at most `limit` bytes; None when
/// there is no such file.
pub fn read_file(root: BorrowedFd<'_>, rel: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    match open_path(root, rel) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    read_bounded(open_file(root, rel)?, limit, rel).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_in_the_root_and_only_regular_files_are_read() {
        let base = std::env::temp_dir().join(format!("cella-inroot-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(base.join("secret"), "host").unwrap();
        std::fs::write(root.join("secret"), "inside").unwrap();
        std::os::unix::fs::symlink("/secret", root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        std::os::unix::fs::symlink("../../../../../secret", root.join("up")).unwrap();
        let r = std::fs::File::open(&root).unwrap();
        let read = |p: &str| read_file(r.as_fd(), Path::new(p), 1 << 20);
        assert_eq!(read("etc/passwd").unwrap().unwrap(), b"inside");
        assert_eq!(read("up").unwrap().unwrap(), b"inside");
        assert!(read("zero").unwrap().is_none(), "no /dev/zero in the root");
        assert!(read("missing").unwrap().is_none());
        std::fs::create_dir_all(root.join("dev")).unwrap();
        cella_sys::fd::mknodat(r.as_fd(), Path::new("dev/fifo"), libc::S_IFIFO | 0o600, 0).unwrap();
        assert!(read("dev/fifo").is_err(), "a fifo is refused, not opened");
        std::fs::write(root.join("big"), vec![b'x'; 100]).unwrap();
        assert!(read_file(r.as_fd(), Path::new("big"), 10).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
