//! Where the engine keeps things: the store (images, layers, containers) and
//! the runtime state root shared with cella-runtime.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    /// /var/lib/cella (root) or $XDG_DATA_HOME/cella.
    pub root: PathBuf,
    /// cella-runtime's state root: /run/cella (root) or $XDG_RUNTIME_DIR/cella.
    pub runroot: PathBuf,
}

/// The default store: /var/lib/cella for root; $XDG_DATA_HOME/cella (or
/// ~/.local/share/cella) for other users.
pub fn default_root() -> PathBuf {
    if cella_sys::process::geteuid() == 0 {
        return PathBuf::from("/var/lib/cella");
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("cella");
    }
    home().join(".local/share/cella")
}

/// $HOME, else the home directory /etc/passwd gives this user (never a
/// shared directory such as /tmp, where another user could be first).
fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return h.into();
    }
    cella_sys::process::home_of(cella_sys::process::geteuid())
        .filter(|h| !h.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

/// A per-user directory: $VAR when set, else ~/UNDER_HOME (e.g.
/// $XDG_CONFIG_HOME or ~/.config).
pub fn user_dir(var: &str, under_home: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
        return d.into();
    }
    home().join(under_home)
}

impl Paths {
    pub fn new(root: Option<PathBuf>, runroot: Option<PathBuf>) -> Paths {
        Paths {
            root: root.unwrap_or_else(default_root),
            runroot: runroot.unwrap_or_else(cella_runtime::container::default_root),
        }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// A container's record, in its directory: written last by `create`
    /// (under the store lock), so a directory without one is debris.
    pub const CONTAINER_RECORD: &'static str = "container.json";

    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removed containers' files, deleted by the process that removed them
    /// once it has answered (see `monitor::Trash`), else by the next sweep.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// Blobs part way downloaded, kept for the next pull to resume.
    pub fn partial(&self) -> PathBuf {
        self.root.join("partial")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("store.lock")
    }
}
