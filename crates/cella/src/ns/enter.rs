//! `cella ns enter`: nsenter's flags, and containers by name.

use super::options::NamespaceOptions;
use anyhow::{bail, Result};
use cella_ns::enter::Target;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EnterArgs {
    /// The process whose namespaces to enter: a PID or a cella container.
    /// Without -t, a first word naming a cella container is the target (with -a implied).
    #[arg(short = 't', long = "target")]
    target: Option<String>,
    /// Enter every namespace of the target
    #[arg(short = 'a', long = "all")]
    all: bool,
    #[command(flatten)]
    ns: NamespaceOptions,
    /// The uid to run as (default 0 when a user namespace is entered)
    #[arg(short = 'S', long = "setuid")]
    setuid: Option<u32>,
    /// The gid to run as (default 0 when a user namespace is entered)
    #[arg(short = 'G', long = "setgid")]
    setgid: Option<u32>,
    /// Keep our uid, gid and groups when entering a user namespace
    #[arg(long = "preserve-credentials")]
    preserve_credentials: bool,
    /// Root directory: DIR, or the target's root
    #[arg(short = 'r', long = "root", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    root: Option<String>,
    /// Working directory: DIR, or the target's
    #[arg(short = 'w', long = "wd", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    wd: Option<String>,
    /// Do not fork before running the command, even for a PID or time namespace
    #[arg(short = 'F', long = "no-fork")]
    no_fork: bool,
    /// The command (default: $SHELL, else /bin/sh)
    #[arg(trailing_var_arg = true)]
    command: Vec<String>,
}

/// DIR, the target's /proc/PID/<link> when DIR is empty, or nothing.
fn dir_option(value: &Option<String>, target: Option<i32>, link: &str, flag: &str) -> Result<Option<PathBuf>> {
    Ok(match value.as_deref() {
        None => None,
        Some("") => match target {
            Some(pid) => Some(PathBuf::from(format!("/proc/{pid}/{link}"))),
            None => bail!("{flag} without =DIR needs -t PID"),
        },
        Some(dir) => Some(PathBuf::from(dir)),
    })
}

pub fn run(mut a: EnterArgs) -> Result<()> {
    let mut all = a.all;
    let mut target = a.target.as_deref().map(crate::target::pid_of).transpose()?;
    if target.is_none() {
        if let Some(first) = a.command.first() {
            if let Some(pid) = crate::target::container_pid_exact(first)? {
                target = Some(pid);
                a.command.remove(0);
                all |= a.ns.chosen().iter().all(|(_, v)| v.is_none());
            }
        }
    }
    let mut targets = Vec::new();
    for (kind, value) in a.ns.chosen() {
        let file = match value.as_deref() {
            Some(f) if !f.is_empty() => PathBuf::from(f),
            Some(_) => match target {
                Some(pid) => cella_ns::persist::proc_ns_path(pid, kind)?,
                None => bail!("--{kind} without =FILE needs -t PID"),
            },
            None if all => match target {
                Some(pid) => cella_ns::persist::proc_ns_path(pid, kind)?,
                None => bail!("-a needs -t PID (or a container name)"),
            },
            None => continue,
        };
        targets.push(Target { kind, file });
    }
    // The target's root and cwd are opened before its namespaces are joined.
    let root = dir_option(&a.root, target, "root", "-r")?
        .map(|p| cella_ns::enter::open_dir(&p))
        .transpose()?;
    let wd = dir_option(&a.wd, target, "cwd", "-w")?
        .map(|p| cella_ns::enter::open_dir(&p))
        .transpose()?;
    if targets.is_empty() && root.is_none() && wd.is_none() {
        bail!(
            "nothing to enter: pass -t PID with -a, namespace options (-m -u -i -n -p -U -C -T), or a container name"
        );
    }
    // Until the command execs, the namespaces' processes cannot reach ours.
    // Not dumpable while it holds what it entered (see cella_runtime::selfexe).
    cella_sys::process::set_dumpable(false).map_err(|e| anyhow::anyhow!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    let joined = cella_ns::enter::join(&targets)?;
    cella_ns::enter::change_root_and_wd(root.as_ref(), wd.as_ref())?;
    // As nsenter: in a user namespace we become root (or -S/-G) unless told to keep our ids.
    let (uid, gid) = if joined.contains(&"user") && !a.preserve_credentials {
        (Some(a.setuid.unwrap_or(0)), Some(a.setgid.unwrap_or(0)))
    } else {
        (a.setuid, a.setgid)
    };
    cella_ns::unshare::switch_ids(uid, gid)?;
    let argv = super::command_or_shell(a.command);
    if cella_ns::enter::needs_fork(&targets) && !a.no_fork {
        super::run_and_exit(&argv);
    }
    Err(super::exec(&argv))
}
