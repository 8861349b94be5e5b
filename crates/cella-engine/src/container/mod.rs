//! Container records, one owner per file in containers/<id>/:
//! `container.json` what was asked (written by `create`; `rename` and
//! `update` rewrite it under the store lock),
//! `state.json` what happened (written by the container's monitor only),
//! `networks.json` the networks joined later (by `network connect` and
//! `disconnect`, under the store lock). Paused is not written: the runtime
//! knows it.

pub mod attach;
pub mod bundle;
pub mod changes;
pub mod config;
pub mod copy;
pub mod exec;
pub mod exits;
pub mod filter;
pub mod inspect;
pub mod logs;
pub mod monitor;
pub mod ops;
pub mod userns;
pub mod users;

use crate::error::{Error, Result};
use crate::store;
use crate::store::paths::Paths;
use crate::store::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use config::{CgroupManager, NamespaceMode, NetworkMode, Publish, RestartPolicy, RunConfig};

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
    #[serde(with = "crate::store::time::optional")]
    pub started_at: Option<Timestamp>,
    #[serde(with = "crate::store::time::optional")]
    pub finished_at: Option<Timestamp>,
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

/// A container: its record and its state, read together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: Timestamp,
    pub image_id: String,
    pub config: RunConfig,
    pub state: State,
    /// With --userns auto: the first host uid/gid of its 65536 (container
    /// ids 0-65535), allocated under the store lock.
    #[serde(default)]
    pub id_base: Option<u32>,
    /// A record file that could not be read (which, and why): what is shown
    /// then comes from the runtime's state.
    #[serde(skip)]
    pub damaged: Option<String>,
    /// Its record says it runs but its monitor is gone (killed, a crash, a
    /// reboot): the end the monitor would have recorded is still to be
    /// settled (`monitor::settle`).
    #[serde(skip)]
    pub unsettled: bool,
    /// What its restart policy has done (`monitor::restart`).
    #[serde(skip)]
    pub restarts: monitor::restart::Restarts,
    /// Its health check's record, while it runs with one.
    #[serde(skip)]
    pub health: Option<monitor::health::Health>,
}

impl Container {
    /// docker's state word: `restarting` while a restart policy waits.
    pub fn state_word(&self) -> String {
        if self.restarts.restarting && self.state.status == Status::Exited {
            "restarting".into()
        } else {
            self.state.status.to_string()
        }
    }
}

/// container.json: what was asked, written once. (Records written before
/// state.json existed hold the state too: read as the state then.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    id: String,
    name: String,
    created: Timestamp,
    image_id: String,
    config: RunConfig,
    #[serde(default)]
    id_base: Option<u32>,
    #[serde(default, skip_serializing)]
    state: Option<State>,
}

pub const RECORD: &str = Paths::CONTAINER_RECORD;
pub const STATE: &str = "state.json";
pub const NETWORKS: &str = "networks.json";
pub const LOG: &str = "container.log";
pub const ATTACH: &str = "attach.sock";

impl Container {
    /// The volume names a `-v` list mounts (sources that are not host paths).
    pub fn volume_names(volumes: &[String]) -> impl Iterator<Item = &str> {
        volumes
            .iter()
            .filter_map(|v| v.split_once(':').map(|(src, _)| src))
            .filter(|src| crate::volume::is_volume_source(src))
    }

