//! Container records: containers/<id>/container.json holds what was asked
//! (the run configuration) and what happened (the state the monitor writes).

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::store;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `cella run`/`create` was asked for (kept for `inspect` and `start`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunConfig {
    pub image: String,
    pub hostname: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// --entrypoint: Some(vec![]) for `--entrypoint ""`.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// --security-opt seccomp=unconfined|FILE
    pub seccomp: Option<String>,
    pub no_new_privileges: bool,
    pub ulimits: Vec<String>,
    pub sysctls: Vec<String>,
    /// none | host
    pub network: String,
    /// host | container:NAME (None: a new namespace)
    pub ipc: Option<String>,
    pub pid: Option<String>,
    pub uts: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
    /// --init: the runtime's built-in init as PID 1.
    pub init: bool,
    /// --userns auto: ids of its own (see `Container::id_base`).
    pub userns_auto: bool,
    /// -p: published ports, host ports chosen at create time.
    pub ports: Vec<crate::nat::Publish>,
    /// --ip on a bridge network.
    pub ip: Option<String>,
    /// --dns servers (instead of the host's resolv.conf).
    pub dns: Vec<String>,
    /// --add-host NAME:IP entries for /etc/hosts.
    pub add_hosts: Vec<String>,
    /// --mac-address of eth0 on a bridge network.
    pub mac_address: Option<String>,
    /// Who makes the container's cgroup, chosen at create time.
    pub cgroup_manager: CgroupManager,
}

/// podman's `--cgroup-manager`: a systemd scope per container, or cella's
/// own directories. Records made before the choice existed used cgroupfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupManager {
    Systemd,
    #[default]
    Cgroupfs,
}

impl CgroupManager {
    /// systemd when it is the init (it has /run/systemd/system, as
    /// sd_booted checks) and, for a user, when their own systemd is
    /// reachable; cgroupfs otherwise.
    pub fn for_this_host() -> CgroupManager {
        if !std::path::Path::new("/run/systemd/system").is_dir() {
            return CgroupManager::Cgroupfs;
        }
        if cella_sys::process::geteuid() == 0 {
            return CgroupManager::Systemd;
        }
        let user_manager = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).join("systemd/private").exists())
            .unwrap_or(false)
            || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
        if user_manager {
            CgroupManager::Systemd
        } else {
            CgroupManager::Cgroupfs
        }
    }

    /// The OCI cgroupsPath for a container: podman's machine.slice (or the
    /// user's user.slice) with a cella- scope, or /cella/ID.
    pub fn cgroups_path(self, id: &str) -> String {
        match self {
            CgroupManager::Systemd if cella_sys::process::geteuid() == 0 => format!("machine.slice:cella:{id}"),
            CgroupManager::Systemd => format!("user.slice:cella:{id}"),
            CgroupManager::Cgroupfs => format!("/cella/{id}"),
        }
    }

    pub fn parse(s: &str) -> Result<CgroupManager> {
        match s {
            "systemd" => Ok(CgroupManager::Systemd),
            "cgroupfs" => Ok(CgroupManager::Cgroupfs),
            other => Err(Error::Invalid(format!(
                "--cgroup-manager {other}: use systemd or cgroupfs"
            ))),
        }
    }

    pub fn driver(self) -> cella_runtime::cgroup::Driver {
        match self {
            CgroupManager::Systemd => cella_runtime::cgroup::Driver::Systemd,
            CgroupManager::Cgroupfs => cella_runtime::cgroup::Driver::Cgroupfs,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Exited,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    pub status: Status,
    /// Host PID of the container's PID 1 while it runs.
    pub pid: i32,
    pub exit_code: i32,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// Why the container could not start or was found dead.
    pub error: String,
    /// Its address on the bridge network, while it has one.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Further networks joined while running (`cella network connect`).
    pub attachments: Vec<Attachment>,
    /// The monitor process (and its start time, to tell it from a reused PID).
    pub monitor_pid: i32,
    pub monitor_start: u64,
}

/// A network a running container was connected to after it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Attachment {
    pub network: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// eth1, eth2… inside; the host side of its veth pair.
    pub interface: String,
    pub host_interface: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    pub image_id: String,
    pub config: RunConfig,
    pub state: State,
    /// With --userns auto: the first host uid/gid of its 65536 (container
    /// ids 0-65535), allocated under the store lock.
    #[serde(default)]
    pub id_base: Option<u32>,
}

pub const RECORD: &str = "container.json";
pub const LOG: &str = "container.log";
pub const ATTACH: &str = "attach.sock";

impl Container {
    /// (network, address) for every network it has an address on.
    pub fn addresses(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if !self.state.ip_address.is_empty() {
            v.push((self.config.network.clone(), self.state.ip_address.clone()));
        }
        v.extend(
            self.state
                .attachments
                .iter()
                .map(|a| (a.network.clone(), a.ip_address.clone())),
        );
        v
    }

    pub fn dir(&self, paths: &Paths) -> PathBuf {
        paths.container(&self.id)
    }

    pub fn save(&self, paths: &Paths) -> Result<()> {
        store::write_json(&self.dir(paths).join(RECORD), self)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// True while its monitor process lives.
    pub fn monitor_alive(&self) -> bool {
        self.state.monitor_pid > 0
            && cella_runtime::container::proc_stat(self.state.monitor_pid)
                .is_some_and(|(st, start)| start == self.state.monitor_start && st != b'Z' && st != b'X')
    }
}

pub fn load(paths: &Paths, id: &str) -> Result<Container> {
    let mut c: Container = store::read_json(&paths.container(id).join(RECORD))?;
    reconcile(&mut c);
    Ok(c)
}

/// A record saying running (or created with a monitor) whose monitor is gone
/// (a crash, a reboot): the container is shown as exited.
fn reconcile(c: &mut Container) {
    let live_status = matches!(c.state.status, Status::Running | Status::Paused)
        || (c.state.status == Status::Created && c.state.monitor_pid > 0);
    if live_status && !c.monitor_alive() {
        c.state.status = Status::Exited;
        c.state.pid = 0;
        if c.state.exit_code == 0 {
            c.state.exit_code = 255;
        }
        if c.state.error.is_empty() {
            c.state.error = "its monitor process ended unexpectedly (crash or reboot)".into();
        }
    }
}

/// Every container, newest first. Records that cannot be read are skipped
/// (a container being created or removed right now).
pub fn list(paths: &Paths) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(paths.containers()) {
        for e in dir.flatten() {
            if let Ok(c) = load(paths, &e.file_name().to_string_lossy()) {
                out.push(c);
            }
        }
    }
    out.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(out)
}

/// By name, full id or unique id prefix.
pub fn find(paths: &Paths, key: &str) -> Result<Container> {
    let all = list(paths)?;
    if let Some(c) = all.iter().find(|c| c.name == key || c.id == key) {
        return Ok(c.clone());
    }
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&Container> = all.iter().filter(|c| c.id.starts_with(key)).collect();
        match hits.len() {
            1 => return Ok(hits[0].clone()),
            n if n > 1 => {
                return Err(Error::Conflict(format!(
                    "container id prefix {key} is ambiguous ({n} containers)"
                )))
            }
            _ => {}
        }
    }
    Err(Error::NotFound(format!("no container {key:?}: see `cella ps -a`")))
}
