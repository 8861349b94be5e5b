//! NAT and published ports with nftables (the `nft` binary, as netavark and
//! firewalld drive it): one table of cella's own, `ip cella`, with
//! masquerade for traffic leaving the bridge and a `ports` chain of DNAT
//! rules, each tagged with its container's id so it goes with the container.

use crate::error::{Error, Result};
use crate::net::Network;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

pub const TABLE: &str = "cella";

fn nft(script: &str) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Invalid(format!("run nft: {e} (install the nftables package)")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| Error::Invalid(format!("nft: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Invalid(format!("nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn nft_json(args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new("nft")
        .arg("-j")
        .args(args)
        .output()
        .map_err(|e| Error::Invalid(format!("run nft: {e} (install the nftables package)")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Error::Invalid(format!("nft -j: {e}")))
}

/// Creates the table (idempotent: `add` keeps what exists) and this
/// network's rules (once; tagged "cella-net NAME"), turns on forwarding, and
/// lets loopback traffic reach published ports.
pub fn ensure(net: &Network) -> Result<()> {
    let exists = nft_json(&["list", "table", "ip", TABLE]).is_ok();
    let mut script = format!(
        "add table ip {TABLE}\n\
         add chain ip {TABLE} ports\n\
         add chain ip {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
         add chain ip {TABLE} output {{ type nat hook output priority -100; policy accept; }}\n\
         add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         add chain ip {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}\n"
    );
    if !exists {
        script += &format!(
            "add rule ip {TABLE} prerouting fib daddr type local jump ports\n\
             add rule ip {TABLE} output fib daddr type local jump ports\n\
             add rule ip {TABLE} postrouting ip saddr 127.0.0.0/8 oifname \"cella*\" masquerade\n\
             add rule ip {TABLE} forward ct state established,related accept\n"
        );
    }
    nft(&script)?;
    let tag = format!("cella-net {}", net.name);
    let has = |chain: &str| {
        nft_json(&["-a", "list", "chain", "ip", TABLE, chain]).is_ok_and(|v| {
            v["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["rule"]["comment"].as_str() == Some(tag.as_str()))
        })
    };
    if !has("forward") {
        let (b, subnet) = (&net.bridge, format!("{}/{}", net.subnet, net.prefix));
        // Other networks' bridges are out of reach; the outside and the
        // containers of the same network are not.
        nft(&format!(
            "add rule ip {TABLE} postrouting ip saddr {subnet} oifname != \"{b}\" masquerade comment \"{tag}\"\n\
             insert rule ip {TABLE} forward iifname \"{b}\" oifname \"cella*\" oifname != \"{b}\" drop comment \"{tag}\"\n\
             add rule ip {TABLE} forward iifname \"{b}\" accept comment \"{tag}\"\n\
             add rule ip {TABLE} forward oifname \"{b}\" ct status dnat accept comment \"{tag}\"\n"
        ))?;
    }
    for (path, value) in [
        ("/proc/sys/net/ipv4/ip_forward".to_string(), "1"),
        (format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge), "1"),
    ] {
        std::fs::write(&path, value).map_err(|e| Error::Io {
            what: "write",
            path: path.into(),
            source: e,
        })?;
    }
    Ok(())
}

/// `ensure`, once per network and boot: a marker under the runtime state
/// directory (a tmpfs, cleared at boot like the rules) saves the three `nft`
/// runs that checking takes on every container start. Flushing the ruleset
/// by hand needs the marker removed too (or `cella network rm`).
pub fn ensure_once(paths: &crate::paths::Paths, net: &Network) -> Result<()> {
    let marker = paths.runroot.join(format!(".nft-{}", net.name));
    // The bridge is looked up over netlink: /sys may show another namespace's links.
    if marker.exists() && cella_ns::link::index_of(&net.bridge).is_ok_and(|i| i.is_some()) {
        return Ok(());
    }
    ensure(net)?;
    let _ = std::fs::write(&marker, b"");
    Ok(())
}

/// Removes a network's rules (when its network is removed).
pub fn forget_network(net: &Network) -> Result<()> {
    let tag = format!("cella-net {}", net.name);
    let mut script = String::new();
    for chain in ["postrouting", "forward"] {
        let Ok(v) = nft_json(&["-a", "list", "chain", "ip", TABLE, chain]) else {
            continue;
        };
        for o in v["nftables"].as_array().into_iter().flatten() {
            if o["rule"]["comment"].as_str() == Some(tag.as_str()) {
                if let Some(h) = o["rule"]["handle"].as_u64() {
                    script += &format!("delete rule ip {TABLE} {chain} handle {h}\n");
                }
            }
        }
    }
    if script.is_empty() {
        return Ok(());
    }
    nft(&script).map(drop)
}

/// One `-p [IP:][HOSTPORT:]CPORT[/tcp|udp]` (port ranges as A-B on both sides).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Publish {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    /// Ports in the range (1 for a single port).
    pub count: u16,
    pub proto: String,
}

fn range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a > 0 && b >= a).then(|| (a, b - a + 1))
        }
        None => s.parse().ok().filter(|p| *p > 0).map(|p| (p, 1)),
    }
}

