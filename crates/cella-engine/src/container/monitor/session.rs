//! Serving a created container until it ends: its output to the log and
//! to attach clients, their input and terminal sizes to it, its end reaped
//! (the monitor is the subreaper), then the record of how it ended.

use super::{start, teardown, Stdio};
use crate::container::attach::Frame;
use crate::container::{self, Container, Status};
use crate::store::paths::Paths;
use cella_sys::process::Exit;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// After the container's init ended, its output is still read for this
/// long (what its children left in the pipes).
const DRAIN: Duration = Duration::from_secs(1);

struct Session {
    stdio: Stdio,
    clients: Vec<UnixStream>,
    log: Option<container::logs::Writer>,
    listener: UnixListener,
    sigfd: OwnedFd,
    init: i32,
    exit: Option<Exit>,
    buf: Vec<u8>,
    /// The health check, for a container that has one.
    health: Option<super::health::Checker>,
    /// What the checker needs to name the container.
    container: Container,
    paths: Paths,
}

fn accept(l: &UnixListener) -> Option<UnixStream> {
    let (s, _) = l.accept().ok()?;
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    Some(s)
}

impl Session {
    fn broadcast(&mut self, frame: &Frame) {
        self.clients.retain_mut(|s| frame.write(s).is_ok());
    }

    fn outputs_open(&self) -> bool {
        self.stdio.out.is_some() || self.stdio.err.is_some() || self.stdio.master.is_some()
    }

    /// The container's output descriptors that are open: (which, fd).
    fn outputs(&self) -> Vec<(usize, RawFd)> {
        [&self.stdio.out, &self.stdio.err, &self.stdio.master]
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f.as_raw_fd())))
            .collect()
    }

    /// Reaps what ended; the init's end is the container's.
    fn reap(&mut self) {
        let _ = cella_sys::process::read_signal(self.sigfd.as_raw_fd());
        while let Ok(Some((who, how))) = cella_sys::process::waitpid(-1, true) {
            if who == self.init {
                self.exit = Some(how);
            } else if let Some(h) = self.health.as_mut() {
                h.reaped(&self.paths, &self.container, who, how.shell_code());
            }
        }
    }

    /// One read from output `which` (0 stdout, 1 stderr, 2 the terminal),
    /// to the log and every client; at its end, forgets it.
    fn pump(&mut self, which: usize, fd: RawFd) {
        let n = cella_sys::fd::read_raw(fd, &mut self.buf).unwrap_or(0);
        if n == 0 {
            match which {
                0 => self.stdio.out = None,
                1 => self.stdio.err = None,
                _ => self.stdio.master = None,
            }
            return;
        }
        let stream = usize::from(which == 1);
        if let Some(l) = self.log.as_mut() {
            l.write(stream, &self.buf[..n]);
        }
        let data = self.buf[..n].to_vec();
        self.broadcast(&if stream == 1 {
            Frame::Stderr(data)
        } else {
            Frame::Stdout(data)
        });
    }

    /// One frame from client `i`; false when it has gone.
    fn read_client(&mut self, i: usize) -> bool {
        match Frame::read(&mut self.clients[i]) {
            Ok(Some(Frame::Stdin(data))) => {
                if let Some(m) = &self.stdio.master {
                    let _ = cella_sys::fd::write_all_raw(m.as_raw_fd(), &data);
                } else if let Some(s) = self.stdio.stdin.as_mut() {
                    let _ = s.write_all(&data);
                }
            }
            Ok(Some(Frame::StdinEof)) => self.stdio.stdin = None,
            Ok(Some(Frame::Resize { rows, cols })) => {
                if let Some(m) = &self.stdio.master {
                    cella_sys::process::set_winsize(m.as_raw_fd(), rows, cols);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
        true
    }

    /// Until the init has ended and its output is drained (or DRAIN passed).
    fn run(&mut self) {
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if self.exit.is_some() {
                let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN);
                if !self.outputs_open() || Instant::now() >= deadline {
                    return;
                }
            }
            let outs = self.outputs();
            let mut watch: Vec<RawFd> = vec![self.sigfd.as_raw_fd(), self.listener.as_raw_fd()];
            watch.extend(outs.iter().map(|o| o.1));
            watch.extend(self.clients.iter().map(|s| s.as_raw_fd()));
            let timeout = match (&self.exit, &self.health) {
                (Some(_), _) => 100,
                (None, Some(h)) => h.wait_ms(),
                (None, None) => -1,
            };
            let Ok(ready) = cella_sys::poll::poll_many(&watch, timeout) else {
                continue;
            };
            if ready[0] {
                self.reap();
            }
            if self.exit.is_none() {
                if let Some(h) = self.health.as_mut() {
                    h.tick(&self.paths, &self.container);
                }
            }
            if ready[1] {
                self.clients.extend(accept(&self.listener));
            }
            for (k, &(which, fd)) in outs.iter().enumerate() {
                if ready[2 + k] {
                    self.pump(which, fd);
                }
            }
            let base = 2 + outs.len();
            let clients = self.clients.len();
            let gone: Vec<usize> = (0..clients)
                .filter(|&i| ready.get(base + i).copied().unwrap_or(false))
                .filter(|&i| !self.read_client(i))
                .collect();
            for i in gone.into_iter().rev() {
                self.clients.remove(i);
            }
        }
    }
}