    /// (network, address) for every network it has an address on.
    pub fn addresses(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if !self.state.ip_address.is_empty() {
            v.push((self.config.network.to_string(), self.state.ip_address.clone()));
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

    /// Writes container.json: at create only.
    pub fn save_record(&self, paths: &Paths) -> Result<()> {
        let r = Record {
            id: self.id.clone(),
            name: self.name.clone(),
            created: self.created,
            image_id: self.image_id.clone(),
            config: self.config.clone(),
            id_base: self.id_base,
            state: None,
        };
        // A --rm container's record lives as long as its volatile layer:
        // after a crash of the machine, neither is worth a sync now (a
        // record lost with it is swept, a torn one listed as damaged).
        let durability = match self.config.auto_remove {
            true => store::Durability::Live,
            false => store::Durability::Synced,
        };
        store::write_json(&self.dir(paths).join(RECORD), &r, durability)
    }

    /// Writes state.json: by the container's monitor only.
    pub fn save_state(&self, paths: &Paths) -> Result<()> {
        let mut st = self.state.clone();
        st.attachments.clear();
        if st.status == Status::Paused {
            st.status = Status::Running;
        }
        store::write_json(&self.dir(paths).join(STATE), &st, store::Durability::Live)
    }

    /// Writes networks.json: by network connect/disconnect, under the lock.
    pub fn save_attachments(&self, paths: &Paths) -> Result<()> {
        store::write_json(
            &self.dir(paths).join(NETWORKS),
            &self.state.attachments,
            store::Durability::Live,
        )
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// True while its monitor process lives.
    pub fn monitor_alive(&self) -> bool {
        self.state.monitor_pid > 0
            && cella_runtime::container::proc_stat(self.state.monitor_pid)
                .is_some_and(|s| s.start == self.state.monitor_start && s.live())
    }
}

pub(crate) fn not_found(e: &Error) -> bool {
    matches!(e, Error::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound)
}

/// Reads a container's records. A damaged one does not hide the container:
/// it is loaded with what could be read, named in `damaged`, and its
/// status comes from the runtime.
pub fn load(paths: &Paths, id: &str) -> Result<Container> {
    let dir = paths.container(id);
    let r: Record = match store::read_json(&dir.join(RECORD)) {
        Ok(r) => r,
        Err(e @ Error::Corrupt { .. }) => return Ok(damaged_record(paths, id, &e)),
        Err(e) => return Err(e),
    };
    let mut damaged = None;
    let mut state = match store::read_json::<State>(&dir.join(STATE)) {
        Ok(st) => st,
        Err(e) if not_found(&e) => r.state.unwrap_or_default(),
        Err(e @ Error::Corrupt { .. }) => {
            damaged = Some(e.to_string());
            State::default()
        }
        Err(e) => return Err(e),
    };
    match store::read_json::<Vec<Attachment>>(&dir.join(NETWORKS)) {
        Ok(a) => state.attachments = a,
        Err(e) if not_found(&e) => {}
        Err(e @ Error::Corrupt { .. }) => damaged = Some(e.to_string()),
        Err(e) => return Err(e),
    }
    // `run --rm` moves a container's directory to the trash, never back:
    // if it is gone now, what was read may be torn (state.json missing
    // after the move) and must not pass for a record.
    if !dir.is_dir() {
        return Err(Error::Io {
            what: "read",
            path: dir,
            err: std::io::ErrorKind::NotFound.into(),
        });
    }
    let mut c = Container {
        id: r.id,
        name: r.name,
        created: r.created,
        image_id: r.image_id,
        config: r.config,
        state,
        id_base: r.id_base,
        damaged,
        unsettled: false,
        restarts: monitor::restart::read(paths, id),
        health: None,
    };
    reconcile(paths, &mut c);
    if c.config.health.is_some() && matches!(c.state.status, Status::Running | Status::Paused) {
        c.health = monitor::health::read(paths, id);
    }
    Ok(c)
}

/// A container whose container.json cannot be read: its id for a name,
/// nothing of its configuration, its status from the runtime.
fn damaged_record(paths: &Paths, id: &str, e: &Error) -> Container {
    let created = std::fs::metadata(paths.container(id))
        .and_then(|m| m.modified())
        .map(crate::store::time::Timestamp::from)
        .unwrap_or_default();
    let mut c = Container {
        id: id.to_string(),
        name: id.to_string(),
        created,
        image_id: String::new(),
        config: RunConfig::default(),
        state: State::default(),
        id_base: None,
        damaged: Some(e.to_string()),
        unsettled: false,
        restarts: monitor::restart::read(paths, id),
        health: None,
    };
    reconcile(paths, &mut c);
    c
}

/// The record and the truth made to agree for display. With its monitor
/// alive, the record holds (a running one the runtime has frozen is
/// paused). Otherwise, for a record that says it runs (or one that is
/// damaged), the runtime's state decides: still running (the monitor was
/// killed), or gone, shown as exited (255) until `monitor::settle`
/// records its end.
fn reconcile(paths: &Paths, c: &mut Container) {
    let monitored = c.monitor_alive();
    if monitored && c.damaged.is_none() {
        if c.state.status == Status::Running {
            let frozen = cella_runtime::lifecycle::state(&paths.runroot, &c.id)
                .is_ok_and(|s| s.status == cella_spec::Status::Paused);
            if frozen {
                c.state.status = Status::Paused;
            }
        }
        return;
    }
    let live_record = matches!(c.state.status, Status::Running | Status::Paused)
        || (c.state.status == Status::Created && c.state.monitor_pid > 0);
    if live_record || c.damaged.is_some() {
        let runtime = cella_runtime::lifecycle::state(&paths.runroot, &c.id).ok();
        let live = runtime.as_ref().filter(|s| s.pid > 0).and_then(|s| match s.status {
            cella_spec::Status::Running => Some(Status::Running),
            cella_spec::Status::Paused => Some(Status::Paused),
            cella_spec::Status::Created => Some(Status::Created),
            _ => None,
        });
        c.unsettled = !monitored && (live_record || runtime.is_some());
        match (live, runtime) {
            (Some(status), Some(s)) => {
                c.state.status = status;
                c.state.pid = s.pid;
                if !monitored && c.damaged.is_none() {
                    c.state.error =
                        "its monitor process was killed; the container still runs (stop or rm -f it)".into();
                }
            }
            _ if live_record || c.damaged.is_some() => {
                c.state.status = Status::Exited;
                c.state.pid = 0;
                if c.state.exit_code == 0 {
                    c.state.exit_code = 255;
                }
                if c.state.error.is_empty() {
                    c.state.error = "its monitor process ended unexpectedly (killed, a crash or a reboot)".into();
                }
            }
            _ => {}
        }
    }
    if let Some(d) = &c.damaged {
        c.state.error = format!("damaged record ({d}); `cella rm -f {}` removes it", c.short_id());
    }
}

/// Every container, newest first. Records that vanish while being read
/// are skipped (a container being removed right now); damaged ones are
/// listed (see `load`).
pub fn list(paths: &Paths) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(paths.containers()) {
        for e in dir.flatten() {
            if let Ok(c) = load(paths, &e.file_name().to_string_lossy()) {
                out.push(c);
            }
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.created));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `run --rm` moves a container's directory to the trash while others
    /// may be reading it. A read torn by that move (container.json read
    /// before it, state.json missing after it) once passed for a container
    /// that had ended with code 0 and its monitor gone: `cella wait` of a
    /// `--rm` container printed 0 instead of its code. Every read must give
    /// the whole record or "not found".
    #[test]
    fn a_record_moved_to_the_trash_mid_read_is_whole_or_gone() {
        /// Removes the test's directory however the test ends.
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let base = std::env::temp_dir().join(format!("cella-torn-{}", std::process::id()));
        let _cleanup = Gone(base.clone());
        let paths = Paths::new(Some(base.join("store")), Some(base.join("run")));
        let trash = base.join("trash");
        std::fs::create_dir_all(&trash).unwrap();
        let (mut whole, mut gone) = (0, 0);
        for i in 0..300 {
            let c = Container {
                id: format!("{i:064x}"),
                name: format!("c{i}"),
                created: Timestamp::now(),
                image_id: String::new(),
                config: RunConfig::default(),
                state: State {
                    status: Status::Running,
                    exit_code: 5,
                    ..Default::default()
                },
                id_base: None,
                damaged: None,
                unsettled: false,
                restarts: Default::default(),
                health: None,
            };
            std::fs::create_dir_all(c.dir(&paths)).unwrap();
            c.save_record(&paths).unwrap();
            c.save_state(&paths).unwrap();
            let (from, to) = (c.dir(&paths), trash.join(&c.id));
            let mover = std::thread::spawn(move || std::fs::rename(from, to).unwrap());
            loop {
                match load(&paths, &c.id) {
                    Ok(read) => {
                        assert_eq!(read.state.exit_code, 5, "a torn read of {}", c.id);
                        whole += 1;
                    }
                    Err(e) if not_found(&e) => {
                        gone += 1;
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            mover.join().unwrap();
        }
        assert_eq!(gone, 300, "({whole} whole reads)");
    }
}
