//! What the `cella` commands do to containers: create, start, stop, kill,
//! remove, wait.

use crate::container::{self, Container, RunConfig, State, Status};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::time::{Duration, Instant};

/// `cella create`: a record and a bundle, under the store lock (names are
/// unique). Nothing runs yet. A failure leaves nothing behind.
pub fn create(paths: &Paths, mut cfg: RunConfig, name: Option<String>) -> Result<Container> {
    check(&cfg)?;
    let image = crate::image::find(paths, &cfg.image)?;
    assign_host_ports(&mut cfg, &image)?;
    let _lock = crate::store::lock(paths)?;
    let all = container::list(paths)?;
    let id = crate::store::ids::random_id()?;
    let name = match name {
        Some(n) => {
            crate::store::ids::check_name(&n)?;
            if let Some(other) = all.iter().find(|c| c.name == n) {
                return Err(Error::Conflict(format!(
                    "the name {n:?} is already used by container {}: remove it (`cella rm {n}`) or pick another",
                    other.short_id()
                )));
            }
            n
        }
        None => crate::store::ids::generated_name(&id, |n| all.iter().any(|c| c.name == n)),
    };
    // --volumes-from: the other container's -v entries (named, anonymous
    // by now, or host paths), with its mode or the one asked.
    for from in &cfg.volumes_from {
        let (name, mode) = match from.rsplit_once(':') {
            Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
            _ => (from.as_str(), None),
        };
        let other = all
            .iter()
            .find(|o| o.name == name || o.id == name || (name.len() >= 4 && o.id.starts_with(name)))
            .ok_or_else(|| Error::NotFound(format!("--volumes-from {from}: no container {name:?}")))?;
        for v in &other.config.volumes {
            let mut parts: Vec<&str> = v.splitn(3, ':').collect();
            if let Some(m) = mode {
                parts.truncate(2);
                parts.push(m);
            }
            cfg.volumes.push(parts.join(":"));
        }
    }
    // Named volumes made on first use, anonymous ones (`-v /path`) named.
    let volumes_before: std::collections::HashSet<String> = if cfg.volumes.is_empty() {
        Default::default()
    } else {
        crate::volume::list(paths)?.into_iter().map(|v| v.name).collect()
    };
    let made_volumes = |cfg: &RunConfig| -> Vec<String> {
        crate::container::Container::volume_names(&cfg.volumes)
            .filter(|n| !volumes_before.contains(*n))
            .map(String::from)
            .collect()
    };
    if let Err(e) = crate::volume::resolve_all(paths, &mut cfg.volumes) {
        for n in made_volumes(&cfg) {
            let _ = crate::volume::remove(paths, &n);
        }
        return Err(e);
    }
    let new_volumes = made_volumes(&cfg);
    let id_base = if cfg.userns_auto {
        Some(crate::container::userns::allocate(&all)?)
    } else {
        None
    };
    let c = Container {
        id: id.clone(),
        name,
        created: crate::store::time::Timestamp::now(),
        image_id: image.id.clone(),
        config: cfg,
        state: State::default(),
        id_base,
        damaged: None,
        unsettled: false,
        restarts: Default::default(),
        health: None,
    };
    let dir = c.dir(paths);
    let made = (|| {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            what: "create",
            path: dir.clone(),
            err: e,
        })?;
        if c.id_base.is_some() {
            // The container's root (a host uid of its own) must be able to
            // reach its rootfs: search permission, not listing, on the way.
            use std::os::unix::fs::PermissionsExt;
            for d in [&paths.root, &paths.containers(), &dir] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).map_err(|e| Error::Io {
                    what: "chmod 711",
                    path: d.to_path_buf(),
                    err: e,
                })?;
            }
        }
        crate::container::bundle::write_bundle(paths, &c, &image)?;
        c.save_record(paths)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&dir);
        for n in &new_volumes {
            let _ = crate::volume::remove(paths, n);
        }
        return Err(e);
    }
    for n in &new_volumes {
        crate::events::record(paths, "volume", "create", n, &[("driver", "local")]);
    }
    crate::events::container(paths, &c, "create", &[]);
    Ok(c)
}

