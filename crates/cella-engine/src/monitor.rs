//! The per-container monitor (what conmon is for podman): a process that
//! outlives the command that started the container. It runs in a mount
//! namespace of its own (so the container's overlay root never shows in the
//! host's mount table and cannot outlive it), creates and starts the
//! container through the runtime library, holds its stdio pipes or terminal,
//! writes the log, serves attach clients, reaps the container, records the
//! exit code and time, and cleans up (and removes the container for --rm).

use crate::attach;
use crate::container::{self, Container, Status};
use crate::error::{Error, Result};
use crate::paths::Paths;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Starts the monitor for a created container record and waits until the
/// container exists (and, unless `wait_for_attach`, runs). With
/// `wait_for_attach` the container starts when the first attach client
/// connects, so that no output is missed.
pub fn spawn(paths: &Paths, id: &str, wait_for_attach: bool) -> Result<()> {
    let (r, w) = cella_sys::fd::pipe().map_err(|e| Error::Invalid(format!("pipe: {e}")))?;
    match cella_sys::ns::fork().map_err(|e| Error::Invalid(format!("fork the monitor: {e}")))? {
        cella_sys::ns::Forked::Child => {
            drop(r);
            let code = monitor(paths, id, wait_for_attach, w);
            cella_sys::process::exit_now(code)
        }
        cella_sys::ns::Forked::Parent(pid) => {
            drop(w);
            // One line: "ok" or the error. Not until EOF: the container's
            // init holds a copy of the pipe until it execs.
            let mut msg = String::new();
            let _ = std::io::BufReader::new(std::fs::File::from(r)).read_line(&mut msg);
            let msg = msg.trim_end().to_string();
            if msg == "ok" {
                return Ok(());
            }
            let _ = cella_sys::process::waitpid(pid, false);
            Err(Error::Invalid(if msg.is_empty() {
                "the container's monitor died while starting it".into()
            } else {
                msg
            }))
        }
    }
}

fn null_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = cella_sys::fd::dup_to(null.as_raw_fd(), fd);
        }
    }
}

/// Closes every inherited descriptor above 2 but `keep`.
fn close_inherited(keep: RawFd) {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && fd != keep {
            cella_sys::fd::close_raw(fd);
        }
    }
}

/// docker's codes for a container that could not be started.
pub fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("No such file") || msg.contains("not found") {
        127
    } else if msg.contains("ermission denied") || msg.contains("not an executable") {
        126
    } else {
        125
    }
}

struct Stdio {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    master: Option<OwnedFd>,
    stdin: Option<std::fs::File>,
}

fn monitor(paths: &Paths, id: &str, wait_for_attach: bool, report: OwnedFd) -> i32 {
    let _ = cella_sys::process::setsid();
    // A client that goes away must not take the monitor with it.
    cella_sys::process::set_sigpipe(false);
    null_stdio();
    close_inherited(report.as_raw_fd());
    // The runtime's warnings go to the container's runtime.log, not into
    // the container's own stderr (which fd 2 becomes below).
    let runtime_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.container(id).join("runtime.log"))
        .ok();
    cella_runtime::log::init(runtime_log, false, false);
    let mut report = Some(std::fs::File::from(report));
    let mut say = |msg: &str| {
        if let Some(mut r) = report.take() {
            let _ = r.write_all(format!("{}\n", msg.replace('\n', " ")).as_bytes());
        }
    };
    let mut c = match container::load(paths, id) {
        Ok(c) => c,
        Err(e) => {
            say(&e.to_string());
            return 1;
        }
    };
    // Detached, the container runs before the caller hears "ok", so that
    // whatever it does next (attach, exec, inspect) finds it running.
    let ready = prepare_and_create(paths, &mut c).and_then(|r| {
        if !wait_for_attach {
            start(paths, &mut c)?;
        }
        Ok(r)
    });
    match ready {
        Ok((stdio, listener, sigfd)) => {
            say("ok");
            serve(paths, c, stdio, listener, sigfd, wait_for_attach)
        }
        Err(e) => {
            let msg = e.to_string();
            c.state.error = msg.clone();
            c.state.exit_code = start_failure_code(&msg);
            c.state.monitor_pid = 0;
            release_address(paths, &mut c);
            let _ = cella_runtime::lifecycle::delete(&paths.runroot, &c.id, true);
            let _ = unmount_root(paths, &c);
            if c.config.auto_remove {
                let _ = remove_files(paths, &c);
            } else {
                let _ = c.save(paths);
            }
            say(&msg);
            1
        }
    }
}

