//! The runtime library's error type: each variant says what failed, where, and why.

use std::io;
use std::path::{Path, PathBuf};

/// Messages carry their cause in the text (one line, as runc-style JSON logs
/// and containerd want it). The cause fields are deliberately not named
/// `source`: thiserror would chain them and the cause would print twice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {err}", path.display())]
    Path {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("{op}: {err}")]
    Sys { op: String, err: io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid container id {0:?}: use letters, digits and _+-. only, not starting with '.'")]
    BadId(String),
    #[error("container {0:?} does not exist (looked in {1})")]
    NotFound(String, String),
    #[error("container {0:?} already exists: delete it first with `cella-runtime delete {0}`")]
    Exists(String),
    #[error("container {id:?} is {status}: {what}")]
    WrongState {
        id: String,
        status: &'static str,
        what: String,
    },
    #[error("{0} hook failed: {1}")]
    Hook(&'static str, String),
    #[error("container init: {0}")]
    Init(String),
    /// The process to run cannot be: not found (ENOENT), not executable
    /// (EACCES). Clients map these to exit codes (127, 126).
    #[error("{what}: {err}")]
    Exec { what: String, err: io::Error },
    /// The container's process reported that its setup failed; `exec_errno`
    /// is set when the process to run could not be (as `Exec`).
    #[error("container init: {message}")]
    InitFailed { exec_errno: Option<i32>, message: String },
    #[error("{0}")]
    Cgroup(cella_cgroups::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{}: {why}: refusing it, as another user could have put container state there; {fix}", path.display())]
    Untrusted {
        path: PathBuf,
        why: String,
        fix: &'static str,
    },
    #[error("pid {pid} is not the init of container {id:?} ({why}): refusing to signal it")]
    NotOurProcess { id: String, pid: i32, why: &'static str },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// When the process to run could not be (not found, not executable):
    /// the errno saying which.
    /// A file that does not exist (state.json of a create killed early).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Path { err, .. } | Error::Sys { err, .. } if err.kind() == io::ErrorKind::NotFound)
    }

    pub fn exec_errno(&self) -> Option<i32> {
        match self {
            Error::Exec { err, .. } => err.raw_os_error(),
            Error::InitFailed { exec_errno, .. } => *exec_errno,
            _ => None,
        }
    }
}

/// Adds "what and where" to an `io::Result`.
pub trait Context<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
    fn op(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|err| Error::Path {
            op,
            path: path.to_path_buf(),
            err,
        })
    }
    fn op(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::Sys { op: op(), err })
    }
}

impl From<cella_cgroups::Error> for Error {
    fn from(e: cella_cgroups::Error) -> Self {
        Error::Cgroup(e)
    }
}
