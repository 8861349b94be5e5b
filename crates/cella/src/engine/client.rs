//! The attach client: the terminal (or pipes) of `cella run`, `start -a`
//! and `attach`, connected to the container's monitor. With a terminal,
//! the detach keys (ctrl-p ctrl-q unless `--detach-keys` says otherwise)
//! detach and leave the container running.

use anyhow::Result;
use cella_engine::{Container, Engine, Frame};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// docker's `--detach-keys`: a sequence of keys, each a character or
/// `ctrl-X` (X one of a-z, @, [, \, ], ^, _); empty: no detaching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl Default for DetachKeys {
    fn default() -> Self {
        DetachKeys(vec![0x10, 0x11]) // ctrl-p ctrl-q
    }
}

impl DetachKeys {
    pub fn parse(s: &str) -> Result<DetachKeys> {
        if s.is_empty() {
            return Ok(DetachKeys(Vec::new()));
        }
        let mut keys = Vec::new();
        for k in s.split(',') {
            let key = match k.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let c = c.as_bytes()[0].to_ascii_lowercase();
                    match c {
                        b'a'..=b'z' => c - b'a' + 1,
                        b'@' => 0,
                        b'[' | b'\\' | b']' | b'^' | b'_' => c & 0x1f,
                        _ => anyhow::bail!("--detach-keys {s}: ctrl- takes a-z, @, [, \\, ], ^ or _"),
                    }
                }
                None if k.len() == 1 => k.as_bytes()[0],
                _ => anyhow::bail!("--detach-keys {s}: use keys such as ctrl-p,ctrl-q or a,b"),
            };
            keys.push(key);
        }
        Ok(DetachKeys(keys))
    }
}

/// Watches the input for the detach sequence: bytes that start it are held
/// until it is complete (detach) or broken (they are passed on).
struct KeyWatch<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl KeyWatch<'_> {
    /// Appends what `b` lets through to `out`; true when the sequence is complete.
    fn feed(&mut self, b: u8, out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.push(b);
            return false;
        }
        if b == self.keys[self.matched] {
            self.matched += 1;
            if self.matched == self.keys.len() {
                self.matched = 0;
                return true;
            }
            return false;
        }
        out.extend_from_slice(&self.keys[..self.matched]);
        self.matched = 0;
        if b == self.keys[0] {
            self.matched = 1;
            if self.keys.len() == 1 {
                self.matched = 0;
                return true;
            }
        } else {
            out.push(b);
        }
        false
    }
}

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

/// Copies stdin to the container; with a terminal, watches for the detach keys.
fn pump_stdin(w: Arc<Mutex<UnixStream>>, detached: Arc<AtomicBool>, keys: Option<DetachKeys>) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    let keys = keys.unwrap_or(DetachKeys(Vec::new()));
    let mut watch = KeyWatch {
        keys: &keys.0,
        matched: 0,
    };
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
            if watch.feed(b, &mut out) {
                detached.store(true, Ordering::SeqCst);
                if let Ok(s) = w.lock() {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                return;
            }
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
pub fn attach(
    e: &Engine,
    c: &Container,
    interactive: bool,
    tty: bool,
    proxy_signals: bool,
    detach_keys: &DetachKeys,
) -> Result<i32> {
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
        let keys = tty.then(|| detach_keys.clone());
        std::thread::spawn(move || pump_stdin(w, d, keys));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn through(keys: &str, input: &[u8]) -> (Vec<u8>, bool) {
        let k = DetachKeys::parse(keys).unwrap();
        let mut w = KeyWatch { keys: &k.0, matched: 0 };
        let mut out = Vec::new();
        for &b in input {
            if w.feed(b, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn detach_keys_as_docker_reads_them() {
        assert_eq!(DetachKeys::parse("ctrl-p,ctrl-q").unwrap(), DetachKeys::default());
        assert_eq!(DetachKeys::parse("ctrl-@,a").unwrap().0, vec![0, b'a']);
        assert!(DetachKeys::parse("ctrl-1").is_err() && DetachKeys::parse("ab").is_err());
        assert_eq!(through("ctrl-p,ctrl-q", b"hi\x10\x11rest"), (b"hi".to_vec(), true));
        assert_eq!(
            through("ctrl-p,ctrl-q", b"a\x10b"),
            (b"a\x10b".to_vec(), false),
            "a broken sequence passes on"
        );
        assert_eq!(through("x,y,z", b"xxyz"), (b"x".to_vec(), true));
        assert_eq!(
            through("", b"\x10\x11"),
            (b"\x10\x11".to_vec(), false),
            "empty: no detaching"
        );
    }
}
