//! The container's side of `create`, from clone3 to execve.
//!
//! Runs in the forked child (never returns). On the simple path the child was
//! born in all its new namespaces; otherwise it joins, unshares and forks the
//! real init. Every failure before `start` goes back to the runtime over the
//! channel; the process then exits.

use crate::channel::{tag, Channel};
use crate::error::{Context, Error, Result};
use crate::nsplan::NsPlan;
use cella_spec::{NamespaceKind, Spec};
use cella_sys::ns::{CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

pub struct InitContext<'a> {
    pub spec: &'a Spec,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a NsPlan,
    pub chan: Channel,
    pub start_listener: UnixListener,
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
}

/// The child's entry point.
pub fn run(cx: InitContext<'_>) -> ! {
    let err = match setup(&cx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before `start` the runtime is listening; afterwards only stderr is left.
    if cx.chan.send(tag::ERROR, err.to_string().as_bytes()).is_err() {
        let _ = writeln!(std::io::stderr(), "cella-runtime: container init: {err}");
    }
    cella_sys::process::exit_now(1)
}

enum Never {}

fn setup(cx: &InitContext<'_>) -> Result<Never> {
    cx.chan.expect(tag::GO)?;
    let plan = cx.plan;
    if !plan.is_simple() {
        enter_namespaces_slow(cx)?;
    } else if plan.creates(NamespaceKind::Cgroup) {
        // Made now, after the runtime put us in our cgroup, so that it is the root.
        cella_sys::ns::unshare(CLONE_NEWCGROUP).op(|| "unshare the cgroup namespace".into())?;
    }
    let spec = cx.spec;
    let process = spec.process.as_ref().expect("validated");
    let in_userns = plan.creates(NamespaceKind::User) || plan.joins(NamespaceKind::User);
    if in_userns {
        become_namespace_root()?;
    }
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
    // Devices and mode bits are created exactly as configured.
    cella_sys::process::umask(0);
    let rcx = crate::rootfs::RootfsContext {
        spec,
        rootfs: cx.rootfs,
        bundle: cx.bundle,
        in_userns,
        new_cgroupns: plan.creates(NamespaceKind::Cgroup),
        cgroup_layout: cx.cgroup_layout,
        cgroup: cx.cgroup,
    };
    let root = crate::rootfs::prepare(&rcx)?;

    let hooks = spec.hooks.as_ref();
    let wants_state = cx.seccomp_listener.is_some()
        || hooks.is_some_and(|h| {
            !(h.prestart.is_empty()
                && h.create_runtime.is_empty()
                && h.create_container.is_empty()
                && h.start_container.is_empty())
        });
    let state_json = if wants_state {
        cx.chan.send(tag::HOOKS, &[])?;
        cx.chan.expect(tag::HOOKS_DONE)?
    } else {
        Vec::new()
    };
    if let Some(h) = hooks {
        // In the container's namespaces, before pivot_root (paths are the runtime's).
        crate::hooks::run_all("createContainer", &h.create_container, &state_json)?;
    }
    crate::rootfs::enter(root, cx.rootfs, cx.no_pivot)?;
    crate::rootfs::finish(spec)?;
    if process.terminal {
        let sock = cx
            .console
            .as_ref()
            .ok_or_else(|| Error::Usage("terminal without a console socket".into()))?;
        crate::console::setup_in_container(sock, process.console_size)?;
    }
    crate::process::apply_rlimits(process)?;
    let caps = crate::process::cap_masks(process.capabilities.as_ref(), cella_sys::caps::kernel_knows);
    for name in &caps.unknown {
        crate::log::warn(&format!(
            "capability {name:?} is not known to this kernel or to cella; skipped"
        ));
    }
    if process.no_new_privileges {
        cella_sys::process::set_no_new_privs().op(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
    } else if let Some(f) = cx.seccomp {
        // Without no_new_privs, loading needs CAP_SYS_ADMIN: before dropping it.
        load_seccomp(cx, f, &state_json)?;
    }
    crate::process::apply_credentials(process, &caps, cx.setgroups_allowed)?;
    cella_sys::process::umask(process.user.umask.unwrap_or(0o022));
    let cwd = Path::new(&process.cwd);
    cella_sys::process::chdir(cwd).at("chdir to process.cwd", cwd)?;
    // A cwd reached through a leaked host fd would be outside our root
    // (CVE-2024-21626): getcwd then fails instead of naming a path.
    cella_sys::fd::getcwd().op(|| format!("process.cwd {} is outside the container root", process.cwd))?;
    let exe = crate::process::find_executable(&process.args[0], &process.env)?;
    let exe = std::ffi::CString::new(exe.as_os_str().as_encoded_bytes()).expect("path has no NUL");
    let argv = crate::process::c_strings(&process.args, "process.args")?;
    let envp = crate::process::c_strings(&process.env, "process.env")?;

    cx.chan.send(tag::CREATED, &[])?;
    wait_for_start(
        cx,
        hooks.map(|h| h.start_container.as_slice()).unwrap_or(&[]),
        &state_json,
    );

    // Only the preserved fds (3 .. 3+N) survive exec; everything else of ours,
    // and anything the caller leaked, is closed on exec.
    for fd in 3..3 + cx.preserve_fds as i32 {
        let _ = cella_sys::fd::set_cloexec(fd, false);
    }
    if let Err(e) = crate::lsm::apply_exec_labels(process.apparmor_profile.as_deref(), process.selinux_label.as_deref())
    {
        let _ = writeln!(std::io::stderr(), "cella-runtime: {e}");
        cella_sys::process::exit_now(1);
    }
    let _ = cella_sys::fd::cloexec_from(3 + cx.preserve_fds);
    cella_sys::process::reset_signals();
    if let (true, Some(f)) = (process.no_new_privileges, cx.seccomp) {
        // As late as possible: nothing of ours runs under the filter but execve.
        if let Err(e) = load_seccomp(cx, f, &state_json) {
            let _ = writeln!(std::io::stderr(), "cella-runtime: {e}");
            cella_sys::process::exit_now(1);
        }
    }
    let err = cella_sys::fd::execve(&exe, &argv, &envp);
    let _ = writeln!(std::io::stderr(), "cella-runtime: exec {:?}: {err}", process.args[0]);
    cella_sys::process::exit_now(127)
}

/// Loads the filter; with SCMP_ACT_NOTIFY sends the notify fd and the
/// container process state (OCI `containerProcessState`) to the listener.
fn load_seccomp(cx: &InitContext<'_>, f: &cella_seccomp::Filter, state_json: &[u8]) -> Result<()> {
    f.load().map_err(|e| Error::Config(e.to_string()))?;
    let Some(sock) = &cx.seccomp_listener else {
        return Ok(());
    };
    let fd = f.notify_fd().map_err(|e| Error::Config(e.to_string()))?;
    let mut state: serde_json::Value = serde_json::from_slice(state_json).unwrap_or_default();
    state["status"] = "running".into();
    let profile = cx.spec.linux().seccomp.as_ref().expect("a listener implies a profile");
    let msg = serde_json::json!({
        "ociVersion": cella_spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state["pid"].clone(),
        "metadata": profile.listener_metadata.clone().unwrap_or_default(),
        "state": state,
    });
    use std::os::fd::AsFd;
    cella_sys::fd::send_with_fd(sock.as_fd(), msg.to_string().as_bytes(), Some(fd))
        .op(|| "send the seccomp notify fd to listenerPath".into())?;
    cella_sys::fd::close_raw(fd);
    Ok(())
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
        cx.chan.send(tag::MAP_ME, &[])?;
        cx.chan.expect(tag::GO)?;
    }
    let rest = plan.new & !CLONE_NEWUSER;
    if rest != 0 {
        cella_sys::ns::unshare(rest).op(|| format!("unshare namespaces {rest:#x}"))?;
    }
    plan.write_time_offsets()?;
    let needs_fork =
        rest & (CLONE_NEWPID | CLONE_NEWTIME) != 0 || plan.joins(NamespaceKind::Pid) || plan.joins(NamespaceKind::Time);
    if !needs_fork {
        cx.chan.send(tag::PID, &cella_sys::process::getpid().to_ne_bytes())?;
        return Ok(());
    }
    match cella_sys::ns::fork().op(|| "fork the container init".into())? {
        cella_sys::ns::Forked::Child => Ok(()),
        cella_sys::ns::Forked::Parent(pid) => {
            let code = if cx.chan.send(tag::PID, &pid.to_ne_bytes()).is_ok() {
                0
            } else {
                1
            };
            cella_sys::process::exit_now(code)
        }
    }
}

/// Blocks until `start` connects to the start socket, runs the
/// startContainer hooks, and answers `ok` or the error.
fn wait_for_start(cx: &InitContext<'_>, hooks: &[cella_spec::Hook], state_json: &[u8]) {
    let (mut conn, _) = match cx.start_listener.accept() {
        Ok(c) => c,
        Err(_) => cella_sys::process::exit_now(1),
    };
    let mut buf = [0u8; 16];
    let _ = conn.read(&mut buf);
    let result = crate::hooks::run_all("startContainer", hooks, state_json);
    match result {
        Ok(()) => {
            let _ = conn.write_all(b"ok");
        }
        Err(e) => {
            let _ = conn.write_all(format!("error: {e}").as_bytes());
            cella_sys::process::exit_now(1)
        }
    }
}
