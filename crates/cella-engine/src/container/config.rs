//! What `cella run`/`create` was asked for, parsed once into types: the
//! network and namespace modes, published ports, the cgroup manager. The
//! record keeps docker's spellings (`host`, `container:NAME`, `bridge`…), so
//! records written before these types read the same.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
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
    pub network: NetworkMode,
    pub ipc: NamespaceMode,
    pub pid: NamespaceMode,
    pub uts: NamespaceMode,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
    /// --init: the runtime's built-in init as PID 1.
    pub init: bool,
    /// --userns auto: ids of its own (see `Container::id_base`).
    pub userns_auto: bool,
    /// -p: published ports, host ports chosen at create time.
    pub ports: Vec<Publish>,
    /// -P: also every port the image exposes (added at create time).
    pub publish_all: bool,
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
    /// --label KEY=VALUE (and --label-file lines): for `ps -f label=`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// --annotation KEY=VALUE: into the OCI spec's annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// --stop-signal: what `stop` sends first (default SIGTERM).
    pub stop_signal: Option<String>,
    /// --stop-timeout: `stop`'s grace period when -t is not given (10 s).
    pub stop_timeout: Option<u64>,
    /// --cpuset-cpus, e.g. 0-1,3.
    pub cpuset_cpus: Option<String>,
    /// --cpu-shares: the relative weight (docker's 1024 scale).
    pub cpu_shares: Option<u64>,
    /// --memory-swap: memory plus swap in bytes, -1 unlimited.
    pub memory_swap: Option<i64>,
    /// --oom-kill-disable.
    pub oom_kill_disable: bool,
    /// --shm-size of /dev/shm in bytes (docker's default 64 MiB).
    pub shm_size: Option<i64>,
    /// --group-add: further groups, by name (the container's /etc/group) or number.
    pub group_add: Vec<String>,
    /// --restart: whether the monitor starts it again when it ends.
    pub restart: RestartPolicy,
    /// --expose PORT[/PROTO]: published by -P as the image's own.
    pub expose: Vec<String>,
    /// --volumes-from CONTAINER[:ro|rw] as given (its volumes are in
    /// `volumes` from create on).
    pub volumes_from: Vec<String>,
    /// --health-cmd and its timing (docker's `Config.Healthcheck`).
    pub health: Option<HealthConfig>,
    /// --device HOST[:CONTAINER[:PERMS]] as given.
    pub devices: Vec<String>,
}

/// docker's `Config.Healthcheck`: `Test` is `["CMD-SHELL", cmd]` or
/// `["CMD", arg…]`; durations in milliseconds here (docker: nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub start_period_ms: Option<u64>,
    pub retries: Option<u32>,
}

impl HealthConfig {
    /// docker's defaults: 30 s apart, 30 s each, 3 retries, no start period.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.interval_ms.unwrap_or(30_000))
    }
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(30_000))
    }
    pub fn start_period(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.start_period_ms.unwrap_or(0))
    }
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(3).max(1)
    }
    /// The command to run in the container.
    pub fn argv(&self) -> Vec<String> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            _ => self.test.clone(),
        }
    }
}

/// docker's `--restart` policies. Kept in records as docker spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    #[default]
    No,
    /// At most N restarts after non-zero exits (0: no limit).
    OnFailure(u32),
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let bad = || {
            Error::Invalid(format!(
                "--restart {s}: use no, on-failure[:MAX-RETRIES], always or unless-stopped"
            ))
        };
        Ok(match s.split_once(':') {
            None => match s {
                "no" | "" => RestartPolicy::No,
                "on-failure" => RestartPolicy::OnFailure(0),
                "always" => RestartPolicy::Always,
                "unless-stopped" => RestartPolicy::UnlessStopped,
                _ => return Err(bad()),
            },
            Some(("on-failure", n)) => RestartPolicy::OnFailure(n.parse().map_err(|_| bad())?),
            Some(_) => return Err(bad()),
        })
    }

    /// docker's `HostConfig.RestartPolicy` name and retry count.
    pub fn name_and_max(self) -> (&'static str, u32) {
        match self {
            RestartPolicy::No => ("no", 0),
            RestartPolicy::OnFailure(n) => ("on-failure", n),
            RestartPolicy::Always => ("always", 0),
            RestartPolicy::UnlessStopped => ("unless-stopped", 0),
        }
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = Error;
    fn try_from(s: String) -> Result<RestartPolicy> {
        RestartPolicy::parse(&s)
    }
}

impl From<RestartPolicy> for String {
    fn from(p: RestartPolicy) -> String {
        match p {
            RestartPolicy::OnFailure(n) if n > 0 => format!("on-failure:{n}"),
            other => other.name_and_max().0.to_string(),
        }
    }
}

impl RunConfig {
    /// The signal `stop` sends first: --stop-signal, else SIGTERM.
    pub fn stop_signal(&self) -> i32 {
        self.stop_signal
            .as_deref()
            .and_then(cella_spec::signal::parse)
            .unwrap_or(libc::SIGTERM)
    }

