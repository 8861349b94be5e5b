//! The config.json that `spec` writes: runc's default, and its rootless variant.

use crate::config::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: dest.into(),
        kind: Some(kind.into()),
        source: Some(source.into()),
        options: strings(options),
    }
}

/// runc's default spec: `sh` as root in new pid, network, ipc, uts, mount and
/// cgroup namespaces, read-only root, a minimal capability set.
pub fn default_spec() -> Spec {
    let caps = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let ns = |k: &str| Namespace {
        kind: k.into(),
        path: None,
    };
    Spec {
        oci_version: crate::OCI_VERSION.into(),
        process: Some(Process {
            terminal: true,
            user: User::default(),
            args: strings(&["sh"]),
            env: strings(&[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ]),
            cwd: "/".into(),
            capabilities: Some(Capabilities {
                bounding: Some(caps.clone()),
                effective: Some(caps.clone()),
                inheritable: None,
                permitted: Some(caps),
                ambient: None,
            }),
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
            ..Default::default()
        }),
        root: Some(Root {
            path: "rootfs".into(),
            readonly: true,
        }),
        hostname: Some("cella".into()),
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
        ],
        linux: Some(Linux {
            namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"]
                .iter()
                .map(|k| ns(k))
                .collect(),
            masked_paths: strings(&[
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ]),
            readonly_paths: strings(&["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]),
            // runc's default: no device access but what the runtime allows itself.
            resources: Some(crate::Resources {
                devices: vec![crate::resources::DeviceRule {
                    allow: false,
                    access: Some("rwm".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The rootless variant, as `runc spec --rootless` writes it: a user
/// namespace mapping `uid`/`gid` to root, no network namespace, /sys bound
/// from the host, no cgroup mount.
pub fn rootless_spec(uid: u32, gid: u32) -> Spec {
    let mut s = default_spec();
    let linux = s.linux.as_mut().expect("default has linux");
    linux.namespaces.retain(|n| n.kind != "network");
    let single = |id| {
        vec![IdMapping {
            container_id: 0,
            host_id: id,
            size: 1,
        }]
    };
    make_rootless(&mut s, single(uid), single(gid));
    s
}

/// What every unprivileged container needs (runc's rootless rules), on top
/// of any spec: a user namespace of its own with these maps, no cgroup
/// namespace or cgroup mount, /sys bound from the host (sysfs cannot be
/// mounted there), devpts without gid=5, and no device rules (no delegated
/// devices controller).
pub fn make_rootless(s: &mut Spec, uid_mappings: Vec<IdMapping>, gid_mappings: Vec<IdMapping>) {
    let linux = s.linux.get_or_insert_with(Default::default);
    linux.namespaces.retain(|n| n.kind != "cgroup" && n.kind != "user");
    linux.namespaces.push(Namespace {
        kind: "user".into(),
        path: None,
    });
    linux.uid_mappings = uid_mappings;
    linux.gid_mappings = gid_mappings;
    linux.resources = None;
    s.mounts.retain(|m| m.destination != "/sys/fs/cgroup");
    for m in &mut s.mounts {
        match m.destination.as_str() {
            "/sys" => {
                m.kind = Some("none".into());
                m.source = Some("/sys".into());
                m.options = strings(&["rbind", "nosuid", "noexec", "nodev", "ro"]);
            }
            "/dev/pts" => m.options.retain(|o| o != "gid=5"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_json() {
        let text = serde_json::to_string_pretty(&default_spec()).unwrap();
        let back: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(back.mounts.len(), 7);
        assert!(back.root.unwrap().readonly);
        assert_eq!(back.linux.unwrap().namespaces.len(), 6);
    }

    #[test]
    fn rootless_maps_the_caller_and_drops_network() {
        let s = rootless_spec(1000, 1000);
        let l = s.linux.unwrap();
        assert!(l.namespaces.iter().any(|n| n.kind == "user"));
        assert!(!l.namespaces.iter().any(|n| n.kind == "network"));
        assert_eq!(l.uid_mappings[0].host_id, 1000);
    }
}
