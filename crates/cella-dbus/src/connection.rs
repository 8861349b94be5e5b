//! A blocking connection: connect to a Unix socket, authenticate with SASL
//! EXTERNAL (the kernel vouches for our uid), then exchange messages. Calls
//! wait for their reply; signals that arrive meanwhile are queued for
//! `wait_signal`. Every wait has a deadline.

use crate::message::{Message, MessageKind};
use crate::value::Value;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::{Duration, Instant};

/// What is at the other end of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A message bus (dbus-daemon, dbus-broker): say Hello, name destinations.
    Bus,
    /// A service itself (systemd's private socket): no Hello, no destinations.
    Direct,
}

pub struct Connection {
    reader: BufReader<UnixStream>,
    address: String,
    peer: Peer,
    serial: u32,
    pending: VecDeque<Message>,
}

const BUS: &str = "org.freedesktop.DBus";

/// The socket of the first `unix:path=` or `unix:abstract=` entry of a
/// D-Bus address list (`unix:path=/run/dbus/system_bus_socket;...`).
pub fn parse_address(address: &str) -> Option<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            if let Some(p) = kv.strip_prefix("path=") {
                return SocketAddr::from_pathname(unescape(p)).ok();
            }
            if let Some(a) = kv.strip_prefix("abstract=") {
                return SocketAddr::from_abstract_name(unescape(a)).ok();
            }
        }
    }
    None
}

