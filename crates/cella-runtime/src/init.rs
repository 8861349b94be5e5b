//! The container's side of `create`, from clone3 to execve.
//!
//! Runs in the forked child (never returns). On the simple path the child was
//! born in all its new namespaces; otherwise it joins, unshares and forks the
//! real init. Every failure before `start` goes back to the runtime over the
//! channel; the process then exits.

use crate::channel::{Channel, ToChild, ToParent};
use crate::error::{Context, Result};
use crate::nsplan::NsPlan;
use cella_spec::{NamespaceKind, Spec};
use cella_sys::ns::{CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

pub struct InitContext<'a> {
    pub spec: &'a Spec,
    /// `spec.process`, which validation proved present.
    pub process: &'a cella_spec::Process,
    /// The options of each `spec.mounts` entry, parsed by validation.
    pub mount_options: &'a [crate::mountopts::MountOptions],
    pub id: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a NsPlan,
    pub chan: Channel,
    /// `start` connects here; None: the runtime sends `Start` on `chan`.
    pub start_listener: Option<UnixListener>,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup_layout: Option<&'a cella_cgroups::Layout>,
    pub cgroup: Option<&'a cella_cgroups::Cgroup>,
    pub setgroups_allowed: bool,
    /// Compiled by the runtime before clone; loaded here.
    pub seccomp: Option<&'a cella_seccomp::Filter>,
    /// Connected to linux.seccomp.listenerPath when the profile notifies.
    pub seccomp_listener: Option<OwnedFd>,
    /// Not dumpable from before the root filesystem is set up (a runtime
    /// run as root), or only once started: an unprivileged engine starts
    /// pasta for the container's network through /proc/PID/ns before
    /// `start`, which needs us dumpable (the container's processes cannot
    /// reach us meanwhile without CAP_SYS_PTRACE in its user namespace: we
    /// hold every capability there).
    pub undumpable_early: bool,
    /// How and when this process enters its cgroup.
    pub cgroup_entry: CgroupEntry,
}

/// How the init gets into its cgroup, which must come before it makes its
/// cgroup namespace (whose root is the cgroup it is in then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupEntry {
    /// The runtime put it there (or it has none): nothing to do.
    Placed,
    /// It moves itself into its v1 hierarchies (see
    /// `cella_cgroups::Cgroup::join_self_v1`) first thing after `Go`.
    Now,
    /// As `Now`, but only once its mounts reach the cgroup filesystems (or
    /// end), after a second `Go`: the runtime makes the cgroup meanwhile.
    Late,
}