fn unmount_root(paths: &Paths, c: &Container) -> Result<()> {
    let rootfs = c.dir(paths).join("rootfs");
    let _ = cella_sys::mount::umount2(&rootfs, libc::MNT_DETACH);
    Ok(())
}

/// Removes a container's files (the caller made sure it no longer runs).
pub fn remove_files(paths: &Paths, c: &Container) -> Result<()> {
    let _lock = crate::store::lock(paths)?;
    let _ = cella_runtime::lifecycle::delete(&paths.runroot, &c.id, true);
    let dir = c.dir(paths);
    std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
        what: "remove",
        path: dir,
        source: e,
    })
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
            source: e,
        })?;
    }
    if rootless || c.id_base.is_some() {
        let fresh = crate::layer::copy_layers(paths, &image.layers, &rootfs)?;
        if let (true, Some(base)) = (fresh, c.id_base) {
            crate::userns::shift_ownership(&rootfs, base)?;
        }
        return Ok(());
    }
    let lower: Vec<String> = image
        .layers
        .iter()
        .rev()
        .map(|l| crate::layer::dir(paths, l).display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    match cella_sys::mount::mount(
        Some(Path::new("overlay")),
        &cella_sys::mount::Target::Path(&rootfs),
        Some("overlay"),
        0,
        Some(&opts),
    ) {
        Ok(()) => Ok(()),
        // No overlayfs here (or not on this filesystem): a plain copy.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::EINVAL)) => {
            crate::layer::copy_layers(paths, &image.layers, &rootfs).map(drop)
        }
        Err(e) => Err(Error::Io {
            what: "mount the overlay root on",
            path: rootfs,
            source: e,
        }),
    }
}

