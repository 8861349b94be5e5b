//! `exec`: a new process in a running container's namespaces, cgroup,
//! credentials, capabilities, rlimits, seccomp filter and labels.
//!
//! The runtime forks a child that enters all the container's namespaces with
//! one setns(pidfd) call and, when a PID or time namespace is involved (they
//! apply to children), forks the process that will exec. That process sets
//! itself up, reports ready, is moved into the container's cgroup by the
//! runtime (last, so that in a paused container only it is frozen), and
//! execs. Errors before execve come back over the channel; a successful
//! execve closes it (close-on-exec).

use crate::channel::{Channel, ToChild, ToParent};
use crate::container::StateDir;
use crate::error::{Context, Error, Result};
use cella_spec::{NamespaceKind, Process, Status};
use cella_sys::ns::Forked;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console: crate::create::ConsoleTarget,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// A sub-cgroup of the container's cgroup to join instead (`--cgroup`).
    pub cgroup_sub: Option<String>,
    /// The process's stdin, stdout and stderr instead of the caller's (the
    /// engine's pipes, so that no descriptor of the caller's reaches the
    /// container). The caller keeps them open until `exec` returns.
    pub stdio: Option<[RawFd; 3]>,
}

pub struct Execed {
    /// Host PID of the new process.
    pub pid: i32,
    pub console_master: Option<OwnedFd>,
}

/// The container's own process, the base that `exec` flags modify.
pub fn container_process(root: &Path, id: &str) -> Result<Process> {
    let dir = StateDir::open(root, id)?;
    Ok(dir.load()?.process.unwrap_or_default())
}

/// Which CLONE_NEW* flags name namespaces of `pid` that differ from ours.
fn differing_namespaces(pid: i32) -> Result<u64> {
    let mut flags = 0;
    for kind in NamespaceKind::ALL {
        let theirs = format!("/proc/{pid}/ns/{}", kind.proc_name());
        let ours = format!("/proc/self/ns/{}", kind.proc_name());
        let (Ok(t), Ok(o)) = (std::fs::read_link(&theirs), std::fs::read_link(&ours)) else {
            continue;
        };
        if t != o {
            flags |= crate::nsplan::clone_flag(kind);
        }
    }
    Ok(flags)
}

