//! `cella load`: the archives `docker save` and `podman save` write
//! (docker-archive: manifest.json with config and layer paths; oci-archive:
//! an OCI image layout in a tar), and an OCI image layout directory.

use crate::error::{At, Error, Result};
use crate::image::Image;
use crate::paths::Paths;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<crate::content::Descriptor>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).at("read", path)
}

fn json<T: for<'a> Deserialize<'a>>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A path inside the archive, refusing anything that climbs out of it.
fn inside(base: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(Error::Invalid(format!(
            "archive entry {rel:?} points outside the archive"
        )));
    }
    Ok(base.join(p))
}

/// A document of the archive must match the digest it is named by.
fn check(digest: &str, bytes: &[u8]) -> Result<()> {
    let got = format!("sha256:{}", crate::content::sha256_hex(bytes));
    crate::content::verify(digest, &got, "archive document")
}

fn blob(layout: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| Error::Invalid(format!("bad digest {digest:?}")))?;
    if alg != "sha256" || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("unsupported digest {digest:?}")));
    }
    Ok(layout.join("blobs").join(alg).join(hex))
}

/// Stores one image of an archive (`owned`: its files are the store's
/// temporaries) or of a layout directory (copied).
fn store(
    paths: &Paths,
    config: &[u8],
    manifest: Option<&[u8]>,
    layers: &[(PathBuf, Option<String>)],
    owned: bool,
    tags: Vec<String>,
) -> Result<Image> {
    let layers = layers
        .iter()
        .map(|(path, digest)| crate::intake::Layer::File {
            path: path.clone(),
            owned,
            digest: digest.clone(),
        })
        .collect();
    crate::intake::store_image(paths, config, manifest, layers, tags)
}

fn load_docker(paths: &Paths, dir: &Path) -> Result<Vec<Image>> {
    let manifests: Vec<DockerManifest> = json(&dir.join("manifest.json"))?;
    let mut out = Vec::new();
    for m in manifests {
        let config = read(&inside(dir, &m.config)?)?;
        let layers: Vec<(PathBuf, Option<String>)> = m
            .layers
            .iter()
            .map(|l| Ok((inside(dir, l)?, None)))
            .collect::<Result<_>>()?;
        out.push(store(
            paths,
            &config,
            None,
            &layers,
            true,
            m.repo_tags.unwrap_or_default(),
        )?);
    }
    Ok(out)
}

fn load_oci(paths: &Paths, layout: &Path, owned: bool) -> Result<Vec<Image>> {
    let index: OciIndex = json(&layout.join("index.json"))?;
    let mut out = Vec::new();
    for d in index.manifests {
        if d.media_type.contains("index") || d.media_type.contains("manifest.list") {
            return Err(Error::Invalid(
                "multi-platform image indexes in a layout are not supported yet; save one platform".into(),
            ));
        }
        let manifest_bytes = read(&blob(layout, &d.digest)?)?;
        check(&d.digest, &manifest_bytes)?;
        let manifest = crate::content::parse_manifest(&manifest_bytes, &d.digest)?;
        let config = read(&blob(layout, &manifest.config.digest)?)?;
        check(&manifest.config.digest, &config)?;
        let layers: Vec<(PathBuf, Option<String>)> = manifest
            .layers
            .iter()
            .map(|l| Ok((blob(layout, &l.digest)?, Some(l.digest.clone()))))
            .collect::<Result<_>>()?;
        // podman and skopeo write the whole reference; a bare tag has no name to go with.
        let tags = d
            .annotations
            .get("org.opencontainers.image.ref.name")
            .filter(|r| r.contains(':') || r.contains('/'))
            .map(|r| vec![crate::image::normalize(r)])
            .unwrap_or_default();
        out.push(store(paths, &config, Some(&manifest_bytes), &layers, owned, tags)?);
    }
    Ok(out)
}

/// Loads every image in `source` (an archive file, `-` for stdin, or an OCI
/// layout directory). The store lock is held throughout.
pub fn load(paths: &Paths, source: &str) -> Result<Vec<Image>> {
    let _lock = crate::store::lock(paths)?;
    let p = Path::new(source);
    if source != "-" && p.is_dir() {
        return finish(load_oci(paths, p, false)?);
    }
    let tmp = crate::store::tmp_dir(paths, "load")?;
    let result = (|| {
        let input: Box<dyn std::io::Read> = if source == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(p).at("open", p)?)
        };
        let mut archive = tar::Archive::new(crate::layer::decompressed(input)?);
        archive.set_preserve_permissions(false);
        archive.unpack(&tmp).at("unpack archive into", &tmp)?;
        if tmp.join("manifest.json").exists() {
            load_docker(paths, &tmp)
        } else if tmp.join("index.json").exists() {
            load_oci(paths, &tmp, true)
        } else {
            Err(Error::Invalid(format!(
                "{source} is neither a docker archive (manifest.json) nor an OCI archive (index.json)"
            )))
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    finish(result?)
}

fn finish(images: Vec<Image>) -> Result<Vec<Image>> {
    if images.is_empty() {
        return Err(Error::Invalid("the archive holds no image".into()));
    }
    Ok(images)
}
