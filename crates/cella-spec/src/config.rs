//! The bundle's config.json.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub oci_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub terminal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_new_privileges: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_priority: Option<IoPriority>,
}

/// `process.scheduler`: sched_setattr(2)'s fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Scheduler {
    /// SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE or SCHED_DEADLINE.
    pub policy: String,
    pub nice: i32,
    pub priority: i32,
    /// SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// `process.ioPriority`: ioprio_set(2)'s class and level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IoPriority {
    /// IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE.
    pub class: String,
    pub priority: i32,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// Capability names as written (e.g. `CAP_KILL`); unknown names are kept so
/// that the runtime can warn about them and go on, as runc does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounding: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inheritable: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Root {
    pub path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hooks {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Hook {
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Linux {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub time_offsets: BTreeMap<String, TimeOffset>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<crate::seccomp::Seccomp>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

impl IdMapping {
    /// Parses `inner:outer:count` (util-linux's --map-users form).
    pub fn parse(s: &str) -> Result<IdMapping, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [inner, outer, count] = parts[..] else {
            return Err(format!("{s:?}: expected inner:outer:count"));
        };
        let n = |x: &str, what: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("{s:?}: {what} {x:?} is not a number"))
        };
        let m = IdMapping {
            container_id: n(inner, "inner id")?,
            host_id: n(outer, "outer id")?,
            size: n(count, "count")?,
        };
        m.check()?;
        Ok(m)
    }

    /// A mapping must be non-empty and must not run past the 32-bit id space
    /// (u32::MAX itself is the invalid id).
    pub fn check(&self) -> Result<(), String> {
        if self.size == 0 {
            return Err(format!("mapping {}:{}:0 maps nothing", self.container_id, self.host_id));
        }
        for start in [self.container_id, self.host_id] {
            if u64::from(start) + u64::from(self.size) > u64::from(u32::MAX) {
                return Err(format!(
                    "mapping {}:{}:{} runs past the largest id",
                    self.container_id, self.host_id, self.size
                ));
            }
        }
        Ok(())
    }
}

/// Checks a list of mappings: each valid, and no two overlapping on either side.
pub fn check_mappings(maps: &[IdMapping]) -> Result<(), String> {
    for (i, a) in maps.iter().enumerate() {
        a.check()?;
        for b in &maps[i + 1..] {
            let overlap = |x: u32, y: u32| x < y + b.size && y < x + a.size;
            if overlap(a.container_id, b.container_id) || overlap(a.host_id, b.host_id) {
                return Err(format!(
                    "mappings {}:{}:{} and {}:{}:{} overlap",
                    a.container_id, a.host_id, a.size, b.container_id, b.host_id, b.size
                ));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeOffset {
    pub secs: i64,
    pub nanosecs: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub major: i64,
    pub minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// The namespace kinds of the OCI spec, in the order they must be joined
/// (user first, so that the others are entered with its privileges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceKind {
    User,
    Pid,
    Network,
    Ipc,
    Uts,
    Mount,
    Cgroup,
    Time,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::User,
        NamespaceKind::Pid,
        NamespaceKind::Network,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::Mount,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "pid" => Self::Pid,
            "network" => Self::Network,
            "ipc" => Self::Ipc,
            "uts" => Self::Uts,
            "mount" => Self::Mount,
            "cgroup" => Self::Cgroup,
            "time" => Self::Time,
            _ => return None,
        })
    }

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Pid => "pid",
            Self::Network => "network",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Mount => "mount",
            Self::Cgroup => "cgroup",
            Self::Time => "time",
        }
    }

    /// The file name under /proc/PID/ns.
    pub fn proc_name(self) -> &'static str {
        match self {
            Self::Network => "net",
            Self::Mount => "mnt",
            other => other.name(),
        }
    }
}

impl Spec {
    pub fn linux(&self) -> &Linux {
        static EMPTY: std::sync::OnceLock<Linux> = std::sync::OnceLock::new();
        self.linux.as_ref().unwrap_or_else(|| EMPTY.get_or_init(Linux::default))
    }

    /// The namespace entry of a kind, if the config lists one.
    pub fn namespace(&self, kind: NamespaceKind) -> Option<&Namespace> {
        self.linux()
            .namespaces
            .iter()
            .find(|n| NamespaceKind::parse(&n.kind) == Some(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_config_and_ignores_unknown_fields() {
        let s: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_KILL","CAP_NOT_A_THING"]}},"root":{"path":"rootfs"},
            "somethingNew":{"x":1},"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/x"}]}}"#,
        )
        .unwrap();
        assert_eq!(s.process.as_ref().unwrap().args, ["sh"]);
        let caps = s.process.unwrap().capabilities.unwrap();
        assert_eq!(caps.bounding.unwrap()[1], "CAP_NOT_A_THING");
        let net = s.linux.as_ref().unwrap().namespaces[1].clone();
        assert_eq!(net.path.as_deref(), Some("/run/netns/x"));
    }

    #[test]
    fn id_mappings_parse_and_check() {
        assert_eq!(
            IdMapping::parse("0:1000:1").unwrap(),
            IdMapping {
                container_id: 0,
                host_id: 1000,
                size: 1
            }
        );
        for bad in [
            "0:1000",
            "a:1:1",
            "0:0:0",
            "0:4294967295:1",
            "4294967290:0:10",
            "1:2:3:4",
        ] {
            assert!(IdMapping::parse(bad).is_err(), "{bad}");
        }
        let m = |c, h, s| IdMapping {
            container_id: c,
            host_id: h,
            size: s,
        };
        assert!(check_mappings(&[m(0, 1000, 1), m(1, 100000, 65536)]).is_ok());
        assert!(check_mappings(&[m(0, 1000, 10), m(5, 200000, 10)]).is_err());
        assert!(check_mappings(&[m(0, 1000, 10), m(100, 1005, 10)]).is_err());
    }

    #[test]
    fn namespace_lookup_by_kind() {
        let s: Spec = serde_json::from_str(r#"{"linux":{"namespaces":[{"type":"uts"}]}}"#).unwrap();
        assert!(s.namespace(NamespaceKind::Uts).is_some());
        assert!(s.namespace(NamespaceKind::Pid).is_none());
        assert_eq!(NamespaceKind::Mount.proc_name(), "mnt");
    }
}
