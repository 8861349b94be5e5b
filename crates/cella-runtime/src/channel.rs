//! The parent/child synchronisation channel (a SOCK_SEQPACKET pair): each
//! message is one tag byte and an optional payload.

use crate::error::{Error, Result};
use std::os::fd::{AsFd, OwnedFd};

pub mod tag {
    /// parent → child: carry on (after cgroup join and id maps).
    pub const GO: u8 = b'G';
    /// child → parent: write my id maps (the slow path's unshare of the user ns).
    pub const MAP_ME: u8 = b'M';
    /// child → parent: the init's host PID (4 bytes, native endian).
    pub const PID: u8 = b'P';
    /// child → parent: namespaces are ready; run prestart/createRuntime hooks
    /// and send the state JSON back.
    pub const HOOKS: u8 = b'H';
    /// parent → child: hooks ran; payload is the state JSON.
    pub const HOOKS_DONE: u8 = b'h';
    /// child → parent: setup failed; payload is the message.
    pub const ERROR: u8 = b'E';
    /// child → parent: set up and waiting for `start`.
    pub const CREATED: u8 = b'C';
}

pub struct Channel(pub OwnedFd);

impl Channel {
    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut msg = Vec::with_capacity(1 + payload.len());
        msg.push(tag);
        msg.extend_from_slice(payload);
        cella_sys::fd::send_with_fd(self.0.as_fd(), &msg, None).map_err(|e| Error::Sys {
            op: "send on the init channel".into(),
            err: e,
        })
    }

    /// Receives one message. The other side closing (it died) is an error.
    pub fn recv(&self) -> Result<(u8, Vec<u8>)> {
        let mut buf = vec![0u8; 64 * 1024];
        let (n, _) = cella_sys::fd::recv_with_fd(self.0.as_fd(), &mut buf).map_err(|e| Error::Sys {
            op: "receive on the init channel".into(),
            err: e,
        })?;
        if n == 0 {
            return Err(Error::Init("the other side of the init channel exited".into()));
        }
        buf.truncate(n);
        let tag = buf.remove(0);
        Ok((tag, buf))
    }

    /// Waits for one specific tag; an ERROR message becomes an error.
    pub fn expect(&self, want: u8) -> Result<Vec<u8>> {
        let (t, payload) = self.recv()?;
        if t == want {
            Ok(payload)
        } else if t == tag::ERROR {
            Err(Error::Init(String::from_utf8_lossy(&payload).into_owned()))
        } else {
            Err(Error::Init(format!(
                "protocol error: expected {:?}, got {:?}",
                want as char, t as char
            )))
        }
    }
}

/// Forks the process that will run in a PID or time namespace entered with
/// setns/unshare (they apply only to children). The intermediate parent
/// reports the child's host PID over the channel and exits; the child waits
/// until that report is sent, so that the runtime always learns the PID
/// before anything the child says. Returns only in the child.
pub fn fork_reporting_pid(chan: &Channel) -> Result<()> {
    use std::os::fd::AsRawFd;
    let (r, w) = cella_sys::fd::pipe().map_err(|e| Error::Sys {
        op: "pipe".into(),
        err: e,
    })?;
    match cella_sys::ns::fork().map_err(|e| Error::Sys {
        op: "fork into the new namespaces".into(),
        err: e,
    })? {
        cella_sys::ns::Forked::Child => {
            drop(w);
            let mut b = [0u8; 1];
            // One byte: the PID was reported. End of file: the parent died.
            match cella_sys::fd::read_raw(r.as_raw_fd(), &mut b) {
                Ok(1) => Ok(()),
                _ => cella_sys::process::exit_now(1),
            }
        }
        cella_sys::ns::Forked::Parent(pid) => {
            drop(r);
            let ok = chan.send(tag::PID, &pid.to_ne_bytes()).is_ok()
                && cella_sys::fd::write_all_raw(w.as_raw_fd(), b"p").is_ok();
            cella_sys::process::exit_now(if ok { 0 } else { 1 })
        }
    }
}
