//! Links of the current network namespace.

use crate::persist::Error;
use crate::rtnl::request;
use netlink_packet_core::NLM_F_ACK;
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

/// Brings the loopback interface (index 1 in every network namespace) up,
/// as `ip link set lo up` does.
pub fn loopback_up() -> Result<(), Error> {
    let mut m = LinkMessage::default();
    m.header.index = 1;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK).map(|_| ())
}