fn prepare_and_create(paths: &Paths, c: &mut Container) -> Result<(Stdio, UnixListener, OwnedFd)> {
    let io = |what: &'static str| {
        move |e: std::io::Error| Error::Io {
            what,
            path: "/".into(),
            source: e,
        }
    };
    // Unprivileged, there is no mount namespace of our own before the
    // container's: image roots are copies instead of overlays.
    let rootless = cella_sys::process::geteuid() != 0;
    if !rootless {
        cella_sys::ns::unshare(cella_sys::ns::CLONE_NEWNS).map_err(io("unshare a mount namespace for the monitor"))?;
        cella_sys::mount::mount(
            None,
            &cella_sys::mount::Target::Path(Path::new("/")),
            None,
            libc::MS_SLAVE | libc::MS_REC,
            None,
        )
        .map_err(io("make the monitor's mounts slaves of"))?;
    }
    mount_image_root(paths, c, rootless)?;
    cella_sys::process::set_child_subreaper().map_err(io("become a child subreaper"))?;
    let sigfd = cella_sys::process::signalfd_for(&[libc::SIGCHLD]).map_err(io("signalfd"))?;
    let mut stdio = Stdio {
        out: None,
        err: None,
        master: None,
        stdin: None,
    };
    // The init inherits fds 0-2; the monitor keeps the other ends.
    let mut child_ends = Vec::new();
    if !c.config.tty {
        let (or, ow) = cella_sys::fd::pipe().map_err(io("pipe"))?;
        let (er, ew) = cella_sys::fd::pipe().map_err(io("pipe"))?;
        cella_sys::fd::dup_to(ow.as_raw_fd(), 1).map_err(io("dup"))?;
        cella_sys::fd::dup_to(ew.as_raw_fd(), 2).map_err(io("dup"))?;
        stdio.out = Some(or);
        stdio.err = Some(er);
        child_ends.extend([ow, ew]);
        if c.config.interactive {
            let (ir, iw) = cella_sys::fd::pipe().map_err(io("pipe"))?;
            cella_sys::fd::dup_to(ir.as_raw_fd(), 0).map_err(io("dup"))?;
            stdio.stdin = Some(std::fs::File::from(iw));
            child_ends.push(ir);
        }
    }
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
    };
    let created = cella_runtime::create::create(&opts);
    // Our copies of the container's ends go, so that its exit closes the pipes.
    null_stdio();
    drop(child_ends);
    let created = created?;
    stdio.master = created.console_master;
    if rootless && matches!(c.config.network.as_str(), "bridge" | "pasta") {
        crate::usernet::start(created.state.pid, &c.config.ports, &c.dir(paths).join("pasta.pid"))?;
    } else if let Some(net) = bridge_network(paths, c)? {
        let ip = match &c.config.ip {
            Some(want) => {
                let want = want
                    .parse()
                    .map_err(|_| Error::Invalid(format!("--ip {want}: not an IPv4 address")))?;
                crate::net::claim(paths, &net, &c.id, want)?
            }
            None => crate::net::allocate(paths, &net, &c.id)?,
        };
        let mac = c.config.mac_address.as_deref().map(crate::net::parse_mac).transpose()?;
        if let Err(e) = crate::net::attach(&net, &c.id, created.state.pid, ip, mac) {
            crate::net::detach(&c.id);
            crate::net::release(paths, &net, &c.id, &ip.to_string());
            return Err(e);
        }
        c.state.ip_address = ip.to_string();
        let nat = crate::nat::ensure_once(paths, &net).and_then(|()| {
            if c.config.ports.is_empty() {
                Ok(())
            } else {
                crate::nat::publish(&c.id, ip, &c.config.ports)
            }
        });
        if let Err(e) = nat {
            crate::net::detach(&c.id);
            crate::net::release(paths, &net, &c.id, &ip.to_string());
            c.state.ip_address.clear();
            return Err(e);
        }
    }
    if matches!(c.config.network.as_str(), "" | "none") {
        // As docker's `none`: a loopback that is up. Unprivileged, the
        // container's network namespace cannot be entered from here.
        if let Err(e) = loopback_up_in(created.state.pid) {
            if !rootless {
                return Err(e);
            }
        }
    }
    let dir = c.dir(paths);
    let dir_fd = std::fs::File::open(&dir).map_err(|e| Error::Io {
        what: "open",
        path: dir.clone(),
        source: e,
    })?;
    let _ = std::fs::remove_file(dir.join(container::ATTACH));
    let listener = UnixListener::bind(attach::short_path(&dir_fd, container::ATTACH)).map_err(|e| Error::Io {
        what: "listen on",
        path: dir.join(container::ATTACH),
        source: e,
    })?;
    c.state.status = Status::Created;
    c.state.pid = created.state.pid;
    c.state.error.clear();
    c.state.monitor_pid = cella_sys::process::getpid();
    c.state.monitor_start = cella_runtime::container::proc_stat(c.state.monitor_pid)
        .map(|s| s.1)
        .unwrap_or(0);
    c.save(paths)?;
    Ok((stdio, listener, sigfd))
}

/// Brings up `lo` in the network namespace of process `pid`, from this
/// (single-threaded) process, which then returns to its own namespace.
fn loopback_up_in(pid: i32) -> Result<()> {
    let io = |what: &'static str, path: String| {
        move |e: std::io::Error| Error::Io {
            what,
            path: path.into(),
            source: e,
        }
    };
    let own = std::fs::File::open("/proc/self/ns/net").map_err(io("open", "/proc/self/ns/net".into()))?;
    let theirs_path = format!("/proc/{pid}/ns/net");
    let theirs = std::fs::File::open(&theirs_path).map_err(io("open", theirs_path.clone()))?;
    cella_sys::ns::setns(theirs.as_fd(), cella_sys::ns::CLONE_NEWNET).map_err(io("setns into", theirs_path))?;
    let up = cella_ns::link::loopback_up();
    cella_sys::ns::setns(own.as_fd(), cella_sys::ns::CLONE_NEWNET).map_err(io(
        "return to the monitor's network namespace",
        "/proc/self/ns/net".into(),
    ))?;
    up.map_err(|e| Error::Invalid(format!("bring up the container's loopback: {e}")))
}

