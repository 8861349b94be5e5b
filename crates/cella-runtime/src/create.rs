//! `create`, the runtime's side: validate, make the state directory and
//! cgroup, clone the container init into its namespaces, serve its requests
//! (id maps, hooks), and record the result. Any failure undoes all of it.

use crate::cgroup::{Driver, Placement};
use crate::channel::{Channel, ToChild, ToParent};
use crate::container::{proc_stat, Persisted, StateDir};
use crate::error::{Context, Error, Result};
use crate::init::{self, CgroupEntry, InitContext};
use crate::nsplan::NsPlan;
use crate::userns;
use cella_spec::{NamespaceKind, Spec, Status};
use cella_sys::ns::{clone3_into, Forked, CLONE_NEWCGROUP};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub use crate::console::ConsoleTarget;

pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console: ConsoleTarget,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup_driver: Driver,
    pub started_by: StartedBy,
}

/// Who starts the created container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedBy {
    /// A later `start` command, through the start socket in the state
    /// directory (`create`; the status reads `created` until then).
    Command,
    /// The process that created it, through [`Created::start`], when it is
    /// ready to (the engine's monitor connects the network and may wait
    /// for attach clients first): no start socket is made, nor read back,
    /// nor removed. The record is written at the end of create.
    Caller,
    /// As `Caller`, with `start` called straight after create (`run`): the
    /// record and the PID file are written while the init execs, and the
    /// state directory stays locked until then.
    CallerAtOnce,
}

pub struct Created {
    pub state: Persisted,
    /// The pty master when `ConsoleTarget::Caller` was asked for.
    pub console_master: Option<OwnedFd>,
    /// `StartedBy::Caller` or `CallerAtOnce`: the channel the init waits on
    /// for `Start`.
    start_channel: Option<Channel>,
    /// `StartedBy::CallerAtOnce`: what `start` writes once `Start` is sent.
    unrecorded: Option<Unrecorded>,
}

/// The record of a container its caller starts, written while the init
/// execs (see [`Created::start`]).
struct Unrecorded {
    /// Still locked: other commands wait for the record.
    dir: StateDir,
    pid_file: Option<PathBuf>,
}

impl Created {
    /// Starts a container created with `StartedBy::Caller` or `CallerAtOnce`:
    /// the init runs its startContainer hooks and execs the process; then
    /// the poststart hooks run here, as `start` runs them.
    pub fn start(&mut self) -> Result<()> {
        let chan = self
            .start_channel
            .take()
            .ok_or_else(|| Error::Usage("this container waits for a `start` command, not for its creator".into()))?;
        let gone = || Error::Init("the container init exited before it could start".into());
        let sent = chan.send_to_child(&ToChild::Start).map_err(|_| gone());
        // The record is written while the init runs its startContainer
        // hooks and execs, not before: the directory's lock, held until
        // then, keeps every other command (and a `state` that finds the
        // record unwritten, which reads "creating") from seeing it half
        // made. The lock goes in any case: a caller removes a container
        // that failed to start.
        if let Some(Unrecorded { dir, pid_file }) = self.unrecorded.take() {
            dir.save(&self.state)?;
            if let Some(p) = &pid_file {
                write_pid_file(p, self.state.pid)?;
            }
        }
        sent?;
        match chan.recv_from_child() {
            Ok(ToParent::Started) => {}
            Ok(failed @ ToParent::Failed { .. }) => return Err(failed.into_error()),
            Ok(other) => return Err(Error::Init(format!("protocol error: {other:?} in answer to Start"))),
            Err(_) => return Err(gone()),
        }
        crate::lifecycle::run_poststart(&self.state);
        Ok(())
    }
}

/// Undoes a partial create unless disarmed.
struct Cleanup {
    state_dir: Option<StateDir>,
    cgroup: Option<Placement>,
    pids: Vec<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &pid in &self.pids {
            let _ = cella_sys::process::kill(pid, libc::SIGKILL);
            let _ = cella_sys::process::waitpid(pid, false);
        }
        if let Some(cg) = &mut self.cgroup {
            cg.undo();
        }
        if let Some(dir) = self.state_dir.take() {
            if let Err(e) = dir.remove() {
                crate::log::warn(&format!("cleanup after failed create: {e}"));
            }
        }
    }
}

fn read_spec(bundle: &Path) -> Result<Spec> {
    let p = bundle.join("config.json");
    let text = std::fs::read(&p).at("read", &p)?;
    serde_json::from_slice(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))
}

