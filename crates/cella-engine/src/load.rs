//! `cella load`: the archives `docker save` and `podman save` write
//! (docker-archive: manifest.json with config and layer paths; oci-archive:
//! an OCI image layout in a tar), and an OCI image layout directory.

use crate::error::{At, Error, Result};
use crate::image::{Image, ImageConfig};
use crate::paths::Paths;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The parts of an image config file (docker's or OCI's) the engine uses.
#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<ConfigSection>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConfigSection {
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    exposed_ports: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
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

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
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

fn blob(layout: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| Error::Invalid(format!("bad digest {digest:?}")))?;
    if alg != "sha256" || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("unsupported digest {digest:?}")));
    }
    Ok(layout.join("blobs").join(alg).join(hex))
}

fn image_from(paths: &Paths, config_bytes: &[u8], layer_files: &[PathBuf], tags: Vec<String>) -> Result<Image> {
    let cfg: ConfigFile =
        serde_json::from_slice(config_bytes).map_err(|e| Error::Invalid(format!("image config: {e}")))?;
    let c = cfg.config.unwrap_or_default();
    let mut layers = Vec::new();
    let mut size = 0;
    for f in layer_files {
        let file = std::fs::File::open(f).at("open layer", f)?;
        let (digest, s) = crate::layer::import_tar(paths, file)?;
        layers.push(digest);
        size += s;
    }
    Ok(Image {
        id: format!("sha256:{}", hex(config_bytes)),
        repo_tags: tags,
        created: cfg.created.unwrap_or_else(cella_runtime::log::rfc3339_now),
        layers,
        config: ImageConfig {
            cmd: c.cmd.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            exposed_ports: c.exposed_ports.map(|m| m.into_keys().collect()).unwrap_or_default(),
        },
        size,
    })
}

fn load_docker(paths: &Paths, dir: &Path) -> Result<Vec<Image>> {
    let manifests: Vec<DockerManifest> = json(&dir.join("manifest.json"))?;
    let mut out = Vec::new();
    for m in manifests {
        let config = read(&inside(dir, &m.config)?)?;
        let layers: Vec<PathBuf> = m.layers.iter().map(|l| inside(dir, l)).collect::<Result<_>>()?;
        out.push(image_from(paths, &config, &layers, m.repo_tags.unwrap_or_default())?);
    }
    Ok(out)
}

fn load_oci(paths: &Paths, layout: &Path) -> Result<Vec<Image>> {
    let index: OciIndex = json(&layout.join("index.json"))?;
    let mut out = Vec::new();
    for d in index.manifests {
        if d.media_type.contains("index") || d.media_type.contains("manifest.list") {
            return Err(Error::Invalid(
                "multi-platform image indexes in a layout are not supported yet; save one platform".into(),
            ));
        }
        let manifest: OciManifest = json(&blob(layout, &d.digest)?)?;
        let config = read(&blob(layout, &manifest.config.digest)?)?;
        let layers: Vec<PathBuf> = manifest
            .layers
            .iter()
            .map(|l| blob(layout, &l.digest))
            .collect::<Result<_>>()?;
        // podman and skopeo write the whole reference; a bare tag has no name to go with.
        let tags = d
            .annotations
            .get("org.opencontainers.image.ref.name")
            .filter(|r| r.contains(':') || r.contains('/'))
            .map(|r| vec![crate::image::normalize(r)])
            .unwrap_or_default();
        out.push(image_from(paths, &config, &layers, tags)?);
    }
    Ok(out)
}

/// Loads every image in `source` (an archive file, `-` for stdin, or an OCI
/// layout directory). The store lock is held throughout.
pub fn load(paths: &Paths, source: &str) -> Result<Vec<Image>> {
    let _lock = crate::store::lock(paths)?;
    let p = Path::new(source);
    if source != "-" && p.is_dir() {
        return finish(paths, load_oci(paths, p)?);
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
            load_oci(paths, &tmp)
        } else {
            Err(Error::Invalid(format!(
                "{source} is neither a docker archive (manifest.json) nor an OCI archive (index.json)"
            )))
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    finish(paths, result?)
}

fn finish(paths: &Paths, images: Vec<Image>) -> Result<Vec<Image>> {
    if images.is_empty() {
        return Err(Error::Invalid("the archive holds no image".into()));
    }
    for i in &images {
        crate::image::save(paths, i)?;
    }
    Ok(images)
}
