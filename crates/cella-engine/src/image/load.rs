//! `cella load`: the archives `docker save` and `podman save` write
//! (docker-archive: manifest.json with config and layer paths; oci-archive:
//! an OCI image layout in a tar), and an OCI image layout directory.
//!
//! What an archive holds is untrusted: it is read as members (`archive`),
//! never unpacked as it stands; a layout directory is read in its own root
//! (`inroot`); every document is bounded; layers are hashed and unpacked
//! into the store's tmp/ before the store lock is taken, so a stream that
//! never ends holds up nobody else.

use crate::error::{At, Error, Result};
use crate::image::archive::Members;
use crate::image::layer::Prepared;
use crate::image::Image;
use crate::safefs::inroot::MAX_DOCUMENT;
use crate::store::paths::Paths;
use serde::Deserialize;
use std::os::fd::AsFd;
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
    manifests: Vec<crate::image::content::Descriptor>,
}

/// Where the documents and blobs of an image come from.
enum Source {
    Archive(Members),
    /// An OCI layout directory, opened; blobs are copied out of it into `tmp`.
    Layout {
        root: std::fs::File,
        tmp: PathBuf,
    },
}

impl Source {
    fn bytes(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        match self {
            Source::Archive(m) => m.bytes(name, limit),
            Source::Layout { root, .. } => crate::safefs::inroot::read_file(root.as_fd(), Path::new(name), limit)?
                .ok_or_else(|| Error::NotFound(format!("{name} is not in the image layout"))),
        }
    }

    fn json<T: for<'a> Deserialize<'a>>(&self, name: &str) -> Result<T> {
        serde_json::from_slice(&self.bytes(name, MAX_DOCUMENT)?).map_err(|e| Error::Corrupt {
            path: name.into(),
            message: e.to_string(),
        })
    }

    /// A blob as a file of ours (a temporary of the store's).
    fn file(&self, name: &str, n: usize) -> Result<PathBuf> {
        match self {
            Source::Archive(m) => m.file(name),
            Source::Layout { root, tmp } => {
                let mut from = crate::safefs::inroot::open_file(root.as_fd(), Path::new(name))?;
                let to = tmp.join(format!("blob{n}"));
                let mut out = std::fs::File::create(&to).at("create", &to)?;
                std::io::copy(&mut from, &mut out).at("copy blob", Path::new(name))?;
                Ok(to)
            }
        }
    }
}

/// An image read and its layers unpacked, ready for the store.
struct Ready {
    config: Vec<u8>,
    manifest: Option<Vec<u8>>,
    layers: Vec<Prepared>,
    tags: Vec<String>,
}

/// A document of the archive must match the digest it is named by.
fn check(digest: &str, bytes: &[u8]) -> Result<()> {
    let got = format!("sha256:{}", crate::image::digest::sha256_hex(bytes));
    crate::image::content::verify(digest, &got, "archive document")
}

fn blob_name(digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(format!("blobs/sha256/{hex}")),
        _ => Err(Error::Invalid(format!("unsupported digest {digest:?}: sha256 only"))),
    }
}

fn tags(given: Vec<String>) -> Result<Vec<String>> {
    given
        .iter()
        .map(|t| {
            crate::image::check_reference(t)
                .map_err(|e| Error::Invalid(format!("the archive names its image {t:?}: {e}; refusing the archive")))
        })
        .collect()
}

fn read_docker(paths: &Paths, src: &Source) -> Result<Vec<Ready>> {
    let manifests: Vec<DockerManifest> = src.json("manifest.json")?;
    let mut out = Vec::new();
    for m in manifests {
        let config = src.bytes(&m.config, MAX_DOCUMENT)?;
        let mut layers = Vec::new();
        for (i, l) in m.layers.iter().enumerate() {
            let file = src.file(l, i)?;
            layers.push(crate::image::layer::prepare_layer(paths, &file, None, false)?);
        }
        out.push(Ready {
            config,
            manifest: None,
            layers,
            tags: tags(m.repo_tags.unwrap_or_default())?,
        });
    }
    Ok(out)
}

