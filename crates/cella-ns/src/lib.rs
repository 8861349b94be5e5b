//! Namespace tools for people who work with namespaces by hand.

pub mod ls;
