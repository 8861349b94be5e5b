//! Bridge networking (the first part): a Linux bridge per network, a veth
//! pair per container with its peer created directly in the container's
//! network namespace, addresses from a store-backed IPAM, a default route,
//! and /etc/hosts entries for the containers on the same network.

use crate::container::{self, Container, Status};
use crate::error::{Error, Result};
use crate::paths::Paths;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub name: String,
    pub subnet: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub bridge: String,
}

/// The default network, as podman's: 10.88.0.0/16 on bridge cella0.
pub fn default_network() -> Network {
    Network {
        name: "bridge".into(),
        subnet: Ipv4Addr::new(10, 88, 0, 0),
        prefix: 16,
        gateway: Ipv4Addr::new(10, 88, 0, 1),
        bridge: "cella0".into(),
    }
}

fn ips_dir(paths: &Paths, net: &Network) -> PathBuf {
    paths.root.join("networks").join(&net.name).join("ips")
}

fn record(paths: &Paths, name: &str) -> PathBuf {
    paths.root.join("networks").join(name).join("network.json")
}

/// A network by name: `bridge` (built in) or one made by `cella network create`.
pub fn find(paths: &Paths, name: &str) -> Result<Network> {
    if name == "bridge" {
        return Ok(default_network());
    }
    crate::store::read_json(&record(paths, name)).map_err(|_| {
        Error::NotFound(format!(
            "no network {name:?}: see `cella network ls`, or make it with `cella network create {name}`"
        ))
    })
}

/// Every network, `bridge` first.
pub fn list(paths: &Paths) -> Vec<Network> {
    let mut out = vec![default_network()];
    if let Ok(d) = std::fs::read_dir(paths.root.join("networks")) {
        let mut more: Vec<Network> = d
            .flatten()
            .filter_map(|e| crate::store::read_json(&e.path().join("network.json")).ok())
            .collect();
        more.sort_by(|a: &Network, b| a.name.cmp(&b.name));
        out.extend(more);
    }
    out
}

fn overlaps(a: &Network, b_subnet: Ipv4Addr, b_prefix: u8) -> bool {
    let p = a.prefix.min(b_prefix) as u32;
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    u32::from(a.subnet) & mask == u32::from(b_subnet) & mask
}

/// "10.89.3.0/24" → (address, prefix), the address made the network's.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || Error::Invalid(format!("--subnet {s}: use an IPv4 CIDR such as 10.89.5.0/24"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let p: u8 = p.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&p) {
        return Err(Error::Invalid(format!(
            "--subnet {s}: the prefix must be from /8 to /30"
        )));
    }
    let mask = u32::MAX << (32 - p as u32);
    Ok((Ipv4Addr::from(u32::from(a) & mask), p))
}

/// `cella network create`: a subnet (given, or the first free 10.89.N.0/24)
/// that overlaps no other network, and a bridge name of its own. The caller
/// holds the store lock.
pub fn create(paths: &Paths, name: &str, subnet: Option<&str>, gateway: Option<&str>) -> Result<Network> {
    crate::ids::check_name(name).map_err(|_| Error::Invalid(format!("invalid network name {name:?}")))?;
    if ["bridge", "none", "host"].contains(&name) || name.contains(':') {
        return Err(Error::Invalid(format!("{name:?} is a reserved network name")));
    }
    if record(paths, name).exists() {
        return Err(Error::Conflict(format!("network {name} already exists")));
    }
    let all = list(paths);
    let (net_addr, prefix) = match subnet {
        Some(s) => parse_cidr(s)?,
        None => (0..=255u8)
            .map(|n| (Ipv4Addr::new(10, 89, n, 0), 24))
            .find(|(a, p)| !all.iter().any(|n| overlaps(n, *a, *p)))
            .ok_or_else(|| Error::Conflict("no free 10.89.N.0/24 subnet left: give --subnet".into()))?,
    };
    if let Some(other) = all.iter().find(|n| overlaps(n, net_addr, prefix)) {
        return Err(Error::Conflict(format!(
            "subnet {net_addr}/{prefix} overlaps network {} ({}/{})",
            other.name, other.subnet, other.prefix
        )));
    }
    let gateway = match gateway {
        Some(g) => {
            let g: Ipv4Addr = g
                .parse()
                .map_err(|_| Error::Invalid(format!("--gateway {g}: not an IPv4 address")))?;
            let probe = Network {
                name: String::new(),
                subnet: net_addr,
                prefix,
                gateway: g,
                bridge: String::new(),
            };
            if !candidates(&probe).any(|c| c == g) && g != Ipv4Addr::from(u32::from(net_addr) + 1) {
                return Err(Error::Invalid(format!(
                    "--gateway {g} is not a host address of {net_addr}/{prefix}"
                )));
            }
            g
        }
        None => Ipv4Addr::from(u32::from(net_addr) + 1),
    };
    let used: Vec<String> = all.iter().map(|n| n.bridge.clone()).collect();
    let bridge = (1..1000)
        .map(|i| format!("cella{i}"))
        .find(|b| !used.contains(b))
        .expect("a free bridge name");
    let net = Network {
        name: name.into(),
        subnet: net_addr,
        prefix,
        gateway,
        bridge,
    };
    let dir = paths.root.join("networks").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        what: "create",
        path: dir,
        source: e,
    })?;
    crate::store::write_json(&record(paths, name), &net)?;
    Ok(net)
}

