//! The attach protocol between the monitor and a client (`cella run`
//! in the foreground, `cella start -a`, `cella attach`) over the
//! container's attach.sock: frames of [kind: u8][length: u32 BE][data].

use std::io::{Read, Write};

/// Monitor → client: container output, and how it ended.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Data: the exit code in decimal.
pub const EXIT: u8 = 3;
/// Client → monitor: input, terminal size ("ROWS COLS"), end of input.
pub const STDIN: u8 = 0;
pub const RESIZE: u8 = 4;
pub const STDIN_EOF: u8 = 5;

/// Frames longer than this are refused (a confused peer, not a container).
const MAX_FRAME: usize = 1 << 20;

pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(5 + data.len());
    buf.push(kind);
    buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

/// Reads one frame; None at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "attach frame too long",
        ));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

/// Binds or connects to a socket in `dir` through /proc/self/fd, so that a
/// deep store path cannot exceed the 108-byte socket path limit.
pub fn short_path(dir_fd: &std::fs::File, name: &str) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, b"3").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((EXIT, b"3".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let mut bad = &[1u8, 0xff, 0xff, 0xff, 0xff][..];
        assert!(read_frame(&mut bad).is_err());
    }
}
