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

#[derive(Debug, Clone, PartialEq, Eq)]
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
    let dir = ips_dir(paths, net);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        what: "create",
        path: dir.clone(),
        source: e,
    })?;
    let claim = |f: &std::path::Path| -> std::io::Result<()> {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(f)?
            .write_all(id.as_bytes())
    };
    for ip in candidates(net) {
        let f = dir.join(ip.to_string());
        match claim(&f) {
            Ok(()) => return Ok(ip),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&f).unwrap_or_default();
                if !owner.is_empty() && !paths.container(&owner).exists() {
                    // Its container is gone (a crash): the address is free again.
                    let _ = std::fs::remove_file(&f);
                    if claim(&f).is_ok() {
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

/// Connects the container whose init is `pid` to `net` with address `ip`.
/// Runs in the monitor (root), in the network namespace of the host side.
pub fn attach(net: &Network, id: &str, pid: i32, ip: Ipv4Addr) -> Result<()> {
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
    let host_name = format!("veth{}", &id[..11.min(id.len())]);
    let theirs_path = format!("/proc/{pid}/ns/net");
    let theirs = std::fs::File::open(&theirs_path).map_err(|e| Error::Io {
        what: "open",
        path: theirs_path.clone().into(),
        source: e,
    })?;
    cella_ns::link::add_veth(&host_name, "eth0", theirs.as_raw_fd()).map_err(ns_err)?;
    let host = cella_ns::link::index_of(&host_name)
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
        let eth0 = cella_ns::link::index_of("eth0")?.ok_or_else(|| cella_ns::persist::Error("eth0 missing".into()))?;
        cella_ns::link::add_address(eth0, ip, net.prefix)?;
        cella_ns::link::set_up(eth0)?;
        cella_ns::link::loopback_up()?;
        cella_ns::link::add_default_route(net.gateway)
    })();
    cella_sys::ns::setns(own.as_fd(), cella_sys::ns::CLONE_NEWNET).map_err(|e| Error::Io {
        what: "return to",
        path: "/proc/self/ns/net".into(),
        source: e,
    })?;
    inside.map_err(ns_err).map_err(io("configure the container's eth0"))
}

/// The hosts file of a container on a network: its own names and those of
/// the other running containers on it.
pub fn hosts_file(me: &Container, hostname: &str, peers: &[Container]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if me.state.ip_address.is_empty() {
        s += &format!("127.0.1.1\t{hostname}\n");
    } else {
        s += &format!("{}\t{hostname} {}\n", me.state.ip_address, me.name);
    }
    for p in peers.iter().filter(|p| p.id != me.id && !p.state.ip_address.is_empty()) {
        s += &format!("{}\t{} {}\n", p.state.ip_address, p.name, p.short_id());
    }
    s
}

/// Rewrites (in place: the file is bind-mounted) the hosts file of every
/// running container on the bridge network, so names resolve both ways.
pub fn refresh_hosts(paths: &Paths) {
    let Ok(all) = container::list(paths) else { return };
    let on_net: Vec<Container> = all
        .into_iter()
        .filter(|c| c.config.network == "bridge" && c.state.status == Status::Running && !c.state.ip_address.is_empty())
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