/// `cella network rm`: refused while a container uses it; its bridge and
/// rules go (when this namespace has them). The caller holds the store lock.
pub fn remove(paths: &Paths, name: &str) -> Result<()> {
    if name == "bridge" {
        return Err(Error::Invalid("the built-in bridge network cannot be removed".into()));
    }
    let net = find(paths, name)?;
    let users: Vec<String> = container::list(paths)?
        .into_iter()
        .filter(|c| c.config.network == name || c.state.attachments.iter().any(|a| a.network == name))
        .map(|c| c.name)
        .collect();
    if !users.is_empty() {
        return Err(Error::Conflict(format!(
            "network {name} is used by {}: remove them first",
            users.join(", ")
        )));
    }
    if let Ok(Some(i)) = cella_ns::link::index_of(&net.bridge) {
        let _ = cella_ns::link::delete(i);
    }
    let _ = crate::nat::forget_network(&net);
    let _ = std::fs::remove_file(paths.runroot.join(format!(".nft-{}", net.name)));
    let dir = paths.root.join("networks").join(name);
    std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
        what: "remove",
        path: dir,
        source: e,
    })
}

/// Takes a given address (`--ip`) for `id`.
pub fn claim(paths: &Paths, net: &Network, id: &str, ip: Ipv4Addr) -> Result<Ipv4Addr> {
    if !candidates(net).any(|c| c == ip) {
        return Err(Error::Invalid(format!(
            "--ip {ip} is not a free host address of {} ({}/{})",
            net.name, net.subnet, net.prefix
        )));
    }
    let f = ips_file(paths, net, ip)?;
    claim_file(&f, id)
        .map(|()| ip)
        .map_err(|_| Error::Conflict(format!("--ip {ip} is already used on network {}", net.name)))
}

/// The file that says who holds `ip` (its directory made if need be).
fn ips_file(paths: &Paths, net: &Network, ip: Ipv4Addr) -> Result<PathBuf> {
    let dir = ips_dir(paths, net);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        what: "create",
        path: dir.clone(),
        source: e,
    })?;
    Ok(dir.join(ip.to_string()))
}

/// Creates the holder file with O_EXCL: fails if someone holds the address.
fn claim_file(f: &std::path::Path, id: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(f)?
        .write_all(id.as_bytes())
}

/// The addresses a container may get: the subnet without its network,
/// gateway and broadcast addresses.
fn candidates(net: &Network) -> impl Iterator<Item = Ipv4Addr> + '_ {
    let base = u32::from(net.subnet);
    let size = 1u32 << (32 - net.prefix as u32);
    (1..size - 1)
        .map(move |i| Ipv4Addr::from(base + i))
        .filter(move |ip| *ip != net.gateway)
}

/// Takes a free address for `id`: one file per address, created with
/// O_EXCL, so two containers never get the same one. An address whose
/// container no longer exists (a crash) is taken back.
pub fn allocate(paths: &Paths, net: &Network, id: &str) -> Result<Ipv4Addr> {
    for ip in candidates(net) {
        let f = ips_file(paths, net, ip)?;
        match claim_file(&f, id) {
            Ok(()) => return Ok(ip),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&f).unwrap_or_default();
                if !owner.is_empty() && !paths.container(&owner).exists() {
                    // Its container is gone (a crash): the address is free again.
                    let _ = std::fs::remove_file(&f);
                    if claim_file(&f, id).is_ok() {
                        return Ok(ip);
                    }
                }
            }
            Err(e) => {
                return Err(Error::Io {
                    what: "allocate",
                    path: f,
                    source: e,
                })
            }
        }
    }
    Err(Error::Conflict(format!(
        "network {}: no free address left in {}/{}",
        net.name, net.subnet, net.prefix
    )))
}

