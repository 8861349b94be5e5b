//! The attach protocol between the monitor and a client (`cella run`
//! in the foreground, `cella start -a`, `cella attach`) over the
//! container's attach.sock: frames of [kind: u8][length: u32 BE][data],
//! encoded and decoded here only, as [`Frame`]s.

use crate::container::{Container, ATTACH};
use crate::error::{At, Error, Result};
use crate::store::paths::Paths;
use std::io::{Read, Write};

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → monitor: input for the container.
    Stdin(Vec<u8>),
    /// Client → monitor: no more input.
    StdinEof,
    /// Client → monitor: the terminal's size.
    Resize {
        rows: u16,
        cols: u16,
    },
    /// Monitor → client: the container's output.
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Monitor → client: the container ended with this code.
    Exit(i32),
}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXIT: u8 = 3;
const RESIZE: u8 = 4;
const STDIN_EOF: u8 = 5;

/// Frames longer than this are refused (a confused peer, not a container).
const MAX_FRAME: usize = 1 << 20;

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl Frame {
    pub fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        let (kind, data): (u8, std::borrow::Cow<[u8]>) = match self {
            Frame::Stdin(d) => (STDIN, d.into()),
            Frame::StdinEof => (STDIN_EOF, (&[][..]).into()),
            Frame::Resize { rows, cols } => (RESIZE, format!("{rows} {cols}").into_bytes().into()),
            Frame::Stdout(d) => (STDOUT, d.into()),
            Frame::Stderr(d) => (STDERR, d.into()),
            Frame::Exit(code) => (EXIT, code.to_string().into_bytes().into()),
        };
        let mut buf = Vec::with_capacity(5 + data.len());
        buf.push(kind);
        buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
        buf.extend_from_slice(&data);
        w.write_all(&buf)
    }

    /// Reads one frame; None at a clean end of stream.
    pub fn read(r: &mut impl Read) -> std::io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(invalid(format!("attach frame of {len} bytes")));
        }
        let mut data = vec![0u8; len];
        r.read_exact(&mut data)?;
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        Ok(Some(match head[0] {
            STDIN => Frame::Stdin(data),
            STDIN_EOF => Frame::StdinEof,
            STDOUT => Frame::Stdout(data),
            STDERR => Frame::Stderr(data),
            EXIT => Frame::Exit(
                text()
                    .parse()
                    .map_err(|_| invalid(format!("exit frame {:?}", text())))?,
            ),
            RESIZE => {
                let t = text();
                let (r, c) = t
                    .split_once(' ')
                    .ok_or_else(|| invalid(format!("resize frame {t:?}")))?;
                match (r.parse(), c.parse()) {
                    (Ok(rows), Ok(cols)) => Frame::Resize { rows, cols },
                    _ => return Err(invalid(format!("resize frame {t:?}"))),
                }
            }
            k => return Err(invalid(format!("attach frame of kind {k}"))),
        }))
    }
}

/// Binds or connects to a socket in `dir` through /proc/self/fd, so that a
/// deep store path cannot exceed the 108-byte socket path limit.
pub fn short_path(dir_fd: &std::fs::File, name: &str) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd()))
}

/// A client's connection to the container's monitor.
pub fn connect(paths: &Paths, c: &Container) -> Result<std::os::unix::net::UnixStream> {
    let dir = c.dir(paths);
    let dir_fd = std::fs::File::open(&dir).at("open", &dir)?;
    std::os::unix::net::UnixStream::connect(short_path(&dir_fd, ATTACH)).map_err(|e| {
        Error::Conflict(format!(
            "cannot reach the monitor of container {} (is it running?): {e}",
            c.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::Stdout(b"hello".to_vec()),
            Frame::Resize { rows: 24, cols: 80 },
            Frame::StdinEof,
            Frame::Exit(3),
        ];
        let mut buf = Vec::new();
        for f in &frames {
            f.write(&mut buf).unwrap();
        }
        let mut r = &buf[..];
        for f in &frames {
            assert_eq!(Frame::read(&mut r).unwrap().as_ref(), Some(f));
        }
        assert_eq!(Frame::read(&mut r).unwrap(), None);
        let mut bad = &[1u8, 0xff, 0xff, 0xff, 0xff][..];
        assert!(Frame::read(&mut bad).is_err());
        let mut unknown = &[9u8, 0, 0, 0, 0][..];
        assert!(Frame::read(&mut unknown).is_err());
    }
}
