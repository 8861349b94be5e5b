//! The store's safety rules: one lock for changes, atomic file writes.

pub mod ids;
pub mod paths;
pub mod time;

use crate::error::{At, Error, Result};
use crate::store::paths::Paths;
use serde::{de::DeserializeOwned, Serialize};
use std::os::fd::AsFd;
use std::path::Path;

/// An exclusive lock on the store, held while names, records or layers
/// change; released when dropped (or when the process dies).
pub struct StoreLock {
    _file: std::fs::File,
}

/// Creates the store's directories (0700) if needed, and checks that the
/// store and the runtime state root are the user's own and that no one else
/// may write in them (another user could otherwise plant records there).
pub fn ensure(paths: &Paths) -> Result<()> {
    make_dirs(paths)?;
    let root = std::fs::File::open(&paths.root).at("open", &paths.root)?;
    cella_runtime::container::check_private_dir(root.as_fd(), &paths.root)?;
    cella_runtime::container::ensure_root(&paths.runroot)?;
    Ok(())
}

fn make_dirs(paths: &Paths) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    for d in [
        paths.root.clone(),
        paths.containers(),
        paths.images(),
        paths.layers(),
        paths.tmp(),
        paths.trash(),
        paths.runroot.clone(),
    ] {
        // Parents as usual (0755 after umask); the store's own directories 0700.
        if let Some(parent) = d.parent() {
            std::fs::create_dir_all(parent).at("create directory", parent)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&d)
            .at("create directory", &d)?;
    }
    Ok(())
}

/// Takes the store lock, waiting for other cella commands.
pub fn lock(paths: &Paths) -> Result<StoreLock> {
    ensure(paths)?;
    let p = paths.lock_file();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .at("open lock file", &p)?;
    cella_sys::fd::flock_exclusive(file.as_fd(), false).at("lock", &p)?;
    // What a killed import, load or pull left in tmp/, and what a killed
    // remover left in trash/, goes.
    sweep_dead_owners(&paths.tmp(), |_| {});
    sweep_dead_owners(&paths.trash(), |name| {
        // A removed container's runtime state went with its files.
        if let Some(id) = name
            .strip_prefix("container-")
            .and_then(|r| r.split_once('-'))
            .map(|(_, id)| id)
        {
            let _ = cella_runtime::lifecycle::delete(&paths.runroot, id, true);
        }
    });
    sweep_unrecorded_containers(paths);
    sweep_partials(paths);
    Ok(StoreLock { _file: file })
}

/// Entries named KIND-PID-RANDOM whose PID is no longer alive, each after
/// `before` has seen its name.
fn sweep_dead_owners(dir: &Path, before: impl Fn(&str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let owner_alive = name
            .split('-')
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok())
            // A zombie is dead: its parent may be slow to reap it (an
            // orphan's is PID 1).
            .is_some_and(|pid| cella_runtime::container::proc_stat(pid).is_some_and(|s| s.live()));
        if !owner_alive {
            before(&name);
            let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
        }
    }
}

/// What a `cella run`/`create` killed part way left: a container directory
/// without its record. `create` writes the record last and holds this lock
/// throughout (as `rm` does while it removes one), so with the lock held
/// such a directory is no one's.
fn sweep_unrecorded_containers(paths: &Paths) {
    let Ok(entries) = std::fs::read_dir(paths.containers()) else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let unrecorded = matches!(
            std::fs::symlink_metadata(dir.join(Paths::CONTAINER_RECORD)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound
        );
        if is_dir && unrecorded {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Blobs part way downloaded (partial/) wait a day for a pull to resume
/// them; older ones go, unless a pull holds them now.
fn sweep_partials(paths: &Paths) {
    let Ok(entries) = std::fs::read_dir(paths.partial()) else {
        return;
    };
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < day_ago);
        if old {
            if let Ok(f) = std::fs::File::open(e.path()) {
                if cella_sys::fd::flock_exclusive(f.as_fd(), true).is_ok() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// A fresh directory in tmp/ for this process's transfer (KIND-PID-RANDOM).
pub fn tmp_dir(paths: &Paths, kind: &str) -> Result<std::path::PathBuf> {
    let d = paths.tmp().join(format!(
        "{kind}-{}-{}",
        std::process::id(),
        &crate::store::ids::random_id()?[..16]
    ));
    std::fs::create_dir_all(&d).at("create", &d)?;
    Ok(d)
}

/// How much a record write promises. Both replace the file whole (a
/// temporary file beside it, renamed over it): readers see the old or the
/// new file, never half of it, whatever process is killed when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Also survives a power loss (fsync before the rename): what the store
    /// *is*, such as images, blobs, a container's config, networks, volumes.
    Synced,
    /// Not synced: state that a reboot makes stale anyway and that the
    /// engine rebuilds from the runtime's truth (a container's live state,
    /// its bundle, health, restart count, kept exit codes). A start writes
    /// several of these; each fsync is a journal commit waited for
    /// (0.3-0.9 ms each here).
    Live,
}

/// Writes `value` as JSON to `path` (see `Durability`).
pub fn write_json(path: &Path, value: &impl Serialize, durability: Durability) -> Result<()> {
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(format!("encode {}: {e}", path.display())))?;
    write_atomic(path, &bytes, durability)
}

/// Replaces `path` with `bytes` (see `Durability`).
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).at("create", &tmp)?;
    f.write_all(bytes).at("write", &tmp)?;
    if durability == Durability::Synced {
        f.sync_all().at("sync", &tmp)?;
    }
    std::fs::rename(&tmp, path).at("rename into place", path)
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).at("read", path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = std::env::temp_dir().join(format!("cella-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        write_json(&p, &vec![1, 2, 3], Durability::Synced).unwrap();
        write_json(&p, &vec![4], Durability::Live).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), vec![4]);
        std::fs::write(&p, b"{").unwrap();
        assert!(matches!(read_json::<Vec<i32>>(&p), Err(Error::Corrupt { .. })));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary files left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
