//! `cella import`: a root filesystem (tar archive, gzip or not; a directory;
//! or stdin) as a one-layer image.

use crate::error::{At, Error, Result};
use crate::image::{Image, ImageConfig};
use crate::paths::Paths;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Imports `source` as `reference` (NAME[:TAG]) with `config` (from --change).
pub fn import(paths: &Paths, source: &str, reference: &str, mut config: ImageConfig) -> Result<Image> {
    let tag = crate::image::check_reference(reference)?;
    let _lock = crate::store::lock(paths)?;
    let (layer, size) = if source == "-" {
        crate::layer::import_tar(paths, std::io::stdin().lock())?
    } else {
        let p = Path::new(source);
        let meta = std::fs::metadata(p).at("read", p)?;
        if meta.is_dir() {
            import_dir(paths, p)?
        } else {
            crate::layer::import_tar(paths, std::fs::File::open(p).at("open", p)?)?
        }
    };
    if config.env.is_empty() {
        config.env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
    }
    let created = cella_runtime::log::rfc3339_now();
    let body = serde_json::json!({ "created": created, "layers": [layer], "config": config });
    let hex: String = Sha256::digest(body.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let image = Image {
        id: format!("sha256:{hex}"),
        repo_tags: vec![tag],
        created,
        layers: vec![layer],
        config,
        size,
    };
    crate::image::save(paths, &image)?;
    Ok(image)
}

/// A directory goes through tar (so that it is stored and hashed as any
/// layer is), written by a thread into a pipe.
fn import_dir(paths: &Paths, dir: &Path) -> Result<(String, u64)> {
    let (reader, writer) = std::io::pipe().at("pipe", dir)?;
    let src = dir.to_path_buf();
    let producer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        b.append_dir_all(".", &src)?;
        b.finish()
    });
    let result = crate::layer::import_tar(paths, reader);
    match producer.join() {
        Ok(Ok(())) => result,
        Ok(Err(e)) => Err(Error::Io {
            what: "read directory",
            path: dir.to_path_buf(),
            source: e,
        }),
        Err(_) => Err(Error::Invalid(format!("reading {} failed", dir.display()))),
    }
}