/// Serves the created container `c` until it ends; with
/// `wait_for_attach`, starts it once the first client is there (or after
/// 30 s). Records the end and cleans up. The monitor's exit code.
pub(super) fn serve(paths: &Paths, mut c: Container, prepared: super::setup::Prepared, wait_for_attach: bool) -> i32 {
    let super::setup::Prepared {
        stdio,
        listener,
        sigfd,
        mut created,
    } = prepared;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(c.dir(paths).join(container::LOG))
        .ok()
        .map(container::logs::Writer::new);
    let mut s = Session {
        stdio,
        clients: Vec::new(),
        log,
        listener,
        sigfd,
        init: c.state.pid,
        exit: None,
        buf: vec![0u8; 64 * 1024],
        health: None,
        container: c.clone(),
        paths: paths.clone(),
    };
    if wait_for_attach {
        // The client that asked for it connects right away; start regardless after a while.
        if cella_sys::poll::poll_readable(s.listener.as_fd(), 30_000).unwrap_or(false) {
            s.clients.extend(accept(&s.listener));
        }
        if let Err(e) = start(paths, &mut c, &mut created) {
            c.state.error = e.to_string();
            let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, libc::SIGKILL, true);
            s.exit = Some(Exit::Code(e.start_exit_code()));
        }
    }
    s.health = super::health::Checker::new(paths, &c);
    s.run();
    if let Some(l) = s.log.as_mut() {
        l.flush();
    }
    let code = s.exit.map(|e| e.shell_code()).unwrap_or(255);
    let ran = c.state.started_at.map(|t| t.age()).unwrap_or_default();
    let trash = finish(paths, &mut c, code);
    let _ = std::fs::remove_file(c.dir(paths).join(container::ATTACH));
    s.broadcast(&Frame::Exit(code));
    drop(s);
    // A --rm container is gone from the store already; its files go once
    // the clients know how it ended.
    drop(trash);
    if c.config.auto_remove {
        crate::container::exits::prune(paths);
    }
    if let Some(delay) = super::restart::next_delay(paths, &c, code, ran) {
        super::restart::restart_after(paths, &c, delay);
    }
    0
}

/// The container ended with `code`: the runtime's state, the image root
/// and the network go; the record says how it ended (or, with --rm, the
/// container goes: its files are in the returned trash).
pub(super) fn finish(paths: &Paths, c: &mut Container, code: i32) -> Option<teardown::Trash> {
    let oom = teardown::oom_killed(paths, c);
    // A --rm container's runtime state and root go with its trash, after
    // its clients know the exit.
    if !c.config.auto_remove {
        teardown::release_runtime(paths, c);
    }
    c.state.status = Status::Exited;
    c.state.exit_code = code;
    c.state.oom_killed = oom;
    c.state.pid = 0;
    c.state.finished_at = Some(crate::store::time::Timestamp::now());
    c.state.monitor_pid = 0;
    // `network connect` may have added interfaces since we started.
    // (and `rename` may have given it a new name).
    if let Ok(fresh) = container::load(paths, &c.id) {
        c.state.attachments = fresh.state.attachments;
        c.name = fresh.name;
    }
    let _ = std::fs::remove_file(c.dir(paths).join(container::NETWORKS));
    let had_address = !c.addresses().is_empty();
    crate::network::release_attachments(paths, &c.state.attachments, &c.id);
    c.state.attachments.clear();
    teardown::release_address(paths, c);
    crate::events::container(paths, c, "die", &[("exitCode", &code.to_string())]);
    let mut trash = None;
    if c.config.auto_remove {
        crate::container::exits::record(paths, &c.id, code);
        let anonymous = crate::volume::anonymous_of(paths, c);
        trash = teardown::remove_files(paths, c).ok();
        if trash.is_some() {
            crate::events::container(paths, c, "destroy", &[]);
        } else {
            teardown::release_runtime(paths, c);
        }
        let _ = crate::volume::remove_unused(paths, &anonymous);
    } else {
        let _ = c.save_state(paths);
    }
    if had_address {
        crate::network::refresh_hosts(paths);
    }
    trash
}
