//! The per-container monitor (what conmon is for podman): a process that
//! outlives the command that started the container. It runs in a mount
//! namespace of its own (so the container's overlay root never shows in the
//! host's mount table and cannot outlive it), creates and starts the
//! container through the runtime library, holds its stdio pipes or terminal,
//! writes the log, serves attach clients, reaps the container, records the
//! exit code and time, and cleans up (and removes the container for --rm).
//!
//! It is its own program entry (`cella container-monitor ID`), executed
//! afresh by `spawn`: `setup` makes the container, `session` serves it
//! until it ends, `teardown` gives back what it held.

pub mod health;
pub mod restart;
mod session;
mod setup;
mod teardown;

pub(crate) use setup::own_mount_namespace;
pub use teardown::remove_files;

use crate::container::{self, Container, Status};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// The hidden command of the `cella` binary that runs a monitor:
/// `cella --root R --runroot RR container-monitor ID [--wait-for-attach]`.
pub const COMMAND: &str = "container-monitor";

/// Starts the monitor for a created container record and waits until the
/// container exists (and, unless `wait_for_attach`, runs). With
/// `wait_for_attach` the container starts when the first attach client
/// connects, so that no output is missed.
///
/// The monitor is this program executed afresh (as conmon is a program of
/// its own), with its inputs on its command line: a forked copy of a
/// process that may have threads would inherit their locks. Its stdout is
/// the report pipe: one line, "ok" or the error.
pub fn spawn(paths: &Paths, id: &str, wait_for_attach: bool) -> Result<()> {
    let (r, w) = cella_sys::fd::pipe().map_err(|e| Error::Invalid(format!("pipe: {e}")))?;
    // The monitor creates the container: it runs from an image the
    // container cannot write (selfexe's rule 1) from its first instruction,
    // so it need not re-execute itself to get one.
    let sealed = cella_runtime::selfexe::sealed_program()?;
    let program = match &sealed {
        Some(fd) => format!("/proc/self/fd/{}", fd.as_raw_fd()),
        None => "/proc/self/exe".to_string(),
    };
    let mut cmd = std::process::Command::new(program);
    cmd.arg("--root")
        .arg(&paths.root)
        .arg("--runroot")
        .arg(&paths.runroot)
        .arg(COMMAND)
        .arg(id);
    if wait_for_attach {
        cmd.arg("--wait-for-attach");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Invalid(format!("start the monitor of container {id}: {e}")))?;
    // Our copy of the write end goes with `cmd`: a monitor that dies
    // without a word then ends the read below.
    drop(cmd);
    // One line; not until EOF: the container's init holds a copy of the
    // pipe until it execs.
    let mut msg = String::new();
    let _ = std::io::BufReader::new(std::fs::File::from(r)).read_line(&mut msg);
    let msg = msg.trim_end();
    if msg == "ok" {
        return Ok(());
    }
    let _ = child.wait();
    // "error ERRNO MESSAGE" (ERRNO 0: none), else the monitor died.
    let (errno, message) = match msg.strip_prefix("error ").and_then(|m| m.split_once(' ')) {
        Some((n, m)) => (n.parse::<i32>().ok().filter(|&n| n != 0), m.to_string()),
        None => (None, "the container's monitor died while starting it".to_string()),
    };
    Err(Error::StartFailed {
        exec_errno: errno,
        message,
    })
}

/// The monitor's entry (the `container-monitor` command): reports on its
/// stdout, then serves the container until it ends. Its exit code.
pub fn main(paths: &Paths, id: &str, wait_for_attach: bool) -> i32 {
    // Only what it was given: stdio, of which stdout is the report pipe.
    let _ = cella_sys::fd::close_from(3);
    let report = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(_) => return 1,
    };
    monitor(paths, id, wait_for_attach, report)
}

fn null_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = cella_sys::fd::dup_to(null.as_raw_fd(), fd);
        }
    }
}

/// The container's stdio as the monitor holds it: pipes, or a terminal.
pub(super) struct Stdio {
    pub(super) out: Option<OwnedFd>,
    pub(super) err: Option<OwnedFd>,
    pub(super) master: Option<OwnedFd>,
    pub(super) stdin: Option<std::fs::File>,
}

fn monitor(paths: &Paths, id: &str, wait_for_attach: bool, report: OwnedFd) -> i32 {
    let _ = cella_sys::process::setsid();
    // A client that goes away must not take the monitor with it.
    cella_sys::process::set_sigpipe(false);
    null_stdio();
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
            say(&format!("error 0 {e}"));
            return 1;
        }
    };
    // Detached, the container runs before the caller hears "ok", so that
    // whatever it does next (attach, exec, inspect) finds it running.
    let ready = setup::prepare_and_create(paths, &mut c).and_then(|r| {
        if !wait_for_attach {
            start(paths, &mut c)?;
        }
        Ok(r)
    });
    match ready {
        Ok((stdio, listener, sigfd)) => {
            say("ok");
            session::serve(paths, c, stdio, listener, sigfd, wait_for_attach)
        }
        Err(e) => {
            let msg = e.to_string();
            c.state.error = msg.clone();
            c.state.exit_code = e.start_exit_code();
            c.state.monitor_pid = 0;
            teardown::release_address(paths, &mut c);
            let _ = cella_runtime::lifecycle::delete(&paths.runroot, &c.id, true);
            teardown::unmount_root(paths, &c);
            if c.config.auto_remove {
                let _ = remove_files(paths, &c);
            } else {
                let _ = c.save_state(paths);
            }
            say(&format!("error {} {msg}", e.exec_errno().unwrap_or(0)));
            1
        }
    }
}

/// Records the end of a container whose monitor is gone (killed, a crash)
/// as the monitor would have: its exit code is not known (255).
pub fn settle(paths: &Paths, c: &mut Container) {
    let code = if c.state.exit_code == 0 { 255 } else { c.state.exit_code };
    drop(session::finish(paths, c, code));
}

/// Starts the created container and records it running.
fn start(paths: &Paths, c: &mut Container) -> Result<()> {
    cella_runtime::lifecycle::start(&paths.runroot, &c.id)?;
    c.state.status = Status::Running;
    c.state.started_at = Some(crate::store::time::Timestamp::now());
    c.save_state(paths)?;
    crate::events::container(paths, c, "start", &[]);
    if !c.state.ip_address.is_empty() {
        crate::network::refresh_hosts(paths);
    }
    Ok(())
}
