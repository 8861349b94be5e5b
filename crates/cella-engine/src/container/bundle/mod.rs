//! Turning a run configuration and an image into an OCI bundle
//! (containers/<id>/config.json with the rootfs beside it), with docker's
//! defaults: its capability set, a seccomp profile, masked /proc and /sys
//! paths, generated /etc/hostname, /etc/hosts and /etc/resolv.conf. One
//! room per part of the spec: `mounts`, `process`, `namespaces`,
//! `resources`, `security`.

mod mounts;
mod namespaces;
mod process;
mod resources;
pub mod seccomp_default;
mod security;

pub use mounts::{tmpfs, volume};
pub use process::command;
pub use resources::{check_cpuset, parse_memory, parse_memory_swap, MIN_MEMORY};
pub use security::{capabilities, DEFAULT_CAPS};

use crate::container::Container;
use crate::error::{At, Result};
use crate::image::Image;
use crate::store::paths::Paths;
use cella_spec::Spec;

/// The OCI resources `cfg` asks for (what `update` applies to a running
/// container, as the bundle has them).
pub fn resources_of(cfg: &crate::container::RunConfig) -> Result<cella_spec::Resources> {
    let mut spec = cella_spec::defaults::default_spec();
    resources::apply(cfg, &mut spec)?;
    Ok(spec.linux.and_then(|l| l.resources).unwrap_or_default())
}

/// Writes the bundle for `c` (config.json, rootfs skeleton, /etc files).
pub fn write_bundle(paths: &Paths, c: &Container, image: &Image) -> Result<Spec> {
    let cfg = &c.config;
    let dir = c.dir(paths);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).at("create", &rootfs)?;
    let mut spec = cella_spec::defaults::default_spec();
    let hostname = cfg.hostname.clone().unwrap_or_else(|| c.short_id().to_string());
    spec.hostname = Some(hostname.clone());
    spec.root = Some(cella_spec::Root {
        path: "rootfs".into(),
        readonly: cfg.read_only,
    });
    mounts::apply(paths, c, image, &hostname, &dir, &mut spec)?;
    process::apply(paths, cfg, image, &hostname, &mut spec)?;
    security::apply(cfg, &mut spec)?;
    resources::apply(cfg, &mut spec)?;
    let linux = spec.linux.as_mut().expect("default has linux");
    linux.cgroups_path = Some(cfg.cgroup_manager.cgroups_path(&c.id));
    for (k, v) in &cfg.annotations {
        spec.annotations.insert(k.clone(), v.clone());
    }
    if cfg.init {
        spec.annotations
            .insert(cella_runtime::INIT_ANNOTATION.into(), "true".into());
    }
    namespaces::apply(paths, cfg, c.id_base, &mut spec)?;
    // Derived from the container's record, and written again by every start.
    crate::store::write_json(&dir.join("config.json"), &spec, crate::store::Durability::Live)?;
    Ok(spec)
}