/// -P's ports (those the image exposes) added, and a free host port for
/// each published port without one (the DNAT rule keeps it ours).
fn assign_host_ports(cfg: &mut RunConfig, image: &crate::image::Image) -> Result<()> {
    let exposed: Vec<String> = image.config.exposed_ports.iter().chain(&cfg.expose).cloned().collect();
    if cfg.publish_all && !exposed.is_empty() {
        for p in &exposed {
            cfg.ports.push(crate::container::Publish::parse(p)?);
        }
        check(cfg)?;
    }
    for p in cfg.ports.iter_mut().filter(|p| p.unassigned()) {
        p.host_port = std::net::TcpListener::bind("0.0.0.0:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Error::Invalid(format!("-p {}: no free host port: {e}", p.container_port)))?;
    }
    Ok(())
}

/// What reaches files or the kernel is checked before anything is made.
fn check(cfg: &RunConfig) -> Result<()> {
    use crate::container::NetworkMode;
    let bridged = matches!(cfg.network, NetworkMode::Bridge(_) | NetworkMode::Pasta);
    let needs_bridge = [
        (!cfg.ports.is_empty(), "-p/-P"),
        (cfg.mac_address.is_some(), "--mac-address"),
        (cfg.ip.is_some(), "--ip"),
    ];
    for (asked, flag) in needs_bridge {
        if asked && !bridged {
            return Err(Error::Invalid(format!(
                "{flag} needs --network bridge (or a network from `cella network create`)"
            )));
        }
    }
    if let Some(m) = &cfg.mac_address {
        crate::network::parse_mac(m)?;
    }
    for e in &cfg.expose {
        crate::container::Publish::parse(e).map_err(|_| Error::Invalid(format!("--expose {e}: use PORT[/tcp|udp]")))?;
    }
    for d in &cfg.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::Invalid(format!("--dns {d}: not an IP address")));
        }
    }
    for h in &cfg.add_hosts {
        match h.split_once(':') {
            Some((n, ip)) if !n.is_empty() && ip.parse::<std::net::IpAddr>().is_ok() => {}
            _ => return Err(Error::Invalid(format!("--add-host {h}: use NAME:IP"))),
        }
    }
    if let Some(h) = &cfg.hostname {
        crate::store::ids::check_hostname(h, "--hostname")?;
        if cfg.uts == crate::container::NamespaceMode::Host {
            return Err(Error::Invalid(
                "conflicting options: --hostname and --uts host (the host's UTS namespace keeps the host's name)"
                    .into(),
            ));
        }
    }
    for h in &cfg.add_hosts {
        let name = h.split_once(':').map_or(h.as_str(), |(n, _)| n);
        crate::store::ids::check_hostname(name, "--add-host")?;
    }
    if cfg.auto_remove && cfg.restart != crate::container::RestartPolicy::No {
        return Err(Error::Invalid(
            "conflicting options: --restart and --rm (a container that is removed when it ends cannot be restarted)"
                .into(),
        ));
    }
    if let Some(sig) = &cfg.stop_signal {
        if cella_spec::signal::parse(sig).is_none() {
            return Err(Error::Invalid(format!(
                "--stop-signal {sig}: not a signal name or number"
            )));
        }
    }
    if let Some(set) = &cfg.cpuset_cpus {
        crate::container::bundle::check_cpuset(set)?;
    }
    if let Some(swap) = cfg.memory_swap {
        match cfg.memory {
            None => {
                return Err(Error::Invalid(
                    "--memory-swap needs --memory: set the memory limit too".into(),
                ))
            }
            Some(m) if swap != -1 && swap < m => {
                return Err(Error::Invalid(format!(
                    "--memory-swap {swap} is below --memory {m}: it is memory plus swap, so at least the memory limit"
                )))
            }
            _ => {}
        }
    }
    if cfg.shm_size.is_some_and(|s| s <= 0) {
        return Err(Error::Invalid("--shm-size must be more than 0".into()));
    }
    if let Some(m) = cfg.memory {
        if m < crate::container::bundle::MIN_MEMORY {
            return Err(Error::Invalid(format!(
                "--memory {m}: the minimum memory limit allowed is 6MB"
            )));
        }
    }
    Ok(())
}

/// `cella start`: the monitor creates and starts it.
pub fn start(paths: &Paths, c: &Container, wait_for_attach: bool) -> Result<()> {
    if let Some(d) = &c.damaged {
        return Err(Error::Invalid(format!(
            "container {} cannot be started: {d}; remove it with `cella rm -f {}`",
            c.short_id(),
            c.short_id()
        )));
    }
    let c = &settled(paths, c.clone());
    match c.state.status {
        // docker's: starting a running container is no error and no change.
        Status::Running | Status::Paused => return Ok(()),
        Status::Created if c.monitor_alive() => {
            return Err(Error::Conflict(format!("container {} is being started", c.name)));
        }
        _ => {}
    }
    // A user's start: the restart policy applies afresh.
    crate::container::monitor::restart::clear(paths, &c.id);
    // A later start writes a fresh bundle (a joined container may have a new PID).
    let image = crate::image::find(paths, &c.image_id)?;
    crate::container::bundle::write_bundle(paths, c, &image)?;
    crate::container::monitor::spawn(paths, &c.id, wait_for_attach)
}

