//! Bridge networking: a Linux bridge per network (`mod`: the records),
//! addresses from a store-backed IPAM (`ipam`), a veth pair per container
//! with its peer made directly in the container's network namespace
//! (`link`), networks joined and left while running (`join`), /etc/hosts
//! entries for the containers on the same network (`hosts`), published
//! ports (`ports`), and pasta for rootless containers (`usernet`).

mod hosts;
mod ipam;
mod join;
mod link;
pub mod ports;
pub mod usernet;

pub use hosts::{hosts_file, refresh_hosts};
pub use ipam::{allocate, claim, release};
pub use join::{connect, disconnect, release_attachments};
pub use link::{attach, delete_link, detach, parse_mac};

use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::net::Ipv4Addr;
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

pub(crate) fn ips_dir(paths: &Paths, net: &Network) -> PathBuf {
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
    crate::store::ids::check_name(name).map_err(|_| Error::Invalid(format!("invalid network name {name:?}")))?;
    let reserved = name == "bridge" || crate::container::config::RESERVED_NETWORK_NAMES.contains(&name);
    if reserved || name.contains(':') {
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
            if !ipam::candidates(&probe).any(|c| c == g) && g != Ipv4Addr::from(u32::from(net_addr) + 1) {
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
        err: e,
    })?;
    crate::store::write_json(&record(paths, name), &net, crate::store::Durability::Synced)?;
    Ok(net)
}

/// `cella network rm`: refused while a container uses it; its bridge and
/// rules go (when this namespace has them). The caller holds the store lock.
pub fn remove(paths: &Paths, name: &str) -> Result<()> {
    if name == "bridge" {
        return Err(Error::Invalid("the built-in bridge network cannot be removed".into()));
    }
    let net = find(paths, name)?;
    let users: Vec<String> = crate::container::list(paths)?
        .into_iter()
        .filter(|c| c.config.network.is_on(name) || c.state.attachments.iter().any(|a| a.network == name))
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
    let _ = crate::network::ports::forget_network(&net);
    let _ = std::fs::remove_file(paths.runroot.join(format!(".nft-{}", net.name)));
    let dir = paths.root.join("networks").join(name);
    std::fs::remove_dir_all(&dir).map_err(|e| Error::Io {
        what: "remove",
        path: dir,
        err: e,
    })
}
