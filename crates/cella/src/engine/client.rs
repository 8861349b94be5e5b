//! The attach client: the terminal (or pipes) of `cella run`, `start -a`
//! and `attach`, connected to the container's monitor. With a terminal,
//! ctrl-p ctrl-q detaches and leaves the container running.

use anyhow::{Context, Result};
use cella_engine::attach::{self, read_frame, write_frame};
use cella_engine::container::Container;
use cella_engine::paths::Paths;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

/// Puts the terminal back however the client ends.
struct RawMode(cella_sys::process::Termios);

impl Drop for RawMode {
    fn drop(&mut self) {
        cella_sys::process::restore_termios(0, &self.0);
    }
}

fn send_size(w: &Mutex<UnixStream>) {
    if let Some((rows, cols)) = cella_sys::process::get_winsize(0) {
        if let Ok(mut s) = w.lock() {
            let _ = write_frame(&mut *s, attach::RESIZE, format!("{rows} {cols}").as_bytes());
        }
    }
}

/// Copies stdin to the container; with a terminal, watches for ctrl-p ctrl-q.
fn pump_stdin(w: Arc<Mutex<UnixStream>>, detached: Arc<AtomicBool>, watch_keys: bool) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    let mut held_p = false;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => {
                if let Ok(mut s) = w.lock() {
                    let _ = write_frame(&mut *s, attach::STDIN_EOF, b"");
                }
                return;
            }
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n + 1);
        for &b in &buf[..n] {
            if watch_keys && held_p {
                held_p = false;
                if b == CTRL_Q {
                    detached.store(true, Ordering::SeqCst);
                    if let Ok(s) = w.lock() {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                    return;
                }
                out.push(CTRL_P);
            }
            if watch_keys && b == CTRL_P {
                held_p = true;
                continue;
            }
            out.push(b);
        }
        if !out.is_empty() {
            let Ok(mut s) = w.lock() else { return };
            if write_frame(&mut *s, attach::STDIN, &out).is_err() {
                return;
            }
        }
    }
}

/// Attaches until the container exits (its exit code) or the user detaches (0).
pub fn attach(paths: &Paths, c: &Container, interactive: bool, tty: bool, proxy_signals: bool) -> Result<i32> {
    let dir = c.dir(paths);
    let dir_fd = std::fs::File::open(&dir).with_context(|| format!("open {}", dir.display()))?;
    let mut stream = UnixStream::connect(attach::short_path(&dir_fd, cella_engine::container::ATTACH))
        .with_context(|| format!("connect to the monitor of {} (is it running?)", c.name))?;
    // Before any thread: the signals are blocked in all of them.
    let sigfd = cella_sys::process::signalfd_for(&[libc::SIGWINCH, libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
    let on_terminal = tty && cella_sys::process::isatty(0);
    let _raw = if on_terminal && interactive {
        cella_sys::process::make_raw(0).ok().map(RawMode)
    } else {
        None
    };
    let writer = Arc::new(Mutex::new(stream.try_clone()?));
    if on_terminal {
        send_size(&writer);
    }
    let detached = Arc::new(AtomicBool::new(false));
    if interactive {
        let (w, d) = (writer.clone(), detached.clone());
        std::thread::spawn(move || pump_stdin(w, d, tty));
    }
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    loop {
        let ready = cella_sys::fd::poll_many(&[stream.as_raw_fd(), sigfd.as_raw_fd()], -1)?;
        if ready[1] {
            let sig = cella_sys::process::read_signal(sigfd.as_raw_fd())?;
            if sig == libc::SIGWINCH {
                send_size(&writer);
            } else if proxy_signals {
                let _ = cella_runtime::lifecycle::kill(&paths.runroot, &c.id, sig, false);
            }
        }
        if !ready[0] {
            continue;
        }
        match read_frame(&mut stream) {
            Ok(Some((attach::STDOUT, data))) => {
                out.write_all(&data)?;
                out.flush()?;
            }
            Ok(Some((attach::STDERR, data))) => {
                err.write_all(&data)?;
            }
            Ok(Some((attach::EXIT, data))) => {
                return Ok(String::from_utf8_lossy(&data).trim().parse().unwrap_or(255));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                // The monitor went without a word: what it recorded, if anything.
                let after = cella_engine::ops::wait_exited(paths, &c.id, Some(std::time::Duration::from_secs(5)));
                return Ok(after.map(|c| c.state.exit_code).unwrap_or(255));
            }
        }
    }
}
