//! `cella ns`: namespace tools with util-linux's conventions.

use anyhow::{bail, Result};
use cella_ns::ls::{self, Namespace};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum NsCommand {
    /// List namespaces, as lsns does, plus those only a bind mount keeps alive
    Ls(LsArgs),
    /// Keep a process's namespace alive by bind-mounting it onto FILE
    Persist {
        pid: i32,
        /// cgroup, ipc, mnt, net, pid, time, user or uts
        #[arg(value_name = "TYPE")]
        kind: String,
        file: std::path::PathBuf,
    },
    /// Unmount a persisted namespace (it ends with its last user)
    Release { file: std::path::PathBuf },
    /// Run a command in other namespaces, as nsenter does
    Enter(EnterArgs),
    /// Run a command in new namespaces, as util-linux unshare does
    Unshare(UnshareArgs),
    /// The PID map: a process's PID at every level of nested PID namespaces
    /// (--members: every process of its PID namespace, host PID and PID inside)
    Pids {
        pid: i32,
        #[arg(long = "members")]
        members: bool,
        /// JSON output
        #[arg(short = 'J', long = "json")]
        json: bool,
    },
}

/// The eight namespace options of `enter` and `unshare`, each with an
/// optional =FILE as in util-linux: `enter` joins the target's namespace or
/// FILE; `unshare` creates one and, with =FILE, persists it there.
#[derive(Args)]
pub struct NamespaceOptions {
    /// Mount namespace [=FILE]
    #[arg(short = 'm', long = "mount", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    mount: Option<String>,
    /// UTS namespace [=FILE]
    #[arg(short = 'u', long = "uts", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    uts: Option<String>,
    /// IPC namespace [=FILE]
    #[arg(short = 'i', long = "ipc", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    ipc: Option<String>,
    /// Network namespace [=FILE]
    #[arg(short = 'n', long = "net", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    net: Option<String>,
    /// PID namespace [=FILE]; applies to children (enter forks; unshare needs -f)
    #[arg(short = 'p', long = "pid", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pid: Option<String>,
    /// User namespace [=FILE]
    #[arg(short = 'U', long = "user", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    user: Option<String>,
    /// Cgroup namespace [=FILE]
    #[arg(short = 'C', long = "cgroup", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    cgroup: Option<String>,
    /// Time namespace [=FILE]; applies to children (enter forks; unshare needs -f)
    #[arg(short = 'T', long = "time", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    time: Option<String>,
}

impl NamespaceOptions {
    /// (type, value): None when not given, "" when given without =FILE.
    fn chosen(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("mnt", &self.mount),
            ("uts", &self.uts),
            ("ipc", &self.ipc),
            ("net", &self.net),
            ("pid", &self.pid),
            ("user", &self.user),
            ("cgroup", &self.cgroup),
            ("time", &self.time),
        ]
    }
}

#[derive(Args)]
pub struct UnshareArgs {
    #[command(flatten)]
    ns: NamespaceOptions,
    /// Run the command in a child, and wait for it
    #[arg(short = 'f', long = "fork")]
    fork: bool,
    /// Kill the child when this process dies (signal name or number; default KILL); implies --fork
    #[arg(long = "kill-child", num_args = 0..=1, require_equals = true, default_missing_value = "KILL")]
    kill_child: Option<String>,
    /// Mount a fresh proc at DIR (default /proc); implies --mount
    #[arg(long = "mount-proc", num_args = 0..=1, require_equals = true, default_missing_value = "/proc")]
    mount_proc: Option<String>,
    /// Map the current user and group to root; implies --user
    #[arg(short = 'r', long = "map-root-user")]
    map_root: bool,
    /// Map the current user and group to themselves; implies --user
    #[arg(short = 'c', long = "map-current-user")]
    map_current: bool,
    /// Map the current user to this uid inside; implies --user
    #[arg(long = "map-user")]
    map_user: Option<u32>,
    /// Map the current group to this gid inside; implies --user
    #[arg(long = "map-group")]
    map_group: Option<u32>,
    /// allow or deny setgroups(2) in the user namespace
    #[arg(long = "setgroups")]
    setgroups: Option<String>,
    /// Propagation of / in a new mount namespace: private (default), shared, slave, unchanged
    #[arg(long = "propagation", default_value = "private")]
    propagation: String,
    /// Offset of CLOCK_MONOTONIC in the new time namespace, in seconds
    #[arg(long = "monotonic")]
    monotonic: Option<i64>,
    /// Offset of CLOCK_BOOTTIME in the new time namespace, in seconds
    #[arg(long = "boottime")]
    boottime: Option<i64>,
    /// chroot to DIR before running the command
    #[arg(short = 'R', long = "root")]
    root: Option<std::path::PathBuf>,
    /// chdir to DIR before running the command
    #[arg(short = 'w', long = "wd")]
    wd: Option<std::path::PathBuf>,
    /// The command (default: $SHELL, else /bin/sh)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args)]
pub struct EnterArgs {
    /// The process whose namespaces to enter
    #[arg(short = 't', long = "target")]
    target: Option<i32>,
    /// Enter every namespace of the target
    #[arg(short = 'a', long = "all")]
    all: bool,
    #[command(flatten)]
    ns: NamespaceOptions,
    /// The command (default: $SHELL, else /bin/sh)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
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
        NsCommand::Persist { pid, kind, file } => Ok(cella_ns::persist::persist(pid, &kind, &file)?),
        NsCommand::Release { file } => Ok(cella_ns::persist::release(&file)?),
        NsCommand::Enter(a) => enter(a),
        NsCommand::Unshare(a) => unshare(a),
        NsCommand::Pids { pid, members, json } => pids(pid, members, json),
    }
}

