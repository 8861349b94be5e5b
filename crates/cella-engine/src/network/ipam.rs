//! Addresses from a store-backed IPAM: one file per address taken, named
//! by the address and holding the container's id, created exclusively.

use super::{ips_dir, Network};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::net::Ipv4Addr;
use std::path::PathBuf;

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
        err: e,
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
pub(super) fn candidates(net: &Network) -> impl Iterator<Item = Ipv4Addr> + '_ {
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
                    err: e,
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
