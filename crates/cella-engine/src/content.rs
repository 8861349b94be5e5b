//! The content store, blobs/sha256/<hex>: each image's manifest, config and
//! layer blobs exactly as they came (compressed as they came), beside the
//! unpacked layers. `save` and `push` give them back byte for byte, so an
//! image keeps its digests on the way out.

use crate::error::{At, Error, Result};
use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A content descriptor, as manifests and indexes list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            platform: None,
            annotations: Default::default(),
        }
    }
}

/// An image manifest (OCI or docker v2 schema 2: the same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first 12 hex digits of "sha256:<hex>", as docker shows ids and digests.
pub fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

/// Refuses content whose digest `got` is not the `want`ed one ("sha256:<hex>" both).
pub fn verify(want: &str, got: &str, what: &str) -> Result<()> {
    if want != got {
        return Err(Error::Corrupt {
            path: what.into(),
            message: format!("content does not match its digest {want} (got {got}): refusing it"),
        });
    }
    Ok(())
}

/// blobs/sha256/<hex> for "sha256:<hex>", refusing anything else.
pub fn path(paths: &Paths, digest: &str) -> Result<PathBuf> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(paths.root.join("blobs/sha256").join(h))
        }
        _ => Err(Error::Invalid(format!("unsupported digest {digest:?}: sha256 only"))),
    }
}

pub fn has(paths: &Paths, digest: &str) -> bool {
    path(paths, digest).is_ok_and(|p| p.exists())
}

fn ensure_dir(paths: &Paths) -> Result<PathBuf> {
    let d = paths.root.join("blobs/sha256");
    std::fs::create_dir_all(&d).at("create directory", &d)?;
    Ok(d)
}

/// Stores `bytes` (a manifest or config); returns its digest.
pub fn put_bytes(paths: &Paths, bytes: &[u8]) -> Result<String> {
    ensure_dir(paths)?;
    let digest = format!("sha256:{}", sha256_hex(bytes));
    let p = path(paths, &digest)?;
    if !p.exists() {
        crate::store::write_atomic(&p, bytes)?;
    }
    Ok(digest)
}

/// Links `file` (a temporary of the store's, its digest checked) into the
/// store; copies it when it lives on another file system.
pub fn put_file(paths: &Paths, digest: &str, file: &Path) -> Result<()> {
    ensure_dir(paths)?;
    let p = path(paths, digest)?;
    if p.exists() {
        return Ok(());
    }
    if std::fs::hard_link(file, &p).is_err() {
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        std::fs::copy(file, &tmp).at("copy into the store", &tmp)?;
        std::fs::rename(&tmp, &p).at("move into place", &p)?;
    }
    Ok(())
}

pub fn read(paths: &Paths, digest: &str) -> Result<Vec<u8>> {
    let p = path(paths, digest)?;
    std::fs::read(&p).at("read blob", &p)
}

/// A layer's media type, from its first bytes.
pub fn layer_media_type(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}

/// A layer stored: its blob (as it came) and its unpacked directory.
pub struct StoredLayer {
    pub blob: Descriptor,
    /// The digest of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// Unpacked size in bytes.
    pub size: u64,
}

