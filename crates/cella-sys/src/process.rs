//! Process attributes: credentials, prctl, rlimits, signals, waiting, ttys.

use crate::{check_int, cpath};
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The entries of /etc/passwd as (uid, name, home); the one table every
/// uid → name or home lookup reads.
fn passwd() -> Vec<(u32, String, std::path::PathBuf)> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let uid = f.get(2)?.parse().ok()?;
            Some((uid, f.first()?.to_string(), f.get(5).unwrap_or(&"").into()))
        })
        .collect()
}

/// uid → name from /etc/passwd; the first entry of a uid wins, as getpwuid.
pub fn user_names() -> std::collections::BTreeMap<u32, String> {
    let mut names = std::collections::BTreeMap::new();
    for (uid, name, _) in passwd() {
        names.entry(uid).or_insert(name);
    }
    names
}

/// The name /etc/passwd gives a uid (the number itself when it has none).
pub fn user_name(uid: u32) -> String {
    user_names().remove(&uid).unwrap_or_else(|| uid.to_string())
}

/// The home directory /etc/passwd gives a uid.
pub fn home_of(uid: u32) -> Option<std::path::PathBuf> {
    passwd()
        .into_iter()
        .find(|(u, _, _)| *u == uid)
        .map(|(_, _, home)| home)
}

/// Whether this process is in a user namespace other than the initial one
/// (its uid_map is not the identity over every id).
pub fn in_user_namespace() -> bool {
    crate::fd::read_generated_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// The effective uid as the parent user namespace sees it (through
/// /proc/self/uid_map): what a socket's peer credentials show a service
/// outside, such as the user's own uid for rootless podman's uid 0.
pub fn geteuid_outside() -> u32 {
    let euid = geteuid();
    let Ok(map) = crate::fd::read_generated_string("/proc/self/uid_map") else {
        return euid;
    };
    for line in map.lines() {
        let f: Vec<u64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        if let [inner, outer, count] = f[..] {
            let e = u64::from(euid);
            if e >= inner && e < inner + count {
                return (outer + e - inner) as u32;
            }
        }
    }
    euid
}

pub fn getgid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}

/// `kill(2)` of one process; signal 0 checks for existence. A PID of 0 or
/// less (the caller's process group, every process, a group) is refused
/// with EINVAL: a PID read from a record or a message that came out as
/// 0 or -1 must never signal more than the one process meant.
pub fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: integer arguments.
    check_int(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

fn decode(status: i32) -> Option<Exit> {
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// Waits for `pid` (-1: any child) to end; returns its PID and how it ended.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<(libc::pid_t, Exit)>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        if let Some(exit) = decode(status) {
            return Ok(Some((r, exit)));
        }
    }
}

/// `_exit(2)`: ends a forked child without running the parent's destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// The child gets `sig` when the parent dies.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) }).map(drop)
}

pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

pub fn set_dumpable(on: bool) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0, 0, 0) }).map(drop)
}

pub fn set_keepcaps(on: bool) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) }).map(drop)
}

pub fn set_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `buf` is a NUL-terminated 16-byte buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr(), 0, 0, 0) };
}

pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is valid for the call.
    check_int(unsafe { libc::setrlimit(resource as _, &lim) }).map(drop)
}

pub fn getrlimit(resource: u32) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    check_int(unsafe { libc::getrlimit(resource as _, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: pointer and length describe `gids`.
    check_int(unsafe { libc::setgroups(gids.len(), gids.as_ptr()) }).map(drop)
}

pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: integer arguments.
    check_int(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

pub fn umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) };
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    check_int(unsafe { libc::setsid() }).map(drop)
}

pub fn chdir(path: &Path) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::chdir(c.as_ptr()) }).map(drop)
}

