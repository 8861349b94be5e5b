//! Making the container: the monitor's own mount namespace, the image's
//! root, the container's stdio, the runtime's create, its network.

use super::{null_stdio, Stdio};
use crate::container::attach;
use crate::container::config::NetworkMode;
use crate::container::{self, Container, Status};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

fn os(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |err| Error::Os { what, err }
}

fn mount_image_root(paths: &Paths, c: &Container, rootless: bool) -> Result<()> {
    let image = crate::image::find(paths, &c.image_id)?;
    if image.id == crate::image::HOST_ID {
        return Ok(());
    }
    let dir = c.dir(paths);
    let (rootfs, upper, work) = (dir.join("rootfs"), dir.join("diff"), dir.join("work"));
    for p in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(p).map_err(|e| Error::Io {
            what: "create",
            path: p.clone(),
            err: e,
        })?;
    }
    if rootless || c.id_base.is_some() {
        let fresh = crate::image::layer::copy_layers(paths, &image.layers, &rootfs)?;
        if let (true, Some(base)) = (fresh, c.id_base) {
            crate::container::userns::shift_ownership(&rootfs, base)?;
        }
        return Ok(());
    }
    let lower: Vec<String> = image
        .layers
        .iter()
        .rev()
        .map(|l| crate::image::layer::dir(paths, l).display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    // A --rm container's writable layer goes with it: `volatile` (Linux
    // 5.10) spares the sync of the whole upper filesystem that overlayfs
    // otherwise does when the root is unmounted (about 1 ms, more on a busy
    // disk), as podman does for --rm. A kept container's layer is synced.
    let attempts: &[String] = if c.config.auto_remove {
        &[format!("{opts},volatile"), opts]
    } else {
        std::slice::from_ref(&opts)
    };
    let mut result = Ok(());
    for (i, o) in attempts.iter().enumerate() {
        result = cella_sys::mount::mount(
            Some(Path::new("overlay")),
            &cella_sys::mount::Target::Path(&rootfs),
            Some("overlay"),
            0,
            Some(o),
        );
        // EINVAL with `volatile` first: a kernel without it; try without.
        let older_kernel =
            i + 1 < attempts.len() && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL));
        if !older_kernel {
            break;
        }
    }
    match result {
        Ok(()) => Ok(()),
        // No overlayfs here (or not on this filesystem): a plain copy.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::EINVAL)) => {
            crate::image::layer::copy_layers(paths, &image.layers, &rootfs).map(drop)
        }
        Err(e) => Err(Error::Io {
            what: "mount the overlay root on",
            path: rootfs,
            err: e,
        }),
    }
}

/// Named volumes met empty are filled with what the image has at their
/// path, owners and modes kept (docker's copy-up), unless `nocopy`; under
/// the store lock, so two containers starting on one new volume do not
/// both fill it. The image's side is resolved inside its root.
fn fill_new_volumes(paths: &Paths, c: &Container) -> Result<()> {
    let wanted: Vec<(&str, &str)> = c
        .config
        .volumes
        .iter()
        .filter_map(|v| {
            let mut parts = v.split(':');
            let (src, dst) = (parts.next()?, parts.next()?);
            let nocopy = parts.next().is_some_and(|o| o.split(',').any(|o| o == "nocopy"));
            (crate::volume::is_volume_source(src) && !nocopy).then_some((src, dst))
        })
        .collect();
    if wanted.is_empty() || c.image_id == crate::image::HOST_ID {
        return Ok(());
    }
    let rootfs = c.dir(paths).join("rootfs");
    let root = cella_sys::fd::open(&rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::Io {
        what: "open",
        path: rootfs.clone(),
        err: e,
    })?;
    let _lock = crate::store::lock(paths)?;
    for (name, dst) in wanted {
        let data = crate::volume::data(paths, name);
        let empty = std::fs::read_dir(&data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            continue;
        }
        let into =
            cella_sys::fd::open(&data, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).map_err(|e| {
                Error::Io {
                    what: "open",
                    path: data.clone(),
                    err: e,
                }
            })?;
        crate::container::copy::copy_up(root.as_fd(), Path::new(dst), into.as_fd())?;
    }
    Ok(())
}

