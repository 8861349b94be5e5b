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
            "seccomp": {
                "enabled": true,
                "actions": cella_seccomp::ACTIONS,
                "operators": cella_seccomp::OPERATORS,
                "archs": cella_seccomp::ARCHES,
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": cella_seccomp::FLAGS
            },
            "apparmor": { "enabled": crate::lsm::apparmor_enabled() },
            "selinux": { "enabled": crate::lsm::selinux_enabled() },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.cella.version": env!("CARGO_PKG_VERSION")
        }
    })
}
