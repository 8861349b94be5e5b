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

/// The command word of a monitor's command line (see `Invocation`).
const COMMAND: &str = "container-monitor";
const WAIT_FOR_ATTACH: &str = "--wait-for-attach";

/// A monitor's command line, written by `spawn` and read back by the
/// `cella` binary before anything else: `--root R --runroot RR
/// container-monitor ID [--wait-for-attach]`, exactly. Not for people, so
/// not clap's: building that parser would cost every container start a
/// millisecond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub root: std::path::PathBuf,
    pub runroot: std::path::PathBuf,
    pub id: String,
    pub wait_for_attach: bool,
}

impl Invocation {
    /// The arguments after the program's name.
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = vec![
            "--root".into(),
            self.root.clone().into(),
            "--runroot".into(),
            self.runroot.clone().into(),
            COMMAND.into(),
            self.id.clone().into(),
        ];
        if self.wait_for_attach {
            v.push(WAIT_FOR_ATTACH.into());
        }
        v
    }

    /// The arguments after the program's name, if they are a monitor's.
    pub fn parse(args: &[std::ffi::OsString]) -> Option<Invocation> {
        let [root_flag, root, runroot_flag, runroot, command, id, rest @ ..] = args else {
            return None;
        };
        if root_flag != "--root" || runroot_flag != "--runroot" || command != COMMAND {
            return None;
        }
        let wait_for_attach = match rest {
            [] => false,
            [flag] if flag == WAIT_FOR_ATTACH => true,
            _ => return None,
        };
        Some(Invocation {
            root: root.into(),
            runroot: runroot.into(),
            id: id.to_str()?.to_string(),
            wait_for_attach,
        })
    }
}

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
    cmd.args(
        Invocation {
            root: paths.root.clone(),
            runroot: paths.runroot.clone(),
            id: id.to_string(),
            wait_for_attach,
        }
        .args(),
    );
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
    let ready = setup::prepare_and_create(paths, &mut c).and_then(|mut r| {
        if !wait_for_attach {
            start(paths, &mut c, &mut r.created)?;
        }
        Ok(r)
    });
    match ready {
        Ok(r) => {
            say("ok");
            session::serve(paths, c, r, wait_for_attach)
        }
        Err(e) => {
            let msg = e.to_string();
            c.state.error = msg.clone();
            c.state.exit_code = e.start_exit_code();
            c.state.monitor_pid = 0;
            teardown::release_address(paths, &mut c);
            if c.config.auto_remove {
                // Its runtime state and root go with the trash.
                if remove_files(paths, &c).is_err() {
                    teardown::release_runtime(paths, &c);
                }
            } else {
                teardown::release_runtime(paths, &c);
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
fn start(paths: &Paths, c: &mut Container, created: &mut cella_runtime::create::Created) -> Result<()> {
    created.start()?;
    c.state.status = Status::Running;
    c.state.started_at = Some(crate::store::time::Timestamp::now());
    c.save_state(paths)?;
    crate::events::container(paths, c, "start", &[]);
    if !c.state.ip_address.is_empty() {
        crate::network::refresh_hosts(paths);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_reads_exactly_the_command_line_spawn_writes() {
        for wait_for_attach in [false, true] {
            let inv = Invocation {
                root: "/r".into(),
                runroot: "/rr".into(),
                id: "abc".into(),
                wait_for_attach,
            };
            assert_eq!(Invocation::parse(&inv.args()), Some(inv));
        }
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        for other in [
            &["--root", "/r", "--runroot", "/rr", COMMAND, "abc", "--bogus"][..],
            &["--runroot", "/rr", "--root", "/r", COMMAND, "abc"],
            &["--root", "/r", "--runroot", "/rr", "run", "abc"],
            &[COMMAND, "abc"],
        ] {
            assert_eq!(Invocation::parse(&os(other)), None, "{other:?}");
        }
    }
}
