//! The last steps before execve, shared by the container's init and by
//! `exec`: terminal, rlimits, no_new_privs, seccomp, credentials and
//! capabilities, cwd, labels, the close-on-exec sweep.

use crate::console::ConsoleTarget;
use crate::error::{Context, Error, Result};
use cella_spec::seccomp::Seccomp;
use cella_spec::Process;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub struct Launch<'a> {
    pub process: &'a Process,
    /// The console socket, when process.terminal.
    pub console: Option<&'a OwnedFd>,
    /// Compiled by the runtime before forking; loaded here.
    pub seccomp: Option<&'a cella_seccomp::Filter>,
    /// Connected to linux.seccomp.listenerPath when the profile notifies.
    pub seccomp_listener: Option<&'a OwnedFd>,
    pub listener_metadata: Option<&'a str>,
    /// The OCI state, for the seccomp listener.
    pub state_json: &'a [u8],
    pub preserve_fds: u32,
    pub setgroups_allowed: bool,
    /// Stay as a minimal init (PID 1 that reaps and forwards signals) and
    /// run the process as its child: the annotation `run.cella.init=true`
    /// (what `cella run --init` sets). Only for the container's init.
    pub as_init: bool,
    /// The container's own init (not an `exec`): its terminal is bound over
    /// /dev/console, as runc does.
    pub container_init: bool,
}

/// The annotation that asks for the built-in init.
pub const INIT_ANNOTATION: &str = "run.cella.init";

use crate::supervise::FORWARDED;

/// Compiles the seccomp profile (in the runtime, once; the forked process only
/// loads it) and, for SCMP_ACT_NOTIFY, connects to listenerPath now: it is a
/// host path, out of reach once the process has entered the container.
pub fn prepare_seccomp(profile: Option<&Seccomp>) -> Result<(Option<cella_seccomp::Filter>, Option<OwnedFd>)> {
    let Some(profile) = profile else {
        return Ok((None, None));
    };
    let filter = cella_seccomp::compile(profile).map_err(|e| Error::Config(e.to_string()))?;
    for name in &filter.unknown_syscalls {
        crate::log::warn(&format!(
            "linux.seccomp: syscall {name:?} is unknown to libseccomp; its rule is skipped"
        ));
    }
    let listener = match profile.listener_path.as_deref() {
        Some(path) if filter.notifies => Some(
            UnixStream::connect(path)
                .at("connect to the seccomp listener (listenerPath)", Path::new(path))?
                .into(),
        ),
        _ => None,
    };
    Ok((Some(filter), listener))
}

/// The console socket the process sends its pty master over, and the end the
/// runtime keeps when it receives the master itself (`ConsoleTarget::Caller`).
pub fn console_sockets(target: &ConsoleTarget, terminal: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    Ok(match target {
        _ if !terminal => (None, None),
        ConsoleTarget::Socket(p) => (
            Some(UnixStream::connect(p).at("connect to console socket", p)?.into()),
            None,
        ),
        ConsoleTarget::Caller => {
            let (a, b) = cella_sys::socket::seqpacket_pair().op(|| "socketpair".into())?;
            (Some(a), Some(b))
        }
        ConsoleTarget::None => (None, None),
    })
}

/// Everything execve needs, resolved before the point of no return.
pub struct Ready {
    exe: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// For the LSM labels, opened while we may still mount.
    procfs: Option<crate::procfs::Procfs>,
    /// The capability sets still to take once the seccomp filter is loaded
    /// (without no_new_privs, loading needs CAP_SYS_ADMIN until then).
    caps_after_filter: Option<crate::process::CapMasks>,
}

const CAP_SYS_ADMIN: u64 = 1 << 21;

