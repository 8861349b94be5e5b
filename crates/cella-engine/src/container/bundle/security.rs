//! What the container may do: docker's capability set with --cap-add and
//! --cap-drop, --privileged, and the seccomp profile.

use crate::container::RunConfig;
use crate::error::{At, Error, Result};
use cella_spec::{Capabilities, Spec};
use std::path::Path;

/// docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after --privileged, --cap-add and --cap-drop (ALL allowed in both).
pub fn capabilities(cfg: &RunConfig) -> Result<Vec<String>> {
    // "All" is what we can give: the kernel's capabilities that are still in
    // our bounding set (a machine may lack some, e.g. CAP_SYS_RESOURCE).
    let bounding = bounding_set();
    let all: Vec<String> = cella_spec::caps::NAMES
        .iter()
        .filter(|n| {
            cella_spec::caps::number(n).is_some_and(|c| cella_sys::caps::kernel_knows(c) && bounding & (1u64 << c) != 0)
        })
        .map(|s| s.to_string())
        .collect();
    let mut caps: Vec<String> = if cfg.privileged {
        all.clone()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for c in &cfg.cap_drop {
        if c.eq_ignore_ascii_case("all") {
            caps.clear();
        } else {
            let n = cap_name(c);
            check_cap(&n)?;
            caps.retain(|x| *x != n);
        }
    }
    for c in &cfg.cap_add {
        if c.eq_ignore_ascii_case("all") {
            caps = all.clone();
        } else {
            let n = cap_name(c);
            check_cap(&n)?;
            if !caps.contains(&n) {
                caps.push(n);
            }
        }
    }
    Ok(caps)
}

/// This process's capability bounding set (CapBnd in /proc/self/status).
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn check_cap(n: &str) -> Result<()> {
    if cella_spec::caps::number(n).is_none() {
        return Err(Error::Invalid(format!("unknown capability {n:?}")));
    }
    Ok(())
}

/// The process's capabilities, --privileged's relaxations and the seccomp
/// profile (docker's default, a file, or none).
pub(super) fn apply(cfg: &RunConfig, spec: &mut Spec) -> Result<()> {
    let caps = capabilities(cfg)?;
    let p = spec.process.as_mut().expect("default has a process");
    p.capabilities = Some(Capabilities {
        bounding: Some(caps.clone()),
        effective: Some(caps.clone()),
        permitted: Some(caps),
        inheritable: None,
        ambient: None,
    });
    p.no_new_privileges = cfg.no_new_privileges;
    let linux = spec.linux.as_mut().expect("default has linux");
    if cfg.privileged {
        linux.masked_paths.clear();
        linux.readonly_paths.clear();
        let res = linux.resources.get_or_insert_with(Default::default);
        res.devices = vec![cella_spec::resources::DeviceRule {
            allow: true,
            access: Some("rwm".into()),
            ..Default::default()
        }];
        spec.mounts
            .iter_mut()
            .filter(|m| m.destination == "/sys")
            .for_each(|m| m.options.retain(|o| o != "ro"));
    }
    let linux = spec.linux.as_mut().expect("default has linux");
    linux.seccomp = match (cfg.privileged, cfg.seccomp.as_deref()) {
        (true, _) | (_, Some("unconfined")) => None,
        (_, Some(file)) => {
            let text = std::fs::read(file).at("read seccomp profile", Path::new(file))?;
            Some(serde_json::from_slice(&text).map_err(|e| Error::Invalid(format!("seccomp profile {file}: {e}")))?)
        }
        (_, None) => Some(super::seccomp_default::profile()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_add_drop_and_all() {
        let mut cfg = RunConfig::default();
        assert_eq!(capabilities(&cfg).unwrap().len(), DEFAULT_CAPS.len());
        cfg.cap_drop = vec!["net_raw".into()];
        cfg.cap_add = vec!["SYS_ADMIN".into()];
        let c = capabilities(&cfg).unwrap();
        assert!(!c.contains(&"CAP_NET_RAW".to_string()) && c.contains(&"CAP_SYS_ADMIN".to_string()));
        cfg.cap_drop = vec!["ALL".into()];
        cfg.cap_add = vec!["chown".into()];
        assert_eq!(capabilities(&cfg).unwrap(), ["CAP_CHOWN"]);
        cfg.cap_add = vec!["bogus".into()];
        assert!(capabilities(&cfg).is_err());
    }
}
