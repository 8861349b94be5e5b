//! The attach client: the terminal (or pipes) of `cella run`, `start -a`
//! and `attach`, connected to the container's monitor. With a terminal,
//! ctrl-p ctrl-q detaches and leaves the container running.

use anyhow::Result;
use cella_engine::{Container, Engine, Frame};
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
            let _ = Frame::Resize { rows, cols }.write(&mut *s);
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
                    let _ = Frame::StdinEof.write(&mut *s);
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
            if Frame::Stdin(out).write(&mut *s).is_err() {
                return;
            }
        }
    }
}

/// Attaches until the container exits (its exit code) or the user detaches (0).
pub fn attach(e: &Engine, c: &Container, interactive: bool, tty: bool, proxy_signals: bool) -> Result<i32> {
    let mut stream = e.attach(c)?;
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
        let ready = cella_sys::poll::poll_many(&[stream.as_raw_fd(), sigfd.as_raw_fd()], -1)?;
        if ready[1] {
            let sig = cella_sys::process::read_signal(sigfd.as_raw_fd())?;
            if sig == libc::SIGWINCH {
                send_size(&writer);
            } else if proxy_signals {
                e.forward_signal(c, sig);
            }
        }
        if !ready[0] {
            continue;
        }
        match Frame::read(&mut stream) {
            Ok(Some(Frame::Stdout(data))) => {
                out.write_all(&data)?;
                out.flush()?;
            }
            Ok(Some(Frame::Stderr(data))) => {
                err.write_all(&data)?;
            }
            Ok(Some(Frame::Exit(code))) => return Ok(code),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                // The monitor went without a word: what it recorded, if anything.
                let after = e.wait(c, Some(std::time::Duration::from_secs(5)));
                return Ok(after.map(|c| c.state.exit_code).unwrap_or(255));
            }
        }
    }
}
