//! `cella volume create|ls|inspect|rm|prune`: docker's named volumes.

use anyhow::{bail, Result};
use cella_engine::{Engine, Volume};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Make a volume (a random name when none is given); an existing one is kept
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Details of volumes as JSON
    Inspect(InspectArgs),
    /// Remove volumes no container uses
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones, or all with -a)
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// KEY=VALUE metadata
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Only the local driver exists
    #[arg(short = 'd', long = "driver", default_value = "local")]
    driver: String,
    name: Option<String>,
}

#[derive(Args)]
pub struct LsArgs {
    /// Only names
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// table (default), json, or a Go template ('{{.Name}}', 'table {{.Name}}\t{{.Driver}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// dangling=true|false, name=PART, label=KEY[=VALUE], driver=local; repeatable
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A Go template rendered for each ('{{.Mountpoint}}'), or json
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// A volume that is not there is no error
    #[arg(short = 'f', long = "force")]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Every unused volume, not only anonymous ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Do not ask
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// docker's `volume inspect` document.
fn document(v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": {},
        "Scope": v.scope,
    })
}

/// A volume as `volume ls` templates name its fields.
fn row(v: &Volume) -> Value {
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": v.mountpoint,
        "Scope": v.scope,
        "CreatedAt": v.created_at,
        "Labels": v.labels.iter().map(|(k, val)| format!("{k}={val}")).collect::<Vec<_>>().join(","),
    })
}

/// One `--filter` term, parsed once.
enum Term {
    Dangling(bool),
    Name(String),
    Label(String, Option<String>),
    Driver(String),
}

fn parse_filters(specs: &[String]) -> Result<Vec<Term>> {
    specs
        .iter()
        .map(|spec| {
            let Some((k, v)) = spec.split_once('=') else {
                bail!("invalid filter {spec:?}: use KEY=VALUE");
            };
            Ok(match k {
                "dangling" => Term::Dangling(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter {spec:?}: dangling is true or false"),
                }),
                "name" => Term::Name(v.to_string()),
                "driver" => Term::Driver(v.to_string()),
                "label" => match v.split_once('=') {
                    Some((k, val)) => Term::Label(k.to_string(), Some(val.to_string())),
                    None => Term::Label(v.to_string(), None),
                },
                _ => bail!("invalid filter {spec:?}: keys are dangling, name, label and driver"),
            })
        })
        .collect()
}

pub fn run(e: &Engine, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                bail!("volume driver {:?}: only local is supported", a.driver);
            }
            let labels = super::run::pairs(a.label, "--label", true)?;
            let v = e.create_volume(a.name.as_deref(), labels)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => {
            let terms = parse_filters(&a.filter)?;
            let mut list = Vec::new();
            for v in e.volumes()? {
                let mut keep = true;
                for t in &terms {
                    keep &= match t {
                        Term::Dangling(want) => e.volume_users(&v.name)?.is_empty() == *want,
                        Term::Name(part) => v.name.contains(part.as_str()),
                        Term::Driver(d) => v.driver == *d,
                        Term::Label(k, val) => v
                            .labels
                            .get(k)
                            .is_some_and(|have| val.as_ref().is_none_or(|want| want == have)),
                    };
                }
                if keep {
                    list.push(v);
                }
            }
            if a.quiet {
                for v in &list {
                    println!("{}", v.name);
                }
            } else if a.format == "table" {
                let mut t = crate::table::Table::new(&["DRIVER", "VOLUME NAME"], &[false, false]);
                for v in &list {
                    t.rows.push(vec![v.driver.clone(), v.name.clone()]);
                }
                t.print(false, false);
            } else if a.format == "json" {
                for v in &list {
                    println!("{}", serde_json::to_string(&row(v))?);
                }
            } else {
                let rows: Vec<Value> = list.iter().map(row).collect();
                crate::template::print_all(&a.format, &rows)?;
            }
            Ok(0)
        }
        VolumeCommand::Inspect(a) => {
            let mut out = Vec::new();
            let mut failed = false;
            for n in &a.names {
                match e.volume(n) {
                    Ok(v) => out.push(document(&v)),
                    Err(err) => {
                        eprintln!("cella: {err}");
                        failed = true;
                    }
                }
            }
            crate::template::print_documents(a.format.as_deref(), &out)?;
            Ok(if failed { super::ENGINE_FAILED } else { 0 })
        }
        VolumeCommand::Rm(a) => super::each(&a.names, |n| {
            match e.remove_volume(n) {
                Err(cella_engine::Error::NotFound(_)) if a.force => return Ok(()),
                other => other?,
            }
            println!("{n}");
            Ok(())
        }),
        VolumeCommand::Prune(a) => {
            let what = if a.all {
                "all local volumes not used by at least one container"
            } else {
                "all anonymous local volumes not used by at least one container"
            };
            if !super::manage::confirm(a.force, what)? {
                return Ok(0);
            }
            let removed = e.prune_volumes(a.all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for n in removed {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: 0B");
            Ok(0)
        }
    }
}