    /// `stop`'s grace period without -t: --stop-timeout, else docker's 10 s.
    pub fn stop_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stop_timeout.unwrap_or(10))
    }
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

/// One `-p [IP:][HOSTPORT:]CPORT[/tcp|udp]` (port ranges as A-B on both sides).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Publish {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    /// Ports in the range (1 for a single port).
    pub count: u16,
    pub proto: String,
}

fn range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a > 0 && b >= a).then(|| (a, b - a + 1))
        }
        None => s.parse().ok().filter(|p| *p > 0).map(|p| (p, 1)),
    }
}

impl Publish {
    /// Parses a -p value. A host port left out is 0: `create` chooses a free
    /// one (as it does for -P).
    pub fn parse(spec: &str) -> Result<Publish> {
        parse_publish(spec)
    }

    /// Whether the host port is still to be chosen.
    pub fn unassigned(&self) -> bool {
        self.host_port == 0
    }
}

fn parse_publish(spec: &str) -> Result<Publish> {
    let bad = || Error::Invalid(format!("-p {spec}: use [IP:][HOSTPORT:]CPORT[/tcp|udp]"));
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, cport) = match parts[..] {
        [c] => (None, None, c),
        [h, c] => (None, Some(h), c),
        [i, h, c] => (Some(i), Some(h).filter(|h| !h.is_empty()), c),
        _ => return Err(bad()),
    };
    let host_ip = ip
        .filter(|i| !i.is_empty())
        .map(|i| i.parse::<Ipv4Addr>().map_err(|_| bad()))
        .transpose()?;
    let (container_port, count) = range(cport).ok_or_else(bad)?;
    let host_port = match host {
        Some(h) => {
            let (p, n) = range(h).filter(|(p, _)| *p > 0).ok_or_else(bad)?;
            if n != count {
                return Err(Error::Invalid(format!(
                    "-p {spec}: the host and container ranges differ in size"
                )));
            }
            p
        }
        None if count == 1 => 0,
        None => {
            return Err(Error::Invalid(format!(
                "-p {spec}: a container port range needs host ports"
            )))
        }
    };
    Ok(Publish {
        host_ip,
        host_port,
        container_port,
        count,
        proto: proto.into(),
    })
}

/// `--network`: what the container's network namespace is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NetworkMode {
    /// Only `lo` (docker's `none`).
    #[default]
    None,
    /// The host's own namespace.
    Host,
    /// A bridge network: `bridge` (the default one) or one made with
    /// `cella network create`. For an unprivileged user, `bridge` is pasta.
    Bridge(String),
    /// pasta's user-mode network (what `bridge` means rootless).
    Pasta,
    /// Another container's namespace.
    Container(String),
    /// A namespace file (`/run/netns/X`).
    Ns(PathBuf),
}

/// Names `cella network create` may not take: they mean a mode.
pub const RESERVED_NETWORK_NAMES: [&str; 4] = ["none", "host", "pasta", "default"];

impl NetworkMode {
    pub fn parse(s: &str) -> Result<NetworkMode> {
        Ok(match s {
            "" | "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "pasta" => NetworkMode::Pasta,
            "default" => NetworkMode::Bridge("bridge".into()),
            s => match s.split_once(':') {
                Some(("container", c)) if !c.is_empty() => NetworkMode::Container(c.into()),
                Some(("ns", p)) if p.starts_with('/') => NetworkMode::Ns(p.into()),
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "--network {s}: use bridge, none, host, pasta, container:NAME, ns:PATH or a network's name"
                    )))
                }
                None => NetworkMode::Bridge(s.into()),
            },
        })
    }

    /// When `--network` is not given: $CELLA_DEFAULT_NETWORK, else bridge
    /// for root (as docker) and none for other users.
    pub fn default_for_this_user() -> Result<NetworkMode> {
        match std::env::var("CELLA_DEFAULT_NETWORK") {
            Ok(n) if !n.is_empty() => NetworkMode::parse(&n),
            _ if cella_sys::process::geteuid() == 0 => Ok(NetworkMode::Bridge("bridge".into())),
            _ => Ok(NetworkMode::None),
        }
    }

    /// The bridge network whose addresses and NAT it uses (root only:
    /// rootless `bridge` is pasta).
    pub fn bridge(&self, rootless: bool) -> Option<&str> {
        match self {
            NetworkMode::Bridge(n) if !rootless => Some(n),
            _ => None,
        }
    }

    /// Whether it is on the bridge network `name`.
    pub fn is_on(&self, name: &str) -> bool {
        matches!(self, NetworkMode::Bridge(n) if n == name)
    }

    /// User-mode networking through pasta.
    pub fn user_mode(&self, rootless: bool) -> bool {
        match self {
            NetworkMode::Pasta => true,
            NetworkMode::Bridge(_) => rootless,
            _ => false,
        }
    }

    /// A new network namespace of the container's own.
    pub fn own_namespace(&self) -> bool {
        !matches!(self, NetworkMode::Host | NetworkMode::Container(_) | NetworkMode::Ns(_))
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Bridge(n) => f.write_str(n),
            NetworkMode::Pasta => f.write_str("pasta"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::Ns(p) => write!(f, "ns:{}", p.display()),
        }
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = Error;
    fn try_from(s: String) -> Result<NetworkMode> {
        NetworkMode::parse(&s)
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        m.to_string()
    }
}

