//! `cella import`: a root filesystem (tar archive, gzip or not; a directory;
//! or stdin) as a one-layer image.

use crate::error::{At, Error, Result};
use crate::image::{Image, ImageConfig};
use crate::store::paths::Paths;
use std::path::Path;

/// Imports `source` as `reference` (NAME[:TAG]) with `config` (from --change).
/// The input is copied, hashed and unpacked before the store lock is taken.
pub fn import(paths: &Paths, source: &str, reference: &str, mut config: ImageConfig) -> Result<Image> {
    let tag = crate::image::check_reference(reference)?;
    crate::store::ensure(paths)?;
    let tmp = crate::store::tmp_dir(paths, "import")?;
    let result = (|| {
        // The layer blob is kept as given (a directory as a plain tar).
        let p = Path::new(source);
        let blob = tmp.join("layer");
        if source == "-" {
            let mut out = std::fs::File::create(&blob).at("create", &blob)?;
            std::io::copy(&mut std::io::stdin().lock(), &mut out).at("read stdin into", &blob)?;
        } else if std::fs::metadata(p).at("read", p)?.is_dir() {
            tar_dir(p, &blob)?;
        } else {
            std::fs::copy(p, &blob).at("read", p)?;
        }
        let layer = crate::image::layer::prepare_layer(paths, &blob, None, false)?;
        if config.env.is_empty() {
            config.env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
        }
        let created = cella_runtime::log::rfc3339_now();
        let config_bytes = crate::image::intake::config_for_import(&config, &layer.unpacked.diff_id, &created);
        let _lock = crate::store::lock(paths)?;
        let layers = vec![crate::image::intake::Layer::Prepared(layer)];
        crate::image::intake::store_image(paths, &config_bytes, None, layers, vec![tag])
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A directory as a tar file (so that it is stored and hashed as any layer is).
fn tar_dir(dir: &Path, file: &Path) -> Result<std::path::PathBuf> {
    let out = std::fs::File::create(file).at("create", file)?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(out));
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", dir)
        .and_then(|_| b.into_inner())
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(|e| Error::Io {
            what: "read directory",
            path: dir.to_path_buf(),
            err: e,
        })?;
    Ok(file.to_path_buf())
}