/// Makes the tty on `fd` the controlling terminal of this session.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check_int(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// Opens a new pty pair from `ptmx` (a /dev/ptmx path): the master fd and the slave's path.
pub fn open_pty(ptmx: &Path) -> io::Result<(std::os::fd::OwnedFd, String)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let c = cpath(ptmx)?;
    // SAFETY: valid C string.
    let raw = check_int(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: new descriptor from the kernel.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: integer argument on an open pty master.
    check_int(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is writable for its length.
    let r = unsafe { libc::ptsname_r(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok((master, String::from_utf8_lossy(&buf[..end]).into_owned()))
}

/// The slave end of the pty whose master is `master`, opened through the
/// master itself (`TIOCGPTPEER`): no path lookup that a planted symlink
/// could redirect.
pub fn open_pty_peer(master: std::os::fd::BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: the ioctl takes open(2) flags as its integer argument.
    let raw = check_int(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER as _,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: new descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The terminal attributes of `fd`, to put back later.
pub type Termios = libc::termios;

/// Puts the terminal on `fd` in raw mode; returns the old attributes.
pub fn make_raw(fd: RawFd) -> io::Result<Termios> {
    // SAFETY: zeroed termios is valid; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    check_int(unsafe { libc::tcgetattr(fd, &mut t) })?;
    let old = t;
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: valid termios pointer.
    check_int(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) })?;
    Ok(old)
}

/// Stops the terminal on `fd` echoing what is typed (a password prompt);
/// returns the old attributes.
pub fn echo_off(fd: RawFd) -> io::Result<Termios> {
    // SAFETY: zeroed termios is valid; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    check_int(unsafe { libc::tcgetattr(fd, &mut t) })?;
    let old = t;
    t.c_lflag &= !libc::ECHO;
    // SAFETY: valid termios pointer.
    check_int(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) })?;
    Ok(old)
}

pub fn restore_termios(fd: RawFd, t: &Termios) {
    // SAFETY: valid termios pointer.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) };
}

/// Copies the window size of terminal `from` to terminal `to`.
pub fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: zeroed winsize is valid; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer / in-pointer for the ioctls.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: integer argument.
    unsafe { libc::isatty(fd) == 1 }
}

/// Blocks `sigs` in this thread and returns a signalfd that reports them.
pub fn signalfd_for(sigs: &[i32]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: zeroed sigset is valid; sigemptyset/sigaddset initialise it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset; the calls only modify it / the mask.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        check_int(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
    }
    // SAFETY: `set` is valid; a new fd is returned.
    let fd = check_int(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) })?;
    // SAFETY: new descriptor from the kernel.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Reads one signal number from a signalfd.
pub fn read_signal(fd: RawFd) -> io::Result<i32> {
    // SAFETY: zeroed siginfo is valid; read fills it.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let n = crate::fd::read_raw(fd, {
        // SAFETY: viewing the POD struct as bytes for read(2).
        unsafe {
            std::slice::from_raw_parts_mut(
                (&mut info as *mut libc::signalfd_siginfo).cast::<u8>(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        }
    })?;
    if n != std::mem::size_of::<libc::signalfd_siginfo>() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short signalfd read"));
    }
    Ok(info.ssi_signo as i32)
}

/// Unblocks every signal and resets handlers to default (before exec).
pub fn reset_signals() {
    // SAFETY: an empty set unblocks everything; signal() with SIG_DFL is
    // valid for every catchable signal (errors for others are ignored).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for s in 1..32 {
            if s != libc::SIGKILL && s != libc::SIGSTOP {
                libc::signal(s, libc::SIG_DFL);
            }
        }
    }
}

/// Joins a new anonymous session keyring named `name` (KEYCTL_JOIN_SESSION_KEYRING).
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let c = crate::cstr(name)?;
    // SAFETY: valid C string; integer command.
    crate::check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) }).map(drop)
}

/// Sets a terminal's window size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid winsize pointer for TIOCSWINSZ.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// A terminal's window size as (rows, columns), if `fd` is a terminal.
pub fn get_winsize(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: all-zero bytes are a valid winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: valid winsize pointer for TIOCGWINSZ.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_row, ws.ws_col))
}

/// SIGPIPE's disposition: the default (end the process, as command-line
/// tools do when a pipe reader goes away) or ignored (writes fail with EPIPE).
pub fn set_sigpipe(default: bool) {
    let how = if default { libc::SIG_DFL } else { libc::SIG_IGN };
    // SAFETY: SIG_DFL and SIG_IGN are valid dispositions; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, how) };
}

/// `struct sched_attr` of sched_setattr(2) (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// `sched_setattr(0, attr, 0)`: this thread's scheduling policy and attributes.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a valid sched_attr whose size field says its length.
    crate::check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) }).map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)`.
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let prio = (class << 13) | (level & 0x1fff);
    // SAFETY: integer arguments.
    crate::check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) }).map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kill_signals_one_process_only() {
        for pid in [0, -1, -2] {
            let e = super::kill(pid, 0).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{pid}");
        }
        super::kill(std::process::id() as i32, 0).unwrap();
    }
}
