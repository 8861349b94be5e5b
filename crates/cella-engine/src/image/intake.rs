//! Bringing an image into the store, whichever way it came (pull, load,
//! import): its config and manifest into the content store, each layer
//! unpacked and its blob kept, the layers checked against the config's
//! diff_ids, and the image record written.

use crate::error::{Error, Result};
use crate::image::content::{self, Descriptor};
use crate::image::{Image, ImageConfig};
use crate::store::paths::Paths;
use serde::Deserialize;

/// The parts of an image config file (docker's or OCI's) the engine uses.
#[derive(Deserialize, Default)]
pub struct ConfigFile {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ConfigSection>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigSection {
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    exposed_ports: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize, Default)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

pub fn parse_config(bytes: &[u8]) -> Result<ConfigFile> {
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid(format!("image config: {e}")))
}

/// One layer of an image on its way in.
pub enum Layer {
    /// Already in the store: its blob and its unpacked directory.
    Stored { blob: Descriptor, diff_id: String },
    /// Hashed and unpacked into tmp/ already; its blob file is a temporary
    /// of the store's (pull, load, import).
    Prepared(crate::image::layer::Prepared),
}

/// The bytes under `dir`, for a layer that was unpacked before.
fn du(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => total += du(&e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

/// Stores an image. `manifest` is kept as it came; without one an OCI
/// manifest is made for the stored blobs. The caller holds the store lock.
pub fn store_image(
    paths: &Paths,
    config_bytes: &[u8],
    manifest: Option<&[u8]>,
    layers: Vec<Layer>,
    tags: Vec<String>,
) -> Result<Image> {
    let cfg = parse_config(config_bytes)?;
    let mut blobs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut size = 0;
    for l in layers {
        match l {
            Layer::Prepared(p) => {
                let s = p.commit(paths)?;
                blobs.push(s.blob);
                diff_ids.push(s.diff_id);
                size += s.size;
            }
            Layer::Stored { blob, diff_id } => {
                let dir = crate::image::layer::dir(paths, &diff_id);
                if !dir.exists() || !content::has(paths, &blob.digest) {
                    return Err(Error::Conflict(format!(
                        "layer {diff_id} was removed (rmi) while the image came in: try again"
                    )));
                }
                size += du(&dir);
                blobs.push(blob);
                diff_ids.push(diff_id);
            }
        }
    }
    let wanted = cfg.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    if !wanted.is_empty() && wanted != diff_ids {
        return Err(Error::Corrupt {
            path: "image config".into(),
            message: format!(
                "the layers' contents {diff_ids:?} are not the ones the config names {wanted:?}: refusing the image"
            ),
        });
    }
    let id = content::put_bytes(paths, config_bytes)?;
    let manifest_digest = match manifest {
        Some(m) => content::put_bytes(paths, m)?,
        None => content::put_bytes(paths, &content::oci_manifest(&id, config_bytes.len() as u64, &blobs))?,
    };
    let c = cfg.config.unwrap_or_default();
    let image = Image {
        id,
        repo_tags: tags,
        created: Some(
            cfg.created
                .as_deref()
                .and_then(crate::store::time::Timestamp::parse)
                .unwrap_or_else(crate::store::time::Timestamp::now),
        ),
        layers: diff_ids,
        config: ImageConfig {
            cmd: c.cmd.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            exposed_ports: c.exposed_ports.map(|m| m.into_keys().collect()).unwrap_or_default(),
        },
        size,
        manifest: manifest_digest,
    };
    crate::image::save(paths, &image)?;
    Ok(image)
}

/// An OCI image config for a root filesystem imported as one layer.
pub fn config_for_import(config: &ImageConfig, diff_id: &str, created: &str) -> Vec<u8> {
    let mut c = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value, empty: bool| {
        if !empty {
            c.insert(k.into(), v);
        }
    };
    put("Env", config.env.clone().into(), config.env.is_empty());
    put("Cmd", config.cmd.clone().into(), config.cmd.is_empty());
    put(
        "Entrypoint",
        config.entrypoint.clone().into(),
        config.entrypoint.is_empty(),
    );
    put(
        "WorkingDir",
        config.working_dir.clone().into(),
        config.working_dir.is_empty(),
    );
    put("User", config.user.clone().into(), config.user.is_empty());
    let ports: serde_json::Map<String, serde_json::Value> = config
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), serde_json::json!({})))
        .collect();
    put("ExposedPorts", ports.into(), config.exposed_ports.is_empty());
    serde_json::to_vec(&serde_json::json!({
        "created": created,
        "architecture": crate::image::platform::host_architecture(),
        "os": "linux",
        "config": c,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "created_by": "cella import" }],
    }))
    .expect("a config serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_configs_read_back_as_they_were_given() {
        let given = ImageConfig {
            cmd: vec!["/bin/sh".into()],
            env: vec!["PATH=/bin".into()],
            exposed_ports: vec!["80/tcp".into()],
            ..ImageConfig::default()
        };
        let bytes = config_for_import(&given, "sha256:ab", "2026-01-01T00:00:00Z");
        let back = parse_config(&bytes).unwrap();
        assert_eq!(back.rootfs.unwrap().diff_ids, ["sha256:ab"]);
        let c = back.config.unwrap();
        assert_eq!(c.cmd.unwrap(), given.cmd);
        assert!(c.entrypoint.is_none(), "empty fields are left out");
        assert_eq!(
            c.exposed_ports.unwrap().into_keys().collect::<Vec<_>>(),
            given.exposed_ports
        );
    }
}
