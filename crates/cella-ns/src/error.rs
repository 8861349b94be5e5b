//! The namespace tools' error: what failed, in words, and the OS error
//! number when an OS call failed (for callers that decide by it, such as
//! "the link exists already": EEXIST).

use std::io;

#[derive(Debug)]
pub struct Error {
    message: String,
    errno: Option<i32>,
}

impl Error {
    /// A failure with no OS error behind it.
    pub fn msg(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            errno: None,
        }
    }

    /// `what` failed with `err`.
    pub fn os(what: impl std::fmt::Display, err: io::Error) -> Error {
        Error {
            message: format!("{what}: {err}"),
            errno: err.raw_os_error(),
        }
    }

    /// This error again, with `what` said first.
    pub fn context(self, what: impl std::fmt::Display) -> Error {
        Error {
            message: format!("{what}: {}", self.message),
            errno: self.errno,
        }
    }

    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
