//! Namespace tools for people who work with namespaces by hand.

pub mod enter;
pub mod error;
pub mod link;
pub mod ls;
pub mod netns;
pub mod netnsid;
pub mod persist;
pub mod pids;
pub mod rtnl;
pub mod unshare;
