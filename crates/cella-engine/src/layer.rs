//! Layers: tar streams (plain, gzip, zstd) unpacked once into layers/<hex>/ by the
//! digest of the uncompressed tar, with OCI whiteouts turned into overlayfs's
//! form (a 0:0 character device for `.wh.NAME`, trusted.overlay.opaque=y for
//! `.wh..wh..opq`), and device nodes and fifos created as such.

use crate::error::{At, Error, Result};
use crate::paths::Paths;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

/// layers/<hex> for "sha256:<hex>".
pub fn dir(paths: &Paths, digest: &str) -> PathBuf {
    paths.layers().join(digest.trim_start_matches("sha256:"))
}

/// Uncompresses by magic number: gzip, zstd, or a plain tar.
pub fn decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let head = r.fill_buf().at("read", Path::new("layer stream"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(r)));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = zstd::stream::read::Decoder::with_buffer(r).at("start zstd decoder", Path::new("layer stream"))?;
        return Ok(Box::new(z));
    }
    Ok(Box::new(r))
}

/// A tar path as relative components, refusing anything that climbs out.
fn clean(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!(
                    "layer entry {} leaves the layer",
                    path.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Opens the directory `rel` inside `root` (created as needed), resolving
/// symlinks as if `root` were `/`, so that nothing lands outside it.
fn open_parent(root: &std::fs::File, rel: &Path) -> Result<std::os::fd::OwnedFd> {
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        let _ = cella_sys::fd::mkdirat(root.as_fd(), &cur, 0o755);
    }
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    cella_sys::fd::openat2(
        root.as_fd(),
        target,
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        cella_sys::fd::RESOLVE_IN_ROOT,
    )
    .at("open layer directory", rel)
}

/// Unpacks one tar stream into `dest` (an empty directory).
pub fn unpack(input: impl Read, dest: &Path) -> Result<u64> {
    let root = std::fs::File::open(dest).at("open", dest)?;
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(cella_sys::process::geteuid() == 0);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let mut size = 0u64;
    for entry in archive.entries().at("read tar", dest)? {
        let mut entry = entry.at("read tar entry", dest)?;
        let rel = clean(&entry.path().at("read tar entry path", dest)?)?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            continue;
        };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_str = name.to_string_lossy();
        // Unprivileged: no trusted.* xattrs and no device nodes, so OCI
        // whiteouts stay as the marker files (copy_layers reads them).
        let privileged = cella_sys::process::geteuid() == 0;
        if !privileged && name_str.starts_with(".wh.") {
            let dir = open_parent(&root, &parent)?;
            cella_sys::fd::openat(
                dir.as_fd(),
                Path::new(&name),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o600,
            )
            .at("create whiteout marker", &rel)?;
            continue;
        }
        if name_str == ".wh..wh..opq" {
            let dir = open_parent(&root, &parent)?;
            cella_sys::fd::fsetxattr(dir.as_fd(), "trusted.overlay.opaque", b"y")
                .at("mark opaque (needs root for trusted.* xattrs)", &rel)?;
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(".wh.") {
            let dir = open_parent(&root, &parent)?;
            let _ = cella_sys::fd::unlinkat(dir.as_fd(), Path::new(hidden), 0);
            cella_sys::fd::mknodat(dir.as_fd(), Path::new(hidden), libc::S_IFCHR, 0)
                .at("create whiteout", &parent.join(hidden))?;
            continue;
        }
        let kind = entry.header().entry_type();
        let special = match kind {
            tar::EntryType::Char => Some(libc::S_IFCHR),
            tar::EntryType::Block => Some(libc::S_IFBLK),
            tar::EntryType::Fifo => Some(libc::S_IFIFO),
            _ => None,
        };
        if let Some(fmt) = special {
            let h = entry.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let dev = cella_sys::fd::makedev(
                h.device_major().ok().flatten().unwrap_or(0) as u64,
                h.device_minor().ok().flatten().unwrap_or(0) as u64,
            );
            let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
            let dir = open_parent(&root, &parent)?;
            let _ = cella_sys::fd::unlinkat(dir.as_fd(), Path::new(&name), 0);
            match cella_sys::fd::mknodat(dir.as_fd(), Path::new(&name), fmt | mode, dev) {
                Ok(()) => {}
                // Unprivileged users cannot make device nodes (fifos they can).
                Err(e) if !privileged && e.raw_os_error() == Some(libc::EPERM) => continue,
                Err(e) => {
                    return Err(Error::Io {
                        what: "create device node",
                        path: rel,
                        source: e,
                    })
                }
            }
            let _ = cella_sys::fd::fchownat(dir.as_fd(), Path::new(&name), uid, gid, libc::AT_SYMLINK_NOFOLLOW);
            continue;
        }
        size += entry.header().size().unwrap_or(0);
        entry.unpack_in(dest).at("unpack", &dest.join(&rel))?;
    }
    Ok(size)
}

/// A layer unpacked into the store's tmp/, not yet in layers/.
#[derive(Debug)]
pub struct Unpacked {
    /// Removed on drop unless committed.
    tmp: Option<PathBuf>,
    /// "sha256:<hex>" of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// Unpacked size in bytes.
    pub size: u64,
}

/// Unpacks a (possibly compressed) tar stream into a directory of tmp/ and
/// hashes the uncompressed tar on the way. Needs no store lock, so a pull
/// unpacks each layer as soon as it arrived, alongside the others.
pub fn unpack_tar(paths: &Paths, input: impl Read) -> Result<Unpacked> {
    let tmp = crate::store::tmp_dir(paths, "layer")?;
    let result = (|| {
        let mut hashing = crate::content::Hashing::new(decompressed(input)?);
        let size = unpack(&mut hashing, &tmp)?;
        // The digest covers the whole stream, padding included.
        std::io::copy(&mut hashing, &mut std::io::sink()).at("read", &tmp)?;
        if hashing.bytes == 0 {
            return Err(Error::Invalid("the input is empty, not a tar archive".into()));
        }
        Ok((hashing.digest(), size))
    })();
    match result {
        Ok((diff_id, size)) => Ok(Unpacked {
            tmp: Some(tmp),
            diff_id,
            size,
        }),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

impl Unpacked {
    /// Moves the layer into layers/<diff_id> (kept once: a layer already
    /// there stays). The caller holds the store lock.
    pub fn commit(mut self, paths: &Paths) -> Result<(String, u64)> {
        let tmp = self.tmp.take().expect("an Unpacked is committed once");
        let final_dir = dir(paths, &self.diff_id);
        if final_dir.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        } else {
            std::fs::rename(&tmp, &final_dir).at("move layer into place", &final_dir)?;
        }
        Ok((std::mem::take(&mut self.diff_id), self.size))
    }
}

/// A layer that is not stored after all leaves nothing in tmp/.
impl Drop for Unpacked {
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// The copy fallback (no overlayfs, or no privilege to mount it): the layers
/// copied bottom first into `dest`, whiteouts and opaque directories applied
/// in either form (overlayfs's 0:0 device and xattr, or OCI's `.wh.` files).
/// Done once per container; its writes then stay in `dest`.
/// Returns whether it copied now (false: an earlier start did).
pub fn copy_layers(paths: &Paths, layers: &[String], dest: &Path) -> Result<bool> {
    let done = dest.with_extension("copied");
    if done.exists() {
        return Ok(false);
    }
    for l in layers {
        copy_tree(&dir(paths, l), dest)?;
    }
    std::fs::write(&done, b"").at("write", &done)?;
    Ok(true)
}

fn is_whiteout_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn opaque(dir: &Path) -> bool {
    if dir.join(".wh..wh..opq").exists() {
        return true;
    }
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok();
    c.is_some_and(|c| cella_sys::fd::getxattr_is(&c, "trusted.overlay.opaque", b"y"))
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::create_dir_all(dst).at("create", dst)?;
    if opaque(src) {
        for e in std::fs::read_dir(dst).at("list", dst)?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    for e in std::fs::read_dir(src).at("list", src)?.flatten() {
        let name = e.file_name();
        let (from, to) = (e.path(), dst.join(&name));
        let meta = std::fs::symlink_metadata(&from).at("stat", &from)?;
        let n = name.to_string_lossy();
        if n == ".wh..wh..opq" {
            continue;
        }
        let hidden = n.strip_prefix(".wh.").map(|h| dst.join(h));
        if let Some(gone) = hidden.or_else(|| is_whiteout_device(&meta).then(|| to.clone())) {
            let _ = if gone.is_dir() && !gone.is_symlink() {
                std::fs::remove_dir_all(&gone)
            } else {
                std::fs::remove_file(&gone)
            };
            continue;
        }
        let ft = meta.file_type();
        if ft.is_dir() {
            if to.is_symlink() || (to.exists() && !to.is_dir()) {
                let _ = std::fs::remove_file(&to);
            }
            copy_tree(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).at("chmod", &to)?;
            continue;
        }
        if to.is_dir() && !to.is_symlink() {
            std::fs::remove_dir_all(&to).at("replace", &to)?;
        } else {
            let _ = std::fs::remove_file(&to);
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(&from).at("read link", &from)?;
            std::os::unix::fs::symlink(target, &to).at("create link", &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).at("copy", &to)?;
        } else {
            // Devices and fifos: recreated where we may.
            let parent = std::fs::File::open(dst).at("open", dst)?;
            let _ = cella_sys::fd::mknodat(parent.as_fd(), Path::new(&name), meta.mode(), meta.rdev());
        }
        if cella_sys::process::geteuid() == 0 {
            let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_zstd_and_plain_streams_are_told_apart_by_magic() {
        let plain = b"not really a tar, but bytes to get back".repeat(100);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, &plain).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        for input in [&plain[..], &gz[..], &zst[..]] {
            let mut out = Vec::new();
            decompressed(input).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn paths_that_climb_out_are_refused() {
        assert_eq!(clean(Path::new("./a/b")).unwrap(), Path::new("a/b"));
        assert_eq!(clean(Path::new("/etc/passwd")).unwrap(), Path::new("etc/passwd"));
        assert!(clean(Path::new("a/../../x")).is_err());
    }

    #[test]
    fn the_copy_fallback_applies_both_forms_of_whiteouts() {
        let base = std::env::temp_dir().join(format!("cella-copy-{}", std::process::id()));
        let paths = Paths::new(Some(base.join("store")), Some(base.join("run")));
        let (l1, l2, l3) = (
            dir(&paths, "sha256:1"),
            dir(&paths, "sha256:2"),
            dir(&paths, "sha256:3"),
        );
        for d in [l1.join("d"), l1.join("e"), l2.join("d"), l3.clone()] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(l1.join("a"), "a").unwrap();
        std::fs::write(l1.join("b"), "b").unwrap();
        std::fs::write(l1.join("d/old"), "old").unwrap();
        std::fs::write(l1.join("e/kept"), "kept").unwrap();
        std::os::unix::fs::symlink("a", l1.join("link")).unwrap();
        // Layer 2, OCI form: a whiteout file and an opaque marker.
        std::fs::write(l2.join(".wh.a"), "").unwrap();
        std::fs::write(l2.join("d/.wh..wh..opq"), "").unwrap();
        std::fs::write(l2.join("d/new"), "new").unwrap();
        // Layer 3, overlayfs form (root only: a 0:0 character device).
        let root = cella_sys::process::geteuid() == 0;
        if root {
            let l3fd = std::fs::File::open(&l3).unwrap();
            cella_sys::fd::mknodat(l3fd.as_fd(), Path::new("b"), libc::S_IFCHR, 0).unwrap();
        }
        let dest = base.join("rootfs");
        let layers = vec!["sha256:1".to_string(), "sha256:2".into(), "sha256:3".into()];
        assert!(copy_layers(&paths, &layers, &dest).unwrap());
        assert!(!copy_layers(&paths, &layers, &dest).unwrap(), "once");
        assert!(!dest.join("a").exists() && !dest.join(".wh.a").exists());
        assert_eq!(dest.join("b").exists(), !root);
        let d: Vec<String> = std::fs::read_dir(dest.join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(d, ["new"], "the opaque directory hides the lower one's entries");
        assert_eq!(std::fs::read_to_string(dest.join("e/kept")).unwrap(), "kept");
        assert_eq!(std::fs::read_link(dest.join("link")).unwrap(), Path::new("a"));
        assert!(dest.with_extension("copied").exists(), "copied once per container");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
