//! Resource limits: -m, --cpus, --pids-limit, --sysctl.

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
    }
}
