//! Checks on config.json before anything is created, so that a mistake fails
//! `create` with a message that names the field, instead of half-way through.

use crate::error::{Error, Result};
use cella_spec::{NamespaceKind, Spec};
use std::collections::HashSet;

fn bad(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// What validation proved present, handed on so that nothing after it
/// unwraps the same fields again.
pub struct Valid<'a> {
    pub process: &'a cella_spec::Process,
    pub root_path: &'a str,
    /// The kind of each `linux.namespaces` entry, in order.
    pub namespace_kinds: Vec<NamespaceKind>,
    /// The options of each `mounts` entry, in order.
    pub mount_options: Vec<crate::mountopts::MountOptions>,
}

pub fn validate(spec: &Spec) -> Result<Valid<'_>> {
    let root = spec
        .root
        .as_ref()
        .ok_or_else(|| bad("root is missing: set root.path to the rootfs directory"))?;
    if root.path.is_empty() {
        return Err(bad("root.path is empty"));
    }
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| bad("process is missing: there is nothing to run"))?;
    if process.args.is_empty() {
        return Err(bad("process.args is empty: there is nothing to run"));
    }
    if !process.cwd.starts_with('/') {
        return Err(bad(format!("process.cwd {:?} must be an absolute path", process.cwd)));
    }
    let linux = spec.linux();
    let mut seen = HashSet::new();
    let mut namespace_kinds = Vec::with_capacity(linux.namespaces.len());
    for ns in &linux.namespaces {
        let kind = NamespaceKind::parse(&ns.kind)
            .ok_or_else(|| bad(format!("linux.namespaces: unknown namespace type {:?}", ns.kind)))?;
        if !seen.insert(kind) {
            return Err(bad(format!("linux.namespaces: {:?} is listed twice", ns.kind)));
        }
        namespace_kinds.push(kind);
        if let Some(p) = &ns.path {
            if !p.starts_with('/') {
                return Err(bad(format!(
                    "linux.namespaces: path {p:?} of {} must be absolute",
                    ns.kind
                )));
            }
        }
    }
    // Without a mount namespace of its own (none listed, or one joined by
    // path) the container runs in that namespace as it stands: no root to
    // change to, nothing mounted, so nothing to mask either (runc's rule).
    let own_mounts = spec.namespace(NamespaceKind::Mount).is_some_and(|n| n.path.is_none());
    if !own_mounts && (!linux.masked_paths.is_empty() || !linux.readonly_paths.is_empty()) {
        return Err(bad(
            "unable to restrict sys entries without a private mount namespace: add {\"type\": \"mount\"} to linux.namespaces, or empty maskedPaths and readonlyPaths",
        ));
    }
    let has = |k| seen.contains(&k);
    if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !has(NamespaceKind::Uts) {
        return Err(bad(
            "unable to set hostname without a private UTS namespace: add {\"type\": \"uts\"}",
        ));
    }
    if spec.domainname.as_deref().is_some_and(|h| !h.is_empty()) && !has(NamespaceKind::Uts) {
        return Err(bad(
            "unable to set domainname without a private UTS namespace: add {\"type\": \"uts\"}",
        ));
    }
    let new_user = spec.namespace(NamespaceKind::User).is_some_and(|n| n.path.is_none());
    if (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) && !new_user {
        return Err(bad(
            "uidMappings/gidMappings need a new user namespace: add {\"type\": \"user\"}",
        ));
    }
    for (what, maps) in [
        ("uidMappings", &linux.uid_mappings),
        ("gidMappings", &linux.gid_mappings),
    ] {
        cella_spec::config::check_mappings(maps).map_err(|e| bad(format!("linux.{what}: {e}")))?;
    }
    if new_user && linux.uid_mappings.is_empty() {
        return Err(bad("a new user namespace needs linux.uidMappings (and gidMappings)"));
    }
    if !linux.time_offsets.is_empty() {
        if spec.namespace(NamespaceKind::Time).is_none_or(|n| n.path.is_some()) {
            return Err(bad(
                "linux.timeOffsets need a new time namespace: add {\"type\": \"time\"}",
            ));
        }
        for k in linux.time_offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(bad(format!(
                    "linux.timeOffsets: unknown clock {k:?} (monotonic or boottime)"
                )));
            }
        }
    }
    for key in linux.sysctl.keys() {
        check_sysctl(key, &has)?;
    }
    if let Some(h) = &spec.hooks {
        for (phase, list) in [
            ("prestart", &h.prestart),
            ("createRuntime", &h.create_runtime),
            ("createContainer", &h.create_container),
            ("startContainer", &h.start_container),
            ("poststart", &h.poststart),
            ("poststop", &h.poststop),
        ] {
            for hook in list {
                if !hook.path.starts_with('/') {
                    return Err(bad(format!("hooks.{phase}: path {:?} must be absolute", hook.path)));
                }
                if hook.timeout.is_some_and(|t| t <= 0) {
                    return Err(bad(format!("hooks.{phase}: timeout of {} must be positive", hook.path)));
                }
            }
        }
    }
    for r in &process.rlimits {
        if cella_spec::rlimit::resource(&r.kind).is_none() {
            return Err(bad(format!("process.rlimits: unknown type {:?}", r.kind)));
        }
    }
    crate::sched::sched_attr(process)?;
    crate::sched::io_priority(process)?;
    let mount_options = spec
        .mounts
        .iter()
        .map(|m| crate::mountopts::parse(&m.options).map_err(|e| bad(format!("mount {:?}: {e}", m.destination))))
        .collect::<Result<Vec<_>>>()?;
    if linux.intel_rdt.is_some() {
        return Err(bad("linux.intelRdt is not supported by cella-runtime"));
    }
    if linux.personality.is_some() {
        return Err(bad("linux.personality is not supported yet by cella-runtime"));
    }
    if process.apparmor_profile.as_deref().is_some_and(|p| !p.is_empty()) && !crate::lsm::apparmor_enabled() {
        return Err(bad(
            "process.apparmorProfile is set but AppArmor is not enabled on this host",
        ));
    }
    let selinux = process.selinux_label.as_deref().is_some_and(|l| !l.is_empty())
        || linux.mount_label.as_deref().is_some_and(|l| !l.is_empty());
    if selinux && !crate::lsm::selinux_enabled() {
        return Err(bad("an SELinux label is set but SELinux is not enabled on this host"));
    }
    Ok(Valid {
        process,
        root_path: &root.path,
        namespace_kinds,
        mount_options,
    })
}

