//! Named volumes, as docker's `local` driver keeps them: a directory per
//! volume under `<root>/volumes/NAME`, its files in `_data` (what
//! containers mount), its record in `volume.json`. Made by `volume create`
//! or on first use (`-v NAME:/path`, `--mount type=volume`); anonymous ones
//! (`-v /path`) get a random name and go with `rm -v` or `run --rm`.
//! Created and removed under the store lock, so a volume in use by a
//! container (one being created included) is never removed.

use crate::container::{self, Container};
use crate::error::{At, Error, Result};
use crate::store::paths::Paths;
use crate::store::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: Timestamp,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    /// Made for one container by `-v /path`: removed with it by `rm -v`
    /// and `--rm`, and by `volume prune` without `-a`.
    #[serde(default)]
    pub anonymous: bool,
}

const RECORD: &str = "volume.json";

fn dir(paths: &Paths, name: &str) -> PathBuf {
    paths.root.join("volumes").join(name)
}

/// The directory containers mount.
pub fn data(paths: &Paths, name: &str) -> PathBuf {
    dir(paths, name).join("_data")
}

/// docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && name.len() <= 255
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid volume name {name:?}: use at least two letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }
}

/// Whether a `-v` source names a volume (not a host path).
pub fn is_volume_source(source: &str) -> bool {
    !source.starts_with('/') && !source.starts_with('.') && !source.starts_with('~')
}

/// Makes the volume `name` (a random one when None) unless it exists; the
/// caller holds the store lock. An existing one is returned as it is.
pub fn create(paths: &Paths, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
    let (name, anonymous) = match name {
        Some(n) => (n.to_string(), false),
        None => (crate::store::ids::random_id()?, true),
    };
    check_name(&name)?;
    if let Ok(v) = find(paths, &name) {
        return Ok(v);
    }
    let d = dir(paths, &name);
    let data = data(paths, &name);
    std::fs::create_dir_all(&data).at("create", &data)?;
    let v = Volume {
        name: name.clone(),
        driver: "local".into(),
        mountpoint: data,
        created_at: Timestamp::now(),
        labels,
        scope: "local".into(),
        anonymous,
    };
    if let Err(e) = crate::store::write_json(&d.join(RECORD), &v, crate::store::Durability::Synced) {
        let _ = std::fs::remove_dir_all(&d);
        return Err(e);
    }
    Ok(v)
}

pub fn find(paths: &Paths, name: &str) -> Result<Volume> {
    check_name(name)?;
    match crate::store::read_json(&dir(paths, name).join(RECORD)) {
        Ok(v) => Ok(v),
        Err(e) if crate::container::not_found(&e) => Err(Error::NotFound(format!(
            "no such volume: {name} (see `cella volume ls`)"
        ))),
        Err(e) => Err(e),
    }
}

/// Every volume, by name.
pub fn list(paths: &Paths) -> Result<Vec<Volume>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(paths.root.join("volumes")) {
        for e in entries.flatten() {
            if let Ok(v) = find(paths, &e.file_name().to_string_lossy()) {
                out.push(v);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The volume names a container's `-v` list mounts.
pub fn names_in(c: &Container) -> impl Iterator<Item = &str> {
    Container::volume_names(&c.config.volumes)
}

/// Containers (in any state) that mount `name`.
pub fn users(paths: &Paths, name: &str) -> Result<Vec<Container>> {
    Ok(container::list(paths)?
        .into_iter()
        .filter(|c| names_in(c).any(|n| n == name))
        .collect())
}

/// Removes a volume no container uses; the caller holds the store lock.
pub fn remove(paths: &Paths, name: &str) -> Result<()> {
    find(paths, name)?;
    let users = users(paths, name)?;
    if !users.is_empty() {
        return Err(Error::Conflict(format!(
            "volume {name} is in use by container {}: remove the container first",
            users.iter().map(|c| c.short_id()).collect::<Vec<_>>().join(", ")
        )));
    }
    let d = dir(paths, name);
    std::fs::remove_dir_all(&d).at("remove", &d)
}

/// `volume prune`: unused volumes, anonymous ones only unless `all`; the
/// caller holds the store lock. The names removed.
pub fn prune(paths: &Paths, all: bool) -> Result<Vec<String>> {
    let containers = container::list(paths)?;
    let used: std::collections::HashSet<&str> = containers.iter().flat_map(names_in).collect();
    let mut removed = Vec::new();
    for v in list(paths)? {
        if used.contains(v.name.as_str()) || !(all || v.anonymous) {
            continue;
        }
        let d = dir(paths, &v.name);
        std::fs::remove_dir_all(&d).at("remove", &d)?;
        removed.push(v.name);
    }
    Ok(removed)
}

/// `-v` entries as the record keeps them: an anonymous `-v /path` made a
/// volume of its own (`NAME:/path`), a named one made if it is new. The
/// caller holds the store lock.
pub fn resolve_all(paths: &Paths, specs: &mut [String]) -> Result<()> {
    for v in specs.iter_mut() {
        let parts: Vec<&str> = v.split(':').collect();
        match parts[..] {
            [dst] if dst.starts_with('/') => {
                let vol = create(paths, None, BTreeMap::new())?;
                *v = format!("{}:{dst}", vol.name);
            }
            [src, ..] if is_volume_source(src) => {
                create(paths, Some(src), BTreeMap::new())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes those of `names` that no container uses any more (a container's
/// anonymous volumes once it is gone); takes the store lock.
pub fn remove_unused(paths: &Paths, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let _lock = crate::store::lock(paths)?;
    for n in names {
        if users(paths, n)?.is_empty() {
            let d = dir(paths, n);
            std::fs::remove_dir_all(&d).at("remove", &d)?;
        }
    }
    Ok(())
}

/// The anonymous volumes of a container (what `rm -v` and `--rm` remove).
pub fn anonymous_of(paths: &Paths, c: &Container) -> Vec<String> {
    names_in(c)
        .filter(|n| find(paths, n).is_ok_and(|v| v.anonymous))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dockers() {
        for ok in ["db", "my-vol_1.x", "0a"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-x", "a/b", "../x", "a b", ".x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(is_volume_source("data") && !is_volume_source("/srv") && !is_volume_source("./x"));
    }
}