/// The child's entry point.
pub fn run(cx: InitContext<'_>) -> ! {
    let err = match setup(&cx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before `start` the runtime is listening; afterwards only stderr is left.
    if cx.chan.send_to_parent(&ToParent::failed(&err)).is_err() {
        let _ = writeln!(std::io::stderr(), "cella-runtime: container init: {err}");
    }
    cella_sys::process::exit_now(1)
}

enum Never {}

/// Joins the cgroup (when the init places itself) and then makes the cgroup
/// namespace, so that the cgroup is its root. Once; `Late` waits for the
/// runtime's second `Go` first.
fn enter_cgroup(cx: &InitContext<'_>, entered: &std::cell::Cell<bool>) -> Result<()> {
    if entered.replace(true) {
        return Ok(());
    }
    if cx.cgroup_entry == CgroupEntry::Late {
        cx.chan.expect_go()?;
    }
    if let (CgroupEntry::Now | CgroupEntry::Late, Some(cg)) = (cx.cgroup_entry, cx.cgroup) {
        cg.join_self_v1()?;
    }
    if cx.plan.is_simple() && cx.plan.creates(NamespaceKind::Cgroup) {
        cella_sys::ns::unshare(CLONE_NEWCGROUP).op(|| "unshare the cgroup namespace".into())?;
    }
    Ok(())
}

fn setup(cx: &InitContext<'_>) -> Result<Never> {
    cx.chan.expect_go()?;
    let plan = cx.plan;
    let cgroup_entered = std::cell::Cell::new(false);
    let enter_cgroup = || enter_cgroup(cx, &cgroup_entered);
    if cx.cgroup_entry != CgroupEntry::Late {
        enter_cgroup()?;
    }
    if !plan.is_simple() {
        enter_namespaces_slow(cx)?;
    }
    let spec = cx.spec;
    let process = cx.process;
    let entered_userns = plan.creates(NamespaceKind::User) || plan.joins(NamespaceKind::User);
    if entered_userns {
        become_namespace_root()?;
    }
    // Also when the runtime itself runs in one (rootless podman's): no
    // mknod there either.
    let in_userns = entered_userns || cella_sys::process::in_user_namespace();
    if !cx.no_new_keyring {
        match cella_sys::process::join_session_keyring(&format!("_ses.{}", cx.id)) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EACCES)
                ) => {}
            Err(e) => return Err(e).op(|| "create a session keyring".into()),
        }
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        cella_sys::ns::sethostname(h).op(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        cella_sys::ns::setdomainname(d).op(|| format!("setdomainname {d:?}"))?;
    }
    if let Some(adj) = process.oom_score_adj {
        let p = Path::new("/proc/self/oom_score_adj");
        std::fs::write(p, adj.to_string()).at("write", p)?;
    }
    // From here until execve the container must not reach our fds or image
    // (after the id maps and oom_score_adj, which want us dumpable).
    if cx.undumpable_early {
        crate::selfexe::become_undumpable()?;
    }
    // Devices and mode bits are created exactly as configured.
    cella_sys::process::umask(0);
    let rcx = crate::rootfs::RootfsContext {
        spec,
        mount_options: cx.mount_options,
        rootfs: cx.rootfs,
        bundle: cx.bundle,
        in_userns,
        new_cgroupns: plan.creates(NamespaceKind::Cgroup),
        cgroup_layout: cx.cgroup_layout,
        cgroup: cx.cgroup,
        enter_cgroup: &enter_cgroup,
    };
    // Without a mount namespace of its own the container runs in the one it
    // shares or joined: nothing is mounted there.
    let own_mounts = plan.creates(NamespaceKind::Mount);
    let root = if own_mounts {
        Some(crate::rootfs::prepare(&rcx)?)
    } else {
        None
    };
    // Without mounts of its own (or a cgroup mount), now.
    enter_cgroup()?;

    let hooks = spec.hooks.as_ref();
    let wants_state = cx.seccomp_listener.is_some()
        || hooks.is_some_and(|h| {
            !(h.prestart.is_empty()
                && h.create_runtime.is_empty()
                && h.create_container.is_empty()
                && h.start_container.is_empty())
        });
    let state_json = if wants_state {
        cx.chan.send_to_parent(&ToParent::Hooks)?;
        match cx.chan.recv_from_parent()? {
            ToChild::HooksDone(json) => json,
            other @ (ToChild::Go | ToChild::Start) => {
                return Err(crate::Error::Init(format!(
                    "protocol error: {other:?} while waiting for the hooks"
                )))
            }
        }
    } else {
        Vec::new()
    };
    if let Some(h) = hooks {
        // In the container's namespaces, before pivot_root (paths are the runtime's).
        crate::hooks::run_all("createContainer", &h.create_container, &state_json)?;
    }
    if let Some(root) = root {
        crate::rootfs::enter(root, cx.rootfs, cx.no_pivot)?;
        crate::rootfs::apply_propagation(spec)?;
    } else if !plan.joins(NamespaceKind::Mount) {
        // The runtime's own mount namespace: chroot into the bundle's root,
        // as runc does; nothing is mounted there (runc mounts into the
        // caller's namespace, where its mounts outlive the container).
        crate::rootfs::chroot_into(cx.rootfs)?;
    }
    crate::rootfs::write_sysctls(spec)?;
    if own_mounts {
        crate::rootfs::restrict(spec)?;
    }
    let launch = crate::launch::Launch {
        process,
        console: cx.console.as_ref(),
        seccomp: cx.seccomp,
        seccomp_listener: cx.seccomp_listener.as_ref(),
        listener_metadata: spec
            .linux()
            .seccomp
            .as_ref()
            .and_then(|p| p.listener_metadata.as_deref()),
        state_json: &state_json,
        preserve_fds: cx.preserve_fds,
        setgroups_allowed: cx.setgroups_allowed,
        as_init: spec
            .annotations
            .get(crate::launch::INIT_ANNOTATION)
            .is_some_and(|v| v == "true"),
        container_init: true,
    };
    let mut ready = launch.prepare()?;
    launch.seal(&mut ready)?;
    cx.chan.send_to_parent(&ToParent::Created)?;
    wait_for_start(
        cx,
        hooks.map(|h| h.start_container.as_slice()).unwrap_or(&[]),
        &state_json,
    );
    if !cx.undumpable_early && crate::selfexe::become_undumpable().is_err() {
        cella_sys::process::exit_now(1);
    }
    launch.exec(ready)
}

