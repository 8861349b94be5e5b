//! Linux security module labels: AppArmor profiles and SELinux labels.
//!
//! Applied when the LSM is enabled. When the config asks for a label and the
//! LSM is absent, `create` fails with a clear error, as runc's validator does
//! for SELinux (and as its write to the AppArmor attribute does).

use crate::error::{Context, Result};
use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y'))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Sets the labels the next execve takes on (in the container, after pivot_root).
pub fn apply_exec_labels(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(profile) = apparmor.filter(|p| !p.is_empty()) {
        let modern = Path::new("/proc/self/attr/apparmor/exec");
        let attr = if modern.exists() {
            modern
        } else {
            Path::new("/proc/self/attr/exec")
        };
        std::fs::write(attr, format!("exec {profile}")).at("apply the AppArmor profile through", attr)?;
    }
    if let Some(label) = selinux.filter(|l| !l.is_empty()) {
        let attr = Path::new("/proc/self/attr/exec");
        std::fs::write(attr, label).at("apply the SELinux label through", attr)?;
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
