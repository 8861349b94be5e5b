//! The container process's attributes: rlimits, credentials, capabilities,
//! and the executable lookup in the container's $PATH.

use crate::error::{Context, Error, Result};
use cella_spec::{Capabilities, Process};
use cella_sys::caps::CapSets;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Capability masks resolved from names, plus the names nobody knows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
    pub unknown: Vec<String>,
}

/// Resolves capability names; names unknown to cella or to this kernel are
/// collected (to be warned about), not fatal, as runc does.
pub fn cap_masks(caps: Option<&Capabilities>, kernel_knows: impl Fn(u32) -> bool) -> CapMasks {
    let mut m = CapMasks::default();
    let Some(c) = caps else { return m };
    let mask = |names: &Option<Vec<String>>, unknown: &mut Vec<String>| -> u64 {
        let mut bits = 0u64;
        for n in names.iter().flatten() {
            match cella_spec::caps::number(n).filter(|&c| kernel_knows(c)) {
                Some(c) => bits |= 1 << c,
                None => {
                    if !unknown.contains(n) {
                        unknown.push(n.clone())
                    }
                }
            }
        }
        bits
    };
    let mut unknown = Vec::new();
    m.bounding = mask(&c.bounding, &mut unknown);
    m.effective = mask(&c.effective, &mut unknown);
    m.inheritable = mask(&c.inheritable, &mut unknown);
    m.permitted = mask(&c.permitted, &mut unknown);
    m.ambient = mask(&c.ambient, &mut unknown);
    m.unknown = unknown;
    m
}

impl CapMasks {
    /// Removes ambient capabilities that are not both inheritable and
    /// permitted (the kernel refuses to raise those); returns their names.
    pub fn drop_unraisable_ambient(&mut self) -> Vec<&'static str> {
        let bad = self.ambient & !(self.inheritable & self.permitted);
        self.ambient &= !bad;
        (0..64).filter(|c| bad & (1 << c) != 0).map(cap_name).collect()
    }
}

/// Sets every rlimit. Raising a hard limit needs CAP_SYS_RESOURCE; the
/// error says so.
pub fn apply_rlimits(p: &Process) -> Result<()> {
    for r in &p.rlimits {
        let res = cella_spec::rlimit::resource(&r.kind)
            .ok_or_else(|| Error::Config(format!("unknown rlimit type {:?}", r.kind)))?;
        if r.soft > r.hard {
            return Err(Error::Config(format!(
                "{}: soft limit {} is above hard limit {}",
                r.kind, r.soft, r.hard
            )));
        }
        cella_sys::process::setrlimit(res, r.soft, r.hard).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (raising a hard limit needs CAP_SYS_RESOURCE, which this runtime does not have; lower the value)"
            } else {
                ""
            };
            Error::Sys {
                op: format!("setrlimit {} soft={} hard={}{hint}", r.kind, r.soft, r.hard),
                err: e,
            }
        })?;
    }
    Ok(())
}