/// The start a restart policy makes (by the monitor of the run that
/// ended): as a user's, without clearing the policy's count.
pub fn restart_by_policy(paths: &Paths, c: &Container) -> Result<()> {
    if matches!(c.state.status, Status::Running | Status::Paused) || c.monitor_alive() {
        return Ok(());
    }
    let image = crate::image::find(paths, &c.image_id)?;
    crate::container::bundle::write_bundle(paths, c, &image)?;
    crate::container::monitor::spawn(paths, &c.id, false)
}

/// `cella run`'s start of the container it has just created: its bundle is
/// as fresh as it gets, so it is not written again.
pub fn start_created(paths: &Paths, c: &Container, wait_for_attach: bool) -> Result<()> {
    crate::container::monitor::spawn(paths, &c.id, wait_for_attach)
}

/// A container whose monitor is gone and whose processes have ended:
/// what its monitor would have done at the end is done now (runtime state,
/// network, the record; --rm removes it). Others are returned as they are.
fn settled(paths: &Paths, mut c: Container) -> Container {
    if c.unsettled && !matches!(c.state.status, Status::Running | Status::Paused | Status::Created) {
        crate::container::monitor::settle(paths, &mut c);
    }
    c
}

/// `cella kill`: a signal to the container's init (SIGKILL to all of it).
pub fn kill(paths: &Paths, c: &Container, sig: i32) -> Result<()> {
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Err(Error::Conflict(format!("container {} is not running", c.name)));
    }
    // Ending it on purpose: its restart policy does not bring it back.
    if sig == libc::SIGKILL || sig == c.config.stop_signal() {
        crate::container::monitor::restart::mark_stopped(paths, &c.id);
    }
    cella_runtime::lifecycle::kill(&paths.runroot, &c.id, sig, sig == libc::SIGKILL)?;
    crate::events::container(paths, c, "kill", &[("signal", &sig.to_string())]);
    Ok(())
}