impl Launch<'_> {
    /// Sets up the process up to (not including) `seal`: terminal, rlimits,
    /// scheduling, credentials, cwd, the executable. Errors here can still
    /// be reported to the runtime.
    pub fn prepare(&self) -> Result<Ready> {
        let process = self.process;
        if process.terminal {
            let sock = self
                .console
                .ok_or_else(|| Error::Usage("terminal without a console socket".into()))?;
            crate::console::setup_in_container(sock, process.console_size, self.container_init)?;
        }
        crate::process::apply_rlimits(process)?;
        crate::sched::apply(process)?;
        let mut caps = crate::process::cap_masks(process.capabilities.as_ref(), cella_sys::caps::kernel_knows);
        for name in &caps.unknown {
            crate::log::warn(&format!(
                "capability {name:?} is not known to this kernel or to cella; skipped"
            ));
        }
        for name in caps.drop_unraisable_ambient() {
            crate::log::warn(&format!(
                "ambient capability {name} is not both inheritable and permitted; the kernel refuses it, so it is skipped"
            ));
        }
        if process.no_new_privileges {
            cella_sys::process::set_no_new_privs().op(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
        }
        let labels = crate::lsm::wants_labels(process.apparmor_profile.as_deref(), process.selinux_label.as_deref());
        let procfs = if labels {
            Some(crate::procfs::Procfs::open()?)
        } else {
            None
        };
        // Without no_new_privs the filter can only be loaded with
        // CAP_SYS_ADMIN: it stays effective until then.
        let defer = self.seccomp.is_some() && !process.no_new_privileges;
        let keep = if defer { CAP_SYS_ADMIN } else { 0 };
        crate::process::apply_credentials(process, &caps, self.setgroups_allowed, keep)?;
        cella_sys::process::umask(process.user.umask.unwrap_or(0o022));
        let cwd = Path::new(&process.cwd);
        cella_sys::process::chdir(cwd).at("chdir to process.cwd", cwd)?;
        // A cwd reached through a leaked host fd would be outside our root
        // (CVE-2024-21626): getcwd then fails instead of naming a path.
        cella_sys::exec::getcwd().op(|| format!("process.cwd {} is outside the container root", process.cwd))?;
        let exe = crate::process::find_executable(&process.args[0], &process.env)?;
        Ok(Ready {
            exe: CString::new(exe.as_os_str().as_encoded_bytes()).expect("path has no NUL"),
            argv: crate::process::c_strings(&process.args, "process.args")?,
            envp: crate::process::c_strings(&process.env, "process.env")?,
            procfs,
            caps_after_filter: defer.then_some(caps),
        })
    }

    /// The last steps that can still be reported: exec labels, the
    /// close-on-exec sweep, then the seccomp filter (for SCMP_ACT_NOTIFY,
    /// its fd goes to the listener now, at create, as runc does) and, when
    /// loading it needed CAP_SYS_ADMIN, the process's own capabilities. Only
    /// what waiting for `start` and execve need runs under the filter, so a
    /// profile may deny anything the runtime's setup uses (getcwd, say).
    pub fn seal(&self, r: &mut Ready) -> Result<()> {
        let process = self.process;
        crate::lsm::apply_exec_labels(
            r.procfs.as_ref(),
            process.apparmor_profile.as_deref(),
            process.selinux_label.as_deref(),
        )?;
        // Only the preserved fds (3 .. 3+N) survive exec; everything else of
        // ours, and anything the caller leaked, is closed on exec.
        for fd in 3..3 + self.preserve_fds as i32 {
            let _ = cella_sys::fd::set_cloexec(fd, false);
        }
        let _ = cella_sys::fd::cloexec_from(3 + self.preserve_fds);
        if let Some(f) = self.seccomp {
            self.load_seccomp(f)?;
        }
        if let Some(caps) = r.caps_after_filter.take() {
            crate::process::set_capabilities(&caps)?;
        }
        Ok(())
    }

    /// The point of no return: signals reset, execve (or the built-in init).
    /// Failures go to stderr (the process's own) and end the process.
    pub fn exec(&self, r: Ready) -> ! {
        let process = self.process;
        cella_sys::process::reset_signals();
        if self.as_init {
            init_then_exec(&r, &process.args[0]);
        }
        let err = cella_sys::exec::execve(&r.exe, &r.argv, &r.envp);
        let _ = writeln!(std::io::stderr(), "cella-runtime: exec {:?}: {err}", process.args[0]);
        cella_sys::process::exit_now(127)
    }

    /// Loads the filter; with SCMP_ACT_NOTIFY sends the notify fd and the
    /// container process state (OCI `containerProcessState`) to the listener.
    fn load_seccomp(&self, f: &cella_seccomp::Filter) -> Result<()> {
        f.load().map_err(|e| Error::Config(e.to_string()))?;
        let Some(sock) = self.seccomp_listener else {
            return Ok(());
        };
        let fd = f.notify_fd().map_err(|e| Error::Config(e.to_string()))?;
        let mut state: serde_json::Value = serde_json::from_slice(self.state_json).unwrap_or_default();
        // At create for the init (runc's order), at exec for an exec'd process.
        state["status"] = if self.container_init { "creating" } else { "running" }.into();
        let msg = serde_json::json!({
            "ociVersion": cella_spec::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": state["pid"].clone(),
            "metadata": self.listener_metadata.unwrap_or_default(),
            "state": state,
        });
        cella_sys::socket::send_with_fd(sock.as_fd(), msg.to_string().as_bytes(), Some(fd))
            .op(|| "send the seccomp notify fd to listenerPath".into())?;
        cella_sys::fd::close_raw(fd);
        Ok(())
    }
}

/// The built-in init: the process runs as our child; we stay PID 1, with
/// its credentials, capabilities and seccomp filter, holding no descriptor
/// but 0-2, passing signals on and reaping every orphan, and end with the
/// process's status (128 + N when a signal ended it).
fn init_then_exec(r: &Ready, name: &str) {
    let Ok(sigfd) = cella_sys::process::signalfd_for(&[&FORWARDED[..], &[libc::SIGCHLD]].concat()) else {
        return; // no init then: the process runs as PID 1 itself
    };
    let child = match cella_sys::ns::fork() {
        Ok(cella_sys::ns::Forked::Child) => {
            cella_sys::process::reset_signals();
            let err = cella_sys::exec::execve(&r.exe, &r.argv, &r.envp);
            let _ = writeln!(std::io::stderr(), "cella-runtime: exec {name:?}: {err}");
            cella_sys::process::exit_now(127)
        }
        Ok(cella_sys::ns::Forked::Parent(pid)) => pid,
        Err(_) => return,
    };
    let keep = std::os::fd::AsRawFd::as_raw_fd(&sigfd);
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|&fd| fd > 2 && fd != keep) {
        cella_sys::fd::close_raw(fd);
    }
    cella_sys::process::set_name("cella-init");
    loop {
        let Ok(sig) = cella_sys::process::read_signal(keep) else {
            continue;
        };
        if sig != libc::SIGCHLD {
            let _ = cella_sys::process::kill(child, sig);
            continue;
        }
        while let Ok(Some((who, how))) = cella_sys::process::waitpid(-1, true) {
            if who == child {
                cella_sys::process::exit_now(how.shell_code());
            }
        }
    }
}
