//! A container's interface on a bridge: the veth pair (its peer made in
//! the container's network namespace), its address, MAC and routes.

use super::Network;
use crate::error::{Error, Result};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

fn io(what: &'static str) -> impl Fn(crate::error::Error) -> Error {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

pub(super) fn ns_err(e: cella_ns::error::Error) -> Error {
    Error::Invalid(e.to_string())
}

/// Connects the container whose init is `pid` to `net` with address `ip`
/// as its eth0 (with the default route). Runs in the monitor (root), in the
/// network namespace of the host side.
pub fn attach(net: &Network, id: &str, pid: i32, ip: Ipv4Addr, mac: Option<[u8; 6]>) -> Result<()> {
    attach_as(net, pid, ip, mac, &veth_name(id), "eth0", true)
}

/// The general case: `inside` is the interface's name in the container;
/// only the primary one gets loopback and the default route.
pub(super) fn attach_as(
    net: &Network,
    pid: i32,
    ip: Ipv4Addr,
    mac: Option<[u8; 6]>,
    host_name: &str,
    inside: &str,
    primary: bool,
) -> Result<()> {
    let bridge = match cella_ns::link::index_of(&net.bridge).map_err(ns_err)? {
        Some(i) => i,
        None => {
            // Two monitors may race to make it: whoever loses finds it made.
            if let Err(e) = cella_ns::link::add_bridge(&net.bridge) {
                if e.errno() != Some(libc::EEXIST) {
                    return Err(ns_err(e));
                }
            }
            let i = cella_ns::link::index_of(&net.bridge)
                .map_err(ns_err)?
                .ok_or_else(|| Error::Invalid(format!("bridge {} vanished", net.bridge)))?;
            cella_ns::link::add_address(i, net.gateway, net.prefix).map_err(ns_err)?;
            cella_ns::link::set_up(i).map_err(ns_err)?;
            i
        }
    };
    let theirs_path = format!("/proc/{pid}/ns/net");
    let theirs = std::fs::File::open(&theirs_path).map_err(|e| Error::Io {
        what: "open",
        path: theirs_path.clone().into(),
        err: e,
    })?;
    cella_ns::link::add_veth(host_name, inside, theirs.as_raw_fd(), mac).map_err(ns_err)?;
    let host = cella_ns::link::index_of(host_name)
        .map_err(ns_err)?
        .ok_or_else(|| Error::Invalid(format!("veth {host_name} vanished")))?;
    cella_ns::link::set_master(host, bridge).map_err(ns_err)?;
    cella_ns::link::set_up(host).map_err(ns_err)?;
    // Inside: the address, the link, loopback and the default route.
    let inside = cella_ns::netns::in_netns_of(pid, || -> std::result::Result<(), cella_ns::error::Error> {
        let link = cella_ns::link::index_of(inside)?
            .ok_or_else(|| cella_ns::error::Error::msg(format!("{inside} missing")))?;
        cella_ns::link::add_address(link, ip, net.prefix)?;
        cella_ns::link::set_up(link)?;
        if primary {
            cella_ns::link::loopback_up()?;
            cella_ns::link::add_default_route(net.gateway)?;
        }
        Ok(())
    })
    .and_then(|r| r);
    inside
        .map_err(ns_err)
        .map_err(io("configure the container's interface"))
}

/// Removes a veth pair by the name of its host side.
pub fn delete_link(host_name: &str) {
    if let Ok(Some(i)) = cella_ns::link::index_of(host_name) {
        let _ = cella_ns::link::delete(i);
    }
}

/// `--mac-address`: six hex bytes with colons, a unicast address.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        Error::Invalid(format!(
            "--mac-address {s}: use six hex bytes such as 02:42:ac:11:00:02 (unicast)"
        ))
    };
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let mac: [u8; 6] = bytes.try_into().map_err(|_| bad())?;
    if mac[0] & 1 == 1 {
        return Err(bad());
    }
    Ok(mac)
}

/// The host side of a container's veth pair (15 bytes at most).
pub(super) fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..11.min(id.len())])
}

/// Removes the host side of a container's veth pair (and with it the pair).
pub fn detach(id: &str) {
    if let Ok(Some(i)) = cella_ns::link::index_of(&veth_name(id)) {
        let _ = cella_ns::link::delete(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse() {
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), [2, 0x42, 0xac, 0x11, 0, 2]);
        for bad in [
            "",
            "02:42",
            "zz:42:ac:11:00:02",
            "01:00:5e:00:00:01",
            "02:42:ac:11:00:02:03",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad:?}");
        }
    }
}