/// Starts the created container and records it running.
fn start(paths: &Paths, c: &mut Container) -> Result<()> {
    cella_runtime::lifecycle::start(&paths.runroot, &c.id)?;
    c.state.status = Status::Running;
    c.state.started_at = cella_runtime::log::rfc3339_now();
    c.save(paths)?;
    if !c.state.ip_address.is_empty() {
        crate::net::refresh_hosts(paths);
    }
    Ok(())
}

/// The bridge network a container is on, if any (not none, host,
/// container:NAME or ns:PATH).
fn bridge_network(paths: &Paths, c: &Container) -> Result<Option<crate::net::Network>> {
    let n = c.config.network.as_str();
    let user_mode = cella_sys::process::geteuid() != 0 && matches!(n, "bridge" | "pasta");
    if user_mode || matches!(n, "" | "none" | "host") || n.starts_with("container:") || n.starts_with("ns:") {
        return Ok(None);
    }
    crate::net::find(paths, n).map(Some)
}

/// Gives back a container's address (its veth went with its namespace).
fn release_address(paths: &Paths, c: &mut Container) {
    crate::usernet::stop(&c.dir(paths).join("pasta.pid"));
    if !c.config.ports.is_empty() && cella_sys::process::geteuid() == 0 {
        let _ = crate::nat::unpublish(&c.id);
    }
    if let Ok(Some(net)) = bridge_network(paths, c) {
        // The kernel removes the pair with the namespace, but later (a
        // workqueue); removing it now means nothing is left when we return.
        crate::net::detach(&c.id);
        if !c.state.ip_address.is_empty() {
            crate::net::release(paths, &net, &c.id, &c.state.ip_address);
        }
    }
    c.state.ip_address.clear();
}

fn broadcast(clients: &mut Vec<UnixStream>, kind: u8, data: &[u8]) {
    clients.retain_mut(|s| attach::write_frame(s, kind, data).is_ok());
}

