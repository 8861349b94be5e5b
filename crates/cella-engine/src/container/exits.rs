//! The exit codes of containers removed as they ended (`run --rm`), kept
//! a while so that a `wait` that began before the removal can still print
//! the code, as docker's does. One small file per container in
//! `<root>/exits`; files older than `KEEP` go whenever another is written.

use crate::store::paths::Paths;
use std::time::Duration;

const KEEP: Duration = Duration::from_secs(600);

fn dir(paths: &Paths) -> std::path::PathBuf {
    paths.root.join("exits")
}

/// Keeps `code` for the container `id` (best effort: a waiter that finds
/// nothing reports the container gone).
pub fn record(paths: &Paths, id: &str, code: i32) {
    let d = dir(paths);
    if std::fs::create_dir_all(&d).is_err() {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(&d) {
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > KEEP);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = crate::store::write_atomic(&d.join(id), code.to_string().as_bytes(), crate::store::Durability::Live);
}

/// The kept exit code of a removed container, if there is one.
pub fn read(paths: &Paths, id: &str) -> Option<i32> {
    std::fs::read_to_string(dir(paths).join(id)).ok()?.trim().parse().ok()
}