/// Gives the address back (only if `id` holds it).
pub fn release(paths: &Paths, net: &Network, id: &str, ip: &str) {
    let f = ips_dir(paths, net).join(ip);
    if std::fs::read_to_string(&f).is_ok_and(|owner| owner == id) {
        let _ = std::fs::remove_file(f);
    }
}

fn io(what: &'static str) -> impl Fn(crate::error::Error) -> Error {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

fn ns_err(e: cella_ns::persist::Error) -> Error {
    Error::Invalid(e.0)
}

/// Connects the container whose init is `pid` to `net` with address `ip`
/// as its eth0 (with the default route). Runs in the monitor (root), in the
/// network namespace of the host side.
pub fn attach(net: &Network, id: &str, pid: i32, ip: Ipv4Addr, mac: Option<[u8; 6]>) -> Result<()> {
    attach_as(net, pid, ip, mac, &veth_name(id), "eth0", true)
}

/// The general case: `inside` is the interface's name in the container;
/// only the primary one gets loopback and the default route.
pub fn attach_as(
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
                if !e.0.contains("File exists") {
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
        source: e,
    })?;
    cella_ns::link::add_veth(host_name, inside, theirs.as_raw_fd(), mac).map_err(ns_err)?;
    let host = cella_ns::link::index_of(host_name)
        .map_err(ns_err)?
        .ok_or_else(|| Error::Invalid(format!("veth {host_name} vanished")))?;
    cella_ns::link::set_master(host, bridge).map_err(ns_err)?;
    cella_ns::link::set_up(host).map_err(ns_err)?;
    // Inside: the address, the link, loopback and the default route.
    let own = std::fs::File::open("/proc/self/ns/net").map_err(|e| Error::Io {
        what: "open",
        path: "/proc/self/ns/net".into(),
        source: e,
    })?;
    cella_sys::ns::setns(theirs.as_fd(), cella_sys::ns::CLONE_NEWNET).map_err(|e| Error::Io {
        what: "setns into",
        path: theirs_path.into(),
        source: e,
    })?;
    let inside = (|| -> std::result::Result<(), cella_ns::persist::Error> {
        let link =
            cella_ns::link::index_of(inside)?.ok_or_else(|| cella_ns::persist::Error(format!("{inside} missing")))?;
        cella_ns::link::add_address(link, ip, net.prefix)?;
        cella_ns::link::set_up(link)?;
        if primary {
            cella_ns::link::loopback_up()?;
            cella_ns::link::add_default_route(net.gateway)?;
        }
        Ok(())
    })();
    cella_sys::ns::setns(own.as_fd(), cella_sys::ns::CLONE_NEWNET).map_err(|e| Error::Io {
        what: "return to",
        path: "/proc/self/ns/net".into(),
        source: e,
    })?;
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

/// `cella network connect NET CONTAINER [--ip]`: a further interface
/// (eth1, eth2…) on another network for a running container.
pub fn connect(paths: &Paths, name: &str, net_name: &str, ip: Option<Ipv4Addr>) -> Result<Container> {
    let _lock = crate::store::lock(paths)?;
    let mut c = container::find(paths, name)?;
    if c.state.status != Status::Running || c.state.pid <= 0 {
        return Err(Error::Conflict(format!("container {} is not running", c.name)));
    }
    if cella_sys::process::geteuid() != 0 {
        return Err(Error::Invalid("network connect needs root".into()));
    }
    let net = find(paths, net_name)?;
    if c.addresses().iter().any(|(n, _)| *n == net.name) {
        return Err(Error::Conflict(format!(
            "container {} is already on network {}",
            c.name, net.name
        )));
    }
    let n = (1..)
        .find(|i| !c.state.attachments.iter().any(|a| a.interface == format!("eth{i}")))
        .unwrap_or(1);
    let (inside, host) = (format!("eth{n}"), format!("vx{n}{}", &c.id[..10.min(c.id.len())]));
    let ip = match ip {
        Some(ip) => claim(paths, &net, &c.id, ip)?,
        None => allocate(paths, &net, &c.id)?,
    };
    let made = attach_as(&net, c.state.pid, ip, None, &host, &inside, false)
        .and_then(|()| crate::nat::ensure_once(paths, &net));
    if let Err(e) = made {
        delete_link(&host);
        release(paths, &net, &c.id, &ip.to_string());
        return Err(e);
    }
    c.state.attachments.push(container::Attachment {
        network: net.name.clone(),
        ip_address: ip.to_string(),
        interface: inside,
        host_interface: host,
    });
    c.save(paths)?;
    drop(_lock);
    refresh_hosts(paths);
    Ok(c)
}

/// `cella network disconnect NET CONTAINER`: the interface and address go.
pub fn disconnect(paths: &Paths, name: &str, net_name: &str) -> Result<()> {
    let _lock = crate::store::lock(paths)?;
    let mut c = container::find(paths, name)?;
    if c.config.network == net_name {
        return Err(Error::Invalid(format!(
            "{net_name} is the network container {} was started on; only networks joined with `network connect` can be left",
            c.name
        )));
    }
    let Some(at) = c.state.attachments.iter().position(|a| a.network == net_name) else {
        return Err(Error::NotFound(format!(
            "container {} is not on network {net_name}",
            c.name
        )));
    };
    let a = c.state.attachments.remove(at);
    delete_link(&a.host_interface);
    if let Ok(net) = find(paths, &a.network) {
        release(paths, &net, &c.id, &a.ip_address);
    }
    c.save(paths)?;
    drop(_lock);
    refresh_hosts(paths);
    Ok(())
}

/// At a container's end: its further interfaces and addresses go.
pub fn release_attachments(paths: &Paths, attachments: &[container::Attachment], id: &str) {
    for a in attachments {
        delete_link(&a.host_interface);
        if let Ok(net) = find(paths, &a.network) {
            release(paths, &net, id, &a.ip_address);
        }
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
fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..11.min(id.len())])
}

