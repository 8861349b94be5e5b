//! Waiting for a container process in the foreground (`run`, `exec`): the
//! runtime is a child subreaper, forwards signals to the process, copies a
//! terminal, and returns how the process ended.

use crate::error::{Context, Result};
use cella_sys::process::{waitpid, Exit};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const FORWARDED: [i32; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCHLD,
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
            sigfd: cella_sys::process::signalfd_for(&FORWARDED).op(|| "signalfd".into())?,
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
            cella_sys::fd::poll_readable(self.sigfd.as_fd(), -1).op(|| "poll".into())?;
            forward(cella_sys::process::read_signal(self.sigfd.as_raw_fd()).op(|| "read signalfd".into())?);
        }
    }
}
