//! Layers: tar streams (plain, gzip, zstd) unpacked once into layers/<hex>/ by the
//! digest of the uncompressed tar (by `unpack`, which keeps every entry inside
//! the layer and turns OCI whiteouts into overlayfs's form), and the copy
//! fallback that stacks layers into a container's root without overlayfs.

use crate::error::{At, Error, Result};
use crate::store::paths::Paths;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
        let mut hashing = crate::image::digest::Hashing::new(decompressed(input)?);
        let root = std::fs::File::open(&tmp).at("open", &tmp)?;
        let size = crate::safefs::unpack::unpack(
            &mut hashing,
            root.as_fd(),
            Path::new(""),
            crate::safefs::unpack::Options::layer(),
        )?;
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
    std::fs::create_dir_all(dest).at("create", dest)?;
    let to = std::fs::File::open(dest).at("open", dest)?;
    for l in layers {
        let d = dir(paths, l);
        let from = std::fs::File::open(&d).at("open layer", &d)?;
        copy_tree(from.as_fd(), to.as_fd(), &d)?;
    }
    std::fs::write(&done, b"").at("write", &done)?;
    Ok(true)
}

fn entries(dir: BorrowedFd<'_>, what: &Path) -> Result<Vec<std::ffi::OsString>> {
    let listing = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    let mut names = Vec::new();
    for e in std::fs::read_dir(&listing).at("list", what)? {
        names.push(e.at("list", what)?.file_name());
    }
    Ok(names)
}

fn open_dir_at(dir: BorrowedFd<'_>, name: &Path, what: &Path) -> Result<OwnedFd> {
    cella_sys::fd::openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).at("open", what)
}

/// Copies the layer directory `src` over `dst`, by names relative to both
/// directories' fds (a symlink in `dst` is replaced, never followed).
fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, what: &Path) -> Result<()> {
    use crate::safefs::unpack::remove_at;
    let opaque = cella_sys::fd::fgetxattr_is(src, "trusted.overlay.opaque", b"y")
        || cella_sys::fd::lstatat(src, Path::new(".wh..wh..opq")).is_ok();
    if opaque {
        for n in entries(dst, what)? {
            remove_at(dst, Path::new(&n)).at("remove", &what.join(&n))?;
        }
    }
    let root = cella_sys::process::geteuid() == 0;
    for n in entries(src, what)? {
        let name = Path::new(&n);
        let path = what.join(name);
        let st = cella_sys::fd::lstatat(src, name).at("stat", &path)?;
        let fmt = st.st_mode & libc::S_IFMT;
        let bytes = n.as_encoded_bytes();
        if bytes == b".wh..wh..opq" || bytes.starts_with(b".wh..wh.") {
            continue;
        }
        if let Some(hidden) = bytes.strip_prefix(b".wh.") {
            if !hidden.is_empty() && hidden != b"." && hidden != b".." {
                let hidden = Path::new(std::ffi::OsStr::from_bytes(hidden));
                remove_at(dst, hidden).at("remove", &what.join(hidden))?;
            }
            continue;
        }
        if fmt == libc::S_IFCHR && st.st_rdev == 0 {
            remove_at(dst, name).at("remove", &path)?;
            continue;
        }
        match fmt {
            libc::S_IFDIR => {
                if cella_sys::fd::lstatat(dst, name).is_ok_and(|d| d.st_mode & libc::S_IFMT != libc::S_IFDIR) {
                    remove_at(dst, name).at("replace", &path)?;
                }
                match cella_sys::fd::mkdirat(dst, name, 0o700) {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                        return Err(e).at("create directory", &path)
                    }
                    _ => {}
                }
                let (s, d) = (open_dir_at(src, name, &path)?, open_dir_at(dst, name, &path)?);
                copy_tree(s.as_fd(), d.as_fd(), &path)?;
                cella_sys::fd::fchmod(d.as_fd(), st.st_mode & 0o7777).at("chmod", &path)?;
            }
            libc::S_IFREG => {
                remove_at(dst, name).at("replace", &path)?;
                let from = cella_sys::fd::openat(src, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0).at("open", &path)?;
                let to = cella_sys::fd::openat(
                    dst,
                    name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                    0o600,
                )
                .at("create", &path)?;
                let mut to = std::fs::File::from(to);
                std::io::copy(&mut std::fs::File::from(from), &mut to).at("copy", &path)?;
                cella_sys::fd::fchmod(to.as_fd(), st.st_mode & 0o7777).at("chmod", &path)?;
            }
            libc::S_IFLNK => {
                let target = cella_sys::fd::readlinkat(src, name).at("read link", &path)?;
                remove_at(dst, name).at("replace", &path)?;
                cella_sys::fd::symlinkat(&target, dst, name).at("create link", &path)?;
            }
            _ => {
                // Devices and fifos: recreated where we may.
                remove_at(dst, name).at("replace", &path)?;
                let _ = cella_sys::fd::mknodat(dst, name, st.st_mode, st.st_rdev);
            }
        }
        if root {
            let _ = cella_sys::fd::fchownat(dst, name, st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW);
        }
    }
    Ok(())
}

/// A layer stored: its blob (as it came) and its unpacked directory.
pub struct StoredLayer {
    pub blob: crate::image::content::Descriptor,
    /// The digest of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// Unpacked size in bytes.
    pub size: u64,
}

/// A layer blob hashed and unpacked into tmp/, ready to be stored (the
/// unpacked directory goes if it is dropped instead).
#[derive(Debug)]
pub struct Prepared {
    pub blob: crate::image::content::Descriptor,
    pub unpacked: Unpacked,
    file: PathBuf,
}

/// Hashes and unpacks the layer blob `file` (gzip, zstd or plain tar) into
/// tmp/, without the store lock. `digest`: what the blob is said to be
/// (checked), or what it was already checked to be (`verified`).
pub fn prepare_layer(paths: &Paths, file: &Path, digest: Option<&str>, verified: bool) -> Result<Prepared> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(file).at("open layer", file)?;
    let n = f.read(&mut head).at("read layer", file)?;
    let media_type = crate::image::content::layer_media_type(&head[..n]);
    let f = std::fs::File::open(file).at("open layer", file)?;
    let (unpacked, got, size) = match digest {
        Some(d) if verified => {
            let size = f.metadata().at("stat", file)?.len();
            (unpack_tar(paths, f)?, d.to_string(), size)
        }
        _ => {
            let mut hashing = crate::image::digest::Hashing::new(f);
            let unpacked = unpack_tar(paths, &mut hashing)?;
            std::io::copy(&mut hashing, &mut std::io::sink()).at("read layer", file)?;
            let size = hashing.bytes;
            (unpacked, hashing.digest(), size)
        }
    };
    if let Some(want) = digest {
        crate::image::content::verify(want, &got, &format!("layer {}", file.display()))?;
    }
    Ok(Prepared {
        blob: crate::image::content::Descriptor::new(media_type, &got, size),
        unpacked,
        file: file.into(),
    })
}

impl Prepared {
    /// Moves the layer into layers/ and links its blob (a temporary of the
    /// store's) into blobs/. The caller holds the store lock.
    pub fn commit(self, paths: &Paths) -> Result<StoredLayer> {
        crate::image::content::put_file(paths, &self.blob.digest, &self.file)?;
        let (diff_id, size) = self.unpacked.commit(paths)?;
        Ok(StoredLayer {
            blob: self.blob,
            diff_id,
            size,
        })
    }
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