fn read_oci(paths: &Paths, src: &Source) -> Result<Vec<Ready>> {
    let index: OciIndex = src.json("index.json")?;
    let mut out = Vec::new();
    for d in index.manifests {
        if d.media_type.contains("index") || d.media_type.contains("manifest.list") {
            return Err(Error::Invalid(
                "multi-platform image indexes in a layout are not supported yet; save one platform".into(),
            ));
        }
        let manifest_bytes = src.bytes(&blob_name(&d.digest)?, MAX_DOCUMENT)?;
        check(&d.digest, &manifest_bytes)?;
        let manifest = crate::image::content::parse_manifest(&manifest_bytes, &d.digest)?;
        let config = src.bytes(&blob_name(&manifest.config.digest)?, MAX_DOCUMENT)?;
        check(&manifest.config.digest, &config)?;
        let mut layers = Vec::new();
        for (i, l) in manifest.layers.iter().enumerate() {
            let file = src.file(&blob_name(&l.digest)?, i)?;
            layers.push(crate::image::layer::prepare_layer(
                paths,
                &file,
                Some(&l.digest),
                false,
            )?);
        }
        // podman and skopeo write the whole reference; a bare tag has no name to go with.
        let given = d
            .annotations
            .get("org.opencontainers.image.ref.name")
            .filter(|r| r.contains(':') || r.contains('/'))
            .map(|r| vec![r.clone()])
            .unwrap_or_default();
        out.push(Ready {
            config,
            manifest: Some(manifest_bytes),
            layers,
            tags: tags(given)?,
        });
    }
    Ok(out)
}

fn read(paths: &Paths, src: &Source) -> Result<Vec<Ready>> {
    let docker = match src {
        Source::Archive(m) => m.has("manifest.json"),
        Source::Layout { root, .. } => {
            crate::safefs::inroot::open_path(root.as_fd(), Path::new("manifest.json")).is_ok()
        }
    };
    let oci = match src {
        Source::Archive(m) => m.has("index.json"),
        Source::Layout { root, .. } => crate::safefs::inroot::open_path(root.as_fd(), Path::new("index.json")).is_ok(),
    };
    if docker {
        read_docker(paths, src)
    } else if oci {
        read_oci(paths, src)
    } else {
        Err(Error::Invalid(
            "neither a docker archive (manifest.json) nor an OCI archive or layout (index.json)".into(),
        ))
    }
}

/// Loads every image in `source` (an archive file, `-` for stdin, or an OCI
/// layout directory). The store lock is held only to put them in place.
pub fn load(paths: &Paths, source: &str) -> Result<Vec<Image>> {
    crate::store::ensure(paths)?;
    let tmp = crate::store::tmp_dir(paths, "load")?;
    let result = (|| {
        let p = Path::new(source);
        let src = if source != "-" && p.is_dir() {
            let root = std::fs::File::open(p).at("open", p)?;
            Source::Layout { root, tmp: tmp.clone() }
        } else {
            let input: Box<dyn std::io::Read> = if source == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::fs::File::open(p).at("open", p)?)
            };
            Source::Archive(Members::read(crate::image::layer::decompressed(input)?, &tmp)?)
        };
        let ready = read(paths, &src).map_err(|e| match e {
            Error::Invalid(m) => Error::Invalid(format!("{source}: {m}")),
            other => other,
        })?;
        if ready.is_empty() {
            return Err(Error::Invalid(format!("{source}: the archive holds no image")));
        }
        let _lock = crate::store::lock(paths)?;
        let mut images = Vec::new();
        for r in ready {
            let layers = r
                .layers
                .into_iter()
                .map(crate::image::intake::Layer::Prepared)
                .collect();
            images.push(crate::image::intake::store_image(
                paths,
                &r.config,
                r.manifest.as_deref(),
                layers,
                r.tags,
            )?);
        }
        Ok(images)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
