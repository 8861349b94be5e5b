//! One rtnetlink request and its answer, over a socket opened in the
//! calling thread's network namespace.

use crate::error::Error;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Sends `msg` with NLM_F_REQUEST | `flags`; the reply message, None for an
/// acknowledgement, or the kernel's error.
pub fn request(msg: RouteNetlinkMessage, flags: u16) -> Result<Option<RouteNetlinkMessage>, Error> {
    let io = |what: &'static str| move |e: std::io::Error| Error::os(format!("rtnetlink {what}"), e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(io("socket"))?;
    socket.bind_auto().map_err(io("bind"))?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(io("connect"))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(io("send"))?;
    let mut reply = vec![0u8; 4096];
    let n = socket.recv(&mut &mut reply[..], 0).map_err(io("receive"))?;
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[..n])
        .map_err(|e| Error::msg(format!("rtnetlink: bad reply: {e}")))?;
    match msg.payload {
        NetlinkPayload::InnerMessage(m) => Ok(Some(m)),
        NetlinkPayload::Error(e) => match e.code {
            None => Ok(None),
            Some(code) => Err(Error::os("rtnetlink", std::io::Error::from_raw_os_error(-code.get()))),
        },
        _ => Ok(None),
    }
}
