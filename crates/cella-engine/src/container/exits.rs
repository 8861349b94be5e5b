//! The exit codes of containers removed as they ended (`run --rm`), kept
//! a while so that a `wait` that began before the removal can still print
//! the code, as docker's does. One small file per container in
//! `<root>/exits`; files older than `KEEP` go at the next prune.

use crate::store::paths::Paths;
use std::time::Duration;

const KEEP: Duration = Duration::from_secs(600);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Touched by each prune: its age says when the last one was.
const PRUNED: &str = ".pruned";

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
    let _ = crate::store::write_atomic(&d.join(id), code.to_string().as_bytes(), crate::store::Durability::Live);
}

/// Removes the codes kept longer than `KEEP`. A walk of the directory
/// (thousands of files on a machine that runs many --rm containers), so at
/// most once a `PRUNE_EVERY`, and after the container's clients have their
/// exit code, not before.
pub fn prune(paths: &Paths) {
    let d = dir(paths);
    let marker = d.join(PRUNED);
    let age = |m: std::io::Result<std::fs::Metadata>| m.and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    if age(std::fs::metadata(&marker)).is_some_and(|a| a < PRUNE_EVERY) {
        return;
    }
    if std::fs::write(&marker, b"").is_err() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&d) else { return };
    for e in entries.flatten() {
        if e.file_name() != PRUNED && age(e.metadata()).is_some_and(|a| a > KEEP) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The kept exit code of a removed container, if there is one.
pub fn read(paths: &Paths, id: &str) -> Option<i32> {
    std::fs::read_to_string(dir(paths).join(id)).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_removes_old_codes_at_most_once_a_minute() {
        let base = std::env::temp_dir().join(format!("cella-exits-{}", std::process::id()));
        let paths = Paths::new(Some(base.join("store")), Some(base.join("run")));
        let aged = |id: &str| {
            let f = std::fs::File::options().write(true).open(dir(&paths).join(id)).unwrap();
            f.set_modified(std::time::SystemTime::now() - KEEP - Duration::from_secs(1))
                .unwrap();
        };
        record(&paths, "old", 1);
        record(&paths, "new", 2);
        aged("old");
        prune(&paths);
        assert_eq!((read(&paths, "old"), read(&paths, "new")), (None, Some(2)));
        // Within a minute of that walk, none: a code that ages meanwhile stays.
        aged("new");
        prune(&paths);
        assert_eq!(read(&paths, "new"), Some(2));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
