//! NAT and published ports with nftables (the `nft` binary, as netavark and
//! firewalld drive it): one table of cella's own, `ip cella`, with
//! masquerade for traffic leaving the bridge and a `ports` chain of DNAT
//! rules, each tagged with its container's id so it goes with the container.

use crate::container::config::Publish;
use crate::error::{Error, Result};
use crate::network::Network;
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
        return Err(Error::Firewall(String::from_utf8_lossy(&out.stderr).trim().to_string()));
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
        return Err(Error::Firewall(String::from_utf8_lossy(&out.stderr).trim().to_string()));
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
            err: e,
        })?;
    }
    Ok(())
}

/// `ensure`, once per network and bridge: a marker under the runtime state
/// directory (a tmpfs, cleared at boot like the rules) saves the three `nft`
/// runs that checking takes on every container start. The marker names the
/// bridge's interface index and is trusted only while that very bridge
/// exists with the sysctls set (cheap reads): a bridge deleted and made
/// again gets its route_localnet again. A table flushed by hand is found
/// by `publish` failing, which then calls `ensure` and tries once more.
pub fn ensure_once(paths: &crate::store::paths::Paths, net: &Network) -> Result<()> {
    let marker = paths.runroot.join(format!(".nft-{}", net.name));
    // The bridge is looked up over netlink: /sys may show another namespace's links.
    let index = cella_ns::link::index_of(&net.bridge).ok().flatten();
    let sysctl_on = |p: &str| std::fs::read_to_string(p).is_ok_and(|v| v.trim() == "1");
    let trusted = index.is_some_and(|i| std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == i.to_string()))
        && sysctl_on("/proc/sys/net/ipv4/ip_forward")
        && sysctl_on(&format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge));
    if trusted {
        return Ok(());
    }
    ensure(net)?;
    if let Some(i) = index {
        let _ = std::fs::write(&marker, i.to_string());
    }
    Ok(())
}

/// `publish`, after making sure the table and this network's rules exist
/// again if the first try fails (a ruleset flushed since the marker was
/// written).
pub fn publish_checked(net: &Network, id: &str, ip: Ipv4Addr, ports: &[Publish]) -> Result<()> {
    match publish(id, ip, ports) {
        Err(Error::Firewall(_)) => {
            ensure(net)?;
            publish(id, ip, ports)
        }
        other => other,
    }
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
    fn rules_are_tagged_with_their_container_and_port() {
        let id = "a".repeat(64);
        let p = Publish::parse("127.0.0.1:18080:8080").unwrap();
        assert!(tag(&id, &p).len() <= 128, "nft's comment limit");
        assert_eq!(untag(&tag(&id, &p)), Some((id.clone(), p)));
        assert_eq!(untag("something else"), None);
    }
}
