//! OCI runtime-spec types as cella reads and writes them.
//!
//! These are deliberately lenient where runc is lenient (unknown capability
//! names parse; unknown fields are ignored) and strict where a mistake would
//! weaken isolation (validation lives in `cella-runtime`).

pub mod caps;
pub mod config;
pub mod defaults;
pub mod resources;
pub mod rlimit;
pub mod seccomp;
pub mod signal;
pub mod size;
pub mod state;

pub use config::*;
pub use resources::Resources;
pub use state::{State, Status};

/// The OCI runtime-spec version this build implements.
pub const OCI_VERSION: &str = "1.2.0";
