//! Engine errors: each says what failed, on which path, name or id.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("runtime: {0}")]
    Runtime(#[from] cella_runtime::error::Error),
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
            source,
        })
    }
}