/// D-Bus addresses escape bytes as %XX.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Connection {
    /// The system bus: $DBUS_SYSTEM_BUS_ADDRESS, else the standard socket.
    pub fn system_bus() -> Result<Connection> {
        let address =
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into());
        Connection::open(&address, Peer::Bus)
    }

    /// The user's session bus: $DBUS_SESSION_BUS_ADDRESS, else
    /// $XDG_RUNTIME_DIR/bus (where systemd's user instance puts it).
    pub fn session_bus() -> Result<Connection> {
        let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(a) => a,
            Err(_) => match std::env::var("XDG_RUNTIME_DIR") {
                Ok(dir) => format!("unix:path={dir}/bus"),
                Err(_) => {
                    return Err(Error::Protocol(
                        "no session bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set".into(),
                    ))
                }
            },
        };
        Connection::open(&address, Peer::Bus)
    }

    /// Connects to a D-Bus address and authenticates; on a bus, says Hello.
    pub fn open(address: &str, peer: Peer) -> Result<Connection> {
        let addr = parse_address(address)
            .ok_or_else(|| Error::Protocol(format!("unsupported D-Bus address {address:?} (want unix:path=)")))?;
        let stream = UnixStream::connect_addr(&addr).map_err(|err| Error::Io {
            what: "connect to",
            address: address.into(),
            err,
        })?;
        let mut c = Connection {
            reader: BufReader::new(stream),
            address: address.into(),
            peer,
            serial: 0,
            pending: VecDeque::new(),
        };
        c.authenticate()?;
        if peer == Peer::Bus {
            c.call(
                Message::call(Some(BUS), "/org/freedesktop/DBus", BUS, "Hello", &[]),
                Duration::from_secs(25),
            )?;
        }
        Ok(c)
    }

    pub fn peer(&self) -> Peer {
        self.peer
    }

    fn io(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |err| Error::Io {
            what,
            address: self.address.clone(),
            err,
        }
    }

    /// SASL EXTERNAL, pipelined: the AUTH line and BEGIN go in one write and
    /// the server's OK comes back in one read.
    fn authenticate(&mut self) -> Result<()> {
        // The server compares this with the socket's peer credentials, which
        // it sees in its own user namespace.
        let uid = cella_sys::process::geteuid_outside().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n");
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(25)))
            .map_err(self.io("configure"))?;
        self.reader
            .get_ref()
            .write_all(hello.as_bytes())
            .map_err(self.io("write to"))?;
        let mut line = String::new();
        self.reader
            .by_ref()
            .take(512)
            .read_line(&mut line)
            .map_err(self.io("read from"))?;
        if !line.starts_with("OK ") {
            return Err(Error::Auth {
                address: self.address.clone(),
                reply: line.trim_end().to_string(),
            });
        }
        Ok(())
    }

    fn send(&mut self, msg: &Message) -> Result<u32> {
        self.serial += 1;
        let serial = self.serial;
        let wire = msg.encode(serial);
        self.reader.get_ref().write_all(&wire).map_err(self.io("write to"))?;
        Ok(serial)
    }

    /// Reads the next message, giving up at `deadline`.
    fn receive(&mut self, deadline: Instant, what: &str) -> Result<Message> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                what: what.into(),
                secs: 0,
            });
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(left))
            .map_err(self.io("configure"))?;
        let mut head = [0u8; 16];
        let timed_out =
            |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
        if let Err(e) = self.reader.read_exact(&mut head) {
            if timed_out(&e) {
                return Err(Error::Timeout {
                    what: what.into(),
                    secs: left.as_secs().max(1),
                });
            }
            return Err(self.io("read from")(e));
        }
        let total = Message::total_len(&head)?;
        let mut buf = vec![0u8; total];
        buf[..16].copy_from_slice(&head);
        self.reader.read_exact(&mut buf[16..]).map_err(self.io("read from"))?;
        Message::decode(&buf)
    }

    /// Sends a method call and waits for its reply; an error reply is
    /// `Error::Remote`.
    pub fn call(&mut self, mut msg: Message, timeout: Duration) -> Result<Message> {
        if self.peer == Peer::Direct {
            msg.destination = None;
        }
        let what = format!(
            "{}.{}",
            msg.interface.as_deref().unwrap_or(""),
            msg.member.as_deref().unwrap_or("")
        );
        let serial = self.send(&msg)?;
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.receive(deadline, &what)?;
            match m.kind {
                MessageKind::MethodReturn if m.reply_serial == Some(serial) => return Ok(m),
                MessageKind::Error if m.reply_serial == Some(serial) => return Err(m.error()),
                MessageKind::Signal => {
                    // Bounded: a peer that floods signals costs memory once.
                    if self.pending.len() == 256 {
                        self.pending.pop_front();
                    }
                    self.pending.push_back(m)
                }
                _ => {} // replies to nothing we asked, calls to us: not ours to answer
            }
        }
    }

    /// Waits for a signal that `wanted` accepts, looking first at those that
    /// arrived during earlier calls.
    pub fn wait_signal(&mut self, mut wanted: impl FnMut(&Message) -> bool, timeout: Duration) -> Result<Message> {
        if let Some(i) = self.pending.iter().position(&mut wanted) {
            return Ok(self.pending.remove(i).expect("found above"));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.receive(deadline, "a signal")?;
            if m.kind == MessageKind::Signal && wanted(&m) {
                return Ok(m);
            }
        }
    }

    /// Asks the bus to route signals matching `rule` to us (nothing to do
    /// on a direct connection, which gets every signal).
    pub fn add_match(&mut self, rule: &str) -> Result<()> {
        if self.peer == Peer::Direct {
            return Ok(());
        }
        self.call(
            Message::call(Some(BUS), "/org/freedesktop/DBus", BUS, "AddMatch", &[Value::str(rule)]),
            Duration::from_secs(25),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;

    #[test]
    fn addresses() {
        let a = parse_address("unix:path=/run/dbus/system_bus_socket").unwrap();
        assert_eq!(
            a.as_pathname().unwrap(),
            std::path::Path::new("/run/dbus/system_bus_socket")
        );
        let a = parse_address("tcp:host=x;unix:abstract=/tmp/dbus-Ab%2cC,guid=1").unwrap();
        assert_eq!(a.as_abstract_name().unwrap(), b"/tmp/dbus-Ab,C");
        assert!(parse_address("tcp:host=localhost,port=1").is_none());
    }

    /// A peer that authenticates the client, answers its call after sending
    /// an unrelated signal and the signal the client will wait for.
    #[test]
    fn call_queues_signals_and_wait_signal_finds_them() {
        let dir = std::env::temp_dir().join(format!("cella-dbus-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s);
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).unwrap();
            assert!(line.starts_with(b"\0AUTH EXTERNAL "), "{line:?}");
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
            assert_eq!(line, b"BEGIN\r\n");
            r.get_ref().write_all(b"OK 0123456789abcdef\r\n").unwrap();
            let mut head = [0u8; 16];
            r.read_exact(&mut head).unwrap();
            let mut buf = vec![0; Message::total_len(&head).unwrap()];
            buf[..16].copy_from_slice(&head);
            r.read_exact(&mut buf[16..]).unwrap();
            let call = Message::decode(&buf).unwrap();
            assert_eq!(call.member.as_deref(), Some("StartTransientUnit"));
            assert_eq!(call.destination, None, "direct connections name no destination");
            let signal = |name: &str| Message {
                kind: MessageKind::Signal,
                member: Some(name.into()),
                ..Message::call(None, "/", "i", name, &[Value::str(name)])
            };
            let mut reply = Message::call(None, "/", "i", "x", &[Value::ObjectPath("/job/1".into())]);
            reply.kind = MessageKind::MethodReturn;
            reply.reply_serial = Some(call.serial);
            (reply.path, reply.interface, reply.member) = (None, None, None);
            let mut w = r.get_ref();
            w.write_all(&signal("Unrelated").encode(1)).unwrap();
            w.write_all(&signal("JobRemoved").encode(2)).unwrap();
            w.write_all(&reply.encode(3)).unwrap();
            // Keep the socket open until the client is done.
            let _ = r.read(&mut [0u8; 1]);
        });
        let mut c = Connection::open(&format!("unix:path={}", sock.display()), Peer::Direct).unwrap();
        let reply = c
            .call(
                Message::call(Some("org.freedesktop.systemd1"), "/", "i", "StartTransientUnit", &[]),
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(reply.values().unwrap(), [Value::ObjectPath("/job/1".into())]);
        let sig = c
            .wait_signal(|m| m.member.as_deref() == Some("JobRemoved"), Duration::from_secs(5))
            .unwrap();
        assert_eq!(sig.values().unwrap(), [Value::str("JobRemoved")]);
        let other = c.wait_signal(|_| true, Duration::from_secs(5)).unwrap();
        assert_eq!(other.member.as_deref(), Some("Unrelated"));
        // Nothing else comes: the wait ends at its deadline.
        let e = c.wait_signal(|_| true, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        drop(c);
        server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
