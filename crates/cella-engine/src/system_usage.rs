//! `system df`: what the store holds and what of it is in use, as docker
//! counts it (images by their unpacked size, containers by their own layer,
//! volumes by their data), each walked without following symlinks.

use crate::container::{self, Status};
use crate::error::Result;
use crate::store::paths::Paths;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One row of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// Bytes of the files under `dir` (allocated blocks, hard links once),
/// never following a symlink; 0 if it is not there.
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() <= 1 || seen.insert((m.dev(), m.ino())) {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

pub fn disk_usage(paths: &Paths) -> Result<Vec<Usage>> {
    let containers = container::list(paths)?;
    let images = crate::image::list(paths)?;
    let used_images: std::collections::HashSet<&str> = containers.iter().map(|c| c.image_id.as_str()).collect();
    let mut img = Usage {
        kind: "Images",
        total: images.len(),
        ..Default::default()
    };
    for i in &images {
        img.size += i.size;
        if used_images.contains(i.id.as_str()) {
            img.active += 1;
        } else {
            img.reclaimable += i.size;
        }
    }
    let mut ctr = Usage {
        kind: "Containers",
        total: containers.len(),
        ..Default::default()
    };
    for c in &containers {
        let size = tree_size(&c.dir(paths).join("diff"));
        ctr.size += size;
        if matches!(c.state.status, Status::Running | Status::Paused) {
            ctr.active += 1;
        } else {
            ctr.reclaimable += size;
        }
    }
    let volumes = crate::volume::list(paths)?;
    let used_volumes: std::collections::HashSet<&str> = containers.iter().flat_map(crate::volume::names_in).collect();
    let mut vol = Usage {
        kind: "Local Volumes",
        total: volumes.len(),
        ..Default::default()
    };
    for v in &volumes {
        let size = tree_size(&v.mountpoint);
        vol.size += size;
        if used_volumes.contains(v.name.as_str()) {
            vol.active += 1;
        } else {
            vol.reclaimable += size;
        }
    }
    let cache = Usage {
        kind: "Build Cache",
        ..Default::default()
    };
    Ok(vec![img, ctr, vol, cache])
}
