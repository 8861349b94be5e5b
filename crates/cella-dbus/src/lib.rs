//! A small blocking D-Bus client: the wire format (`value`, `message`), and
//! a connection that authenticates with SASL EXTERNAL, calls methods and
//! waits for signals (`connection`). Enough to talk to systemd's manager on
//! the system bus or a user's bus, with no async runtime and no C library,
//! so that a runtime's `create` pays a socket and a few round trips only.

pub mod connection;
pub mod message;
pub mod value;

pub use connection::Connection;
pub use message::{Message, MessageKind};
pub use value::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("D-Bus {what} {address}: {err}")]
    Io {
        what: &'static str,
        address: String,
        err: std::io::Error,
    },
    #[error("D-Bus authentication at {address} refused: {reply}")]
    Auth { address: String, reply: String },
    #[error("D-Bus protocol: {0}")]
    Protocol(String),
    /// An error reply: its D-Bus error name and message.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error("D-Bus: no answer to {what} within {secs} s")]
    Timeout { what: String, secs: u64 },
}

pub type Result<T> = std::result::Result<T, Error>;
