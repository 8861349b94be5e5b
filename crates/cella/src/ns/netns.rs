//! `cella ns netns`: `ip netns` subcommands on the same /run/netns.

use anyhow::{bail, Result};
use cella_ns::netns;
use clap::Subcommand;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum NetnsCommand {
    /// Create a network namespace kept at /run/netns/NAME
    Add { name: String },
    /// Name the network namespace of a process (a PID or a cella container)
    Attach { name: String, target: String },
    /// List named network namespaces (with their NETNSID, as `ip netns list`)
    #[command(alias = "list")]
    Ls {
        /// JSON output
        #[arg(short = 'J', long = "json")]
        json: bool,
    },
    /// Remove names (the namespace ends with its last process)
    #[command(alias = "delete")]
    Del {
        /// Every named network namespace
        #[arg(long = "all", conflicts_with = "names")]
        all: bool,
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
    },
    /// Run a command in a named network namespace, with its /sys and
    /// /etc/netns/NAME/* over /etc
    Exec {
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// The processes in a named network namespace
    Pids {
        name: String,
        /// JSON output
        #[arg(short = 'J', long = "json")]
        json: bool,
    },
    /// The names of a process's network namespace (default: this process)
    Identify {
        target: Option<String>,
        /// JSON output
        #[arg(short = 'J', long = "json")]
        json: bool,
    },
    /// Assign a NETNSID (a number, or auto)
    Set { name: String, id: String },
}

pub fn run(cmd: NetnsCommand) -> Result<()> {
    match cmd {
        NetnsCommand::Add { name } => {
            netns::add(&name)?;
        }
        NetnsCommand::Attach { name, target } => {
            netns::attach(&name, crate::target::pid_of(&target)?)?;
        }
        NetnsCommand::Ls { json } => {
            let named = netns::list();
            if json {
                println!("{}", serde_json::to_string_pretty(&named)?);
            } else {
                for n in named {
                    match n.id {
                        Some(id) => println!("{} (id: {id})", n.name),
                        None => println!("{}", n.name),
                    }
                }
            }
        }
        NetnsCommand::Del { all, names } => {
            let names = if all {
                netns::list().into_iter().map(|n| n.name).collect()
            } else {
                names
            };
            // Check every name first: a bad one fails the command before any is removed.
            for n in &names {
                netns::path_of(n)?;
            }
            for n in &names {
                netns::delete(n)?;
            }
        }
        NetnsCommand::Exec { name, command } => {
            for w in netns::enter_for_exec(&name)? {
                eprintln!("cella: warning: {w}");
            }
            return Err(super::exec(&command));
        }
        NetnsCommand::Pids { name, json } => {
            let pids = netns::pids(&name)?;
            if json {
                println!("{}", serde_json::json!({ "pids": pids }));
            } else {
                // `ip netns pids` prints bare PIDs, one per line.
                for p in pids {
                    println!("{p}");
                }
            }
        }
        NetnsCommand::Identify { target, json } => {
            let pid = match target {
                Some(t) => crate::target::pid_of(&t)?,
                None => cella_sys::process::getpid(),
            };
            let names = netns::identify(pid)?;
            if json {
                println!("{}", serde_json::json!({ "names": names }));
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
        NetnsCommand::Set { name, id } => {
            let id = match id.as_str() {
                "auto" => -1,
                n => match n.parse::<i32>() {
                    Ok(v) if v >= 0 => v,
                    _ => bail!("netns set {name} {id}: the id must be a number ≥ 0 or auto"),
                },
            };
            netns::set_id(&name, id)?;
        }
    }
    Ok(())
}