pub fn exec(opts: &ExecOptions) -> Result<Execed> {
    let state = {
        let dir = StateDir::open(&opts.root, &opts.id)?;
        let p = dir.load()?;
        let status = dir.status(&p);
        match status {
            Status::Running | Status::Created => {}
            Status::Paused if opts.ignore_paused => {}
            other => {
                let what = if other == Status::Paused {
                    "it is paused (resume it, or pass --ignore-paused)"
                } else {
                    "there is no process to join"
                };
                return Err(Error::WrongState {
                    id: p.id.clone(),
                    status: other.as_str(),
                    what: what.into(),
                });
            }
        }
        p
    };
    let process = &opts.process;
    if process.args.is_empty() {
        return Err(Error::Usage(
            "exec: no command given (pass one after the ID, or in --process)".into(),
        ));
    }
    if process.terminal && matches!(opts.console, crate::create::ConsoleTarget::None) {
        return Err(Error::Usage("exec -t needs --console-socket when detached".into()));
    }
    let Some(pidfd) = state.init_pidfd()? else {
        return Err(Error::WrongState {
            id: state.id.clone(),
            status: "stopped",
            what: "there is no process to join".into(),
        });
    };
    let flags = differing_namespaces(state.pid)?;
    let (seccomp, listener) = crate::launch::prepare_seccomp(state.seccomp.as_ref())?;
    let state_json = serde_json::to_vec(&state.oci_state(Status::Running)).expect("state serialises");
    let cgroup = match (&state.cgroup, &opts.cgroup_sub) {
        (Some(cg), Some(sub)) => {
            if sub.split('/').any(|c| c == "..") {
                return Err(Error::Usage(format!(
                    "--cgroup {sub:?} must stay inside the container's cgroup"
                )));
            }
            let mut cg = cg.clone();
            for d in &mut cg.dirs {
                d.path = d.path.join(sub.trim_start_matches('/'));
                if !d.path.is_dir() {
                    return Err(Error::Usage(format!(
                        "--cgroup {sub:?}: {} does not exist",
                        d.path.display()
                    )));
                }
            }
            Some(cg)
        }
        (cg, _) => cg.clone(),
    };
    let (console_sock, console_keep) = crate::launch::console_sockets(&opts.console, process.terminal)?;
    // In a user namespace the container's setgroups may be denied.
    let setgroups_allowed = std::fs::read_to_string(format!("/proc/{}/setgroups", state.pid))
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    let (ours, theirs) = cella_sys::socket::seqpacket_pair().op(|| "socketpair".into())?;
    let chan = Channel(ours);
    let child = match cella_sys::ns::fork().op(|| "fork the exec process".into())? {
        Forked::Child => {
            drop(chan);
            let chan = Channel(theirs);
            if let Some(fds) = opts.stdio {
                for (to, from) in fds.into_iter().enumerate() {
                    if let Err(e) = cella_sys::fd::dup_to(from, to as RawFd) {
                        let _ = chan.send_to_parent(&ToParent::Failed {
                            errno: e.raw_os_error(),
                            message: format!("dup the process's stdio: {e}"),
                        });
                        cella_sys::process::exit_now(1);
                    }
                }
            }
            let launch = crate::launch::Launch {
                process,
                console: console_sock.as_ref(),
                seccomp: seccomp.as_ref(),
                seccomp_listener: listener.as_ref(),
                listener_metadata: state.seccomp.as_ref().and_then(|p| p.listener_metadata.as_deref()),
                state_json: &state_json,
                preserve_fds: opts.preserve_fds,
                setgroups_allowed,
                as_init: false,
                container_init: false,
            };
            child_main(&chan, pidfd.as_fd(), flags, &launch)
        }
        Forked::Parent(pid) => pid,
    };
    drop(theirs);
    drop(console_sock);
    drop(listener);
    let kill_child = |e: Error| {
        let _ = cella_sys::process::kill(child, libc::SIGKILL);
        let _ = cella_sys::process::waitpid(child, false);
        e
    };
    chan.send_to_child(&ToChild::Go).map_err(kill_child)?;
    let mut pid = child;
    loop {
        match chan.recv_from_child() {
            Ok(ToParent::Pid(p)) => {
                pid = p;
                if pid != child {
                    let _ = cella_sys::process::waitpid(child, false);
                }
            }
            Ok(failed @ ToParent::Failed { .. }) => {
                let _ = cella_sys::process::kill(pid, libc::SIGKILL);
                let _ = cella_sys::process::waitpid(child, false);
                return Err(failed.into_error());
            }
            // Set up and about to exec: join the container's cgroup now, last,
            // so that a paused (frozen) container freezes only the final process.
            Ok(ToParent::Created) => {
                if let Some(cg) = &cgroup {
                    if let Err(e) = cg.add_pid(pid) {
                        let _ = cella_sys::process::kill(pid, libc::SIGKILL);
                        let _ = cella_sys::process::waitpid(child, false);
                        return Err(e.into());
                    }
                }
                chan.send_to_child(&ToChild::Go)?;
                // Not waiting for execve to close the channel: in a paused
                // container the process is frozen until resume. A failing
                // execve from here on exits 127 with its message on stderr.
                break;
            }
            Err(e) => {
                let _ = cella_sys::process::waitpid(child, false);
                return Err(e);
            }
            Ok(other) => {
                let _ = cella_sys::process::kill(pid, libc::SIGKILL);
                let _ = cella_sys::process::waitpid(child, false);
                return Err(Error::Init(format!(
                    "protocol error: unexpected {other:?} from the exec process"
                )));
            }
        }
    }
    let console_master = match console_keep {
        Some(sock) => Some(crate::console::receive_master(&sock)?),
        None => None,
    };
    Ok(Execed { pid, console_master })
}

/// In the forked child: enter the namespaces, fork if they apply only to
/// children, set the process up, exec.
fn child_main(chan: &Channel, pidfd: std::os::fd::BorrowedFd<'_>, flags: u64, launch: &crate::launch::Launch<'_>) -> ! {
    let fail = |e: Error| -> ! {
        let _ = chan.send_to_parent(&ToParent::failed(&e));
        cella_sys::process::exit_now(1)
    };
    if let Err(e) = chan.expect_go().and_then(|_| crate::selfexe::become_undumpable()) {
        fail(e);
    }
    if flags != 0 {
        if let Err(e) = cella_sys::ns::setns_pidfd(pidfd, flags)
            .op(|| format!("setns into the container's namespaces ({flags:#x})"))
        {
            fail(e);
        }
    }
    let child_only = cella_sys::ns::CLONE_NEWPID | cella_sys::ns::CLONE_NEWTIME;
    if flags & child_only != 0 {
        if let Err(e) = crate::channel::fork_reporting_pid(chan) {
            fail(e);
        }
    }
    match launch.prepare().and_then(|mut r| launch.seal(&mut r).map(|()| r)) {
        Ok(ready) => {
            // Ready: the runtime moves us into the cgroup, then we exec
            // (which closes the channel: close-on-exec).
            if chan
                .send_to_parent(&ToParent::Created)
                .and_then(|_| chan.expect_go())
                .is_err()
            {
                cella_sys::process::exit_now(1);
            }
            launch.exec(ready)
        }
        Err(e) => fail(e),
    }
}
