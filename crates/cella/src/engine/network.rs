//! `cella network`: bridge networks.

use crate::table::Table;
use anyhow::Result;
use cella_engine::net;
use cella_engine::paths::Paths;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Make a bridge network (default subnet: the first free 10.89.N.0/24)
    Create {
        #[arg(long = "subnet")]
        subnet: Option<String>,
        #[arg(long = "gateway")]
        gateway: Option<String>,
        name: String,
    },
    /// List networks
    Ls {
        /// Only names
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
    },
    /// Details of networks as JSON (with their containers)
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks no container uses
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Give a running container an interface on another network
    Connect {
        /// Its address there
        #[arg(long = "ip")]
        ip: Option<std::net::Ipv4Addr>,
        network: String,
        container: String,
    },
    /// Take a container off a network it was connected to
    Disconnect { network: String, container: String },
}

pub fn run(paths: &Paths, cmd: NetworkCommand) -> Result<i32> {
    match cmd {
        NetworkCommand::Create { subnet, gateway, name } => {
            let _lock = cella_engine::store::lock(paths)?;
            let n = net::create(paths, &name, subnet.as_deref(), gateway.as_deref())?;
            println!("{}", n.name);
        }
        NetworkCommand::Ls { quiet } => {
            let all = net::list(paths);
            if quiet {
                for n in all {
                    println!("{}", n.name);
                }
            } else {
                let mut t = Table::new(&["NAME", "SUBNET", "GATEWAY", "BRIDGE"], &[false; 4]);
                for n in all {
                    t.rows.push(vec![
                        n.name,
                        format!("{}/{}", n.subnet, n.prefix),
                        n.gateway.to_string(),
                        n.bridge,
                    ]);
                }
                t.print(false, false);
            }
        }
        NetworkCommand::Inspect { names } => {
            let containers = cella_engine::container::list(paths)?;
            let mut out = Vec::new();
            for name in &names {
                let n = net::find(paths, name)?;
                let members: Vec<serde_json::Value> = containers
                    .iter()
                    .filter_map(|c| {
                        let on = c.config.network == n.name || c.addresses().iter().any(|(m, _)| *m == n.name);
                        let ip = c.addresses().into_iter().find(|(m, _)| *m == n.name).map(|(_, ip)| ip);
                        on.then(|| serde_json::json!({"Id": c.id, "Name": c.name, "IPAddress": ip.unwrap_or_default()}))
                    })
                    .collect();
                let mut v = serde_json::to_value(&n)?;
                v["Containers"] = members.into();
                out.push(v);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Connect { ip, network, container } => {
            net::connect(paths, &container, &network, ip)?;
        }
        NetworkCommand::Disconnect { network, container } => {
            net::disconnect(paths, &container, &network)?;
        }
        NetworkCommand::Rm { names } => {
            return super::each(&names, |n| {
                let _lock = cella_engine::store::lock(paths)?;
                net::remove(paths, n)?;
                println!("{n}");
                Ok(())
            });
        }
    }
    Ok(0)
}