/// Parses a -p value; a missing host port is given by `free_port` (-P, or -p CPORT).
pub fn parse_publish(spec: &str, free_port: &mut dyn FnMut() -> u16) -> Result<Publish> {
    let bad = || Error::Invalid(format!("-p {spec}: use [IP:][HOSTPORT:]CPORT[/tcp|udp]"));
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, cport) = match parts[..] {
        [c] => (None, None, c),
        [h, c] => (None, Some(h), c),
        [i, h, c] => (Some(i), Some(h).filter(|h| !h.is_empty()), c),
        _ => return Err(bad()),
    };
    let host_ip = ip
        .filter(|i| !i.is_empty())
        .map(|i| i.parse::<Ipv4Addr>().map_err(|_| bad()))
        .transpose()?;
    let (container_port, count) = range(cport).ok_or_else(bad)?;
    let host_port = match host {
        Some(h) => {
            let (p, n) = range(h).ok_or_else(bad)?;
            if n != count {
                return Err(Error::Invalid(format!(
                    "-p {spec}: the host and container ranges differ in size"
                )));
            }
            p
        }
        None if count == 1 => free_port(),
        None => {
            return Err(Error::Invalid(format!(
                "-p {spec}: a container port range needs host ports"
            )))
        }
    };
    Ok(Publish {
        host_ip,
        host_port,
        container_port,
        count,
        proto: proto.into(),
    })
}

/// The DNAT rules for a container's ports; refuses a host port another
/// container has.
pub fn publish(id: &str, ip: Ipv4Addr, ports: &[Publish]) -> Result<()> {
    let taken = published()?;
    for p in ports {
        for (owner, q) in &taken {
            let overlap = p.proto == q.proto
                && p.host_port < q.host_port + q.count
                && q.host_port < p.host_port + p.count
                && (p.host_ip.is_none() || q.host_ip.is_none() || p.host_ip == q.host_ip);
            if overlap {
                return Err(Error::Conflict(format!(
                    "port {}/{} is already published by container {}",
                    p.host_port,
                    p.proto,
                    &owner[..12.min(owner.len())]
                )));
            }
        }
    }
    let mut script = String::new();
    for p in ports {
        let daddr = p.host_ip.map(|i| format!("ip daddr {i} ")).unwrap_or_default();
        let (hp, cp) = if p.count == 1 {
            (p.host_port.to_string(), p.container_port.to_string())
        } else {
            (
                format!("{}-{}", p.host_port, p.host_port + p.count - 1),
                format!("{}-{}", p.container_port, p.container_port + p.count - 1),
            )
        };
        // The comment (at most 128 bytes) carries the owner and the mapping.
        script += &format!(
            "add rule ip {TABLE} ports {daddr}{} dport {hp} dnat to {ip}:{cp} comment \"{}\"\n",
            p.proto,
            tag(id, p)
        );
    }
    if !script.is_empty() {
        nft(&script)?;
    }
    Ok(())
}

