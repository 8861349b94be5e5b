//! What can be read about a container: docker's `inspect` document, its
//! processes (`top`), its cgroup's statistics (`stats`), its command and
//! image name, and the init PID of a runtime container.

use crate::container::{Container, Status, LOG};
use crate::store::paths::Paths;
use cella_spec::NamespaceKind;
use serde_json::{json, Value};

/// One process of a container, for `top`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub host_pid: i32,
    /// Its PID in the container's PID namespace.
    pub pid: i32,
    pub uid: String,
    pub command: String,
}

/// The command it runs (its entrypoint and cmd, or the image's).
pub fn command_of(paths: &Paths, c: &Container) -> Vec<String> {
    crate::image::find(paths, &c.image_id)
        .ok()
        .and_then(|i| crate::container::bundle::command(&c.config, &i).ok())
        .unwrap_or_default()
}

/// The name its image is known by; what it was asked for if that is gone.
pub fn image_name_of(paths: &Paths, c: &Container) -> String {
    crate::image::find(paths, &c.image_id)
        .ok()
        .and_then(|i| i.repo_tags.first().cloned())
        .unwrap_or_else(|| c.config.image.clone())
}

/// The inode of each namespace of a running process.
fn namespaces(pid: i32) -> Value {
    let mut m = serde_json::Map::new();
    for k in NamespaceKind::ALL {
        let name = k.proc_name();
        if let Ok(link) = std::fs::read_link(format!("/proc/{pid}/ns/{name}")) {
            if let Some((_, ino)) = cella_ns::ls::parse_link(&link.to_string_lossy()) {
                m.insert(name.to_string(), ino.into());
            }
        }
    }
    Value::Object(m)
}

/// The mounts a user asked for (-v, --tmpfs), as the bundle has them.
fn user_mounts(c: &Container, spec: Option<&cella_spec::Spec>) -> Vec<Value> {
    let asked = |m: &cella_spec::Mount| {
        c.config
            .volumes
            .iter()
            .any(|v| v.split(':').nth(1) == Some(&m.destination))
            || m.kind.as_deref() == Some("tmpfs")
                && c.config
                    .tmpfs
                    .iter()
                    .any(|t| t.split(':').next() == Some(&m.destination))
    };
    spec.map(|s| {
        s.mounts
            .iter()
            .filter(|m| asked(m))
            .map(|m| {
                let rw = !m.options.iter().any(|o| o == "ro");
                // A named volume's: docker's Type "volume" with its Name.
                let volume = c.config.volumes.iter().find_map(|v| {
                    let mut p = v.split(':');
                    let (src, dst) = (p.next()?, p.next()?);
                    (dst == m.destination && crate::volume::is_volume_source(src)).then_some(src)
                });
                let mut doc = json!({"Type": m.kind, "Source": m.source, "Destination": m.destination,
                       "Options": m.options, "RW": rw, "Mode": if rw { "" } else { "ro" }});
                if let Some(name) = volume {
                    doc["Type"] = json!("volume");
                    doc["Name"] = json!(name);
                    doc["Driver"] = json!("local");
                }
                doc
            })
            .collect()
    })
    .unwrap_or_default()
}

/// What docker shows for a time that has not come (Go's zero time).
const NEVER: &str = "0001-01-01T00:00:00Z";

/// docker's `Config`: what was asked, with the process as it runs (the
/// whole environment, image's and engine's included; the working directory).
fn config_of(c: &Container, spec: Option<&cella_spec::Spec>) -> Value {
    let mut v = serde_json::to_value(&c.config).unwrap_or_default();
    if let (Some(o), Some(p)) = (v.as_object_mut(), spec.and_then(|s| s.process.as_ref())) {
        o.insert("Env".into(), json!(p.env));
        o.insert("WorkingDir".into(), json!(p.cwd));
        o.insert("User".into(), json!(c.config.user.clone().unwrap_or_default()));
        o.insert(
            "Hostname".into(),
            json!(spec.and_then(|s| s.hostname.clone()).unwrap_or_default()),
        );
        o.insert("Tty".into(), json!(c.config.tty));
        o.insert("OpenStdin".into(), json!(c.config.interactive));
    }
    v
}

