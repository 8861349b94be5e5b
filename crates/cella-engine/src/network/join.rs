//! `network connect` and `disconnect`: further interfaces of a running
//! container (eth1, eth2…), kept in its networks.json, and given back
//! when it ends.

use super::ipam::{allocate, claim, release};
use super::link::{attach_as, delete_link};
use super::{find, refresh_hosts};
use crate::container::{self, Container, Status};
use crate::error::{Error, Result};
use crate::store::paths::Paths;
use std::net::Ipv4Addr;

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
        .and_then(|()| crate::network::ports::ensure_once(paths, &net));
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
    c.save_attachments(paths)?;
    drop(_lock);
    refresh_hosts(paths);
    Ok(c)
}

/// `cella network disconnect NET CONTAINER`: the interface and address go.
pub fn disconnect(paths: &Paths, name: &str, net_name: &str) -> Result<()> {
    let _lock = crate::store::lock(paths)?;
    let mut c = container::find(paths, name)?;
    if c.config.network.is_on(net_name) {
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
    c.save_attachments(paths)?;
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