/// Drops the bounding set and switches to the configured user and groups
/// (keeping capabilities across the switch). The capability sets are then
/// the process's, unless `keep` names capabilities that must stay effective
/// a little longer (CAP_SYS_ADMIN, to load a seccomp filter without
/// no_new_privs): then `set_capabilities` finishes the job later.
pub fn apply_credentials(p: &Process, caps: &CapMasks, setgroups_allowed: bool, keep: u64) -> Result<()> {
    let mut cap = 0;
    while cella_sys::caps::kernel_knows(cap) {
        if caps.bounding & (1 << cap) == 0 {
            cella_sys::caps::bounding_drop(cap).op(|| format!("drop {} from the bounding set", cap_name(cap)))?;
        }
        cap += 1;
    }
    cella_sys::process::set_keepcaps(true).op(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    let u = &p.user;
    // Each group once, in the order given (runc and youki apply duplicates once).
    let mut groups: Vec<u32> = Vec::with_capacity(u.additional_gids.len());
    for g in &u.additional_gids {
        if !groups.contains(g) {
            groups.push(*g);
        }
    }
    if setgroups_allowed {
        cella_sys::process::setgroups(&groups).op(|| format!("setgroups {groups:?}"))?;
    } else if !groups.is_empty() {
        return Err(Error::Config(
            "process.user.additionalGids needs setgroups(2), which this user namespace denies (map groups with newgidmap)".into(),
        ));
    }
    cella_sys::process::setresgid(u.gid).op(|| format!("setgid {}", u.gid))?;
    cella_sys::process::setresuid(u.uid).op(|| format!("setuid {}", u.uid))?;
    cella_sys::process::set_keepcaps(false).op(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    if keep != 0 {
        return cella_sys::caps::capset(CapSets {
            effective: caps.effective | keep,
            permitted: caps.permitted | keep,
            inheritable: caps.inheritable,
        })
        .op(|| "capset".into());
    }
    set_capabilities(caps)
}

/// The process's capability sets and its ambient set.
pub fn set_capabilities(caps: &CapMasks) -> Result<()> {
    cella_sys::caps::capset(CapSets {
        effective: caps.effective,
        permitted: caps.permitted,
        inheritable: caps.inheritable,
    })
    .op(|| "capset".into())?;
    for c in 0..64 {
        if caps.ambient & (1 << c) != 0 {
            cella_sys::caps::ambient_raise(c).op(|| {
                format!(
                    "raise ambient {} (it must be permitted and inheritable too)",
                    cap_name(c)
                )
            })?;
        }
    }
    Ok(())
}

fn cap_name(c: u32) -> &'static str {
    cella_spec::caps::NAMES.get(c as usize).copied().unwrap_or("CAP_?")
}

/// Finds `arg0` as execve would after a shell's $PATH search, inside the
/// (already entered) container root. Called before `start` so that a wrong
/// command fails `create`, as with runc.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.is_empty() {
        return Err(Error::Config("process.args is empty: there is nothing to run".into()));
    }
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        check_executable(&p)?;
        return Ok(p);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Error::Exec {
        what: format!("executable file {arg0:?} not found in $PATH ({path})"),
        err: std::io::Error::from_raw_os_error(libc::ENOENT),
    })
}

fn check_executable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(p).map_err(|err| Error::Exec {
        what: format!("executable {}", p.display()),
        err,
    })?;
    if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
        return Err(Error::Exec {
            what: format!("{} is not an executable file", p.display()),
            err: std::io::Error::from_raw_os_error(libc::EACCES),
        });
    }
    Ok(())
}

/// args and env as C strings for execve.
pub fn c_strings(v: &[String], what: &str) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| Error::Config(format!("{what} entry {s:?} contains a NUL byte")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capabilities_are_collected_not_fatal() {
        let c = Capabilities {
            bounding: Some(vec!["CAP_KILL".into(), "CAP_FUTURE".into(), "CAP_BPF".into()]),
            effective: Some(vec!["CAP_KILL".into()]),
            ..Default::default()
        };
        let m = cap_masks(Some(&c), |n| n < 39);
        assert_eq!(m.bounding, 1 << 5);
        assert_eq!(m.effective, 1 << 5);
        assert_eq!(m.unknown, ["CAP_FUTURE", "CAP_BPF"]);
        assert_eq!(cap_masks(None, |_| true), CapMasks::default());
        let amb = Capabilities {
            inheritable: Some(vec!["CAP_KILL".into()]),
            permitted: Some(vec!["CAP_KILL".into(), "CAP_CHOWN".into()]),
            ambient: Some(vec!["CAP_KILL".into(), "CAP_CHOWN".into()]),
            ..Default::default()
        };
        let mut m = cap_masks(Some(&amb), |_| true);
        assert_eq!(m.drop_unraisable_ambient(), ["CAP_CHOWN"]);
        assert_eq!(m.ambient, 1 << 5);
    }

    #[test]
    fn finds_executables_on_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(find_executable("sh", &env).unwrap().ends_with("sh"));
        assert!(find_executable("no-such-binary-xyz", &env).is_err());
        assert!(find_executable("", &env).is_err());
        assert!(find_executable("/etc/passwd", &env).is_err());
    }
}
