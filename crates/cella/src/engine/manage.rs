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
    containers: Vec<String>,
}

pub fn start(e: &Engine, a: StartArgs) -> Result<i32> {
    if a.attach {
        let [name] = &a.containers[..] else {
            bail!("start -a takes exactly one container");
        };
        let c = e.container(name)?;
        e.start(&c, true)?;
        return super::client::attach(e, &c, a.interactive, c.config.tty, true);
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
}

pub fn attach(e: &Engine, a: AttachArgs) -> Result<i32> {
    let c = e.container(&a.container)?;
    if c.state.status != Status::Running {
        bail!("container {} is not running", c.name);
    }
    super::client::attach(e, &c, !a.no_stdin && c.config.interactive, c.config.tty, true)
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

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    time: u64,
    containers: Vec<String>,
}

pub fn stop(e: &Engine, a: StopArgs) -> Result<i32> {
    super::each(&a.containers, |n| {
        let c = e.container(n)?;
        e.stop(&c, Duration::from_secs(a.time))?;
        println!("{n}");
        Ok(())
    })
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
    /// Anonymous volumes too (there are none yet)
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    containers: Vec<String>,
}

pub fn rm(e: &Engine, a: RmArgs) -> Result<i32> {
    let _ = a.volumes;
    super::each(&a.containers, |n| {
        let c = e.container(n)?;
        e.remove(&c, a.force)?;
        println!("{n}");
        Ok(())
    })
}

pub fn wait(e: &Engine, names: &[String]) -> Result<i32> {
    super::each(names, |n| {
        let c = e.container(n)?;
        let after = e.wait(&c, None)?;
        println!("{}", after.state.exit_code);
        Ok(())
    })
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

/// `cella cp SRC DST`: one side is CONTAINER:PATH (a running container).
pub fn cp(e: &Engine, src: &str, dst: &str, follow: bool) -> Result<i32> {
    // A colon names a container unless the part before it looks like a path.
    let split = |s: &str| -> Option<(String, String)> {
        let (c, p) = s.split_once(':')?;
        (!c.is_empty() && !c.contains('/') && !c.starts_with('.')).then(|| (c.to_string(), p.to_string()))
    };
    match (split(src), split(dst)) {
        (Some((c, p)), None) => e.copy_from(&e.container(&c)?, &p, dst, follow)?,
        (None, Some((c, p))) => e.copy_into(&e.container(&c)?, src, &p, follow)?,
        (Some(_), Some(_)) => bail!("cp between two containers is not supported: copy through the host"),
        (None, None) => bail!("name a container on one side: CONTAINER:PATH"),
    }
    Ok(0)
}
