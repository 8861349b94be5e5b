//! Registries: the distribution protocol (`registry`), registries.conf
//! (`registries`), credentials (`auth`), `pull` and `push`.

pub mod auth;
pub mod pull;
pub mod push;
pub mod registries;
pub mod registry;
