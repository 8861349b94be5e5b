//! `cella commit`: a container's own layer as a new image on top of its
//! image's layers, with the image's config changed as asked (docker's
//! commit: the container's command and environment, `--change`, author and
//! message). A running container is paused while its layer is read.

use crate::container::Container;
use crate::error::{At, Error, Result};
use crate::image::intake::Layer;
use crate::image::{Image, ImageConfig};
use crate::store::paths::Paths;

/// What `commit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// NAME[:TAG]; None: an image without a name.
    pub reference: Option<String>,
    /// The new image's settings (the caller starts from the image's).
    pub config: ImageConfig,
    pub author: String,
    pub message: String,
    /// Freeze a running container while its layer is read (docker's default).
    pub pause: bool,
}

pub fn commit(paths: &Paths, c: &Container, req: &Request) -> Result<Image> {
    let tag = req
        .reference
        .as_deref()
        .map(crate::image::check_reference)
        .transpose()?;
    let base = crate::image::find(paths, &c.image_id)?;
    if base.id == crate::image::HOST_ID {
        return Err(Error::Conflict(format!(
            "container {} runs the host image: its files are the host's and cannot become an image",
            c.name
        )));
    }
    let (_, manifest) = crate::image::manifest_of(paths, &base)?;
    let base_config = crate::image::content::read(paths, &manifest.config.digest)?;
    let mut config: serde_json::Value = serde_json::from_slice(&base_config).map_err(|e| Error::Corrupt {
        path: manifest.config.digest.clone().into(),
        message: format!("the image's config is not JSON: {e}"),
    })?;
    crate::store::ensure(paths)?;
    let tmp = crate::store::tmp_dir(paths, "commit")?;
    let result = (|| {
        let file = tmp.join("layer.tar");
        let out = std::fs::File::create(&file).at("create", &file)?;
        let running = matches!(c.state.status, crate::container::Status::Running);
        let freeze = req.pause && running;
        if freeze {
            cella_runtime::control::pause(&paths.runroot, &c.id)?;
        }
        let written = crate::container::changes::layer_tar(paths, c, std::io::BufWriter::new(out));
        if freeze {
            let _ = cella_runtime::control::resume(&paths.runroot, &c.id);
        }
        written?;
        let layer = crate::image::layer::prepare_layer(paths, &file, None, false)?;
        let created = cella_runtime::log::rfc3339_now();
        let command = crate::container::inspect::command_of(paths, c).join(" ");
        edit_config(&mut config, req, &layer.unpacked.diff_id, &created, &command);
        let bytes = serde_json::to_vec(&config).expect("a config serializes");
        let mut layers: Vec<Layer> = manifest
            .layers
            .iter()
            .zip(&base.layers)
            .map(|(blob, diff_id)| Layer::Stored {
                blob: blob.clone(),
                diff_id: diff_id.clone(),
            })
            .collect();
        layers.push(Layer::Prepared(layer));
        let _lock = crate::store::lock(paths)?;
        crate::image::intake::store_image(paths, &bytes, None, layers, tag.into_iter().collect())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// The image's config with the new layer, the settings asked, and a step
/// in its history.
fn edit_config(config: &mut serde_json::Value, req: &Request, diff_id: &str, created: &str, command: &str) {
    let c = &req.config;
    let settings = config
        .as_object_mut()
        .map(|o| o.entry("config").or_insert_with(|| serde_json::json!({})));
    if let Some(s) = settings.and_then(|s| s.as_object_mut()) {
        let mut put = |k: &str, v: serde_json::Value, empty: bool| {
            if empty {
                s.remove(k);
            } else {
                s.insert(k.into(), v);
            }
        };
        put("Cmd", c.cmd.clone().into(), c.cmd.is_empty());
        put("Entrypoint", c.entrypoint.clone().into(), c.entrypoint.is_empty());
        put("Env", c.env.clone().into(), c.env.is_empty());
        put("WorkingDir", c.working_dir.clone().into(), c.working_dir.is_empty());
        put("User", c.user.clone().into(), c.user.is_empty());
        let ports: serde_json::Map<String, serde_json::Value> = c
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), serde_json::json!({})))
            .collect();
        put("ExposedPorts", ports.into(), c.exposed_ports.is_empty());
    }
    config["created"] = created.into();
    if !req.author.is_empty() {
        config["author"] = req.author.clone().into();
    }
    match config["rootfs"]["diff_ids"].as_array_mut() {
        Some(ids) => ids.push(diff_id.into()),
        None => config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": [diff_id]}),
    }
    let mut step = serde_json::json!({"created": created, "created_by": command});
    if !req.message.is_empty() {
        step["comment"] = req.message.clone().into();
    }
    if !req.author.is_empty() {
        step["author"] = req.author.clone().into();
    }
    match config["history"].as_array_mut() {
        Some(h) => h.push(step),
        None => config["history"] = serde_json::json!([step]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_gets_the_layer_the_settings_and_a_step() {
        let mut cfg = serde_json::json!({
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
            "history": [{"created_by": "import"}],
        });
        let req = Request {
            config: ImageConfig {
                cmd: vec!["/bin/app".into()],
                env: vec!["PATH=/bin".into(), "A=1".into()],
                ..Default::default()
            },
            author: "me".into(),
            message: "first".into(),
            ..Default::default()
        };
        edit_config(&mut cfg, &req, "sha256:new", "2026-12-02T00:00:00Z", "sh -c work");
        assert_eq!(
            cfg["rootfs"]["diff_ids"],
            serde_json::json!(["sha256:base", "sha256:new"])
        );
        assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["/bin/app"]));
        assert_eq!(cfg["config"]["Env"][1], "A=1");
        assert_eq!(cfg["history"][1]["comment"], "first");
        assert_eq!(cfg["history"][1]["created_by"], "sh -c work");
        assert_eq!(cfg["author"], "me");
        let back = crate::image::intake::parse_config(&serde_json::to_vec(&cfg).unwrap()).unwrap();
        assert_eq!(back.rootfs.unwrap().diff_ids.len(), 2);
    }
}