/// Removes the host side of a container's veth pair (and with it the pair).
pub fn detach(id: &str) {
    if let Ok(Some(i)) = cella_ns::link::index_of(&veth_name(id)) {
        let _ = cella_ns::link::delete(i);
    }
}

/// The hosts file of a container: its own names, then each running
/// container sharing a network with it, at its address on that network.
pub fn hosts_file(me: &Container, hostname: &str, peers: &[Container]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if me.state.ip_address.is_empty() {
        s += &format!("127.0.1.1\t{hostname}\n");
    } else {
        s += &format!("{}\t{hostname} {}\n", me.state.ip_address, me.name);
    }
    let mine: Vec<String> = me.addresses().into_iter().map(|(n, _)| n).collect();
    for p in peers.iter().filter(|p| p.id != me.id) {
        for (net, ip) in p.addresses() {
            if mine.contains(&net) {
                s += &format!("{ip}\t{} {}\n", p.name, p.short_id());
            }
        }
    }
    for h in &me.config.add_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            s += &format!("{ip}\t{name}\n");
        }
    }
    s
}

/// Rewrites (in place: the file is bind-mounted) the hosts file of every
/// running container on a bridge network, so names resolve both ways
/// between the containers of each network.
pub fn refresh_hosts(paths: &Paths) {
    let Ok(all) = container::list(paths) else { return };
    let on_net: Vec<Container> = all
        .into_iter()
        .filter(|c| c.state.status == Status::Running && !c.addresses().is_empty())
        .collect();
    for c in &on_net {
        let hostname = c.config.hostname.clone().unwrap_or_else(|| c.short_id().to_string());
        let p = c.dir(paths).join("hosts");
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).truncate(true).open(&p) {
            use std::io::Write;
            let _ = f.write_all(hosts_file(c, &hostname, &on_net).as_bytes());
        }
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

    #[test]
    fn addresses_are_unique_and_come_back() {
        let base = std::env::temp_dir().join(format!("cella-ipam-{}", std::process::id()));
        let paths = Paths::new(Some(base.join("store")), Some(base.join("run")));
        let net = Network {
            name: "t".into(),
            subnet: Ipv4Addr::new(10, 9, 0, 0),
            prefix: 29,
            gateway: Ipv4Addr::new(10, 9, 0, 1),
            bridge: "x".into(),
        };
        for id in ["a", "b", "c", "d", "e"] {
            std::fs::create_dir_all(paths.container(id)).unwrap();
        }
        let got: Vec<Ipv4Addr> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|id| allocate(&paths, &net, id).unwrap())
            .collect();
        assert_eq!(got, (2..=6).map(|i| Ipv4Addr::new(10, 9, 0, i)).collect::<Vec<_>>());
        assert!(
            allocate(&paths, &net, "f").is_err(),
            "a /29 has six hosts, one is the gateway"
        );
        release(&paths, &net, "c", "10.9.0.4");
        release(&paths, &net, "zz", "10.9.0.5");
        std::fs::create_dir_all(paths.container("f")).unwrap();
        assert_eq!(allocate(&paths, &net, "f").unwrap(), Ipv4Addr::new(10, 9, 0, 4));
        // A crashed container's address is taken back.
        std::fs::remove_dir_all(paths.container("e")).unwrap();
        assert_eq!(allocate(&paths, &net, "g").unwrap(), Ipv4Addr::new(10, 9, 0, 6));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