/// This process's own mount namespace (a slave of the host's), so that
/// what it mounts (the monitor's overlay root, `cp`'s and `export`'s view of
/// a stopped container) never shows in the host's mount table and cannot
/// outlive it. Unprivileged there is none: image roots are copies.
pub(crate) fn own_mount_namespace() -> Result<()> {
    cella_sys::ns::unshare(cella_sys::ns::CLONE_NEWNS).map_err(os("unshare a mount namespace of our own"))?;
    cella_sys::mount::mount(
        None,
        &cella_sys::mount::Target::Path(Path::new("/")),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(os("make our mounts slaves of /"))
}

/// Pipes for the container's stdio (without a terminal): the init gets
/// fds 0-2, which the monitor's own become for the runtime's create; the
/// returned ends are those the container will hold.
fn stdio_pipes(c: &Container) -> Result<(Stdio, Vec<OwnedFd>)> {
    let mut stdio = Stdio {
        out: None,
        err: None,
        master: None,
        stdin: None,
    };
    let mut child_ends = Vec::new();
    if c.config.tty {
        return Ok((stdio, child_ends));
    }
    let (or, ow) = cella_sys::fd::pipe().map_err(os("pipe"))?;
    let (er, ew) = cella_sys::fd::pipe().map_err(os("pipe"))?;
    cella_sys::fd::dup_to(ow.as_raw_fd(), 1).map_err(os("dup"))?;
    cella_sys::fd::dup_to(ew.as_raw_fd(), 2).map_err(os("dup"))?;
    stdio.out = Some(or);
    stdio.err = Some(er);
    child_ends.extend([ow, ew]);
    if c.config.interactive {
        let (ir, iw) = cella_sys::fd::pipe().map_err(os("pipe"))?;
        cella_sys::fd::dup_to(ir.as_raw_fd(), 0).map_err(os("dup"))?;
        stdio.stdin = Some(std::fs::File::from(iw));
        child_ends.push(ir);
    }
    Ok((stdio, child_ends))
}

/// The runtime's create of the bundle; the terminal's master, if any.
fn create(paths: &Paths, c: &Container) -> Result<cella_runtime::create::Created> {
    let opts = cella_runtime::create::CreateOptions {
        root: paths.runroot.clone(),
        id: c.id.clone(),
        bundle: c.dir(paths),
        pid_file: None,
        console: if c.config.tty {
            cella_runtime::create::ConsoleTarget::Caller
        } else {
            cella_runtime::create::ConsoleTarget::None
        },
        preserve_fds: 0,
        no_pivot: false,
        no_new_keyring: false,
        cgroup_driver: c.config.cgroup_manager.driver(),
        // The monitor starts it itself, over the init's channel.
        started_by: cella_runtime::create::StartedBy::Caller,
    };
    Ok(cella_runtime::create::create(&opts)?)
}

/// The container's network: pasta, a bridge address with its NAT and
/// published ports, or (docker's `none`) only a loopback that is up.
fn connect_network(paths: &Paths, c: &mut Container, pid: i32, rootless: bool) -> Result<()> {
    if c.config.network.user_mode(rootless) {
        return crate::network::usernet::start(pid, &c.config.ports, &c.dir(paths).join("pasta.pid"));
    }
    if let Some(net) = super::teardown::bridge_network(paths, c)? {
        let ip = match &c.config.ip {
            Some(want) => {
                let want = want
                    .parse()
                    .map_err(|_| Error::Invalid(format!("--ip {want}: not an IPv4 address")))?;
                crate::network::claim(paths, &net, &c.id, want)?
            }
            None => crate::network::allocate(paths, &net, &c.id)?,
        };
        let mac = c
            .config
            .mac_address
            .as_deref()
            .map(crate::network::parse_mac)
            .transpose()?;
        let attached = crate::network::attach(&net, &c.id, pid, ip, mac).and_then(|()| {
            crate::network::ports::ensure_once(paths, &net)?;
            match c.config.ports.is_empty() {
                true => Ok(()),
                false => crate::network::ports::publish_checked(&net, &c.id, ip, &c.config.ports),
            }
        });
        if let Err(e) = attached {
            crate::network::detach(&c.id);
            crate::network::release(paths, &net, &c.id, &ip.to_string());
            return Err(e);
        }
        c.state.ip_address = ip.to_string();
    }
    if c.config.network == NetworkMode::None {
        // Unprivileged, the container's network namespace cannot be entered from here.
        if let Err(e) = loopback_up_in(pid) {
            if !rootless {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The attach socket clients connect to.
fn attach_listener(paths: &Paths, c: &Container) -> Result<UnixListener> {
    let dir = c.dir(paths);
    let dir_fd = std::fs::File::open(&dir).map_err(|err| Error::Io {
        what: "open",
        path: dir.clone(),
        err,
    })?;
    let _ = std::fs::remove_file(dir.join(container::ATTACH));
    UnixListener::bind(attach::short_path(&dir_fd, container::ATTACH)).map_err(|err| Error::Io {
        what: "listen on",
        path: dir.join(container::ATTACH),
        err,
    })
}

/// Everything up to a created container: its stdio, the attach socket,
/// and the signalfd that reports its end. Recorded as created.
/// What the monitor holds once the container is created.
pub(super) struct Prepared {
    pub(super) stdio: Stdio,
    /// attach.sock.
    pub(super) listener: UnixListener,
    /// SIGCHLD.
    pub(super) sigfd: OwnedFd,
    /// The runtime's handle that starts the container.
    pub(super) created: cella_runtime::create::Created,
}

pub(super) fn prepare_and_create(paths: &Paths, c: &mut Container) -> Result<Prepared> {
    let rootless = cella_sys::process::geteuid() != 0;
    if !rootless {
        own_mount_namespace()?;
    }
    mount_image_root(paths, c, rootless)?;
    fill_new_volumes(paths, c)?;
    cella_sys::process::set_child_subreaper().map_err(os("become a child subreaper"))?;
    let sigfd = cella_sys::process::signalfd_for(&[libc::SIGCHLD]).map_err(os("signalfd"))?;
    let (mut stdio, child_ends) = stdio_pipes(c)?;
    let created = create(paths, c);
    // Our copies of the container's ends go, so that its exit closes the pipes.
    null_stdio();
    drop(child_ends);
    let mut created = created?;
    stdio.master = created.console_master.take();
    connect_network(paths, c, created.state.pid, rootless)?;
    let listener = attach_listener(paths, c)?;
    c.state.status = Status::Created;
    c.state.pid = created.state.pid;
    c.state.error.clear();
    c.state.monitor_pid = cella_sys::process::getpid();
    c.state.monitor_start = cella_runtime::container::proc_stat(c.state.monitor_pid)
        .map(|s| s.start)
        .unwrap_or(0);
    c.save_state(paths)?;
    let _ = sigfd.as_fd();
    Ok(Prepared {
        stdio,
        listener,
        sigfd,
        created,
    })
}

/// Brings up `lo` in the network namespace of process `pid`, from this
/// (single-threaded) process, which then returns to its own namespace.
fn loopback_up_in(pid: i32) -> Result<()> {
    cella_ns::netns::in_netns_of(pid, cella_ns::link::loopback_up)
        .and_then(|up| up)
        .map_err(|e| Error::Invalid(format!("bring up the container's loopback: {e}")))
}