/// A reader that hashes and counts what passes through it.
pub struct Hashing<R> {
    pub inner: R,
    pub hash: Sha256,
    pub bytes: u64,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn digest(self) -> String {
        format!("sha256:{}", hex(&self.hash.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A layer blob hashed and unpacked into tmp/, ready to be stored (the
/// unpacked directory goes if it is dropped instead).
#[derive(Debug)]
pub struct Prepared {
    pub blob: Descriptor,
    pub unpacked: crate::layer::Unpacked,
    file: PathBuf,
}

/// Hashes and unpacks the layer blob `file` (gzip, zstd or plain tar) into
/// tmp/, without the store lock. `digest`: what the blob is said to be
/// (checked), or what it was already checked to be (`verified`).
pub fn prepare_layer(paths: &Paths, file: &Path, digest: Option<&str>, verified: bool) -> Result<Prepared> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(file).at("open layer", file)?;
    let n = f.read(&mut head).at("read layer", file)?;
    let media_type = layer_media_type(&head[..n]);
    let f = std::fs::File::open(file).at("open layer", file)?;
    let (unpacked, got, size) = match digest {
        Some(d) if verified => {
            let size = f.metadata().at("stat", file)?.len();
            (crate::layer::unpack_tar(paths, f)?, d.to_string(), size)
        }
        _ => {
            let mut hashing = Hashing::new(f);
            let unpacked = crate::layer::unpack_tar(paths, &mut hashing)?;
            std::io::copy(&mut hashing, &mut std::io::sink()).at("read layer", file)?;
            let size = hashing.bytes;
            (unpacked, hashing.digest(), size)
        }
    };
    if let Some(want) = digest {
        verify(want, &got, &format!("layer {}", file.display()))?;
    }
    Ok(Prepared {
        blob: Descriptor::new(media_type, &got, size),
        unpacked,
        file: file.into(),
    })
}

impl Prepared {
    /// Moves the layer into layers/ and links its blob (a temporary of the
    /// store's) into blobs/. The caller holds the store lock.
    pub fn commit(self, paths: &Paths) -> Result<StoredLayer> {
        put_file(paths, &self.blob.digest, &self.file)?;
        let (diff_id, size) = self.unpacked.commit(paths)?;
        Ok(StoredLayer {
            blob: self.blob,
            diff_id,
            size,
        })
    }
}

/// An OCI manifest for a config and layer blobs that came without one
/// (docker archives, import).
pub fn oci_manifest(config_digest: &str, config_size: u64, layers: &[Descriptor]) -> Vec<u8> {
    let m = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        config: Descriptor::new(OCI_CONFIG, config_digest, config_size),
        layers: layers.to_vec(),
    };
    serde_json::to_vec(&m).expect("a manifest serializes")
}

pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<Manifest> {
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid(format!("{what}: not an image manifest: {e}")))
}

/// An image's manifest, read back from the store.
pub fn manifest_of(paths: &Paths, image: &crate::image::Image) -> Result<(Vec<u8>, Manifest)> {
    if image.manifest.is_empty() {
        return Err(Error::Invalid(format!(
            "image {} was stored before cella kept images' registry content: pull or load it again",
            image.repo_tags.first().unwrap_or(&image.id)
        )));
    }
    let bytes = read(paths, &image.manifest)?;
    let m = parse_manifest(&bytes, &image.manifest)?;
    Ok((bytes, m))
}

/// Every blob an image needs: manifest, config, layers.
pub fn blobs_of(paths: &Paths, image: &crate::image::Image) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok((_, m)) = manifest_of(paths, image) {
        out.push(image.manifest.clone());
        out.push(m.config.digest);
        out.extend(m.layers.into_iter().map(|l| l.digest));
    }
    out
}

/// Removes the blobs of `removed` that no image in `remaining` needs.
pub fn collect(paths: &Paths, removed: &[String], remaining: &[crate::image::Image]) {
    let used: std::collections::HashSet<String> = remaining.iter().flat_map(|i| blobs_of(paths, i)).collect();
    for d in removed {
        if !used.contains(d) {
            if let Ok(p) = path(paths, d) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_by_magic_and_digest_paths() {
        assert!(layer_media_type(&[0x1f, 0x8b, 8, 0]).ends_with("+gzip"));
        assert!(layer_media_type(&[0x28, 0xb5, 0x2f, 0xfd]).ends_with("+zstd"));
        assert!(layer_media_type(b"ustar").ends_with(".tar"));
        let p = Paths::new(Some("/s".into()), Some("/r".into()));
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(path(&p, &d).unwrap(), Path::new("/s/blobs/sha256").join("0".repeat(64)));
        for bad in ["sha256:../../x", "md5:00", "sha256:abc"] {
            assert!(path(&p, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn synthesized_manifests_are_oci() {
        let l = Descriptor::new("application/vnd.oci.image.layer.v1.tar", "sha256:aa", 10);
        let m = parse_manifest(&oci_manifest("sha256:cc", 5, std::slice::from_ref(&l)), "m").unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!((m.config.digest.as_str(), m.config.size), ("sha256:cc", 5));
        assert_eq!(m.layers, vec![l]);
    }
}
