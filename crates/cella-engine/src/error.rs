//! Engine errors: each says what failed, on which path, name or id, and
//! carries its cause in its own text, once (no field is a `source`, so a
//! `{:#}` chain does not print the cause again).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    /// A system call that failed on no particular path.
    #[error("{what}: {err}")]
    Os { what: &'static str, err: std::io::Error },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// `nft` refused a change (its own words): the firewall may not be
    /// what the engine last made it.
    #[error("nft: {0}")]
    Firewall(String),
    #[error("runtime: {0}")]
    Runtime(cella_runtime::error::Error),
    /// The container could not be started (its monitor says why);
    /// `exec_errno` when its process could not be run.
    #[error("{message}")]
    StartFailed { exec_errno: Option<i32>, message: String },
}

impl Error {
    /// When the container's process could not be run: the errno saying
    /// why (ENOENT not found, EACCES not executable).
    pub fn exec_errno(&self) -> Option<i32> {
        match self {
            Error::Runtime(e) => e.exec_errno(),
            Error::StartFailed { exec_errno, .. } => *exec_errno,
            _ => None,
        }
    }

    /// docker's exit code for a container (or exec) that could not be
    /// started: 127 command not found, 126 command cannot be run, 125 the
    /// engine failed.
    pub fn start_exit_code(&self) -> i32 {
        match self.exec_errno() {
            Some(libc::ENOENT) => 127,
            Some(_) => 126,
            None => 125,
        }
    }
}

impl From<cella_runtime::error::Error> for Error {
    fn from(e: cella_runtime::error::Error) -> Error {
        Error::Runtime(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `.at("read", path)` on io results.
pub trait At<T> {
    fn at(self, what: &'static str, path: &Path) -> Result<T>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, what: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            what,
            path: path.to_path_buf(),
            err: source,
        })
    }
}
