//! Reading and writing inside a root (a layer, a container's filesystem)
//! without ever leaving it, whatever links the root holds.

pub mod inroot;
pub mod unpack;
