//! cella-runtime: turns an OCI bundle into an isolated process.
//!
//! The library holds the whole runtime; the `cella-runtime` binary is its
//! runc-compatible command line. See docs/architecture.md for the processes
//! and the path from `create` to `execve`.

pub mod cgroup;
pub mod channel;
pub mod console;
pub mod container;
pub mod control;
pub mod create;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod ids;
mod init;
mod launch;
pub use launch::INIT_ANNOTATION;
pub mod lifecycle;
pub mod log;
pub mod lsm;
pub mod mountopts;
pub mod nsplan;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod sched;
pub mod selfexe;
pub mod supervise;
pub mod userns;
pub mod validate;

pub use error::{Error, Result};