fn pids(pid: i32, members: bool, json: bool) -> Result<()> {
    if members {
        let m = cella_ns::pids::members(pid)?;
        if json {
            let rows: Vec<_> = m
                .iter()
                .map(|(h, i)| serde_json::json!({"host": h, "inside": i}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "pids": rows }))?
            );
        } else {
            println!("{:>8} {:>8}", "HOST", "INSIDE");
            for (h, i) in m {
                println!("{h:>8} {i:>8}");
            }
        }
        return Ok(());
    }
    let chain = cella_ns::pids::chain(pid)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "levels": chain }))?
        );
    } else {
        println!("{:>5} {:>12} {:>8}", "LEVEL", "PIDNS", "PID");
        for l in chain {
            let ns = l.pidns.map(|n| n.to_string()).unwrap_or_default();
            println!("{:>5} {ns:>12} {:>8}", l.level, l.pid);
        }
    }
    Ok(())
}

fn unshare(a: UnshareArgs) -> Result<()> {
    let mut namespaces = Vec::new();
    let (uid, gid) = (cella_sys::process::geteuid(), cella_sys::process::getgid());
    let wants_user = a.map_root || a.map_current || a.map_user.is_some() || a.map_group.is_some();
    let implied_mount = a.mount_proc.is_some();
    for (kind, value) in a.ns.chosen() {
        let implied = (kind == "user" && wants_user) || (kind == "mnt" && implied_mount);
        let flag = cella_ns::enter::ORDER
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|&(_, f)| f)
            .expect("every type has a flag");
        if value.is_some() || implied {
            let file = value.as_deref().filter(|f| !f.is_empty()).map(std::path::PathBuf::from);
            namespaces.push((kind, flag, file));
        }
    }
    let (map_user, map_group) = if a.map_root {
        (Some((0, uid)), Some((0, gid)))
    } else if a.map_current {
        (Some((uid, uid)), Some((gid, gid)))
    } else {
        (a.map_user.map(|u| (u, uid)), a.map_group.map(|g| (g, gid)))
    };
    if let Some(s) = &a.setgroups {
        if s != "allow" && s != "deny" {
            bail!("--setgroups {s:?}: use allow or deny");
        }
    }
    let propagation = match a.propagation.as_str() {
        "private" => Some(libc::MS_PRIVATE),
        "shared" => Some(libc::MS_SHARED),
        "slave" => Some(libc::MS_SLAVE),
        "unchanged" => None,
        other => bail!("--propagation {other:?}: use private, shared, slave or unchanged"),
    };
    let kill_child = match &a.kill_child {
        Some(s) => Some(match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => signal_number(s).ok_or_else(|| anyhow::anyhow!("--kill-child={s}: not a signal"))?,
        }),
        None => None,
    };
    let mut time_offsets = String::new();
    if let Some(s) = a.monotonic {
        time_offsets += &format!("monotonic {s} 0\n");
    }
    if let Some(s) = a.boottime {
        time_offsets += &format!("boottime {s} 0\n");
    }
    if !time_offsets.is_empty() && a.ns.time.is_none() {
        bail!("--monotonic/--boottime need --time");
    }
    let u = cella_ns::unshare::Unshare {
        namespaces,
        fork: a.fork || kill_child.is_some(),
        kill_child,
        mount_proc: a.mount_proc.map(std::path::PathBuf::from),
        map_user,
        map_group,
        setgroups: a.setgroups,
        propagation,
        time_offsets,
        root: a.root,
        wd: a.wd,
    };
    if u.namespaces.is_empty() {
        bail!("no namespace to create: pass -m -u -i -n -p -U -C -T (or -r, --mount-proc)");
    }
    u.apply()?;
    let mut argv = a.command;
    if argv.is_empty() {
        argv.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()));
    }
    if u.fork {
        match cella_sys::ns::fork()? {
            cella_sys::ns::Forked::Parent(child) => {
                let exit = loop {
                    if let Some((who, exit)) = cella_sys::process::waitpid(child, false)? {
                        if who == child {
                            break exit;
                        }
                    }
                };
                std::process::exit(exit.shell_code());
            }
            cella_sys::ns::Forked::Child => {}
        }
    }
    u.finish_in_child()?;
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    bail!("exec {}: {err}", argv[0])
}

fn signal_number(name: &str) -> Option<i32> {
    let upper = name.to_ascii_uppercase();
    let n = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match n {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        _ => return None,
    })
}

fn enter(a: EnterArgs) -> Result<()> {
    use cella_ns::enter::Target;
    let mut targets = Vec::new();
    for (kind, value) in a.ns.chosen() {
        let file = match value.as_deref() {
            Some(f) if !f.is_empty() => std::path::PathBuf::from(f),
            Some(_) => match a.target {
                Some(pid) => cella_ns::persist::proc_ns_path(pid, kind)?,
                None => bail!("--{kind} without =FILE needs -t PID"),
            },
            None if a.all => match a.target {
                Some(pid) => cella_ns::persist::proc_ns_path(pid, kind)?,
                None => bail!("-a needs -t PID"),
            },
            None => continue,
        };
        targets.push(Target { kind, file });
    }
    if targets.is_empty() {
        bail!("nothing to enter: pass -t PID with -a, or namespace options (-m -u -i -n -p -U -C -T)");
    }
    cella_ns::enter::join(&targets)?;
    let mut argv = a.command;
    if argv.is_empty() {
        argv.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()));
    }
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if cella_ns::enter::needs_fork(&targets) {
        let status = cmd.status().map_err(|e| anyhow::anyhow!("run {}: {e}", argv[0]))?;
        use std::os::unix::process::ExitStatusExt;
        std::process::exit(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
    }
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    bail!("exec {}: {e}", argv[0])
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
