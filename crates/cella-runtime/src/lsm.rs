//! Linux security module labels: AppArmor profiles and SELinux labels.
//!
//! Applied when the LSM is enabled. When the config asks for a label and the
//! LSM is absent, `create` fails with a clear error, as runc's validator does
//! for SELinux (and as its write to the AppArmor attribute does).

use crate::error::Result;
use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y'))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Whether labels are asked for (then `apply_exec_labels` needs a procfs
/// handle, opened while the process may still mount).
pub fn wants_labels(apparmor: Option<&str>, selinux: Option<&str>) -> bool {
    apparmor.is_some_and(|p| !p.is_empty()) || selinux.is_some_and(|l| !l.is_empty())
}

/// Sets the labels the next execve takes on (in the container, after
/// pivot_root), through a procfs handle of the runtime's own.
pub fn apply_exec_labels(
    procfs: Option<&crate::procfs::Procfs>,
    apparmor: Option<&str>,
    selinux: Option<&str>,
) -> Result<()> {
    if !wants_labels(apparmor, selinux) {
        return Ok(());
    }
    let procfs = procfs.ok_or_else(|| crate::error::Error::Config("no procfs handle for the LSM labels".into()))?;
    if let Some(profile) = apparmor.filter(|p| !p.is_empty()) {
        let attr = if procfs.has("attr/apparmor/exec") {
            "attr/apparmor/exec"
        } else {
            "attr/exec"
        };
        procfs.write_own(attr, format!("exec {profile}").as_bytes())?;
    }
    if let Some(label) = selinux.filter(|l| !l.is_empty()) {
        procfs.write_own("attr/exec", label.as_bytes())?;
    }
    Ok(())
}

/// Mount data with the SELinux mount label added, for filesystems that take
/// a `context=` option (tmpfs, devpts, mqueue, ...).
pub fn with_mount_label(data: &str, fstype: &str, label: Option<&str>) -> String {
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        return data.to_string();
    };
    if matches!(fstype, "proc" | "sysfs" | "cgroup" | "cgroup2" | "bind" | "") || data.contains("context=") {
        return data.to_string();
    }
    if data.is_empty() {
        format!("context=\"{label}\"")
    } else {
        format!("{data},context=\"{label}\"")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_label_goes_on_label_aware_filesystems_only() {
        let l = Some("system_u:object_r:container_file_t:s0");
        assert_eq!(
            super::with_mount_label("mode=755", "tmpfs", l),
            "mode=755,context=\"system_u:object_r:container_file_t:s0\""
        );
        assert_eq!(
            super::with_mount_label("", "mqueue", l),
            "context=\"system_u:object_r:container_file_t:s0\""
        );
        assert_eq!(super::with_mount_label("", "proc", l), "");
        assert_eq!(super::with_mount_label("mode=755", "tmpfs", None), "mode=755");
    }
}
