//! `cella network`: bridge networks.

use crate::table::Table;
use anyhow::Result;
use cella_engine::Engine;
use clap::Subcommand;

#[derive(Subcommand)]
#[command(defer = true)]
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
    #[command(visible_alias = "list")]
    Ls {
        /// Only names
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// table (default), json, or a Go template ('{{.Name}} {{.Driver}}')
        #[arg(long = "format", default_value = "table")]
        format: String,
    },
    /// Details of networks as JSON (with their containers)
    Inspect {
        /// A Go template rendered for each ('{{.Subnet}}'), or json
        #[arg(short = 'f', long = "format")]
        format: Option<String>,
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

pub fn run(e: &Engine, cmd: NetworkCommand) -> Result<i32> {
    match cmd {
        NetworkCommand::Create { subnet, gateway, name } => {
            let n = e.create_network(&name, subnet.as_deref(), gateway.as_deref())?;
            println!("{}", n.name);
        }
        NetworkCommand::Ls { quiet, format } => {
            let all = e.networks();
            if quiet {
                for n in all {
                    println!("{}", n.name);
                }
            } else if format != "table" {
                // docker's fields (ID is the name: networks have no other id).
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "ID": n.name, "Name": n.name, "Driver": "bridge", "Scope": "local",
                            "Subnet": format!("{}/{}", n.subnet, n.prefix), "Gateway": n.gateway.to_string(),
                            "Bridge": n.bridge,
                        })
                    })
                    .collect();
                if format == "json" {
                    for r in &rows {
                        println!("{}", serde_json::to_string(r)?);
                    }
                } else {
                    crate::template::print_all(&format, &rows)?;
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
        NetworkCommand::Inspect { names, format } => {
            let mut out = Vec::new();
            for name in &names {
                let n = e.network(name)?;
                let members: Vec<serde_json::Value> = e
                    .containers_on(&n.name)?
                    .iter()
                    .map(|c| {
                        let ip = c.addresses().into_iter().find(|(m, _)| *m == n.name).map(|(_, ip)| ip);
                        serde_json::json!({"Id": c.id, "Name": c.name, "IPAddress": ip.unwrap_or_default()})
                    })
                    .collect();
                let mut v = serde_json::to_value(&n)?;
                v["Containers"] = members.into();
                out.push(v);
            }
            crate::template::print_documents(format.as_deref(), &out)?;
        }
        NetworkCommand::Connect { ip, network, container } => {
            e.connect(&container, &network, ip)?;
        }
        NetworkCommand::Disconnect { network, container } => {
            e.disconnect(&container, &network)?;
        }
        NetworkCommand::Rm { names } => {
            return super::each(&names, |n| {
                e.remove_network(n)?;
                println!("{n}");
                Ok(())
            });
        }
    }
    Ok(0)
}
