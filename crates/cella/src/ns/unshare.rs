//! `cella ns unshare`: util-linux unshare's flags.

use super::options::NamespaceOptions;
use anyhow::{anyhow, bail, Context, Result};
use cella_ns::unshare::{subid_range, IdRange, Unshare};
use clap::Args;
use std::path::PathBuf;

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
    /// Map the current user to this uid (or user name) inside; implies --user
    #[arg(long = "map-user")]
    map_user: Option<String>,
    /// Map the current group to this gid (or group name) inside; implies --user
    #[arg(long = "map-group")]
    map_group: Option<String>,
    /// Map a range of uids, INNER:OUTER:COUNT (or util-linux 2.38's OUTER,INNER,COUNT),
    /// or auto (the user's first /etc/subuid range, from 0); repeatable; implies --user
    #[arg(long = "map-users")]
    map_users: Vec<String>,
    /// Map a range of gids, as --map-users with /etc/subgid; implies --user
    #[arg(long = "map-groups")]
    map_groups: Vec<String>,
    /// --map-users=auto --map-groups=auto
    #[arg(long = "map-auto")]
    map_auto: bool,
    /// allow or deny setgroups(2) in the user namespace
    #[arg(long = "setgroups")]
    setgroups: Option<String>,
    /// Keep the capabilities of the new user namespace for the command (as ambient capabilities)
    #[arg(long = "keep-caps")]
    keep_caps: bool,
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
    root: Option<PathBuf>,
    /// chdir to DIR before running the command
    #[arg(short = 'w', long = "wd")]
    wd: Option<PathBuf>,
    /// Run the command as this uid (in the new namespaces)
    #[arg(short = 'S', long = "setuid")]
    setuid: Option<u32>,
    /// Run the command as this gid (in the new namespaces)
    #[arg(short = 'G', long = "setgid")]
    setgid: Option<u32>,
    /// The command (default: $SHELL, else /bin/sh)
    #[arg(trailing_var_arg = true)]
    command: Vec<String>,
}

/// A uid or gid given as a number or a name in /etc/passwd or /etc/group.
fn id_from(value: &str, file: &str) -> Result<u32> {
    if let Ok(n) = value.parse() {
        return Ok(n);
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("read {file}"))?;
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&value)).then(|| f.get(2)?.parse().ok()).flatten()
        })
        .ok_or_else(|| anyhow!("no {value:?} in {file}"))
}

fn ranges(values: &[String], auto: bool, subid_file: &str, uid: u32) -> Result<Vec<IdRange>> {
    let mut out = Vec::new();
    let mut want_auto = auto;
    for v in values {
        if v == "auto" {
            want_auto = true;
        } else {
            out.push(cella_ns::unshare::parse_range(v)?);
        }
    }
    if want_auto {
        out.push(subid_range(
            std::path::Path::new(subid_file),
            &cella_sys::process::user_name(uid),
            uid,
        )?);
    }
    Ok(out)
}

pub fn run(a: UnshareArgs) -> Result<()> {
    let (uid, gid) = (cella_sys::process::geteuid(), cella_sys::process::getgid());
    let map_user = a.map_user.as_deref().map(|v| id_from(v, "/etc/passwd")).transpose()?;
    let map_group = a.map_group.as_deref().map(|v| id_from(v, "/etc/group")).transpose()?;
    let uid_ranges = ranges(&a.map_users, a.map_auto, "/etc/subuid", uid)?;
    let gid_ranges = ranges(&a.map_groups, a.map_auto, "/etc/subgid", uid)?;
    let wants_user = a.map_root
        || a.map_current
        || map_user.is_some()
        || map_group.is_some()
        || !uid_ranges.is_empty()
        || !gid_ranges.is_empty();
    let mut namespaces = Vec::new();
    for (kind, value) in a.ns.chosen() {
        let implied = (kind == "user" && wants_user) || (kind == "mnt" && a.mount_proc.is_some());
        let flag = cella_sys::ns::KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|&(_, f)| f)
            .expect("every type has a flag");
        if value.is_some() || implied {
            let file = value.as_deref().filter(|f| !f.is_empty()).map(PathBuf::from);
            namespaces.push((kind, flag, file));
        }
    }
    let (map_user, map_group) = if a.map_root {
        (Some((0, uid)), Some((0, gid)))
    } else if a.map_current {
        (Some((uid, uid)), Some((gid, gid)))
    } else {
        (map_user.map(|u| (u, uid)), map_group.map(|g| (g, gid)))
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
        Some(s) => Some(cella_spec::signal::parse(s).ok_or_else(|| anyhow!("--kill-child={s}: not a signal"))?),
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
    let u = Unshare {
        namespaces,
        fork: a.fork || kill_child.is_some(),
        kill_child,
        mount_proc: a.mount_proc.map(PathBuf::from),
        map_user,
        map_group,
        uid_ranges,
        gid_ranges,
        setgroups: a.setgroups,
        propagation,
        time_offsets,
        root: a.root,
        wd: a.wd,
        setuid: a.setuid,
        setgid: a.setgid,
        keep_caps: a.keep_caps,
    };
    if u.namespaces.is_empty() {
        bail!("no namespace to create: pass -m -u -i -n -p -U -C -T (or -r, --map-auto, --mount-proc)");
    }
    u.apply()?;
    let argv = super::command_or_shell(a.command);
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
    Err(super::exec(&argv))
}
