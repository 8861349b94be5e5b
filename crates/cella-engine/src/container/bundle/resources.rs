//! Resource limits: -m, --memory-swap, --oom-kill-disable, --cpus,
//! --cpu-shares, --cpuset-cpus, --pids-limit, --sysctl.

use crate::container::RunConfig;
use crate::error::{Error, Result};
use cella_spec::Spec;

/// docker's smallest memory limit: a container needs some to start at all.
pub const MIN_MEMORY: i64 = 6 << 20;

/// `--memory`: a size (docker's units), at least 6 MiB, as docker has it.
pub fn parse_memory(s: &str) -> Result<i64> {
    let bytes = cella_spec::size::parse(s).ok_or_else(|| {
        Error::Invalid(format!(
            "invalid size {s:?}: use a number with b, k, m, g, t or p (and not more than 8 EiB)"
        ))
    })?;
    if bytes < MIN_MEMORY {
        return Err(Error::Invalid(format!(
            "--memory {s}: the minimum memory limit allowed is 6MB"
        )));
    }
    Ok(bytes)
}

pub(super) fn apply(cfg: &RunConfig, spec: &mut Spec) -> Result<()> {
    let linux = spec.linux.as_mut().expect("default has linux");
    for s in &cfg.sysctls {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("--sysctl {s}: use KEY=VALUE")))?;
        linux.sysctl.insert(k.into(), v.into());
    }
    let res = linux.resources.get_or_insert_with(Default::default);
    if let Some(m) = cfg.memory {
        res.memory.get_or_insert_with(Default::default).limit = Some(m);
    }
    if let Some(swap) = cfg.memory_swap {
        // docker's meaning, as the OCI spec's: memory plus swap, -1 unlimited.
        res.memory.get_or_insert_with(Default::default).swap = Some(swap);
    }
    if cfg.oom_kill_disable {
        res.memory.get_or_insert_with(Default::default).disable_oom_killer = Some(true);
    }
    if let Some(shares) = cfg.cpu_shares {
        res.cpu.get_or_insert_with(Default::default).shares = Some(shares);
    }
    if let Some(set) = &cfg.cpuset_cpus {
        res.cpu.get_or_insert_with(Default::default).cpus = Some(set.clone());
    }
    if let Some(c) = cfg.cpus {
        if c <= 0.0 {
            return Err(Error::Invalid(format!("--cpus {c}: must be more than 0")));
        }
        let cpu = res.cpu.get_or_insert_with(Default::default);
        cpu.period = Some(100_000);
        cpu.quota = Some((c * 100_000.0) as i64);
    }
    if let Some(n) = cfg.pids_limit {
        res.pids = Some(cella_spec::resources::Pids { limit: n });
    }
    for d in &cfg.devices {
        let (node, rule) = device(d)?;
        res.devices.push(rule);
        linux.devices.retain(|n| n.path != node.path);
        linux.devices.push(node);
    }
    Ok(())
}

/// One `--device HOST[:CONTAINER[:PERMS]]`: the host's device node (its
/// type and numbers read from the node itself), where the container sees
/// it, and what it may do with it (some of `rwm`, default all).
pub fn device(spec_s: &str) -> Result<(cella_spec::Device, cella_spec::resources::DeviceRule)> {
    let bad = |why: &str| Error::Invalid(format!("--device {spec_s}: {why}"));
    let mut parts = spec_s.splitn(3, ':');
    let host = parts.next().unwrap_or_default();
    let (inside, perms) = match (parts.next(), parts.next()) {
        (None, _) => (host, "rwm"),
        (Some(p), None) if !p.starts_with('/') => (host, p),
        (Some(c), None) => (c, "rwm"),
        (Some(c), Some(p)) => (c, p),
    };
    if !host.starts_with('/') || !inside.starts_with('/') {
        return Err(bad("use HOST[:CONTAINER[:PERMS]] with absolute paths"));
    }
    if perms.is_empty() || !perms.chars().all(|c| "rwm".contains(c)) {
        return Err(bad("the permissions are some of r, w and m"));
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(host).map_err(|e| bad(&format!("{host}: {e}")))?;
    let kind = if m.file_type().is_char_device() {
        "c"
    } else if m.file_type().is_block_device() {
        "b"
    } else {
        return Err(bad(&format!("{host} is not a device node")));
    };
    let (major, minor) = (libc::major(m.rdev()) as i64, libc::minor(m.rdev()) as i64);
    Ok((
        cella_spec::Device {
            kind: kind.into(),
            path: inside.into(),
            major,
            minor,
            file_mode: Some(m.mode() & 0o777),
            uid: Some(0),
            gid: Some(0),
        },
        cella_spec::resources::DeviceRule {
            allow: true,
            kind: Some(kind.into()),
            major: Some(major),
            minor: Some(minor),
            access: Some(perms.into()),
        },
    ))
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    cella_spec::size::parse(s)
        .ok_or_else(|| Error::Invalid(format!("--memory-swap {s}: use a size (e.g. 1g) or -1 for unlimited")))
}

/// `--cpuset-cpus`: a list of CPUs and ranges (0-2,4), checked as the kernel reads it.
pub fn check_cpuset(s: &str) -> Result<()> {
    let bad = || Error::Invalid(format!("--cpuset-cpus {s}: use CPU numbers and ranges, e.g. 0-1,3"));
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_as_docker_reads_them() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("4m").is_err(), "below docker's 6 MB");
        assert!(
            parse_memory("99999999999999999999g").is_err(),
            "overflow is refused, not unlimited"
        );
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert_eq!(parse_memory_swap("128m").unwrap(), 128 << 20);
        assert!(parse_memory_swap("-2").is_err());
    }

    #[test]
    fn devices_are_read_from_their_nodes() {
        let (node, rule) = device("/dev/null").unwrap();
        assert_eq!(
            (node.kind.as_str(), node.path.as_str(), node.major, node.minor),
            ("c", "/dev/null", 1, 3)
        );
        assert_eq!(rule.access.as_deref(), Some("rwm"));
        let (node, rule) = device("/dev/zero:/dev/nothing:r").unwrap();
        assert_eq!(
            (node.path.as_str(), rule.access.as_deref()),
            ("/dev/nothing", Some("r"))
        );
        assert_eq!(device("/dev/zero:rw").unwrap().1.access.as_deref(), Some("rw"));
        for bad in ["/etc/passwd", "/dev/null:/x:q", "dev/null", "/no/such/node"] {
            assert!(device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpusets_are_lists_of_numbers_and_ranges() {
        for ok in ["0", "0-1", "0,2-3"] {
            assert!(check_cpuset(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "3-1", "0,,1", "0-"] {
            assert!(check_cpuset(bad).is_err(), "{bad}");
        }
    }
}
