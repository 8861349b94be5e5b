//! `features`: what this build supports, in the JSON shape runc prints.

use serde_json::{json, Value};

pub fn features() -> Value {
    let caps: Vec<&str> = cella_spec::caps::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| cella_sys::caps::kernel_knows(*i as u32))
        .map(|(_, n)| *n)
        .collect();
    let mut opts: Vec<&str> = crate::mountopts::known_options().collect();
    opts.sort_unstable();
    opts.dedup();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": cella_spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": opts,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.cella.version": env!("CARGO_PKG_VERSION")
        }
    })
}
