//! start, attach, exec, stop, kill, rm, wait, pause/unpause.

use anyhow::{bail, Result};
use cella_engine::{Engine, ExecRequest, Status};
use clap::Args;
use std::time::Duration;

#[derive(Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it
    #[arg(short = 'a', long = "attach")]
    attach: bool,
    /// Attach stdin too
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// The keys that detach (default ctrl-p,ctrl-q; "" for none)
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    containers: Vec<String>,
}

pub fn start(e: &Engine, a: StartArgs) -> Result<i32> {
    if a.attach {
        let [name] = &a.containers[..] else {
            bail!("start -a takes exactly one container");
        };
        let c = e.container(name)?;
        e.start(&c, true)?;
        let keys = detach_keys(&a.detach_keys)?;
        return super::client::attach(e, &c, a.interactive, c.config.tty, true, &keys);
    }
    super::each(&a.containers, |n| {
        let c = e.container(n)?;
        e.start(&c, false)?;
        println!("{n}");
        Ok(())
    })
}

#[derive(Args)]
pub struct AttachArgs {
    container: String,
    /// Do not send input
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// The keys that detach (default ctrl-p,ctrl-q; "" for none)
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
}

/// `--detach-keys`, parsed once (docker's default without it).
pub fn detach_keys(flag: &Option<String>) -> Result<super::client::DetachKeys> {
    flag.as_deref()
        .map(super::client::DetachKeys::parse)
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn attach(e: &Engine, a: AttachArgs) -> Result<i32> {
    let c = e.container(&a.container)?;
    if c.state.status != Status::Running {
        bail!("container {} is not running", c.name);
    }
    let keys = detach_keys(&a.detach_keys)?;
    super::client::attach(e, &c, !a.no_stdin && c.config.interactive, c.config.tty, true, &keys)
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct ExecArgs {
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Keep stdin open
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Allocate a terminal
    #[arg(short = 't', long = "tty")]
    tty: bool,
    /// Run in the background
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// KEY=VALUE
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// USER[:GROUP], looked up in the container's /etc
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Every capability (as --privileged gives the container)
    #[arg(long = "privileged")]
    privileged: bool,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn exec(e: &Engine, a: ExecArgs) -> Result<i32> {
    let c = e.container(&a.container)?;
    let req = ExecRequest {
        command: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        interactive: a.interactive,
        tty: a.tty,
        detach: a.detach,
        privileged: a.privileged,
    };
    match e.exec(&c, &req) {
        Ok(code) => Ok(code),
        // The process could not be started: docker's 126/127.
        Err(err @ cella_engine::Error::Runtime(_)) => {
            eprintln!("cella: {err}");
            Ok(err.start_exit_code())
        }
        Err(err) => Err(err.into()),
    }
}

// Containers, by name or id.
#[derive(Args)]
pub struct Names {
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)
    #[arg(short = 't', long = "time")]
    time: Option<u64>,
    /// The signal to send first (default: the container's --stop-signal, else SIGTERM)
    #[arg(short = 's', long = "signal")]
    signal: Option<String>,
    containers: Vec<String>,
}

impl StopArgs {
    fn signal(&self) -> Result<Option<i32>> {
        self.signal
            .as_deref()
            .map(|s| cella_spec::signal::parse(s).ok_or_else(|| anyhow::anyhow!("unknown signal {s:?}")))
            .transpose()
    }
}

/// Stops them in parallel, as docker does.
pub fn stop(e: &Engine, a: StopArgs) -> Result<i32> {
    let signal = a.signal()?;
    let grace = a.time.map(Duration::from_secs);
    super::each_parallel(&a.containers, |n| {
        let c = e.container(n)?;
        e.stop(&c, signal, grace)?;
        Ok(super::Done::Acted)
    })
}

/// `restart`: stop (as `stop` does), then start again; a stopped one just starts.
pub fn restart(e: &Engine, a: StopArgs) -> Result<i32> {
    let signal = a.signal()?;
    let grace = a.time.map(Duration::from_secs);
    super::each_parallel(&a.containers, |n| {
        let c = e.container(n)?;
        let stopped = e.stop(&c, signal, grace)?;
        e.start(&stopped, false)?;
        Ok(super::Done::Acted)
    })
}

pub fn rename(e: &Engine, container: &str, new_name: &str) -> Result<i32> {
    let c = e.container(container)?;
    e.rename(&c, new_name)?;
    Ok(0)
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal name or number
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    signal: String,
    containers: Vec<String>,
}

pub fn kill(e: &Engine, a: KillArgs) -> Result<i32> {
    let Some(sig) = cella_spec::signal::parse(&a.signal) else {
        bail!("unknown signal {:?}", a.signal);
    };
    super::each(&a.containers, |n| {
        let c = e.container(n)?;
        e.kill(&c, sig)?;
        println!("{n}");
        Ok(())
    })
}

#[derive(Args)]
pub struct RmArgs {
    /// Kill and remove running containers
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Its anonymous volumes (`-v /path`) too
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    containers: Vec<String>,
}

/// Removes them in parallel, as docker does; with -f, one that is not
/// there is no error (docker's `rm -f` is quiet about it too).
pub fn rm(e: &Engine, a: RmArgs) -> Result<i32> {
    super::each_parallel(&a.containers, |n| {
        let c = match e.container(n) {
            Err(cella_engine::Error::NotFound(_)) if a.force => return Ok(super::Done::Quiet),
            other => other?,
        };
        e.remove(&c, a.force, a.volumes)?;
        Ok(super::Done::Acted)
    })
}

/// `wait`: each exit code, also of a `--rm` container removed meanwhile.
pub fn wait(e: &Engine, names: &[String]) -> Result<i32> {
    super::each(names, |n| {
        let c = e.container(n)?;
        println!("{}", e.wait_code(&c)?);
        Ok(())
    })
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not ask
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Only those that match KEY=VALUE (label, until is not yet supported)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

/// Asks as docker does, unless `force`; true to go on.
pub fn confirm(force: bool, what: &str) -> Result<bool> {
    if force {
        return Ok(true);
    }
    eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `container prune`: every stopped (exited or created) container.
pub fn prune(e: &Engine, a: PruneArgs) -> Result<i32> {
    let filter = cella_engine::ContainerFilter::parse(&a.filter)?;
    if !confirm(a.force, "all stopped containers")? {
        return Ok(0);
    }
    let stopped: Vec<_> = e
        .containers_matching(&filter, true)?
        .into_iter()
        .filter(|c| matches!(c.state.status, Status::Exited | Status::Created) && !c.monitor_alive())
        .collect();
    let mut failed = false;
    let mut deleted = Vec::new();
    for c in &stopped {
        match e.remove(c, false, false) {
            Ok(()) => deleted.push(c.id.clone()),
            Err(err) => {
                eprintln!("cella: {}: {err}", c.name);
                failed = true;
            }
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(if failed { super::ENGINE_FAILED } else { 0 })
}

pub fn pause(e: &Engine, names: &[String], freeze: bool) -> Result<i32> {
    super::each(names, |n| {
        let c = e.container(n)?;
        if freeze {
            e.pause(&c)?;
        } else {
            e.unpause(&c)?;
        }
        println!("{n}");
        Ok(())
    })
}

#[derive(Args)]
pub struct CpArgs {
    /// Follow a symlink that SRC names (else the link itself is copied)
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Keep the source's owners (uid and gid)
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    source: String,
    destination: String,
}

/// `cella cp SRC DST`: one side is CONTAINER:PATH (a running container).
pub fn cp(e: &Engine, a: CpArgs) -> Result<i32> {
    let (src, dst, follow) = (a.source.as_str(), a.destination.as_str(), a.follow_link);
    // A colon names a container unless the part before it looks like a path.
    let split = |s: &str| -> Option<(String, String)> {
        let (c, p) = s.split_once(':')?;
        (!c.is_empty() && !c.contains('/') && !c.starts_with('.')).then(|| (c.to_string(), p.to_string()))
    };
    match (split(src), split(dst)) {
        (Some((c, p)), None) => e.copy_from(&e.container(&c)?, &p, dst, follow, a.archive)?,
        (None, Some((c, p))) => e.copy_into(&e.container(&c)?, src, &p, follow, a.archive)?,
        (Some(_), Some(_)) => bail!("cp between two containers is not supported: copy through the host"),
        (None, None) => bail!("name a container on one side: CONTAINER:PATH"),
    }
    Ok(0)
}

/// `export [-o FILE] CONTAINER`: to a file written aside and renamed (a
/// failed export leaves no half archive), or to stdout unless a terminal.
pub fn export(e: &Engine, name: &str, output: Option<&std::path::Path>) -> Result<i32> {
    let c = e.container(name)?;
    match output {
        Some(path) => {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let file = std::fs::File::create(&tmp)
                .map_err(|err| anyhow::anyhow!("export: create {}: {err}", tmp.display()))?;
            if let Err(err) = e.export(&c, std::io::BufWriter::new(file)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(err.into());
            }
            std::fs::rename(&tmp, path)
                .map_err(|err| anyhow::anyhow!("export: rename to {}: {err}", path.display()))?;
        }
        None => {
            if cella_sys::process::isatty(1) {
                bail!("export: refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            e.export(&c, std::io::BufWriter::new(std::io::stdout().lock()))?;
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 64m)
    #[arg(short = 'm', long = "memory")]
    memory: Option<String>,
    /// Memory plus swap, -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPUs (e.g. 0.5)
    #[arg(long = "cpus")]
    cpus: Option<f64>,
    /// Relative CPU weight (1024 is the default)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPUs it may run on (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// no, on-failure[:N], always or unless-stopped
    #[arg(long = "restart")]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `update`: parsed once, then applied to each container.
pub fn update(e: &Engine, a: UpdateArgs) -> Result<i32> {
    let memory = a.memory.as_deref().map(cella_engine::parse_memory).transpose()?;
    let swap = a
        .memory_swap
        .as_deref()
        .map(cella_engine::parse_memory_swap)
        .transpose()?;
    let restart = a
        .restart
        .as_deref()
        .map(cella_engine::RestartPolicy::parse)
        .transpose()?;
    super::each(&a.containers, |n| {
        let c = e.container(n)?;
        e.update(&c, |cfg| {
            if memory.is_some() {
                cfg.memory = memory;
            }
            if swap.is_some() {
                cfg.memory_swap = swap;
            }
            if a.cpus.is_some() {
                cfg.cpus = a.cpus;
            }
            if a.cpu_shares.is_some() {
                cfg.cpu_shares = a.cpu_shares;
            }
            if a.cpuset_cpus.is_some() {
                cfg.cpuset_cpus = a.cpuset_cpus.clone();
            }
            if a.pids_limit.is_some() {
                cfg.pids_limit = a.pids_limit;
            }
            if let Some(r) = restart {
                cfg.restart = r;
            }
        })?;
        println!("{n}");
        Ok(())
    })
}