/// A sysctl may only be set when the namespace that scopes it is private, as
/// runc requires; anything else would change the host.
fn check_sysctl(key: &str, has: &impl Fn(NamespaceKind) -> bool) -> Result<()> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let (needs, what) = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        (NamespaceKind::Ipc, "an IPC")
    } else if key.starts_with("net.") {
        (NamespaceKind::Network, "a network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (NamespaceKind::Uts, "a UTS")
    } else {
        return Err(bad(format!(
            "sysctl {key:?} is not namespaced: it would change the host, so it is refused"
        )));
    };
    if !has(needs) {
        return Err(bad(format!("sysctl {key:?} needs {what} namespace in the config")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cella_spec::defaults::default_spec;

    fn with(f: impl FnOnce(&mut Spec)) -> Result<()> {
        let mut s = default_spec();
        f(&mut s);
        validate(&s).map(drop)
    }

    #[test]
    fn default_spec_is_valid() {
        with(|_| {}).unwrap();
    }

    #[test]
    fn hostname_needs_uts_like_runc() {
        let e = with(|s| s.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "uts")).unwrap_err();
        assert!(e.to_string().contains("hostname"), "{e}");
    }

    #[test]
    fn refusals_name_the_field() {
        type Edit = Box<dyn FnOnce(&mut Spec)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|s| s.process.as_mut().unwrap().cwd = "rel".into()),
                "process.cwd",
            ),
            (
                Box::new(|s| {
                    s.linux.as_mut().unwrap().namespaces.push(cella_spec::Namespace {
                        kind: "pid".into(),
                        path: None,
                    })
                }),
                "twice",
            ),
            (
                Box::new(|s| {
                    s.linux
                        .as_mut()
                        .unwrap()
                        .sysctl
                        .insert("kernel.panic".into(), "1".into());
                }),
                "not namespaced",
            ),
            (
                Box::new(|s| {
                    s.linux
                        .as_mut()
                        .unwrap()
                        .sysctl
                        .insert("net.ipv4.ip_forward".into(), "1".into());
                    s.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "network");
                }),
                "network namespace",
            ),
            (
                Box::new(|s| s.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "mount")),
                "private mount namespace",
            ),
            (
                Box::new(|s| s.process.as_mut().unwrap().rlimits[0].kind = "RLIMIT_X".into()),
                "RLIMIT_X",
            ),
            (
                Box::new(|s| s.linux.as_mut().unwrap().uid_mappings.push(Default::default())),
                "user namespace",
            ),
        ];
        for (f, want) in cases {
            let e = with(f).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        }
    }
}
