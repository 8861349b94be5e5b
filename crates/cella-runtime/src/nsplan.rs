//! Which namespaces are created and which are joined, decided once from the spec.

use crate::error::{Context, Error, Result};
use cella_spec::{NamespaceKind, Spec};
use cella_sys::ns::*;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub fn clone_flag(kind: NamespaceKind) -> u64 {
    cella_sys::ns::clone_flag(kind.proc_name()).expect("every spec kind has a /proc name")
}

pub struct Join {
    pub kind: NamespaceKind,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

pub struct NsPlan {
    /// CLONE_NEW* of every namespace to create.
    pub new: u64,
    /// Namespaces to join, user first.
    pub joins: Vec<Join>,
    /// Text for /proc/self/timens_offsets (empty: none).
    pub time_offsets: String,
}

impl NsPlan {
    /// Opens every namespace to join (so a wrong path fails before anything
    /// is created, and the path is resolved in the runtime's mount namespace)
    /// and checks that each file is a namespace of the stated type.
    /// `kinds`: the kind of each `linux.namespaces` entry, as validation
    /// parsed them.
    pub fn from_spec(spec: &Spec, kinds: &[NamespaceKind]) -> Result<NsPlan> {
        let mut new = 0;
        let mut joins = Vec::new();
        for (ns, &kind) in spec.linux().namespaces.iter().zip(kinds) {
            match &ns.path {
                None => new |= clone_flag(kind),
                Some(p) => {
                    let path = PathBuf::from(p);
                    let fd = cella_sys::fd::open(&path, libc::O_RDONLY, 0).at("open namespace to join", &path)?;
                    match cella_sys::ns::ns_get_type(fd.as_raw_fd()) {
                        Ok(t) if t != clone_flag(kind) => {
                            return Err(Error::Config(format!(
                                "{} is not a {} namespace",
                                path.display(),
                                ns.kind
                            )))
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {
                            return Err(Error::Config(format!("{} is not a namespace file", path.display())))
                        }
                        _ => {}
                    }
                    joins.push(Join { kind, fd, path });
                }
            }
        }
        joins.sort_by_key(|j| j.kind);
        let time_offsets = spec
            .linux()
            .time_offsets
            .iter()
            .map(|(clock, o)| format!("{clock} {} {}\n", o.secs, o.nanosecs))
            .collect();
        Ok(NsPlan {
            new,
            joins,
            time_offsets,
        })
    }

    /// Everything can be created by clone3 at once: nothing to join first and
    /// no time offsets to write before a process enters the time namespace.
    pub fn is_simple(&self) -> bool {
        self.joins.is_empty() && self.time_offsets.is_empty()
    }

    pub fn creates(&self, kind: NamespaceKind) -> bool {
        self.new & clone_flag(kind) != 0
    }

    pub fn joins(&self, kind: NamespaceKind) -> bool {
        self.joins.iter().any(|j| j.kind == kind)
    }

    /// Joins every listed namespace (in the child), user first.
    pub fn enter_joins(&self) -> Result<()> {
        for j in &self.joins {
            setns(j.fd.as_fd(), clone_flag(j.kind)).at("setns into", &j.path)?;
        }
        Ok(())
    }

    /// Writes the time offsets for the (unshared, still empty) time namespace.
    pub fn write_time_offsets(&self) -> Result<()> {
        if self.time_offsets.is_empty() {
            return Ok(());
        }
        let p = Path::new("/proc/self/timens_offsets");
        std::fs::write(p, &self.time_offsets).at("write time offsets", p)
    }
}
