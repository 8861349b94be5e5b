//! `cella ns ls`: lsns's flags, columns and trees.

use crate::table::Table;
use anyhow::{bail, Result};
use cella_ns::ls::{self, Namespace, Tree};
use clap::Args;

#[derive(Args)]
pub struct LsArgs {
    /// Only namespaces of this type (cgroup, ipc, mnt, net, pid, time, user, uts); repeatable
    #[arg(short = 't', long = "type")]
    types: Vec<String>,
    /// Only the namespaces of this process (a PID or a cella container)
    #[arg(short = 'p', long = "task")]
    task: Option<String>,
    /// Columns, comma-separated; +COLS adds to the defaults
    /// (NS,TYPE,PATH,NPROCS,PID,PPID,COMMAND,UID,USER,NETNSID,NSFS,PNS,ONS)
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// JSON output, as lsns -J (a tree nests rows under "children")
    #[arg(short = 'J', long = "json")]
    json: bool,
    /// Raw output: columns separated by one space, no alignment, no tree lines
    #[arg(short = 'r', long = "raw")]
    raw: bool,
    /// No header line
    #[arg(short = 'n', long = "noheadings")]
    noheadings: bool,
    /// A flat list instead of lsns's default process tree
    #[arg(short = 'l', long = "list", conflicts_with = "tree")]
    list: bool,
    /// A tree of namespaces: by process (the default view), parent (pid and
    /// user namespaces) or owner (the owning user namespace; the default for --tree)
    #[arg(short = 'T', long = "tree", num_args = 0..=1, require_equals = true, default_missing_value = "owner")]
    tree: Option<String>,
}

fn columns(a: &LsArgs) -> Result<Vec<String>> {
    let mut defaults: Vec<String> = ls::DEFAULT_COLUMNS.iter().map(|c| c.to_string()).collect();
    // As lsns: listing network namespaces shows their ids and bind mounts.
    if a.types.iter().any(|t| t == "net") {
        let at = defaults.len() - 1;
        defaults.splice(at..at, ["NETNSID".to_string(), "NSFS".to_string()]);
    }
    let cols: Vec<String> = match &a.output {
        Some(o) => {
            let (base, list) = match o.strip_prefix('+') {
                Some(rest) => (defaults, rest),
                None => (Vec::new(), o.as_str()),
            };
            base.into_iter()
                .chain(list.split(',').map(|c| c.trim().to_ascii_uppercase()))
                .collect()
        }
        None => defaults,
    };
    for c in &cols {
        if !ls::COLUMNS.contains(&c.as_str()) {
            bail!("unknown column {c:?}: use {}", ls::COLUMNS.join(","));
        }
    }
    Ok(cols)
}

pub fn run(a: LsArgs) -> Result<()> {
    for t in &a.types {
        if !ls::TYPES.contains(&t.as_str()) {
            bail!("unknown namespace type {t:?}: use one of {}", ls::TYPES.join(", "));
        }
    }
    let tree = match (&a.tree, a.list) {
        (_, true) => None,
        (None, false) => Some(Tree::Process),
        (Some(t), false) => {
            Some(Tree::parse(t).ok_or_else(|| anyhow::anyhow!("--tree={t}: use process, parent or owner"))?)
        }
    };
    let cols = columns(&a)?;
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    // As lsns: a tree is drawn in a column (COMMAND for processes, NS for
    // the others); without that column the output is a flat list.
    let tree = tree.filter(|t| cols.contains(&if *t == Tree::Process { "COMMAND" } else { "NS" }));
    let mut all = ls::scan();
    if let Some(task) = &a.task {
        let pid = crate::target::pid_of(task)?;
        let mine: Vec<(String, u64)> = ls::TYPES
            .iter()
            .filter_map(|k| {
                let link = std::fs::read_link(format!("/proc/{pid}/ns/{k}")).ok()?;
                ls::parse_link(&link.to_string_lossy()).map(|(k, i)| (k.to_string(), i))
            })
            .collect();
        if mine.is_empty() {
            bail!("the namespaces of process {pid} cannot be read");
        }
        all.retain(|n| mine.iter().any(|(k, i)| *k == n.kind && *i == n.ns));
    }
    if !a.types.is_empty() {
        all.retain(|n| a.types.contains(&n.kind));
    }
    if cols.contains(&"NETNSID") {
        ls::fill_netnsids(&mut all);
    }
    let parents = match tree {
        Some(rel) => ls::tree_parents(&all, rel),
        None => vec![None; all.len()],
    };
    if a.json {
        let rows = json_rows(&all, &parents, &cols);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "namespaces": rows }))?
        );
        return Ok(());
    }
    let tree_col = match tree {
        Some(Tree::Process) => cols.iter().position(|c| *c == "COMMAND").unwrap_or(0),
        _ => cols.iter().position(|c| *c == "NS").unwrap_or(0),
    };
    let right: Vec<bool> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| ls::NUMERIC_COLUMNS.contains(c) && !(tree.is_some_and(|t| t != Tree::Process) && i == tree_col))
        .collect();
    let mut table = Table::new(&cols, &right);
    for (i, prefix) in ls::tree_order(&parents) {
        let mut row: Vec<String> = cols.iter().map(|c| ls::cell(&all[i], c)).collect();
        if !a.raw {
            row[tree_col] = format!("{prefix}{}", row[tree_col]);
        }
        table.rows.push(row);
    }
    table.print(a.raw, a.noheadings);
    Ok(())
}

/// lsns -J: rows with their tree children nested under "children".
fn json_rows(all: &[Namespace], parents: &[Option<usize>], cols: &[&str]) -> Vec<serde_json::Value> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); all.len()];
    let mut roots = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        match p {
            Some(p) if *p != i => children[*p].push(i),
            _ => roots.push(i),
        }
    }
    fn build(i: usize, all: &[Namespace], children: &[Vec<usize>], cols: &[&str], depth: usize) -> serde_json::Value {
        let mut v = ls::json_row(&all[i], cols);
        // Real namespace trees are at most 33 deep; the bound guards against cycles.
        if !children[i].is_empty() && depth < 64 {
            let kids: Vec<_> = children[i]
                .iter()
                .map(|&c| build(c, all, children, cols, depth + 1))
                .collect();
            v["children"] = kids.into();
        }
        v
    }
    roots.into_iter().map(|r| build(r, all, &children, cols, 0)).collect()
}
