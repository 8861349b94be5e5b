//! The systemd cgroup driver: the container's processes go into a transient
//! scope that systemd creates and owns (`Delegate=yes`), with the resource
//! properties systemd knows, as runc's systemd driver does. The rest of the
//! resources are then written to the scope's cgroup directly.
//!
//! `unit`: the cgroupsPath grammar (`slice:prefix:name`) and slice names;
//! `properties`: `linux.resources` as systemd unit properties; `manager`:
//! the D-Bus calls (start, stop, set properties) and waiting for their jobs.

mod manager;
mod properties;
mod unit;

pub use manager::{Manager, Which};
pub use properties::{device_properties, resource_properties};
pub use unit::{expand_slice, ScopePath};
