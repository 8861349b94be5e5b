//! `cella system df|prune|info`: the store as a whole.

use anyhow::Result;
use cella_engine::{Engine, Status};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Disk use of images, containers and volumes, and what could go
    Df {
        /// table (default), json, or a Go template ('{{.Type}} {{.Size}}')
        #[arg(long = "format", default_value = "table")]
        format: String,
    },
    /// Remove stopped containers, unused networks, dangling images (and unused volumes with --volumes)
    Prune(PruneArgs),
    /// What this engine has (as `cella info`)
    Info(super::show::VersionArgs),
}

#[derive(Args)]
pub struct PruneArgs {
    /// Every unused image, not only those without a name
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Unused anonymous volumes too
    #[arg(long = "volumes")]
    volumes: bool,
    /// Do not ask
    #[arg(short = 'f', long = "force")]
    force: bool,
}

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", (part * 100).checked_div(whole).unwrap_or(0))
}

pub fn run(e: &Engine, cmd: SystemCommand) -> Result<i32> {
    match cmd {
        SystemCommand::Info(a) => super::show::info(e, a),
        SystemCommand::Df { format } => {
            let rows: Vec<serde_json::Value> = e
                .disk_usage()?
                .iter()
                .map(|u| {
                    let h = crate::table::human_bytes;
                    json!({
                        "Type": u.kind, "TotalCount": u.total.to_string(), "Active": u.active.to_string(),
                        "Size": h(u.size),
                        "Reclaimable": format!("{} ({})", h(u.reclaimable), percent(u.reclaimable, u.size)),
                    })
                })
                .collect();
            match format.as_str() {
                "table" => {
                    let mut t = crate::table::Table::new(
                        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                        &[false, true, true, true, true],
                    );
                    for r in &rows {
                        let cell = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                        t.rows.push(
                            ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                                .map(cell)
                                .to_vec(),
                        );
                    }
                    t.print(false, false);
                }
                "json" => {
                    for r in &rows {
                        println!("{}", serde_json::to_string(r)?);
                    }
                }
                t => crate::template::print_all(t, &rows)?,
            }
            Ok(0)
        }
        SystemCommand::Prune(a) => {
            let mut what = vec![
                "all stopped containers",
                "all networks not used by at least one container",
            ];
            if a.volumes {
                what.push("all anonymous volumes not used by at least one container");
            }
            what.push(if a.all {
                "all images without at least one container associated to them"
            } else {
                "all dangling images"
            });
            if !super::manage::confirm(a.force, &what.join("\n  - "))? {
                return Ok(0);
            }
            let mut failed = false;
            let section = |title: &str, items: Vec<String>| {
                if !items.is_empty() {
                    println!("{title}:");
                    for i in items {
                        println!("{i}");
                    }
                    println!();
                }
            };
            let mut containers = Vec::new();
            for c in e.containers()? {
                if matches!(c.state.status, Status::Exited | Status::Created) && !c.monitor_alive() {
                    match e.remove(&c, false, false) {
                        Ok(()) => containers.push(c.id.clone()),
                        Err(err) => {
                            eprintln!("cella: {}: {err}", c.name);
                            failed = true;
                        }
                    }
                }
            }
            section("Deleted Containers", containers);
            let mut networks = Vec::new();
            for n in e.networks() {
                if n.name == "bridge" || !e.containers_on(&n.name)?.is_empty() {
                    continue;
                }
                match e.remove_network(&n.name) {
                    Ok(()) => networks.push(n.name),
                    Err(err) => {
                        eprintln!("cella: network {}: {err}", n.name);
                        failed = true;
                    }
                }
            }
            section("Deleted Networks", networks);
            if a.volumes {
                section("Deleted Volumes", e.prune_volumes(false)?);
            }
            section("Deleted Images", e.prune_images(a.all)?);
            println!("Total reclaimed space: 0B");
            Ok(if failed { super::ENGINE_FAILED } else { 0 })
        }
    }
}
