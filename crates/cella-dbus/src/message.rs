//! D-Bus messages: the fixed header, the header fields, and the body kept
//! as bytes until someone asks for its values (a connection reads signals
//! it does not care about without parsing them).

use crate::value::{split_signature, Reader, Value};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}

/// The largest message the specification allows (128 MiB); anything
/// claiming more is a broken or hostile peer.
const MAX_MESSAGE: usize = 128 << 20;

/// Header field codes.
const PATH: u8 = 1;
const INTERFACE: u8 = 2;
const MEMBER: u8 = 3;
const ERROR_NAME: u8 = 4;
const REPLY_SERIAL: u8 = 5;
const DESTINATION: u8 = 6;
const SENDER: u8 = 7;
const SIGNATURE: u8 = 8;

/// Flag: the sender does not want a reply.
pub const NO_REPLY_EXPECTED: u8 = 0x1;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub flags: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Message {
    /// A method call to `destination` (None on a peer-to-peer connection).
    pub fn call(destination: Option<&str>, path: &str, interface: &str, member: &str, args: &[Value]) -> Message {
        let mut body = Vec::new();
        for a in args {
            a.marshal(&mut body);
        }
        Message {
            kind: MessageKind::MethodCall,
            flags: 0,
            serial: 0,
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            error_name: None,
            reply_serial: None,
            destination: destination.map(str::to_string),
            sender: None,
            signature: args.iter().map(Value::signature).collect(),
            body,
        }
    }

    /// The body's values, parsed by its signature.
    pub fn values(&self) -> Result<Vec<Value>> {
        let mut r = Reader::new(&self.body, 0);
        let vals = split_signature(&self.signature)?
            .iter()
            .map(|t| r.read(t))
            .collect::<Result<Vec<_>>>()?;
        Ok(vals)
    }

    /// The wire bytes, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| fields.push(Value::Struct(vec![Value::Byte(code), Value::variant(v)]));
        if let Some(p) = &self.path {
            field(PATH, Value::ObjectPath(p.clone()));
        }
        if let Some(i) = &self.interface {
            field(INTERFACE, Value::str(i.clone()));
        }
        if let Some(m) = &self.member {
            field(MEMBER, Value::str(m.clone()));
        }
        if let Some(e) = &self.error_name {
            field(ERROR_NAME, Value::str(e.clone()));
        }
        if let Some(r) = self.reply_serial {
            field(REPLY_SERIAL, Value::U32(r));
        }
        if let Some(d) = &self.destination {
            field(DESTINATION, Value::str(d.clone()));
        }
        if let Some(s) = &self.sender {
            field(SENDER, Value::str(s.clone()));
        }
        if !self.signature.is_empty() {
            field(SIGNATURE, Value::Signature(self.signature.clone()));
        }
        let mut buf = vec![b'l', self.kind as u8, self.flags, 1];
        buf.extend((self.body.len() as u32).to_le_bytes());
        buf.extend(serial.to_le_bytes());
        Value::Array("(yv)".into(), fields).marshal(&mut buf);
        while !buf.len().is_multiple_of(8) {
            buf.push(0);
        }
        buf.extend(&self.body);
        buf
    }

    /// How many bytes the message that starts with these 16 bytes takes.
    pub fn total_len(head: &[u8; 16]) -> Result<usize> {
        if head[0] != b'l' {
            return Err(Error::Protocol(format!(
                "byte order {:?}: only little-endian messages are supported",
                head[0] as char
            )));
        }
        let body = u32::from_le_bytes(head[4..8].try_into().expect("4")) as usize;
        let fields = u32::from_le_bytes(head[12..16].try_into().expect("4")) as usize;
        let total = (16 + fields).div_ceil(8) * 8 + body;
        if total > MAX_MESSAGE {
            return Err(Error::Protocol(format!("a message of {total} bytes")));
        }
        Ok(total)
    }

    /// Parses one whole message (its length from `total_len`).
    pub fn decode(buf: &[u8]) -> Result<Message> {
        let head: &[u8; 16] = buf
            .get(..16)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| Error::Protocol("short message".into()))?;
        if Message::total_len(head)? != buf.len() {
            return Err(Error::Protocol("message length mismatch".into()));
        }
        let kind = match buf[1] {
            1 => MessageKind::MethodCall,
            2 => MessageKind::MethodReturn,
            3 => MessageKind::Error,
            4 => MessageKind::Signal,
            k => return Err(Error::Protocol(format!("message type {k}"))),
        };
        let body_len = u32::from_le_bytes(buf[4..8].try_into().expect("4")) as usize;
        let mut m = Message {
            kind,
            flags: buf[2],
            serial: u32::from_le_bytes(buf[8..12].try_into().expect("4")),
            path: None,
            interface: None,
            member: None,
            error_name: None,
            reply_serial: None,
            destination: None,
            sender: None,
            signature: String::new(),
            body: buf[buf.len() - body_len..].to_vec(),
        };
        let mut r = Reader::new(&buf[..buf.len() - body_len], 12);
        let Value::Array(_, fields) = r.read("a(yv)")? else {
            unreachable!("read follows the signature")
        };
        for f in fields {
            let Value::Struct(mut kv) = f else { continue };
            let (Some(Value::Variant(v)), Some(Value::Byte(code))) = (kv.pop(), kv.pop()) else {
                continue;
            };
            match (code, *v) {
                (PATH, Value::ObjectPath(s)) => m.path = Some(s),
                (INTERFACE, Value::Str(s)) => m.interface = Some(s),
                (MEMBER, Value::Str(s)) => m.member = Some(s),
                (ERROR_NAME, Value::Str(s)) => m.error_name = Some(s),
                (REPLY_SERIAL, Value::U32(n)) => m.reply_serial = Some(n),
                (DESTINATION, Value::Str(s)) => m.destination = Some(s),
                (SENDER, Value::Str(s)) => m.sender = Some(s),
                (SIGNATURE, Value::Signature(s)) => m.signature = s,
                _ => {} // unknown fields are ignored, as the specification asks
            }
        }
        Ok(m)
    }

    /// For an error reply: its name and its first string argument.
    pub fn error(&self) -> Error {
        let message = match self.values().ok().and_then(|v| v.into_iter().next()) {
            Some(Value::Str(s)) => s,
            _ => String::new(),
        };
        Error::Remote {
            name: self.error_name.clone().unwrap_or_default(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_through_the_wire_format() {
        let m = Message::call(
            Some("org.freedesktop.systemd1"),
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StopUnit",
            &[Value::str("cella-x.scope"), Value::str("replace")],
        );
        let wire = m.encode(7);
        assert_eq!(wire.len() % 8, (m.body.len()) % 8, "header padded to 8");
        let head: [u8; 16] = wire[..16].try_into().unwrap();
        assert_eq!(Message::total_len(&head).unwrap(), wire.len());
        let back = Message::decode(&wire).unwrap();
        assert_eq!(back.serial, 7);
        assert_eq!(
            Message {
                serial: 0,
                ..back.clone()
            },
            m
        );
        assert_eq!(back.values().unwrap()[0], Value::str("cella-x.scope"));
    }

    #[test]
    fn big_endian_and_huge_messages_are_refused() {
        let mut head = [0u8; 16];
        head[0] = b'B';
        assert!(Message::total_len(&head).is_err());
        head[0] = b'l';
        head[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Message::total_len(&head).is_err());
    }
}
