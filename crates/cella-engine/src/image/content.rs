//! The content store, blobs/sha256/<hex>: each image's manifest, config and
//! layer blobs exactly as they came (compressed as they came), beside the
//! unpacked layers. `save` and `push` give them back byte for byte, so an
//! image keeps its digests on the way out.

use crate::error::{At, Error, Result};
use crate::image::digest::sha256_hex;
use crate::store::paths::Paths;
use serde::{Deserialize, Serialize};
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
        crate::store::write_atomic(&p, bytes, crate::store::Durability::Synced)?;
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