/// `--ipc`, `--pid`, `--uts`: a namespace of the container's own, the
/// host's, or another container's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Option<String>", into = "Option<String>")]
pub enum NamespaceMode {
    #[default]
    Private,
    Host,
    Container(String),
}

impl NamespaceMode {
    /// `flag` names the option in errors (`--ipc`).
    pub fn parse(s: Option<&str>, flag: &str) -> Result<NamespaceMode> {
        Ok(match s {
            None | Some("") | Some("private") => NamespaceMode::Private,
            Some("host") => NamespaceMode::Host,
            Some(s) => match s.strip_prefix("container:") {
                Some(c) if !c.is_empty() => NamespaceMode::Container(c.into()),
                _ => return Err(Error::Invalid(format!("{flag} {s}: use host or container:NAME"))),
            },
        })
    }
}

impl TryFrom<Option<String>> for NamespaceMode {
    type Error = Error;
    fn try_from(s: Option<String>) -> Result<NamespaceMode> {
        NamespaceMode::parse(s.as_deref(), "namespace mode")
    }
}

impl From<NamespaceMode> for Option<String> {
    fn from(m: NamespaceMode) -> Option<String> {
        match m {
            NamespaceMode::Private => None,
            NamespaceMode::Host => Some("host".into()),
            NamespaceMode::Container(c) => Some(format!("container:{c}")),
        }
    }
}

#[cfg(test)]
mod restart_tests {
    use super::RestartPolicy;

    #[test]
    fn policies_parse_and_keep_dockers_spelling() {
        for (s, p) in [
            ("no", RestartPolicy::No),
            ("on-failure", RestartPolicy::OnFailure(0)),
            ("on-failure:3", RestartPolicy::OnFailure(3)),
            ("always", RestartPolicy::Always),
            ("unless-stopped", RestartPolicy::UnlessStopped),
        ] {
            assert_eq!(RestartPolicy::parse(s).unwrap(), p);
            let back: RestartPolicy = serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap();
            assert_eq!(back, p);
        }
        for bad in ["sometimes", "on-failure:x", "always:2"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_parse_as_docker_reads_them() {
        let p = Publish::parse("127.0.0.1:18080:8080").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.count, p.proto.as_str()),
            (Some(Ipv4Addr::LOCALHOST), 18080, 8080, 1, "tcp")
        );
        let p = Publish::parse("5353:53/udp").unwrap();
        assert_eq!((p.host_ip, p.host_port, p.proto.as_str()), (None, 5353, "udp"));
        let p = Publish::parse("8000-8002:9000-9002").unwrap();
        assert_eq!((p.host_port, p.container_port, p.count), (8000, 9000, 3));
        assert!(Publish::parse("80").unwrap().unassigned());
        assert!(Publish::parse("0.0.0.0::80").unwrap().unassigned());
        for bad in [
            "",
            "x",
            "1:2:3:4",
            "80/sctp",
            "8000-8001:9000",
            "1.2.3:80:80",
            "0:80",
            "9000-8000:1-2",
        ] {
            assert!(Publish::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_parse_once_and_read_back_as_docker_spells_them() {
        for (s, m) in [
            ("none", NetworkMode::None),
            ("host", NetworkMode::Host),
            ("bridge", NetworkMode::Bridge("bridge".into())),
            ("mynet", NetworkMode::Bridge("mynet".into())),
            ("pasta", NetworkMode::Pasta),
            ("container:web", NetworkMode::Container("web".into())),
            ("ns:/run/netns/x", NetworkMode::Ns("/run/netns/x".into())),
        ] {
            assert_eq!(NetworkMode::parse(s).unwrap(), m);
            assert_eq!(m.to_string(), s);
        }
        assert!(NetworkMode::parse("container:").is_err());
        assert!(NetworkMode::parse("ns:relative").is_err());
        assert!(NetworkMode::Bridge("bridge".into()).user_mode(true));
        assert_eq!(NetworkMode::Bridge("b".into()).bridge(false), Some("b"));
        assert_eq!(
            NamespaceMode::parse(Some("container:db"), "--pid").unwrap(),
            NamespaceMode::Container("db".into())
        );
        assert!(NamespaceMode::parse(Some("other"), "--ipc").is_err());
        // A record of before reads the same.
        let json = r#"{"Image":"host","Network":"mynet","Ipc":"host","Pid":null}"#;
        let c: RunConfig = serde_json::from_str(json).unwrap();
        assert_eq!(
            (c.network.clone(), c.ipc.clone(), c.pid.clone()),
            (
                NetworkMode::Bridge("mynet".into()),
                NamespaceMode::Host,
                NamespaceMode::Private
            )
        );
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(
            (back["Network"].as_str(), back["Ipc"].as_str(), back["Pid"].is_null()),
            (Some("mynet"), Some("host"), true)
        );
    }
}
