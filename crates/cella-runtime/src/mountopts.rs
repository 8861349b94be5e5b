//! Parsing of an OCI mount's `options` into mount(2) flags, mount_setattr(2)
//! attributes, propagation changes and filesystem data.

use crate::error::{Error, Result};
use cella_sys::mount::*;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags for mount(2) (for a bind mount: besides MS_BIND|MS_REC).
    pub flags: u64,
    /// MS_* flags the options turned off (`rw`, `suid`, ...), for bind remounts.
    pub cleared: u64,
    pub bind: bool,
    pub recursive: bool,
    /// Propagation changes applied after mounting, in order.
    pub propagation: Vec<u64>,
    /// Recursive attributes (`rro`, `rnosuid`, ...) for mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Filesystem-specific data, comma-joined (`mode=755,size=64k`).
    pub data: String,
}

const MS: &[(&str, u64, bool)] = &[
    ("ro", libc::MS_RDONLY, true),
    ("rw", libc::MS_RDONLY, false),
    ("nosuid", libc::MS_NOSUID, true),
    ("suid", libc::MS_NOSUID, false),
    ("nodev", libc::MS_NODEV, true),
    ("dev", libc::MS_NODEV, false),
    ("noexec", libc::MS_NOEXEC, true),
    ("exec", libc::MS_NOEXEC, false),
    ("sync", libc::MS_SYNCHRONOUS, true),
    ("async", libc::MS_SYNCHRONOUS, false),
    ("dirsync", libc::MS_DIRSYNC, true),
    ("remount", libc::MS_REMOUNT, true),
    ("mand", libc::MS_MANDLOCK, true),
    ("nomand", libc::MS_MANDLOCK, false),
    ("noatime", libc::MS_NOATIME, true),
    ("atime", libc::MS_NOATIME, false),
    ("nodiratime", libc::MS_NODIRATIME, true),
    ("diratime", libc::MS_NODIRATIME, false),
    ("relatime", libc::MS_RELATIME, true),
    ("norelatime", libc::MS_RELATIME, false),
    ("strictatime", libc::MS_STRICTATIME, true),
    ("nostrictatime", libc::MS_STRICTATIME, false),
    ("silent", libc::MS_SILENT, true),
    ("loud", libc::MS_SILENT, false),
    ("iversion", libc::MS_I_VERSION, true),
    ("noiversion", libc::MS_I_VERSION, false),
    ("lazytime", libc::MS_LAZYTIME, true),
    ("nolazytime", libc::MS_LAZYTIME, false),
    ("nosymfollow", 256, true),
    ("symfollow", 256, false),
];

const PROPAGATION: &[(&str, u64)] = &[
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

const RECURSIVE_ATTRS: &[(&str, u64, bool)] = &[
    ("rro", MOUNT_ATTR_RDONLY, true),
    ("rrw", MOUNT_ATTR_RDONLY, false),
    ("rnosuid", MOUNT_ATTR_NOSUID, true),
    ("rsuid", MOUNT_ATTR_NOSUID, false),
    ("rnodev", MOUNT_ATTR_NODEV, true),
    ("rdev", MOUNT_ATTR_NODEV, false),
    ("rnoexec", MOUNT_ATTR_NOEXEC, true),
    ("rexec", MOUNT_ATTR_NOEXEC, false),
    ("rnodiratime", MOUNT_ATTR_NODIRATIME, true),
    ("rdiratime", MOUNT_ATTR_NODIRATIME, false),
    ("rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, true),
    ("rsymfollow", MOUNT_ATTR_NOSYMFOLLOW, false),
];

/// The propagation flag for `linux.rootfsPropagation` or a mount option name.
pub fn propagation_flag(name: &str) -> Option<u64> {
    PROPAGATION.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

/// The mount(2) flags a person would expect from the options (for `features`).
pub fn known_options() -> impl Iterator<Item = &'static str> {
    MS.iter()
        .map(|o| o.0)
        .chain(PROPAGATION.iter().map(|o| o.0))
        .chain(RECURSIVE_ATTRS.iter().map(|o| o.0))
        .chain([
            "bind",
            "rbind",
            "defaults",
            "rrelatime",
            "rnorelatime",
            "rnoatime",
            "ratime",
            "rstrictatime",
            "rnostrictatime",
        ])
}

pub fn parse(options: &[String]) -> Result<MountOptions> {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let opt = opt.as_str();
        if let Some(&(_, f, set)) = MS.iter().find(|(n, _, _)| *n == opt) {
            if set {
                o.flags |= f;
                o.cleared &= !f;
            } else {
                o.flags &= !f;
                o.cleared |= f;
            }
            // The atime modes exclude each other.
            if set && (f == libc::MS_RELATIME || f == libc::MS_STRICTATIME || f == libc::MS_NOATIME) {
                let others = (libc::MS_RELATIME | libc::MS_STRICTATIME | libc::MS_NOATIME) & !f;
                o.flags &= !others;
            }
        } else if let Some(&(_, f)) = PROPAGATION.iter().find(|(n, _)| *n == opt) {
            o.propagation.push(f);
        } else if let Some(&(_, a, set)) = RECURSIVE_ATTRS.iter().find(|(n, _, _)| *n == opt) {
            if set {
                o.rec_set |= a;
                o.rec_clear &= !a;
            } else {
                o.rec_clear |= a;
                o.rec_set &= !a;
            }
        } else {
            match opt {
                "bind" => o.bind = true,
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                }
                "defaults" => {}
                "rrelatime" | "rnorelatime" | "rnoatime" | "ratime" | "rstrictatime" | "rnostrictatime" => {
                    let atime = match opt {
                        "rnoatime" => MOUNT_ATTR_NOATIME,
                        "rstrictatime" => MOUNT_ATTR_STRICTATIME,
                        _ => MOUNT_ATTR_RELATIME,
                    };
                    o.rec_clear |= MOUNT_ATTR__ATIME;
                    o.rec_set = (o.rec_set & !MOUNT_ATTR__ATIME) | atime;
                }
                "idmap" | "ridmap" => {
                    return Err(Error::Config(format!(
                        "mount option {opt:?} (id-mapped mounts) is not supported yet"
                    )))
                }
                "tmpcopyup" => return Err(Error::Config("mount option \"tmpcopyup\" is not supported yet".into())),
                other => data.push(other),
            }
        }
    }
    o.data = data.join(",");
    Ok(o)
}

/// Converts MS_* flags that mount_setattr understands into MOUNT_ATTR_* bits.
pub fn ms_to_attr(ms: u64) -> u64 {
    let mut a = 0;
    for (m, attr) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (libc::MS_NOATIME, MOUNT_ATTR_NOATIME),
        (libc::MS_STRICTATIME, MOUNT_ATTR_STRICTATIME),
        (256, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if ms & m != 0 {
            a |= attr;
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        let b = p(&["rbind", "ro", "rprivate"]);
        assert!(b.bind && b.recursive);
        assert_eq!(b.flags, libc::MS_RDONLY);
        assert_eq!(b.propagation, [libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn later_options_win_and_recursive_attrs() {
        let o = p(&["ro", "rw", "rro", "rnosuid"]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert_eq!(o.cleared & libc::MS_RDONLY, libc::MS_RDONLY);
        assert_eq!(o.rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        assert!(parse(&["idmap".to_string()]).is_err());
    }
}