/// Waits until the monitor has recorded the end (or `timeout` passes).
pub fn wait_exited(paths: &Paths, id: &str, timeout: Option<Duration>) -> Result<Container> {
    let start = Instant::now();
    loop {
        let c = container::load(paths, id)?;
        if !c.monitor_alive() && c.state.status != Status::Running && c.state.status != Status::Paused {
            return Ok(c);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return Ok(c);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cella wait`: blocks until the container has ended and gives its exit
/// code, also when `run --rm` removed it meanwhile.
pub fn wait_code(paths: &Paths, c: &Container) -> Result<i32> {
    match wait_exited(paths, &c.id, None) {
        Ok(after) => Ok(after.state.exit_code),
        Err(e) if container::not_found(&e) => crate::container::exits::read(paths, &c.id).ok_or_else(|| {
            Error::NotFound(format!(
                "container {} was removed while waiting, and its exit code was not kept",
                c.name
            ))
        }),
        Err(e) => Err(e),
    }
}

/// `cella stop`: the stop signal (`signal`, else --stop-signal, else
/// SIGTERM), then SIGKILL after `grace` (else --stop-timeout, else 10 s).
pub fn stop(paths: &Paths, c: &Container, signal: Option<i32>, grace: Option<Duration>) -> Result<Container> {
    // Before anything: its monitor must not restart it (nor one waiting to).
    crate::container::monitor::restart::mark_stopped(paths, &c.id);
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Ok(c.clone());
    }
    let signal = signal.unwrap_or_else(|| c.config.stop_signal());
    let grace = grace.unwrap_or_else(|| c.config.stop_timeout());
    if c.state.status == Status::Paused {
        let _ = cella_runtime::control::resume(&paths.runroot, &c.id);
    }
    let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, signal, false);
    let mut after = wait_exited(paths, &c.id, Some(grace))?;
    if matches!(after.state.status, Status::Running | Status::Paused) {
        let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true);
        after = wait_exited(paths, &c.id, Some(Duration::from_secs(10)))?;
    }
    crate::events::container(paths, c, "stop", &[]);
    Ok(settled(paths, after))
}

/// `cella rm`: refuses a running container unless `force` (then kills it);
/// `volumes` (`rm -v`): its anonymous volumes go too.
pub fn remove(paths: &Paths, c: &Container, force: bool, volumes: bool) -> Result<()> {
    if matches!(c.state.status, Status::Running | Status::Paused) || c.monitor_alive() {
        if !force {
            return Err(Error::Conflict(format!(
                "container {} is running: stop it first, or use `cella rm -f`",
                c.name
            )));
        }
        crate::container::monitor::restart::mark_stopped(paths, &c.id);
        let _ = cella_runtime::control::resume(&paths.runroot, &c.id);
        if cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true).is_ok() {
            crate::events::container(paths, c, "kill", &[("signal", "9")]);
        }
        wait_exited(paths, &c.id, Some(Duration::from_secs(10)))?;
    }
    // One waiting out a restart delay is told not to come back.
    crate::container::monitor::restart::mark_stopped(paths, &c.id);
    // Its network and runtime state, if its monitor could not give them back.
    let c = &settled(paths, container::load(paths, &c.id).unwrap_or_else(|_| c.clone()));
    let anonymous = if volumes {
        crate::volume::anonymous_of(paths, c)
    } else {
        Vec::new()
    };
    match crate::container::monitor::remove_files(paths, c) {
        // --rm's monitor may have removed it just now.
        Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {}
        other => {
            // Its files go now, outside the store lock.
            drop(other?);
            crate::events::container(paths, c, "destroy", &[]);
        }
    }
    crate::volume::remove_unused(paths, &anonymous)
}

/// `cella rename`: a new name, unique among containers (under the store
/// lock). The name is the record's; the running container does not see it.
pub fn rename(paths: &Paths, c: &Container, new: &str) -> Result<()> {
    crate::store::ids::check_name(new)?;
    let _lock = crate::store::lock(paths)?;
    let all = container::list(paths)?;
    if let Some(other) = all.iter().find(|o| o.name == new && o.id != c.id) {
        return Err(Error::Conflict(format!(
            "the name {new:?} is already used by container {}: remove it or pick another",
            other.short_id()
        )));
    }
    if let Some(d) = &c.damaged {
        return Err(Error::Invalid(format!(
            "container {} cannot be renamed: {d}",
            c.short_id()
        )));
    }
    let mut renamed = container::load(paths, &c.id)?;
    let old = std::mem::replace(&mut renamed.name, new.to_string());
    renamed.save_record(paths)?;
    crate::events::container(paths, &renamed, "rename", &[("oldName", &old)]);
    Ok(())
}

/// `cella update`: new resource limits (and restart policy) for a
/// container, applied to its cgroup at once when it runs and kept in its
/// record for its next start (under the store lock; `change` edits the
/// configuration, which is checked as `create` checks it).
pub fn update(paths: &Paths, c: &Container, change: impl FnOnce(&mut RunConfig)) -> Result<()> {
    if let Some(d) = &c.damaged {
        return Err(Error::Invalid(format!(
            "container {} cannot be updated: {d}",
            c.short_id()
        )));
    }
    let _lock = crate::store::lock(paths)?;
    let mut updated = container::load(paths, &c.id)?;
    change(&mut updated.config);
    check(&updated.config)?;
    if matches!(updated.state.status, Status::Running | Status::Paused) {
        let resources = crate::container::bundle::resources_of(&updated.config)?;
        cella_runtime::control::update(&paths.runroot, &c.id, &resources)?;
    }
    updated.save_record(paths)?;
    crate::events::container(paths, &updated, "update", &[]);
    Ok(())
}

/// Containers that use an image (rmi refuses while there are any).
pub fn users_of_image(paths: &Paths, image_id: &str) -> Result<Vec<Container>> {
    Ok(container::list(paths)?
        .into_iter()
        .filter(|c| c.image_id == image_id)
        .collect())
}

/// `pause`/`unpause`: freezes or thaws every process of a running (or
/// paused) container, and records it.
pub fn pause(paths: &Paths, c: &Container, freeze: bool) -> Result<()> {
    let want = if freeze { Status::Running } else { Status::Paused };
    if c.state.status != want {
        return Err(Error::Conflict(format!("container {} is {}", c.name, c.state.status)));
    }
    // The runtime's freezer state is the record: `load` reads it back.
    if freeze {
        cella_runtime::control::pause(&paths.runroot, &c.id)?;
    } else {
        cella_runtime::control::resume(&paths.runroot, &c.id)?;
    }
    crate::events::container(paths, c, if freeze { "pause" } else { "unpause" }, &[]);
    Ok(())
}

/// The init PID of a running (or paused) container, for what works on
/// live ones only; `what` names it in the error.
pub fn running_pid(c: &Container, what: &str) -> Result<i32> {
    if !matches!(c.state.status, Status::Running | Status::Paused) || c.state.pid <= 0 {
        return Err(Error::Conflict(format!(
            "container {} is not running: {what} works with running containers only; start it first",
            c.name
        )));
    }
    Ok(c.state.pid)
}
