//! Network namespace ids (NETNSID): the number by which the current network
//! namespace knows another one, read and assigned over rtnetlink
//! (RTM_GETNSID / RTM_NEWNSID), as `ip netns list` and lsns show it.

use crate::error::Error;
use crate::rtnl::request;
use netlink_packet_core::NLM_F_ACK;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::RawFd;

/// The id the current network namespace has for the one open at `fd`
/// (None: no id assigned).
pub fn get(fd: RawFd) -> Result<Option<i32>, Error> {
    let mut m = NsidMessage::default();
    m.attributes.push(NsidAttribute::Fd(fd as u32));
    match request(RouteNetlinkMessage::GetNsId(m), 0)? {
        Some(RouteNetlinkMessage::NewNsId(reply)) => Ok(reply.attributes.iter().find_map(|a| match a {
            NsidAttribute::Id(id) if *id >= 0 => Some(*id),
            _ => None,
        })),
        _ => Err(Error::msg("rtnetlink: no NEWNSID reply to GETNSID")),
    }
}

/// Assigns `id` (or, with -1, the next free one) to the network namespace
/// open at `fd`, as `ip netns set NAME ID|auto` does.
pub fn set(fd: RawFd, id: i32) -> Result<(), Error> {
    let mut m = NsidMessage::default();
    m.attributes.push(NsidAttribute::Fd(fd as u32));
    m.attributes.push(NsidAttribute::Id(id));
    request(RouteNetlinkMessage::NewNsId(m), NLM_F_ACK).map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_namespace_has_no_id_or_a_valid_one() {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open("/proc/self/ns/net").unwrap();
        // The current namespace has no id for itself unless one was set.
        let got = super::get(f.as_raw_fd()).unwrap();
        assert!(got.is_none_or(|id| id >= 0));
    }
}