fn serve(
    paths: &Paths,
    mut c: Container,
    mut stdio: Stdio,
    listener: UnixListener,
    sigfd: OwnedFd,
    wait_for_attach: bool,
) -> i32 {
    let mut clients: Vec<UnixStream> = Vec::new();
    let accept = |l: &UnixListener| -> Option<UnixStream> {
        let (s, _) = l.accept().ok()?;
        let _ = s.set_write_timeout(Some(std::time::Duration::from_secs(5)));
        Some(s)
    };
    if wait_for_attach {
        // The client that asked for it connects right away; start regardless after a while.
        if cella_sys::fd::poll_readable(listener.as_fd(), 30_000).unwrap_or(false) {
            clients.extend(accept(&listener));
        }
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(c.dir(paths).join(container::LOG))
        .ok()
        .map(crate::logs::Writer::new);
    let init = c.state.pid;
    let mut exit: Option<cella_sys::process::Exit> = None;
    if wait_for_attach {
        if let Err(e) = start(paths, &mut c) {
            c.state.error = e.to_string();
            let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true);
            exit = Some(cella_sys::process::Exit::Code(start_failure_code(&c.state.error)));
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut drain_deadline: Option<std::time::Instant> = None;
    loop {
        let outputs_open = stdio.out.is_some() || stdio.err.is_some() || stdio.master.is_some();
        if exit.is_some() {
            let deadline =
                *drain_deadline.get_or_insert_with(|| std::time::Instant::now() + std::time::Duration::from_secs(1));
            if !outputs_open || std::time::Instant::now() >= deadline {
                break;
            }
        }
        let mut watch: Vec<RawFd> = vec![sigfd.as_raw_fd(), listener.as_raw_fd()];
        let outs: Vec<(usize, RawFd)> = [&stdio.out, &stdio.err, &stdio.master]
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f.as_raw_fd())))
            .collect();
        watch.extend(outs.iter().map(|o| o.1));
        watch.extend(clients.iter().map(|s| s.as_raw_fd()));
        let timeout = if exit.is_some() { 100 } else { -1 };
        let Ok(ready) = cella_sys::fd::poll_many(&watch, timeout) else {
            continue;
        };
        if ready[0] {
            let _ = cella_sys::process::read_signal(sigfd.as_raw_fd());
            while let Ok(Some((who, how))) = cella_sys::process::waitpid(-1, true) {
                if who == init {
                    exit = Some(how);
                }
            }
        }
        if ready[1] {
            clients.extend(accept(&listener));
        }
        for (k, (which, fd)) in outs.iter().enumerate() {
            if !ready[2 + k] {
                continue;
            }
            let n = cella_sys::fd::read_raw(*fd, &mut buf).unwrap_or(0);
            if n == 0 {
                match which {
                    0 => stdio.out = None,
                    1 => stdio.err = None,
                    _ => stdio.master = None,
                }
                continue;
            }
            let stream = if *which == 1 { 1 } else { 0 };
            if let Some(l) = log.as_mut() {
                l.write(stream, &buf[..n]);
            }
            broadcast(
                &mut clients,
                if stream == 1 { attach::STDERR } else { attach::STDOUT },
                &buf[..n],
            );
        }
        let base = 2 + outs.len();
        let mut gone = Vec::new();
        for (i, client) in clients.iter_mut().enumerate() {
            if !ready.get(base + i).copied().unwrap_or(false) {
                continue;
            }
            match attach::read_frame(client) {
                Ok(Some((attach::STDIN, data))) => {
                    if let Some(m) = &stdio.master {
                        let _ = cella_sys::fd::write_all_raw(m.as_raw_fd(), &data);
                    } else if let Some(s) = stdio.stdin.as_mut() {
                        let _ = s.write_all(&data);
                    }
                }
                Ok(Some((attach::STDIN_EOF, _))) => stdio.stdin = None,
                Ok(Some((attach::RESIZE, data))) => {
                    let text = String::from_utf8_lossy(&data);
                    let mut it = text.split_whitespace().filter_map(|v| v.parse::<u16>().ok());
                    if let (Some(m), Some(rows), Some(cols)) = (&stdio.master, it.next(), it.next()) {
                        cella_sys::process::set_winsize(m.as_raw_fd(), rows, cols);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
    if let Some(l) = log.as_mut() {
        l.flush();
    }
    let code = exit.map(|e| e.shell_code()).unwrap_or(255);
    let oom = oom_killed(paths, &c);
    let _ = cella_runtime::lifecycle::delete(&paths.runroot, &c.id, true);
    let _ = unmount_root(paths, &c);
    drop(listener);
    let _ = std::fs::remove_file(c.dir(paths).join(container::ATTACH));
    c.state.status = Status::Exited;
    c.state.exit_code = code;
    c.state.oom_killed = oom;
    c.state.pid = 0;
    c.state.finished_at = cella_runtime::log::rfc3339_now();
    c.state.monitor_pid = 0;
    // `network connect` may have added interfaces since we started.
    if let Ok(fresh) = container::load(paths, &c.id) {
        c.state.attachments = fresh.state.attachments;
    }
    let had_address = !c.addresses().is_empty();
    crate::net::release_attachments(paths, &c.state.attachments, &c.id);
    c.state.attachments.clear();
    release_address(paths, &mut c);
    if c.config.auto_remove {
        let _ = remove_files(paths, &c);
    } else {
        let _ = c.save(paths);
    }
    if had_address {
        crate::net::refresh_hosts(paths);
    }
    broadcast(&mut clients, attach::EXIT, code.to_string().as_bytes());
    0
}

/// Whether the kernel's OOM killer killed a process of the container (its
/// memory cgroup's oom_kill count), read before the cgroup goes.
fn oom_killed(paths: &Paths, c: &Container) -> bool {
    let dir = paths.runroot.join(&c.id);
    let Ok(p) = cella_runtime::container::read_persisted(&dir) else {
        return false;
    };
    p.cgroup.as_ref().is_some_and(|cg| cg.oom_kills() > 0)
}
