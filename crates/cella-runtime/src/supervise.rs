//! Waiting for a container process in the foreground (`run`, `exec`): the
//! runtime is a child subreaper, forwards signals to the process, copies a
//! terminal, and returns how the process ended.

use crate::error::{Context, Result};
use cella_sys::process::{waitpid, Exit};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

/// The signals passed on to a container's process: by `run` in the
/// foreground (from the caller) and by the built-in init (to its child),
/// as tini does. The one list both use.
pub const FORWARDED: [i32; 9] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
];

pub struct Supervisor {
    sigfd: OwnedFd,
}

impl Supervisor {
    /// Must come before the process is forked: the signals are blocked in
    /// it too (it unblocks them before exec), and a grandchild must be
    /// re-parented to us.
    pub fn install() -> Result<Supervisor> {
        cella_sys::process::set_child_subreaper().op(|| "prctl(PR_SET_CHILD_SUBREAPER)".into())?;
        Ok(Supervisor {
            sigfd: cella_sys::process::signalfd_for(&[&FORWARDED[..], &[libc::SIGCHLD]].concat())
                .op(|| "signalfd".into())?,
        })
    }

    /// Proxies the terminal (if any) until it closes, then reaps children
    /// until `pid` is among them.
    pub fn wait(&self, pid: i32, console_master: Option<&OwnedFd>) -> Result<Exit> {
        let forward = |sig: i32| {
            if sig != libc::SIGCHLD {
                let _ = cella_sys::process::kill(pid, sig);
            }
        };
        if let Some(master) = console_master {
            crate::console::proxy(master, &self.sigfd, forward)?;
        }
        loop {
            while let Some((who, exit)) = waitpid(-1, true).op(|| "waitpid".into())? {
                if who == pid {
                    return Ok(exit);
                }
            }
            cella_sys::poll::poll_readable(self.sigfd.as_fd(), -1).op(|| "poll".into())?;
            forward(cella_sys::process::read_signal(self.sigfd.as_raw_fd()).op(|| "read signalfd".into())?);
        }
    }

    /// As `wait`, copying each pipe's output to its destination fd (the
    /// process's stdout and stderr to ours) meanwhile. Once the process has
    /// ended, what is left in the pipes is copied for up to a second more:
    /// a background process that keeps them open does not hold us.
    pub fn wait_relaying(&self, pid: i32, mut pipes: Vec<(OwnedFd, RawFd)>) -> Result<Exit> {
        let mut ended: Option<Exit> = None;
        let mut deadline: Option<std::time::Instant> = None;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while ended.is_none() {
                match waitpid(-1, true) {
                    Ok(Some((who, exit))) if who == pid => ended = Some(exit),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) if e.raw_os_error() == Some(libc::ECHILD) => break,
                    Err(e) => return Err(e).op(|| "waitpid".into()),
                }
            }
            if let Some(exit) = ended {
                let d = *deadline.get_or_insert_with(|| std::time::Instant::now() + std::time::Duration::from_secs(1));
                if pipes.is_empty() || std::time::Instant::now() >= d {
                    return Ok(exit);
                }
            }
            let mut watch = vec![self.sigfd.as_raw_fd()];
            watch.extend(pipes.iter().map(|(p, _)| p.as_raw_fd()));
            let timeout = if ended.is_some() { 100 } else { -1 };
            let ready = cella_sys::poll::poll_many(&watch, timeout).op(|| "poll".into())?;
            if ready[0] {
                let sig = cella_sys::process::read_signal(self.sigfd.as_raw_fd()).op(|| "read signalfd".into())?;
                if sig != libc::SIGCHLD {
                    let _ = cella_sys::process::kill(pid, sig);
                }
            }
            let mut open = Vec::new();
            for ((p, dst), r) in pipes.drain(..).zip(&ready[1..]) {
                if *r {
                    match cella_sys::fd::read_raw(p.as_raw_fd(), &mut buf) {
                        Ok(0) | Err(_) => continue,
                        Ok(n) => {
                            let _ = cella_sys::fd::write_all_raw(dst, &buf[..n]);
                        }
                    }
                }
                open.push((p, dst));
            }
            pipes = open;
        }
    }
}