/// docker's `HostConfig`, from what was asked.
fn host_config(c: &Container) -> Value {
    let cfg = &c.config;
    json!({
        "Binds": cfg.volumes,
        "NetworkMode": cfg.network.to_string(),
        "AutoRemove": cfg.auto_remove,
        "Privileged": cfg.privileged,
        "ReadonlyRootfs": cfg.read_only,
        "CapAdd": cfg.cap_add,
        "CapDrop": cfg.cap_drop,
        "Memory": cfg.memory.unwrap_or(0),
        "NanoCpus": cfg.cpus.map_or(0, |n| (n * 1e9) as i64),
        "PidsLimit": cfg.pids_limit.unwrap_or(0),
        "MemorySwap": cfg.memory_swap.unwrap_or(0),
        "OomKillDisable": cfg.oom_kill_disable,
        "CpuShares": cfg.cpu_shares.unwrap_or(0),
        "CpusetCpus": cfg.cpuset_cpus.clone().unwrap_or_default(),
        "ShmSize": cfg.shm_size.unwrap_or(64 << 20),
        "GroupAdd": cfg.group_add,
        "VolumesFrom": cfg.volumes_from,
        "Annotations": cfg.annotations,
        "Init": cfg.init,
        "RestartPolicy": {"Name": cfg.restart.name_and_max().0, "MaximumRetryCount": cfg.restart.name_and_max().1},
        "PortBindings": cfg.ports.iter().map(|p| (
            format!("{}/{}", p.container_port, p.proto),
            json!([{"HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_default(), "HostPort": p.host_port.to_string()}]),
        )).collect::<serde_json::Map<String, Value>>(),
    })
}

/// docker's `inspect` document of a container.
pub fn document(paths: &Paths, c: &Container) -> Value {
    let dir = c.dir(paths);
    let spec: Option<cella_spec::Spec> = crate::store::read_json(&dir.join("config.json")).ok();
    let running = matches!(c.state.status, Status::Running | Status::Paused) && c.state.pid > 0;
    let command = command_of(paths, c);
    let mut config = config_of(c, spec.as_ref());
    // docker's: the image's exposed ports and --expose, as a set.
    let image_ports = crate::image::find(paths, &c.image_id)
        .map(|i| i.config.exposed_ports)
        .unwrap_or_default();
    // Sorted, as Go prints a map.
    let ports: std::collections::BTreeMap<String, Value> = image_ports
        .iter()
        .chain(&c.config.expose)
        .map(|p| (if p.contains('/') { p.clone() } else { format!("{p}/tcp") }, json!({})))
        .collect();
    config["ExposedPorts"] = json!(ports);
    let gateway = if c.state.ip_address.is_empty() {
        String::new()
    } else {
        crate::network::default_network().gateway.to_string()
    };
    json!({
        "Id": c.id,
        // docker's: the name with a leading slash (podman's has none).
        "Name": format!("/{}", c.name),
        "Created": c.created,
        "Image": c.image_id,
        "ImageName": image_name_of(paths, c),
        "Path": command.first().cloned().unwrap_or_default(),
        "Args": command.get(1..).map(|a| a.to_vec()).unwrap_or_default(),
        "RestartCount": c.restarts.count,
        "State": {
            "Restarting": c.restarts.restarting,
            "Health": c.health,
            "Status": c.state_word(),
            "Running": c.state.status == Status::Running,
            "Paused": c.state.status == Status::Paused,
            "Pid": if running { c.state.pid } else { 0 },
            "ExitCode": c.state.exit_code,
            "OOMKilled": c.state.oom_killed,
            "Error": c.state.error,
            "StartedAt": c.state.started_at.map_or(NEVER.to_string(), |t| t.to_string()),
            "FinishedAt": c.state.finished_at.map_or(NEVER.to_string(), |t| t.to_string()),
        },
        "Namespaces": if running { namespaces(c.state.pid) } else { json!({}) },
        "NetworkSettings": {
            "Network": c.config.network,
            "IPAddress": c.state.ip_address,
            "Gateway": gateway,
        },
        "Mounts": user_mounts(c, spec.as_ref()),
        "LogPath": dir.join(LOG),
        "Config": config,
        "HostConfig": host_config(c),
        "Hostname": spec.as_ref().and_then(|s| s.hostname.clone()),
        "Spec": spec,
    })
}

/// The processes of a running container, by their PID namespace.
pub fn processes(c: &Container) -> crate::error::Result<Vec<Process>> {
    let pid = crate::container::ops::running_pid(c, "top")?;
    let members =
        cella_ns::pids::members(pid).map_err(|e| crate::error::Error::Invalid(format!("top {}: {e}", c.name)))?;
    Ok(members
        .into_iter()
        .map(|(host_pid, pid)| {
            let command = std::fs::read(format!("/proc/{host_pid}/cmdline"))
                .map(|b| {
                    b.split(|&x| x == 0)
                        .filter(|w| !w.is_empty())
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let uid = std::fs::read_to_string(format!("/proc/{host_pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                })
                .unwrap_or_default();
            Process {
                host_pid,
                pid,
                uid,
                command,
            }
        })
        .collect())
}

/// The cgroup statistics of a running container (runc's events shape).
pub fn stats(paths: &Paths, c: &Container) -> Option<Value> {
    let p = cella_runtime::container::read_persisted(&paths.runroot.join(&c.id)).ok()?;
    Some(p.cgroup?.stats())
}

/// The init PID of a cella-runtime container in the runroot (not one of
/// the engine's), None if there is none by that id.
pub fn runtime_container_pid(paths: &Paths, id: &str) -> crate::error::Result<Option<i32>> {
    if cella_runtime::ids::validate(id).is_err() {
        return Ok(None);
    }
    let dir = paths.runroot.join(id);
    if !dir.join(cella_runtime::container::STATE_FILE).exists() {
        return Ok(None);
    }
    let state = cella_runtime::container::read_persisted(&dir)?;
    if !state.init_alive() {
        return Err(crate::error::Error::Conflict(format!(
            "container {id} is not running (no process to take namespaces from)"
        )));
    }
    Ok(Some(state.pid))
}
