//! Terminals: the container side creates a pty and sends its master over the
//! console socket (SCM_RIGHTS), as runc does; `run` in the foreground can
//! receive it itself and copy between the pty and its own terminal.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where the pty master of a terminal container goes.
pub enum ConsoleTarget {
    None,
    /// Sent over this Unix socket (`--console-socket`).
    Socket(PathBuf),
    /// Kept by the caller (`run` in the foreground proxies it).
    Caller,
}

/// In the container (after pivot_root): opens a pty from /dev/ptmx, sends
/// the master over `socket`, makes the slave the controlling terminal and
/// stdio, and (for the container's init, `bind_console`) binds it over
/// /dev/console.
///
/// Nothing here trusts a path another process of the container could have
/// changed (CVE-2025-52565): the master must be the ptmx device, the slave
/// is opened through the master (TIOCGPTPEER), and the bind mount's source
/// is that open slave and its target a /dev/console made fresh in /dev,
/// reached without following any symlink.
pub fn setup_in_container(socket: &OwnedFd, size: Option<cella_spec::ConsoleSize>, bind_console: bool) -> Result<()> {
    let ptmx = Path::new("/dev/ptmx");
    let (master, slave_path) = cella_sys::process::open_pty(ptmx).op(|| "open a pty from /dev/ptmx".into())?;
    let st = cella_sys::fd::fstat(master.as_fd()).at("stat", ptmx)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != cella_sys::fd::makedev(5, 2) {
        return Err(Error::Config(
            "/dev/ptmx in the container is not the pty multiplexer (5:2): refusing it".into(),
        ));
    }
    let slave = match cella_sys::process::open_pty_peer(master.as_fd()) {
        Ok(fd) => fd,
        // Kernels before 4.13: by name, checked to be a pty slave.
        Err(_) => {
            let fd = cella_sys::fd::open(Path::new(&slave_path), libc::O_RDWR | libc::O_NOCTTY, 0)
                .at("open pty slave", Path::new(&slave_path))?;
            let st = cella_sys::fd::fstat(fd.as_fd()).at("stat", Path::new(&slave_path))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || !(136..=143).contains(&libc::major(st.st_rdev)) {
                return Err(Error::Config(format!("{slave_path} is not a pty slave: refusing it")));
            }
            fd
        }
    };
    if let Some(sz) = size {
        set_size(slave.as_raw_fd(), sz.height as u16, sz.width as u16);
    }
    if bind_console {
        bind_dev_console(&slave)?;
    }
    cella_sys::socket::send_with_fd(socket.as_fd(), slave_path.as_bytes(), Some(master.as_raw_fd()))
        .op(|| "send the pty master over the console socket".into())?;
    drop(master);
    cella_sys::process::setsid().op(|| "setsid".into())?;
    cella_sys::process::set_controlling_tty(slave.as_raw_fd()).op(|| "make the pty the controlling terminal".into())?;
    for fd in 0..3 {
        cella_sys::fd::dup_to(slave.as_raw_fd(), fd).op(|| format!("dup the pty onto fd {fd}"))?;
    }
    Ok(())
}

/// Binds the open pty `slave` over a /dev/console made fresh: whatever was
/// there (a symlink to a /proc file, say) is removed, not followed.
fn bind_dev_console(slave: &OwnedFd) -> Result<()> {
    use cella_sys::fd::{RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};
    let dev = Path::new("/dev");
    let root = cella_sys::fd::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).at("open", Path::new("/"))?;
    let dir = cella_sys::fd::openat2(
        root.as_fd(),
        Path::new("dev"),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    )
    .at("open (not through a symlink)", dev)?;
    let name = Path::new("console");
    let console = Path::new("/dev/console");
    match cella_sys::fd::unlinkat(dir.as_fd(), name, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at("remove", console),
    }
    let target = cella_sys::fd::openat(
        dir.as_fd(),
        name,
        libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY | libc::O_NOFOLLOW,
        0o600,
    )
    .at("create", console)?;
    let source = PathBuf::from(format!("/proc/self/fd/{}", slave.as_raw_fd()));
    cella_sys::mount::mount(
        Some(&source),
        &cella_sys::mount::Target::Fd(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
    .at("bind the pty over", console)
}

fn set_size(fd: RawFd, rows: u16, cols: u16) {
    cella_sys::process::set_winsize(fd, rows, cols);
}

/// Receives the pty master on the runtime's end of a console socket pair.
pub fn receive_master(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let (_, fd) = cella_sys::socket::recv_with_fd(sock.as_fd(), &mut buf).op(|| "receive the pty master".into())?;
    fd.ok_or_else(|| Error::Init("the container sent no pty master".into()))
}

/// Copies stdin to the pty and the pty to stdout until the pty closes, with
/// the local terminal in raw mode and window size changes passed on.
/// `signals` is a signalfd; `on_signal` handles every signal but SIGWINCH.
pub fn proxy(master: &OwnedFd, signals: &OwnedFd, mut on_signal: impl FnMut(i32)) -> Result<()> {
    let m = master.as_raw_fd();
    let tty = cella_sys::process::isatty(0);
    let saved = if tty {
        cella_sys::process::make_raw(0).ok()
    } else {
        None
    };
    if tty {
        cella_sys::process::copy_winsize(0, m);
    }
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let result = loop {
        let mut fds = vec![m, signals.as_raw_fd()];
        if stdin_open {
            fds.push(0);
        }
        let ready = match cella_sys::poll::poll_many(&fds, -1) {
            Ok(r) => r,
            Err(e) => break Err(e).op(|| "poll".into()),
        };
        if ready[1] {
            if let Ok(sig) = cella_sys::process::read_signal(signals.as_raw_fd()) {
                if sig == libc::SIGWINCH && tty {
                    cella_sys::process::copy_winsize(0, m);
                } else {
                    on_signal(sig);
                }
            }
        }
        if ready[0] {
            match cella_sys::fd::read_raw(m, &mut buf) {
                Ok(0) | Err(_) => break Ok(()),
                Ok(n) => {
                    let _ = cella_sys::fd::write_all_raw(1, &buf[..n]);
                }
            }
        }
        if stdin_open && ready[2] {
            match cella_sys::fd::read_raw(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = cella_sys::fd::write_all_raw(m, &buf[..n]);
                }
            }
        }
    };
    if let Some(t) = saved {
        cella_sys::process::restore_termios(0, &t);
    }
    result
}
