//! The cella engine: a daemonless container engine on the cella runtime
//! library. The store holds images and containers; each running container
//! has a small monitor process that outlives the command that started it.

pub mod archive;
pub mod attach;
pub mod auth;
pub mod container;
pub mod content;
pub mod copy;
pub mod error;
pub mod exec;
pub mod ids;
pub mod image;
pub mod import;
pub mod inroot;
pub mod intake;
pub mod layer;
pub mod load;
pub mod logs;
pub mod monitor;
pub mod nat;
pub mod net;
pub mod ops;
pub mod paths;
pub mod pull;
pub mod push;
pub mod registries;
pub mod registry;
pub mod save;
pub mod seccomp_default;
pub mod spec;
pub mod store;
pub mod unpack;
pub mod usernet;
pub mod userns;
pub mod users;