/// In a user namespace the init still has its host ids, which the namespace
/// may not map (files it creates would then fail with EOVERFLOW): become the
/// namespace's root, as runc does, when root is mapped.
fn become_namespace_root() -> Result<()> {
    for (what, r) in [
        ("setgid 0", cella_sys::process::setresgid(0)),
        ("setuid 0", cella_sys::process::setresuid(0)),
    ] {
        match r {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e).op(|| format!("{what} in the user namespace")),
        }
    }
    Ok(())
}

/// Joins namespaces by path, then creates the new ones (the user namespace
/// first, so that the runtime can map it), writes time offsets, and forks the
/// init when a PID or time namespace applies only to children.
fn enter_namespaces_slow(cx: &InitContext<'_>) -> Result<()> {
    let plan = cx.plan;
    plan.enter_joins()?;
    if plan.new & CLONE_NEWUSER != 0 {
        cella_sys::ns::unshare(CLONE_NEWUSER).op(|| "unshare the user namespace".into())?;
        cx.chan.send_to_parent(&ToParent::MapMe)?;
        cx.chan.expect_go()?;
    }
    let rest = plan.new & !CLONE_NEWUSER;
    if rest != 0 {
        cella_sys::ns::unshare(rest).op(|| format!("unshare namespaces {rest:#x}"))?;
    }
    plan.write_time_offsets()?;
    let needs_fork =
        rest & (CLONE_NEWPID | CLONE_NEWTIME) != 0 || plan.joins(NamespaceKind::Pid) || plan.joins(NamespaceKind::Time);
    if !needs_fork {
        cx.chan.send_to_parent(&ToParent::Pid(cella_sys::process::getpid()))?;
        return Ok(());
    }
    crate::channel::fork_reporting_pid(&cx.chan)
}

/// Blocks until `start` connects to the start socket (or, without one, the
/// runtime sends `Start`), runs the startContainer hooks, and answers `ok`
/// (`Started`) or the error.
fn wait_for_start(cx: &InitContext<'_>, hooks: &[cella_spec::Hook], state_json: &[u8]) {
    // Who asks: a `start` on the socket, or the runtime on the channel.
    let conn = match &cx.start_listener {
        Some(listener) => match listener.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.read(&mut [0u8; 16]);
                Some(conn)
            }
            Err(_) => cella_sys::process::exit_now(1),
        },
        None if matches!(cx.chan.recv_from_parent(), Ok(ToChild::Start)) => None,
        None => cella_sys::process::exit_now(1),
    };
    let result = crate::hooks::run_all("startContainer", hooks, state_json);
    // A `start` that went away does not stop the container; a runtime that
    // cannot hear the answer (it died) does.
    let answered = match (conn, &result) {
        (Some(mut conn), r) => {
            let reply = r.as_ref().map_or_else(|e| format!("error: {e}"), |()| "ok".into());
            let _ = conn.write_all(reply.as_bytes());
            true
        }
        (None, Ok(())) => cx.chan.send_to_parent(&ToParent::Started).is_ok(),
        (None, Err(e)) => cx.chan.send_to_parent(&ToParent::failed(e)).is_ok(),
    };
    if result.is_err() || !answered {
        cella_sys::process::exit_now(1)
    }
}
