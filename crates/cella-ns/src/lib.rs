//! Namespace tools for people who work with namespaces by hand.

pub mod enter;
pub mod ls;
pub mod persist;
pub mod pids;
pub mod unshare;
