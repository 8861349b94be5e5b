//! /etc/hosts of containers: themselves, and the containers on the same
//! networks, kept current as they come and go.

use crate::container::{self, Container, Status};
use crate::store::paths::Paths;

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
