//! `exec`'s flags (runc's) into an ExecOptions, and waiting in the foreground.

use crate::args::{self, Opt, Parsed};
use anyhow::{bail, Context, Result};
use cella_runtime::exec::{container_process, exec as exec_process, ExecOptions};
use cella_runtime::supervise::Supervisor;
use cella_spec::Process;
use std::path::Path;

const OPTIONS: &[Opt] = &[
    Opt::value(&["process", "p"]),
    Opt::flag(&["detach", "d"]),
    Opt::value(&["pid-file"]),
    Opt::flag(&["tty", "t"]),
    Opt::value(&["console-socket"]),
    Opt::value(&["env", "e"]),
    Opt::value(&["cwd"]),
    Opt::value(&["user", "u"]),
    Opt::value(&["additional-gids", "g"]),
    Opt::value(&["cap", "c"]),
    Opt::flag(&["no-new-privs"]),
    Opt::value(&["preserve-fds"]),
    Opt::flag(&["ignore-paused"]),
    Opt::value(&["cgroup"]),
    Opt::value(&["apparmor"]),
    Opt::value(&["process-label"]),
];

pub fn exec(root: &Path, rest: &[String]) -> Result<i32> {
    // Options before or after the ID; the command and its own options after.
    let p = args::parse_until(rest, OPTIONS, 2)?;
    let (id, cmd) = p.positional.split_first().context("exec: a container ID is required")?;
    let process = build_process(&p, root, id, cmd)?;
    let detach = p.flag("detach");
    let opts = ExecOptions {
        root: root.to_path_buf(),
        id: id.clone(),
        process,
        console: p.console_target(!detach),
        preserve_fds: p.preserve_fds()?,
        ignore_paused: p.flag("ignore-paused"),
        cgroup_sub: p.value("cgroup").map(String::from),
        // A client hands over the stdio it wants the process to have.
        stdio: None,
    };
    let sup = if detach { None } else { Some(Supervisor::install()?) };
    let execed = exec_process(&opts)?;
    if let Some(f) = p.value("pid-file") {
        cella_runtime::create::write_pid_file(Path::new(f), execed.pid)?;
    }
    match sup {
        None => Ok(0),
        Some(sup) => Ok(sup.wait(execed.pid, execed.console_master.as_ref())?.shell_code()),
    }
}

/// `--process FILE` as it is (runc's behaviour); otherwise the container's
/// own process with the command and the flags on top.
fn build_process(p: &Parsed, root: &Path, id: &str, cmd: &[String]) -> Result<Process> {
    if let Some(f) = p.value("process") {
        let text = std::fs::read(f).with_context(|| format!("read --process {f}"))?;
        let mut process: Process = serde_json::from_slice(&text).with_context(|| format!("parse --process {f}"))?;
        if !cmd.is_empty() {
            process.args = cmd.to_vec();
        }
        return Ok(process);
    }
    let mut process = container_process(root, id)?;
    if cmd.is_empty() {
        bail!("exec: no command given after the container ID");
    }
    process.args = cmd.to_vec();
    process.terminal = p.flag("tty");
    process.console_size = None;
    for kv in p.values("env") {
        let key = kv.split('=').next().unwrap_or(kv);
        process.env.retain(|e| e.split('=').next() != Some(key));
        process.env.push(kv.to_string());
    }
    if let Some(cwd) = p.value("cwd") {
        process.cwd = cwd.to_string();
    }
    if let Some(user) = p.value("user") {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        process.user.uid = uid
            .parse()
            .with_context(|| format!("--user {user:?}: the uid must be a number"))?;
        if let Some(g) = gid {
            process.user.gid = g
                .parse()
                .with_context(|| format!("--user {user:?}: the gid must be a number"))?;
        }
    }
    for g in p.values("additional-gids") {
        process.user.additional_gids.push(
            g.parse()
                .with_context(|| format!("--additional-gids {g:?} is not a number"))?,
        );
    }
    let added: Vec<String> = p.values("cap").into_iter().map(String::from).collect();
    if !added.is_empty() {
        let caps = process.capabilities.get_or_insert_with(Default::default);
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            set.get_or_insert_with(Vec::new).extend(added.iter().cloned());
        }
    }
    if p.flag("no-new-privs") {
        process.no_new_privileges = true;
    }
    if let Some(a) = p.value("apparmor") {
        process.apparmor_profile = Some(a.to_string());
    }
    if let Some(l) = p.value("process-label") {
        process.selinux_label = Some(l.to_string());
    }
    Ok(process)
}
