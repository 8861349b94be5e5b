//! `cella exec`: a new process in a running container. Its stdin, stdout and
//! stderr are pipes that this process relays (or, with a terminal, the pty
//! made inside the container), never the caller's own descriptors: a
//! container given `>> hostfile` as its stdout could reopen
//! /proc/self/fd/1 to read or truncate that host file.

use crate::container::{Container, Status};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What `cella exec` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// KEY=VALUE entries set over the container's environment.
    pub env: Vec<String>,
    /// USER[:GROUP], resolved in the container's own /etc.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    /// `--privileged`: every capability this machine can give.
    pub privileged: bool,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Io {
        what,
        path: "/".into(),
        err: source,
    }
}

/// The process to run: the container's own, changed as asked.
fn process(paths: &Paths, c: &Container, req: &ExecRequest) -> Result<cella_spec::Process> {
    let mut process = cella_runtime::exec::container_process(&paths.runroot, &c.id)?;
    process.args = req.command.clone();
    process.terminal = req.tty;
    process.console_size = None;
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or(kv);
        process.env.retain(|e| e.split('=').next() != Some(key));
        process.env.push(kv.clone());
    }
    if let Some(w) = &req.workdir {
        process.cwd = w.clone();
    }
    if req.privileged {
        let all = crate::container::bundle::capabilities(&crate::container::RunConfig {
            privileged: true,
            ..Default::default()
        })?;
        process.capabilities = Some(cella_spec::Capabilities {
            bounding: Some(all.clone()),
            effective: Some(all.clone()),
            inheritable: Some(Vec::new()),
            permitted: Some(all),
            ambient: Some(Vec::new()),
        });
    }
    if let Some(u) = &req.user {
        let root = std::path::PathBuf::from(format!("/proc/{}/root", c.state.pid));
        let root = std::fs::File::open(&root).map_err(|source| Error::Io {
            what: "open the container's root",
            path: root,
            err: source,
        })?;
        let ids = crate::container::users::resolve(&crate::container::users::Etc::Root(root.as_fd()), u)?;
        process.user.uid = ids.uid;
        process.user.gid = ids.gid;
        process.user.additional_gids = ids.additional_gids;
    }
    Ok(process)
}

/// Copies our stdin into the process's until either ends.
fn pump_stdin(mut to: std::fs::File) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs the process; returns its exit code (0 at once when detached).
/// A runtime error means it could not be started.
pub fn exec(paths: &Paths, c: &Container, req: &ExecRequest) -> Result<i32> {
    if c.state.status == Status::Paused {
        return Err(Error::Conflict(format!(
            "container {} is paused: unpause it first (`cella unpause {}`)",
            c.name, c.name
        )));
    }
    if c.state.status != Status::Running || c.state.pid <= 0 {
        return Err(Error::Conflict(format!("container {} is not running", c.name)));
    }
    let process = process(paths, c, req)?;
    let console = if req.tty && !req.detach {
        cella_runtime::create::ConsoleTarget::Caller
    } else {
        cella_runtime::create::ConsoleTarget::None
    };
    // The process's ends (kept until it is started) and ours. Detached, its
    // stdio is /dev/null; with a terminal, the pty replaces /dev/null.
    let null = || -> Result<OwnedFd> {
        cella_sys::fd::open(std::path::Path::new("/dev/null"), libc::O_RDWR, 0).map_err(io("open /dev/null"))
    };
    let mut theirs: Vec<OwnedFd> = Vec::new();
    let mut outputs: Vec<(OwnedFd, i32)> = Vec::new();
    let mut stdin_to: Option<std::fs::File> = None;
    if req.detach || req.tty {
        theirs = vec![null()?, null()?, null()?];
    } else {
        if req.interactive {
            let (r, w) = cella_sys::fd::pipe().map_err(io("pipe"))?;
            theirs.push(r);
            stdin_to = Some(std::fs::File::from(w));
        } else {
            theirs.push(null()?);
        }
        for dst in [1, 2] {
            let (r, w) = cella_sys::fd::pipe().map_err(io("pipe"))?;
            theirs.push(w);
            outputs.push((r, dst));
        }
    }
    let opts = cella_runtime::exec::ExecOptions {
        root: paths.runroot.clone(),
        id: c.id.clone(),
        process,
        console,
        preserve_fds: 0,
        ignore_paused: false,
        cgroup_sub: None,
        stdio: Some([theirs[0].as_raw_fd(), theirs[1].as_raw_fd(), theirs[2].as_raw_fd()]),
    };
    let sup = if req.detach {
        None
    } else {
        Some(cella_runtime::supervise::Supervisor::install()?)
    };
    let execed = cella_runtime::exec::exec(&opts)?;
    // Only the process holds its ends now: its exit closes the pipes.
    drop(theirs);
    let Some(sup) = sup else {
        return Ok(0);
    };
    if let Some(to) = stdin_to {
        // After the supervisor: the thread inherits the blocked signals.
        std::thread::spawn(move || pump_stdin(to));
    }
    let exit = if outputs.is_empty() {
        sup.wait(execed.pid, execed.console_master.as_ref())?
    } else {
        let _ = std::io::stdout().flush();
        sup.wait_relaying(execed.pid, outputs)?
    };
    Ok(exit.shell_code())
}
