//! Links, addresses and routes of the current network namespace, over
//! rtnetlink (what `ip link/addr/route` do).

use crate::error::Error;
use crate::rtnl::request;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

const CREATE: u16 = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

/// Brings the loopback interface (index 1 in every network namespace) up,
/// as `ip link set lo up` does.
pub fn loopback_up() -> Result<(), Error> {
    set_up(1)
}

/// `ip link set INDEX up`.
pub fn set_up(index: u32) -> Result<(), Error> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK).map(|_| ())
}

/// The index of the link named `name`, if there is one.
pub fn index_of(name: &str) -> Result<Option<u32>, Error> {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.into()));
    match request(RouteNetlinkMessage::GetLink(m), 0) {
        Ok(Some(RouteNetlinkMessage::NewLink(l))) => Ok(Some(l.header.index)),
        Ok(_) => Ok(None),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `ip link add NAME type bridge`.
pub fn add_bridge(name: &str) -> Result<(), Error> {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.into()));
    m.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    request(RouteNetlinkMessage::NewLink(m), CREATE)
        .map(|_| ())
        .map_err(|e| e.context(format!("create bridge {name}")))
}

/// `ip link add HOST type veth peer name PEER netns FD`: the peer is created
/// directly in the network namespace open at `netns`.
pub fn add_veth(host: &str, peer: &str, netns: RawFd, peer_mac: Option<[u8; 6]>) -> Result<(), Error> {
    let mut p = LinkMessage::default();
    p.attributes.push(LinkAttribute::IfName(peer.into()));
    p.attributes.push(LinkAttribute::NetNsFd(netns));
    if let Some(mac) = peer_mac {
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(host.into()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
    ]));
    request(RouteNetlinkMessage::NewLink(m), CREATE)
        .map(|_| ())
        .map_err(|e| e.context(format!("create veth pair {host}/{peer}")))
}

/// `ip link set INDEX master MASTER`.
pub fn set_master(index: u32, master: u32) -> Result<(), Error> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Controller(master));
    request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK).map(|_| ())
}

/// `ip link del INDEX`.
pub fn delete(index: u32) -> Result<(), Error> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK).map(|_| ())
}

/// `ip addr add ADDR/PREFIX dev INDEX`; an address already there is fine.
pub fn add_address(index: u32, addr: Ipv4Addr, prefix: u8) -> Result<(), Error> {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
    m.attributes.push(AddressAttribute::Address(IpAddr::V4(addr)));
    match request(RouteNetlinkMessage::NewAddress(m), CREATE) {
        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
        other => other
            .map(|_| ())
            .map_err(|e| e.context(format!("add address {addr}/{prefix}"))),
    }
}

/// `ip route add default via GATEWAY`.
pub fn add_default_route(gateway: Ipv4Addr) -> Result<(), Error> {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
    request(RouteNetlinkMessage::NewRoute(m), CREATE)
        .map(|_| ())
        .map_err(|e| e.context(format!("add default route via {gateway}")))
}