pub fn create(opts: &CreateOptions) -> Result<Created> {
    crate::ids::validate(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle).at("open bundle", &opts.bundle)?;
    let spec = read_spec(&bundle)?;
    let valid = crate::validate::validate(&spec)?;
    let process = valid.process;
    if process.terminal && matches!(opts.console, ConsoleTarget::None) {
        return Err(Error::Usage(
            "process.terminal is true but no --console-socket was given: pass one, or set terminal to false".into(),
        ));
    }
    let rootfs = bundle.join(valid.root_path);
    let rootfs = std::fs::canonicalize(&rootfs).at("open rootfs", &rootfs)?;
    let plan = NsPlan::from_spec(&spec, &valid.namespace_kinds)?;
    let linux = spec.linux();
    let (seccomp, seccomp_listener) = crate::launch::prepare_seccomp(linux.seccomp.as_ref())?;

    let state_dir = StateDir::create(&opts.root, &opts.id)?;
    let mut cleanup = Cleanup {
        state_dir: None,
        cgroup: None,
        pids: Vec::new(),
    };
    let state_path = state_dir.dir.clone();
    cleanup.state_dir = Some(state_dir);

    // cgroup: recorded before anything is made, then made before the child
    // joins it, which is before it makes its cgroup namespace (the
    // container then sees its cgroup as /). systemd makes its scope once
    // the child's PID exists.
    let placement = Placement::prepare(&spec, &opts.id, opts.cgroup_driver)?;
    let (layout, cgroup, scope) = (
        placement.layout.clone(),
        placement.cgroup.clone(),
        placement.scope.clone(),
    );
    cleanup.cgroup = Some(placement);
    let mut state = Persisted {
        id: opts.id.clone(),
        oci_version: spec.oci_version.clone(),
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        pid: 0,
        pid_start: 0,
        created: crate::log::rfc3339_now(),
        owner: cella_sys::process::geteuid(),
        annotations: spec.annotations.clone(),
        hooks: spec.hooks.clone(),
        cgroup: cgroup.clone(),
        scope,
        own_pid_ns: plan.creates(NamespaceKind::Pid),
        process: spec.process.clone(),
        seccomp: linux.seccomp.clone(),
    };
    if cgroup.is_some() {
        // Recorded before anything runs in the cgroup, so that `delete` can
        // remove it even if this process is killed mid-create.
        cleanup.state_dir.as_ref().expect("set above").save(&state)?;
    }
    // With the cgroupfs driver on the simple path no PID is written to a
    // cgroup.procs (each such write waits for an RCU grace period): the
    // child is born in its v2 cgroup (CLONE_INTO_CGROUP; pure v2, or the
    // unified tree of a hybrid layout) and moves itself into its v1 ones
    // (`join_self_v1`). A systemd scope needs the PID first.
    let self_placed = opts.cgroup_driver == Driver::Cgroupfs && plan.is_simple() && cgroup.is_some();
    // With v1 hierarchies to join, the child joins them only when its
    // mounts reach the cgroup filesystems (`CgroupEntry::Late`): the
    // runtime makes and fills the cgroup after the clone, on the other
    // CPU, while the child mounts its root (only the v2 directory, which
    // clone3 needs, is made before). Not with a new user namespace: there
    // the child soon becomes its root, a uid that may not write the
    // cgroup's files.
    let cgroup_entry = if !self_placed {
        CgroupEntry::Placed
    } else if !plan.creates(NamespaceKind::User) && cgroup.as_ref().is_some_and(|cg| cg.dirs.iter().any(|d| !d.is_v2()))
    {
        CgroupEntry::Late
    } else {
        CgroupEntry::Now
    };
    let late = cgroup_entry == CgroupEntry::Late;
    let placement = cleanup.cgroup.as_mut().expect("set above");
    if late {
        placement.make_birthplace()?;
    } else {
        placement.make(&spec)?;
    }
    let into_cgroup = match (&cgroup, self_placed) {
        (Some(cg), true) => match cg.dirs.iter().find(|d| d.is_v2()) {
            Some(d) => {
                Some(cella_sys::fd::open(&d.path, libc::O_PATH | libc::O_DIRECTORY, 0).at("open cgroup", &d.path)?)
            }
            None => None,
        },
        _ => None,
    };

    let listener = match opts.started_by {
        StartedBy::Command => {
            let start_path = state_path.join(crate::container::START_SOCKET);
            let short = cleanup.state_dir.as_ref().expect("set above").start_socket_short();
            Some(UnixListener::bind(short).at("listen on", &start_path)?)
        }
        StartedBy::Caller | StartedBy::CallerAtOnce => None,
    };
    let (console_sock, console_keep) = crate::launch::console_sockets(&opts.console, process.terminal)?;
    let (ours, theirs) = cella_sys::socket::seqpacket_pair().op(|| "socketpair".into())?;
    let chan = Channel(ours);
    let map_writer = userns::choose(&linux.uid_mappings, &linux.gid_mappings);
    let new_user = plan.creates(NamespaceKind::User);

    let clone_flags = if plan.is_simple() {
        plan.new & !CLONE_NEWCGROUP
    } else {
        0
    };
    // Decided here, not in the child: there, in a new user namespace,
    // geteuid() reads 0 or the overflow id depending on whether we have
    // written its id maps yet (a race that made an unprivileged engine's
    // init undumpable before pasta could open its namespaces).
    let runtime_is_root = cella_sys::process::geteuid() == 0;
    let child = match clone3_into(clone_flags, into_cgroup.as_ref().map(|f| f.as_fd()))
        .op(|| format!("clone3 with namespace flags {clone_flags:#x}"))?
    {
        Forked::Child => {
            drop(chan);
            // This process's copy of the state directory: its lock fd is
            // closed (the lock stays the runtime's, so that `start` can take
            // it while the init waits), and nothing else of it is undone here.
            if let Some(dir) = cleanup.state_dir.take() {
                dir.close_in_child();
            }
            std::mem::forget(cleanup);
            let cx = InitContext {
                spec: &spec,
                process,
                mount_options: &valid.mount_options,
                id: &opts.id,
                bundle: &bundle,
                rootfs: &rootfs,
                plan: &plan,
                chan: Channel(theirs),
                start_listener: listener,
                console: console_sock,
                preserve_fds: opts.preserve_fds,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                cgroup_layout: layout.as_ref(),
                cgroup: cgroup.as_ref(),
                setgroups_allowed: !(new_user && map_writer == userns::MapWriter::OwnIdsOnly),
                seccomp: seccomp.as_ref(),
                seccomp_listener,
                undumpable_early: runtime_is_root,
                cgroup_entry,
            };
            init::run(cx)
        }
        Forked::Parent(pid) => pid,
    };
    drop(theirs);
    drop(listener);
    drop(console_sock);
    drop(seccomp_listener);
    cleanup.pids.push(child);

    if plan.is_simple() && new_user {
        userns::write(child, map_writer, &linux.uid_mappings, &linux.gid_mappings)?;
    }
    let placement = cleanup.cgroup.as_mut().expect("set above");
    placement.join(&spec, &opts.id, child, self_placed)?;
    if state.cgroup != placement.cgroup {
        // Rootless under systemd: only the delegated hierarchies remain.
        state.cgroup = placement.cgroup.clone();
    }
    chan.send_to_child(&ToChild::Go)?;
    if late {
        placement.make(&spec)?;
        // The cgroup is ready to be joined. A child that failed meanwhile
        // has closed its end: what it said comes first.
        if let Err(e) = chan.send_to_child(&ToChild::Go) {
            return Err(match chan.recv_from_child() {
                Ok(failed @ ToParent::Failed { .. }) => failed.into_error(),
                _ => e,
            });
        }
    }

    let mut init_pid = child;
    state.pid = init_pid;
    loop {
        let msg = chan.recv_from_child().map_err(|e| match e {
            Error::Init(_) => Error::Init("the container init exited during setup".into()),
            other => other,
        })?;
        match msg {
            ToParent::MapMe => {
                userns::write(child, map_writer, &linux.uid_mappings, &linux.gid_mappings)?;
                chan.send_to_child(&ToChild::Go)?;
            }
            ToParent::Pid(pid) => {
                init_pid = pid;
                if init_pid != child {
                    // The intermediate process exits once it has forked the init.
                    let _ = cella_sys::process::waitpid(child, false);
                    cleanup.pids.retain(|&p| p != child);
                    cleanup.pids.push(init_pid);
                }
                state.pid = init_pid;
            }
            ToParent::Hooks => {
                // crun and runc say "created" to these hooks: the container exists, its process has not started.
                let json = serde_json::to_vec(&state.oci_state(Status::Created)).expect("state serialises");
                if let Some(h) = &spec.hooks {
                    crate::hooks::run_all("prestart", &h.prestart, &json)?;
                    crate::hooks::run_all("createRuntime", &h.create_runtime, &json)?;
                }
                chan.send_to_child(&ToChild::HooksDone(json))?;
            }
            failed @ ToParent::Failed { .. } => return Err(failed.into_error()),
            ToParent::Started => return Err(Error::Init("protocol error: Started before Start".into())),
            ToParent::Created => break,
        }
    }
    state.pid_start = proc_stat(init_pid)
        .map(|s| s.start)
        .ok_or_else(|| Error::Init("the container init exited right after setup".into()))?;
    let console_master = match console_keep {
        Some(sock) => Some(crate::console::receive_master(&sock)?),
        None => None,
    };
    let at_once = opts.started_by == StartedBy::CallerAtOnce;
    if !at_once {
        let dir = cleanup.state_dir.as_ref().expect("set above");
        dir.save(&state)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, init_pid)?;
        }
    }
    // Success: keep everything.
    let state_dir = cleanup.state_dir.take().expect("set above");
    cleanup.cgroup = None;
    cleanup.pids.clear();
    Ok(Created {
        state,
        console_master,
        start_channel: (opts.started_by != StartedBy::Command).then_some(chan),
        unrecorded: at_once.then(|| Unrecorded {
            dir: state_dir,
            pid_file: opts.pid_file.clone(),
        }),
    })
}

/// Writes the PID atomically (temporary file and rename), as clients poll it.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().at("getcwd", path)?.join(path)
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.to_string()).at("write pid file", &tmp)?;
    std::fs::rename(&tmp, &path).at("rename pid file into place", &path)
}
