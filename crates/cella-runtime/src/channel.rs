//! The parent/child synchronisation channel (a SOCK_SEQPACKET pair): one
//! typed message per packet in each direction ([`ToChild`], [`ToParent`]),
//! encoded and decoded here only (a tag byte and its payload).

use crate::error::{Error, Result};
use std::os::fd::{AsFd, OwnedFd};

/// Parent (the runtime) → child (the init, or an exec process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToChild {
    /// Carry on (after the cgroup join and the id maps).
    Go,
    /// The hooks ran; the state JSON they were given.
    HooksDone(Vec<u8>),
    /// Start the process (`run`, which starts what it created itself,
    /// without the start socket).
    Start,
}

/// Child → parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToParent {
    /// Write my id maps (the slow path's unshare of the user namespace).
    MapMe,
    /// The host PID of the process that will exec (after a fork into a
    /// PID or time namespace).
    Pid(i32),
    /// The namespaces are ready: run prestart/createRuntime hooks.
    Hooks,
    /// Set up; waiting for `start` (init) or about to exec (exec).
    Created,
    /// Start received and the startContainer hooks ran: executing the process.
    Started,
    /// Setup failed: the errno when the process to run could not be
    /// (`Error::exec_errno`), and the message.
    Failed { errno: Option<i32>, message: String },
}

// Tag bytes on the wire.
const GO: u8 = b'G';
const HOOKS_DONE: u8 = b'h';
const MAP_ME: u8 = b'M';
const PID: u8 = b'P';
const HOOKS: u8 = b'H';
const CREATED: u8 = b'C';
const START: u8 = b'S';
const STARTED: u8 = b's';
const FAILED: u8 = b'E';

fn malformed(what: &str) -> Error {
    Error::Init(format!("protocol error on the init channel: {what}"))
}

impl ToChild {
    fn encode(&self) -> Vec<u8> {
        match self {
            ToChild::Go => vec![GO],
            ToChild::HooksDone(json) => [&[HOOKS_DONE][..], json].concat(),
            ToChild::Start => vec![START],
        }
    }

    fn decode(msg: &[u8]) -> Result<ToChild> {
        match msg.split_first() {
            Some((&GO, [])) => Ok(ToChild::Go),
            Some((&HOOKS_DONE, json)) => Ok(ToChild::HooksDone(json.to_vec())),
            Some((&START, [])) => Ok(ToChild::Start),
            _ => Err(malformed(&format!(
                "{:?} from the runtime",
                msg.first().map(|&b| b as char)
            ))),
        }
    }
}

impl ToParent {
    /// A failure report of `e`, with its errno.
    pub fn failed(e: &Error) -> ToParent {
        ToParent::Failed {
            errno: e.exec_errno(),
            message: e.to_string(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            ToParent::MapMe => vec![MAP_ME],
            ToParent::Pid(pid) => [&[PID][..], &pid.to_le_bytes()].concat(),
            ToParent::Hooks => vec![HOOKS],
            ToParent::Created => vec![CREATED],
            ToParent::Started => vec![STARTED],
            ToParent::Failed { errno, message } => {
                [&[FAILED][..], &errno.unwrap_or(0).to_le_bytes(), message.as_bytes()].concat()
            }
        }
    }

    fn decode(msg: &[u8]) -> Result<ToParent> {
        let four = |b: &[u8]| -> Result<i32> {
            Ok(i32::from_le_bytes(
                b.get(..4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| malformed("a short number"))?,
            ))
        };
        match msg.split_first() {
            Some((&MAP_ME, [])) => Ok(ToParent::MapMe),
            Some((&PID, rest)) if rest.len() == 4 => match four(rest)? {
                pid if pid > 0 => Ok(ToParent::Pid(pid)),
                pid => Err(malformed(&format!("PID {pid}"))),
            },
            Some((&HOOKS, [])) => Ok(ToParent::Hooks),
            Some((&CREATED, [])) => Ok(ToParent::Created),
            Some((&STARTED, [])) => Ok(ToParent::Started),
            Some((&FAILED, rest)) if rest.len() >= 4 => Ok(ToParent::Failed {
                errno: Some(four(rest)?).filter(|&e| e != 0),
                message: String::from_utf8_lossy(&rest[4..]).into_owned(),
            }),
            _ => Err(malformed(&format!(
                "{:?} from the container's process",
                msg.first().map(|&b| b as char)
            ))),
        }
    }

    /// A failure report as the runtime's error (errno kept).
    pub fn into_error(self) -> Error {
        match self {
            ToParent::Failed { errno, message } => Error::InitFailed {
                exec_errno: errno,
                message,
            },
            other => malformed(&format!("unexpected {other:?}")),
        }
    }
}

pub struct Channel(pub OwnedFd);

impl Channel {
    fn send(&self, msg: &[u8]) -> Result<()> {
        cella_sys::socket::send_with_fd(self.0.as_fd(), msg, None).map_err(|e| Error::Sys {
            op: "send on the init channel".into(),
            err: e,
        })
    }

    /// Receives one message. The other side closing (it died) is an error.
    fn recv(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; 64 * 1024];
        let (n, _) = cella_sys::socket::recv_with_fd(self.0.as_fd(), &mut buf).map_err(|e| Error::Sys {
            op: "receive on the init channel".into(),
            err: e,
        })?;
        if n == 0 {
            return Err(Error::Init("the other side of the init channel exited".into()));
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// The runtime's side: to the child.
    pub fn send_to_child(&self, m: &ToChild) -> Result<()> {
        self.send(&m.encode())
    }

    /// The runtime's side: the child's next message.
    pub fn recv_from_child(&self) -> Result<ToParent> {
        ToParent::decode(&self.recv()?)
    }

    /// The child's side: to the runtime.
    pub fn send_to_parent(&self, m: &ToParent) -> Result<()> {
        self.send(&m.encode())
    }

    /// The child's side: the runtime's next message.
    pub fn recv_from_parent(&self) -> Result<ToChild> {
        ToChild::decode(&self.recv()?)
    }

    /// The child's side: waits for Go.
    pub fn expect_go(&self) -> Result<()> {
        match self.recv_from_parent()? {
            ToChild::Go => Ok(()),
            other => Err(malformed(&format!("expected Go, got {other:?}"))),
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
            let ok = chan.send_to_parent(&ToParent::Pid(pid)).is_ok()
                && cella_sys::fd::write_all_raw(w.as_raw_fd(), b"p").is_ok();
            cella_sys::process::exit_now(if ok { 0 } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_malformed_ones_are_errors() {
        for m in [ToChild::Go, ToChild::HooksDone(b"{}".to_vec()), ToChild::Start] {
            assert_eq!(ToChild::decode(&m.encode()).unwrap(), m);
        }
        for m in [
            ToParent::MapMe,
            ToParent::Pid(4242),
            ToParent::Hooks,
            ToParent::Created,
            ToParent::Started,
            ToParent::Failed {
                errno: Some(libc::ENOENT),
                message: "exec: no such file".into(),
            },
            ToParent::Failed {
                errno: None,
                message: String::new(),
            },
        ] {
            assert_eq!(ToParent::decode(&m.encode()).unwrap(), m);
        }
        for bad in [&b""[..], b"P\x01", b"P\x00\x00\x00\x00", b"Gx", b"Sx", b"Q", b"E\x01"] {
            assert!(
                ToParent::decode(bad).is_err() || ToChild::decode(bad).is_err(),
                "{bad:?}"
            );
        }
        assert!(ToParent::decode(b"P\x00\x00\x00\x00").is_err(), "PID 0");
    }
}
