//! The container's namespaces: --network, --ipc, --pid, --uts (its own,
//! the host's, another container's), and the user namespace of a rootless
//! caller or of --userns auto.

use crate::container::config::{NamespaceMode, NetworkMode};
use crate::container::RunConfig;
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use cella_spec::{Namespace, NamespaceKind, Spec};
use std::path::Path;

/// The spec's entry for one namespace: `kind` as the spec names it, and
/// whether it is the container's own, another container's or the host's
/// (no entry).
fn namespace(paths: &Paths, kind: NamespaceKind, mode: &NamespaceMode) -> Result<Option<Namespace>> {
    let path = match mode {
        NamespaceMode::Private => None,
        NamespaceMode::Host => return Ok(None),
        NamespaceMode::Container(name) => Some(namespace_of(paths, name, kind)?),
    };
    Ok(Some(Namespace {
        kind: kind.name().into(),
        path,
    }))
}

/// /proc/PID/ns/KIND of a running container, for joining it.
fn namespace_of(paths: &Paths, name: &str, kind: NamespaceKind) -> Result<String> {
    let c = crate::container::find(paths, name)?;
    if c.state.pid <= 0 {
        return Err(Error::Invalid(format!(
            "container {name} is not running: cannot join its {} namespace",
            kind.name()
        )));
    }
    Ok(format!("/proc/{}/ns/{}", c.state.pid, kind.proc_name()))
}

/// The network namespace: a mode of the four namespaces' kind, with the
/// checks `--network` needs (a namespace file, a network that exists).
fn network_mode(paths: &Paths, cfg: &RunConfig, namespaces: &mut Vec<Namespace>) -> Result<NamespaceMode> {
    let unprivileged = cella_sys::process::geteuid() != 0;
    Ok(match &cfg.network {
        NetworkMode::Host => NamespaceMode::Host,
        NetworkMode::Container(name) => NamespaceMode::Container(name.clone()),
        NetworkMode::Ns(path) => {
            if !cella_ns::persist::is_namespace_file(path) {
                return Err(Error::Invalid(format!(
                    "--network {}: {} is not a namespace file",
                    cfg.network,
                    path.display()
                )));
            }
            namespaces.push(Namespace {
                kind: NamespaceKind::Network.name().into(),
                path: Some(path.display().to_string()),
            });
            NamespaceMode::Host // entered above
        }
        NetworkMode::None | NetworkMode::Pasta => NamespaceMode::Private,
        NetworkMode::Bridge(name) => {
            // Unprivileged, `bridge` is pasta's user-mode network.
            if !(name == "bridge" && unprivileged) {
                crate::network::find(paths, name)?;
                if unprivileged {
                    return Err(Error::Invalid(format!(
                        "--network {name} needs root; rootless containers have bridge (through pasta), none or host"
                    )));
                }
            }
            NamespaceMode::Private
        }
    })
}

pub(super) fn apply(paths: &Paths, cfg: &RunConfig, id_base: Option<u32>, spec: &mut Spec) -> Result<()> {
    let linux = spec.linux.as_mut().expect("default has linux");
    let shared = [
        NamespaceKind::Network,
        NamespaceKind::Ipc,
        NamespaceKind::Pid,
        NamespaceKind::Uts,
    ];
    linux.namespaces.retain(|n| !shared.iter().any(|k| k.name() == n.kind));
    let net = network_mode(paths, cfg, &mut linux.namespaces)?;
    for (kind, mode) in shared.into_iter().zip([&net, &cfg.ipc, &cfg.pid, &cfg.uts]) {
        linux.namespaces.extend(namespace(paths, kind, mode)?);
    }
    if cfg.uts == NamespaceMode::Host {
        spec.hostname = None;
    }
    if cella_sys::process::geteuid() != 0 {
        rootless(spec)?;
    } else if let Some(base) = id_base {
        own_user_namespace(spec, base);
    }
    Ok(())
}

/// An unprivileged user's container: a user namespace mapping the caller to
/// root and, when /etc/subuid and /etc/subgid give them ranges, those ranges
/// from 1 up (written by newuidmap/newgidmap); otherwise runc's rootless
/// rules (cella_spec::defaults::make_rootless).
fn rootless(spec: &mut Spec) -> Result<()> {
    let (uid, gid) = (cella_sys::process::geteuid(), cella_sys::process::getgid());
    let user = cella_sys::process::user_name(uid);
    let map = |host: u32, file: &str| {
        let mut v = vec![cella_spec::IdMapping {
            container_id: 0,
            host_id: host,
            size: 1,
        }];
        if let Some(r) = cella_idmap::first_subid_range(Path::new(file), &user, uid) {
            v.push(cella_spec::IdMapping {
                container_id: 1,
                host_id: r.outer,
                size: r.count,
            });
        }
        v
    };
    cella_spec::defaults::make_rootless(spec, map(uid, "/etc/subuid"), map(gid, "/etc/subgid"));
    Ok(())
}

/// --userns auto: container ids 0-65535 are host ids base… (uids and gids);
/// no cgroup filesystem (not mountable from a user namespace).
fn own_user_namespace(spec: &mut Spec, base: u32) {
    let map = vec![cella_spec::IdMapping {
        container_id: 0,
        host_id: base,
        size: crate::container::userns::SIZE,
    }];
    let linux = spec.linux.as_mut().expect("default has linux");
    linux.namespaces.retain(|n| n.kind != "user");
    linux.namespaces.push(Namespace {
        kind: "user".into(),
        path: None,
    });
    linux.uid_mappings = map.clone();
    linux.gid_mappings = map;
    spec.mounts.retain(|m| m.destination != "/sys/fs/cgroup");
}
