//! What the `cella` commands do to containers: create, start, stop, kill,
//! remove, wait.

use crate::container::{self, Container, RunConfig, State, Status};
use crate::error::{Error, Result};
use crate::paths::Paths;
use std::time::{Duration, Instant};

/// `cella create`: a record and a bundle, under the store lock (names are
/// unique). Nothing runs yet. A failure leaves nothing behind.
pub fn create(paths: &Paths, cfg: RunConfig, name: Option<String>) -> Result<Container> {
    check(&cfg)?;
    let image = crate::image::find(paths, &cfg.image)?;
    let _lock = crate::store::lock(paths)?;
    let all = container::list(paths)?;
    let id = crate::ids::random_id()?;
    let name = match name {
        Some(n) => {
            crate::ids::check_name(&n)?;
            if let Some(other) = all.iter().find(|c| c.name == n) {
                return Err(Error::Conflict(format!(
                    "the name {n:?} is already used by container {}: remove it (`cella rm {n}`) or pick another",
                    other.short_id()
                )));
            }
            n
        }
        None => crate::ids::generated_name(&id, |n| all.iter().any(|c| c.name == n)),
    };
    let id_base = if cfg.userns_auto {
        Some(crate::userns::allocate(&all)?)
    } else {
        None
    };
    let c = Container {
        id: id.clone(),
        name,
        created: cella_runtime::log::rfc3339_now(),
        image_id: image.id.clone(),
        config: cfg,
        state: State::default(),
        id_base,
    };
    let dir = c.dir(paths);
    let made = (|| {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            what: "create",
            path: dir.clone(),
            source: e,
        })?;
        if c.id_base.is_some() {
            // The container's root (a host uid of its own) must be able to
            // reach its rootfs: search permission, not listing, on the way.
            use std::os::unix::fs::PermissionsExt;
            for d in [&paths.root, &paths.containers(), &dir] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).map_err(|e| Error::Io {
                    what: "chmod 711",
                    path: d.to_path_buf(),
                    source: e,
                })?;
            }
        }
        crate::spec::write_bundle(paths, &c, &image)?;
        c.save(paths)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(c)
}

/// What reaches files or the kernel is checked before anything is made.
fn check(cfg: &RunConfig) -> Result<()> {
    if let Some(h) = &cfg.hostname {
        crate::ids::check_hostname(h, "--hostname")?;
        if cfg.uts.as_deref() == Some("host") {
            return Err(Error::Invalid(
                "conflicting options: --hostname and --uts host (the host's UTS namespace keeps the host's name)"
                    .into(),
            ));
        }
    }
    for h in &cfg.add_hosts {
        let name = h.split_once(':').map_or(h.as_str(), |(n, _)| n);
        crate::ids::check_hostname(name, "--add-host")?;
    }
    if let Some(m) = cfg.memory {
        if m < crate::spec::MIN_MEMORY {
            return Err(Error::Invalid(format!(
                "--memory {m}: the minimum memory limit allowed is 6MB"
            )));
        }
    }
    Ok(())
}

/// `cella start`: the monitor creates and starts it.
pub fn start(paths: &Paths, c: &Container, wait_for_attach: bool) -> Result<()> {
    match c.state.status {
        Status::Running | Status::Paused => {
            return Err(Error::Conflict(format!("container {} is already running", c.name)));
        }
        Status::Created if c.monitor_alive() => {
            return Err(Error::Conflict(format!("container {} is being started", c.name)));
        }
        _ => {}
    }
    // A restart writes a fresh bundle (a joined container may have a new PID).
    let image = crate::image::find(paths, &c.image_id)?;
    crate::spec::write_bundle(paths, c, &image)?;
    crate::monitor::spawn(paths, &c.id, wait_for_attach)
}

/// `cella kill`: a signal to the container's init (SIGKILL to all of it).
pub fn kill(paths: &Paths, c: &Container, sig: i32) -> Result<()> {
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Err(Error::Conflict(format!("container {} is not running", c.name)));
    }
    cella_runtime::lifecycle::kill(&paths.runroot, &c.id, sig, sig == libc::SIGKILL)?;
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

/// `cella stop`: SIGTERM, then SIGKILL after `grace`.
pub fn stop(paths: &Paths, c: &Container, grace: Duration) -> Result<Container> {
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Ok(c.clone());
    }
    if c.state.status == Status::Paused {
        let _ = cella_runtime::control::resume(&paths.runroot, &c.id);
    }
    let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGTERM, false);
    let after = wait_exited(paths, &c.id, Some(grace))?;
    if matches!(after.state.status, Status::Running | Status::Paused) {
        let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true);
        return wait_exited(paths, &c.id, Some(Duration::from_secs(10)));
    }
    Ok(after)
}

/// `cella rm`: refuses a running container unless `force` (then kills it).
pub fn remove(paths: &Paths, c: &Container, force: bool) -> Result<()> {
    if matches!(c.state.status, Status::Running | Status::Paused) || c.monitor_alive() {
        if !force {
            return Err(Error::Conflict(format!(
                "container {} is running: stop it first, or use `cella rm -f`",
                c.name
            )));
        }
        let _ = cella_runtime::control::resume(&paths.runroot, &c.id);
        let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true);
        wait_exited(paths, &c.id, Some(Duration::from_secs(10)))?;
    }
    match crate::monitor::remove_files(paths, c) {
        // --rm's monitor may have removed it just now.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Containers that use an image (rmi refuses while there are any).
pub fn users_of_image(paths: &Paths, image_id: &str) -> Result<Vec<Container>> {
    Ok(container::list(paths)?
        .into_iter()
        .filter(|c| c.image_id == image_id)
        .collect())
}
