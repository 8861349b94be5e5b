//! `cella ns`: namespace tools with util-linux's conventions.

use anyhow::{bail, Result};
use cella_ns::ls::{self, Namespace};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum NsCommand {
    /// List namespaces, as lsns does, plus those only a bind mount keeps alive
    Ls(LsArgs),
}

#[derive(Args)]
pub struct LsArgs {
    /// Only namespaces of this type (cgroup, ipc, mnt, net, pid, time, user, uts); repeatable
    #[arg(short = 't', long = "type")]
    types: Vec<String>,
    /// Only the namespaces of this process
    #[arg(short = 'p', long = "task")]
    pid: Option<i32>,
    /// Columns to show, comma-separated (NS,TYPE,PATH,NPROCS,PID,PPID,COMMAND,UID,USER,NSFS,PNS,ONS)
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// JSON output, as lsns -J
    #[arg(short = 'J', long = "json")]
    json: bool,
    /// Raw output: columns separated by one space, no alignment
    #[arg(short = 'r', long = "raw")]
    raw: bool,
    /// No header line
    #[arg(short = 'n', long = "noheadings")]
    noheadings: bool,
}

pub fn run(cmd: NsCommand) -> Result<()> {
    match cmd {
        NsCommand::Ls(a) => list(a),
    }
}

fn list(a: LsArgs) -> Result<()> {
    for t in &a.types {
        if !ls::TYPES.contains(&t.as_str()) {
            bail!("unknown namespace type {t:?}: use one of {}", ls::TYPES.join(", "));
        }
    }
    let cols: Vec<String> = match &a.output {
        Some(o) => o.split(',').map(|c| c.trim().to_ascii_uppercase()).collect(),
        None => ls::DEFAULT_COLUMNS.iter().map(|c| c.to_string()).collect(),
    };
    for c in &cols {
        if !ls::COLUMNS.contains(&c.as_str()) {
            bail!("unknown column {c:?}: use {}", ls::COLUMNS.join(","));
        }
    }
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut all = ls::scan();
    if let Some(pid) = a.pid {
        let mine: Vec<(String, u64)> = ls::TYPES
            .iter()
            .filter_map(|k| {
                let link = std::fs::read_link(format!("/proc/{pid}/ns/{k}")).ok()?;
                ls::parse_link(&link.to_string_lossy()).map(|(k, i)| (k.to_string(), i))
            })
            .collect();
        if mine.is_empty() {
            bail!("process {pid} does not exist (or its namespaces cannot be read)");
        }
        all.retain(|n| mine.iter().any(|(k, i)| *k == n.kind && *i == n.ns));
    }
    if !a.types.is_empty() {
        all.retain(|n| a.types.contains(&n.kind));
    }
    if a.json {
        let rows: Vec<serde_json::Value> = all.iter().map(|n| ls::json_row(n, &cols)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "namespaces": rows }))?
        );
        return Ok(());
    }
    print_table(&all, &cols, a.raw, a.noheadings);
    Ok(())
}

fn print_table(all: &[Namespace], cols: &[&str], raw: bool, noheadings: bool) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    if !noheadings {
        rows.push(cols.iter().map(|c| c.to_string()).collect());
    }
    rows.extend(all.iter().map(|n| cols.iter().map(|c| ls::cell(n, c)).collect()));
    if raw {
        for r in rows {
            println!("{}", r.join(" "));
        }
        return;
    }
    let mut widths = vec![0; cols.len()];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join(" ").trim_end());
    }
}
