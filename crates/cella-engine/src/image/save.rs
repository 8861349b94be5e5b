//! `cella save`: images out of the store as a docker-archive (what `docker
//! load` reads: manifest.json, the config, uncompressed layer tars) or an
//! oci-archive (an OCI image layout in a tar, the blobs as stored). Image
//! ids are kept: the config goes out byte for byte.

use crate::error::{At, Error, Result};
use crate::image::content::{self, Descriptor, Manifest};
use crate::image::Image;
use crate::store::paths::Paths;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "docker-archive" => Ok(Format::DockerArchive),
            "oci-archive" => Ok(Format::OciArchive),
            _ => Err(format!("unknown format {s:?}: use docker-archive or oci-archive")),
        }
    }
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, bytes)
        .at("write archive entry", Path::new(name))
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, name: &str, file: &Path) -> Result<()> {
    let mut f = std::fs::File::open(file).at("open", file)?;
    let mut h = tar::Header::new_ustar();
    h.set_size(f.metadata().at("stat", file)?.len());
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, &mut f)
        .at("write archive entry", Path::new(name))
}

/// A docker manifest's media types in OCI's words (same content).
fn as_oci(mut m: Manifest) -> Manifest {
    m.media_type = content::OCI_MANIFEST.into();
    m.config.media_type = content::OCI_CONFIG.into();
    for l in &mut m.layers {
        l.media_type = match l.media_type.as_str() {
            "application/vnd.docker.image.rootfs.diff.tar.gzip" => "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar".into(),
            other => other.into(),
        };
    }
    m
}

/// Writes `images` (names or ids) to `out` in `format`.
pub fn save(paths: &Paths, images: &[String], format: Format, out: impl Write) -> Result<()> {
    let mut found: Vec<(Image, Vec<u8>, Manifest, Option<String>)> = Vec::new();
    for name in images {
        let img = crate::image::find(paths, name)?;
        if img.id == crate::image::HOST_ID {
            return Err(Error::Invalid("the built-in host image cannot be saved".into()));
        }
        let (bytes, m) = crate::image::manifest_of(paths, &img)?;
        // Named by a tag: that tag; by id: all of the image's tags.
        let tag = img
            .repo_tags
            .iter()
            .find(|t| {
                **t == crate::image::normalize(name)
                    || crate::distribution::registry::Reference::parse(name).is_ok_and(|r| r.tag() == **t)
            })
            .cloned();
        found.push((img, bytes, m, tag));
    }
    let mut b = tar::Builder::new(std::io::BufWriter::new(out));
    let mut written = std::collections::HashSet::new();
    match format {
        Format::DockerArchive => {
            let tmp = crate::store::tmp_dir(paths, "save")?;
            let result = docker_archive(paths, &found, &mut b, &mut written, &tmp);
            let _ = std::fs::remove_dir_all(&tmp);
            result?;
        }
        Format::OciArchive => {
            append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            let mut index = Vec::new();
            for (img, bytes, m, tag) in &found {
                let (m, bytes) = if m.media_type == content::DOCKER_MANIFEST {
                    let m = as_oci(m.clone());
                    let b = serde_json::to_vec(&m).expect("a manifest serializes");
                    (m, b)
                } else {
                    (m.clone(), bytes.clone())
                };
                let digest = format!("sha256:{}", crate::image::digest::sha256_hex(&bytes));
                for blob in m.layers.iter().chain([&m.config]) {
                    if written.insert(blob.digest.clone()) {
                        append_file(&mut b, &blob_name(&blob.digest), &content::path(paths, &blob.digest)?)?;
                    }
                }
                if written.insert(digest.clone()) {
                    append_bytes(&mut b, &blob_name(&digest), &bytes)?;
                }
                let tags = match tag {
                    Some(t) => vec![t.clone()],
                    None => img.repo_tags.clone(),
                };
                for t in tags.iter().map(Some).chain(tags.is_empty().then_some(None)) {
                    let mut d = Descriptor::new(content::OCI_MANIFEST, &digest, bytes.len() as u64);
                    if let Some(t) = t {
                        d.annotations
                            .insert("org.opencontainers.image.ref.name".into(), t.clone());
                    }
                    index.push(d);
                }
            }
            let index = serde_json::json!({ "schemaVersion": 2, "mediaType": content::OCI_INDEX, "manifests": index });
            append_bytes(&mut b, "index.json", index.to_string().as_bytes())?;
        }
    }
    let mut w = b.into_inner().at("finish archive", Path::new("output"))?;
    w.flush().at("write archive", Path::new("output"))
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn docker_archive<W: Write>(
    paths: &Paths,
    found: &[(Image, Vec<u8>, Manifest, Option<String>)],
    b: &mut tar::Builder<W>,
    written: &mut std::collections::HashSet<String>,
    tmp: &Path,
) -> Result<()> {
    let mut entries = Vec::new();
    for (img, _, m, tag) in found {
        let config = format!("{}.json", img.id.trim_start_matches("sha256:"));
        if written.insert(config.clone()) {
            append_file(b, &config, &content::path(paths, &m.config.digest)?)?;
        }
        let mut layers = Vec::new();
        for (blob, diff_id) in m.layers.iter().zip(&img.layers) {
            let name = format!("{}.tar", diff_id.trim_start_matches("sha256:"));
            if written.insert(name.clone()) {
                // docker-archive layers are plain tars, named by their diff_id.
                let src = content::path(paths, &blob.digest)?;
                let plain = tmp.join("layer.tar");
                let mut input = crate::image::layer::decompressed(std::fs::File::open(&src).at("open", &src)?)?;
                let mut hashing = crate::image::digest::Hashing::new(&mut input);
                let mut f = std::fs::File::create(&plain).at("create", &plain)?;
                std::io::copy(&mut hashing, &mut f).at("decompress", &src)?;
                if hashing.digest() != *diff_id {
                    return Err(Error::Corrupt {
                        path: src,
                        message: format!("layer no longer matches its diff_id {diff_id}: pull the image again"),
                    });
                }
                append_file(b, &name, &plain)?;
            }
            layers.push(name);
        }
        let tags = match tag {
            Some(t) => vec![t.clone()],
            None => img.repo_tags.clone(),
        };
        entries.push(serde_json::json!({ "Config": config, "RepoTags": tags, "Layers": layers }));
    }
    append_bytes(
        b,
        "manifest.json",
        serde_json::Value::from(entries).to_string().as_bytes(),
    )
}