/// Every published port: (container id, mapping), from the rules' comments.
pub fn published() -> Result<Vec<(String, Publish)>> {
    let Ok(v) = nft_json(&["-a", "list", "chain", "ip", TABLE, "ports"]) else {
        return Ok(Vec::new()); // no table yet
    };
    Ok(rules(&v).into_iter().filter_map(|(_, c)| c).collect())
}

/// "cella ID IP|* HOSTPORT COUNT CPORT PROTO".
fn tag(id: &str, p: &Publish) -> String {
    let ip = p.host_ip.map_or_else(|| "*".to_string(), |i| i.to_string());
    format!(
        "cella {id} {ip} {} {} {} {}",
        p.host_port, p.count, p.container_port, p.proto
    )
}

fn untag(s: &str) -> Option<(String, Publish)> {
    let f: Vec<&str> = s.split(' ').collect();
    let ["cella", id, ip, hp, n, cp, proto] = f[..] else {
        return None;
    };
    Some((
        id.to_string(),
        Publish {
            host_ip: if ip == "*" { None } else { Some(ip.parse().ok()?) },
            host_port: hp.parse().ok()?,
            count: n.parse().ok()?,
            container_port: cp.parse().ok()?,
            proto: proto.to_string(),
        },
    ))
}

fn rules(v: &serde_json::Value) -> Vec<(u64, Option<(String, Publish)>)> {
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("rule"))
        .filter_map(|r| {
            let handle = r["handle"].as_u64()?;
            Some((handle, untag(r["comment"].as_str()?)))
        })
        .collect()
}

/// Removes a container's rules.
pub fn unpublish(id: &str) -> Result<()> {
    let Ok(v) = nft_json(&["-a", "list", "chain", "ip", TABLE, "ports"]) else {
        return Ok(());
    };
    let script: String = rules(&v)
        .into_iter()
        .filter(|(_, c)| c.as_ref().is_some_and(|(owner, _)| owner == id))
        .map(|(h, _)| format!("delete rule ip {TABLE} ports handle {h}\n"))
        .collect();
    if script.is_empty() {
        return Ok(());
    }
    nft(&script).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_parse_as_docker_reads_them() {
        let mut next = 40000;
        let mut free = || {
            next += 1;
            next
        };
        let p = parse_publish("127.0.0.1:18080:8080", &mut free).unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.count, p.proto.as_str()),
            (Some(Ipv4Addr::LOCALHOST), 18080, 8080, 1, "tcp")
        );
        let p = parse_publish("5353:53/udp", &mut free).unwrap();
        assert_eq!((p.host_ip, p.host_port, p.proto.as_str()), (None, 5353, "udp"));
        let p = parse_publish("8000-8002:9000-9002", &mut free).unwrap();
        assert_eq!((p.host_port, p.container_port, p.count), (8000, 9000, 3));
        assert_eq!(parse_publish("80", &mut free).unwrap().host_port, 40001);
        assert_eq!(parse_publish("0.0.0.0::80", &mut free).unwrap().host_port, 40002);
        let id = "a".repeat(64);
        let p = parse_publish("127.0.0.1:18080:8080", &mut free).unwrap();
        assert!(tag(&id, &p).len() <= 128, "nft's comment limit");
        assert_eq!(untag(&tag(&id, &p)), Some((id.clone(), p)));
        assert_eq!(untag("something else"), None);
        for bad in [
            "",
            "x",
            "1:2:3:4",
            "80/sctp",
            "8000-8001:9000",
            "1.2.3:80:80",
            "0:80",
            "9000-8000:1-2",
        ] {
            assert!(parse_publish(bad, &mut free).is_err(), "{bad:?}");
        }
    }
}
