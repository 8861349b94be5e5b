//! `cella run` and `cella create`.

use anyhow::{bail, Context, Result};
use cella_engine::container::{CgroupManager, RunConfig};
use cella_engine::paths::Paths;
use clap::Args;

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run in the background and print the container id
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Pull the image: missing (default: when it is not here), always, never
    #[arg(long = "pull", default_value = "missing", value_parser = ["missing", "always", "never"])]
    pull: String,
    /// os/arch[/variant] of the image to pull (default: this machine's)
    #[arg(long = "platform")]
    platform: Option<String>,
    /// Pull quietly
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
    /// Keep stdin open
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Allocate a terminal
    #[arg(short = 't', long = "tty")]
    tty: bool,
    /// Remove the container when it exits
    #[arg(long = "rm")]
    rm: bool,
    #[arg(long = "name")]
    name: Option<String>,
    #[arg(short = 'h', long = "hostname")]
    hostname: Option<String>,
    /// KEY=VALUE (or KEY, to pass this process's value)
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// A file of KEY=VALUE lines
    #[arg(long = "env-file")]
    env_file: Vec<std::path::PathBuf>,
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// USER[:GROUP], names looked up in the container's /etc
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Overrides the image's entrypoint ("" clears it)
    #[arg(long = "entrypoint")]
    entrypoint: Option<String>,
    /// SRC:DST[:ro|rw,…] (SRC an absolute host path)
    #[arg(short = 'v', long = "volume")]
    volumes: Vec<String>,
    /// DST[:OPTIONS]
    #[arg(long = "tmpfs")]
    tmpfs: Vec<String>,
    /// Mount the root filesystem read-only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Memory limit (e.g. 64m)
    #[arg(short = 'm', long = "memory")]
    memory: Option<String>,
    /// CPUs (e.g. 0.5)
    #[arg(long = "cpus")]
    cpus: Option<f64>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// All capabilities and devices, no seccomp, no masked paths
    #[arg(long = "privileged")]
    privileged: bool,
    /// seccomp=unconfined|FILE, no-new-privileges
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// NAME=SOFT[:HARD]
    #[arg(long = "ulimit")]
    ulimit: Vec<String>,
    /// KEY=VALUE
    #[arg(long = "sysctl")]
    sysctl: Vec<String>,
    /// bridge (the default for root; $CELLA_DEFAULT_NETWORK overrides), none
    /// (the default rootless), host, a network from `cella network create`,
    /// container:NAME or ns:PATH (e.g. /run/netns/X)
    #[arg(long = "network", visible_alias = "net")]
    network: Option<String>,
    /// The container's address on its bridge network
    #[arg(long = "ip")]
    ip: Option<String>,
    /// DNS servers for /etc/resolv.conf (instead of the host's)
    #[arg(long = "dns")]
    dns: Vec<String>,
    /// NAME:IP lines for /etc/hosts
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// The MAC address of eth0 on a bridge network
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Publish a port: [IP:][HOSTPORT:]CPORT[/tcp|udp] (needs --network bridge)
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish every port the image exposes, each on a free host port
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// host or container:NAME
    #[arg(long = "ipc")]
    ipc: Option<String>,
    /// host or container:NAME
    #[arg(long = "pid")]
    pid: Option<String>,
    /// host
    #[arg(long = "uts")]
    uts: Option<String>,
    /// host, or auto: a user namespace with 65536 ids of its own from the
    /// "containers" ranges in /etc/subuid and /etc/subgid
    #[arg(long = "userns")]
    userns: Option<String>,
    /// Run a minimal init as PID 1 that reaps zombies and passes signals on
    #[arg(long = "init")]
    init: bool,
    /// The image: `host` (built in), or one from `cella images`
    image: String,
    /// The command and its arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read --env-file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// The network when --network is not given: $CELLA_DEFAULT_NETWORK, else
/// bridge for root (as docker) and none for other users.
fn default_network() -> String {
    match std::env::var("CELLA_DEFAULT_NETWORK") {
        Ok(n) if !n.is_empty() => n,
        _ if cella_sys::process::geteuid() == 0 => "bridge".into(),
        _ => "none".into(),
    }
}

fn config(paths: &Paths, a: &RunArgs) -> Result<RunConfig> {
    let network = a.network.clone().unwrap_or_else(default_network);
    let bridged = !matches!(network.as_str(), "none" | "host" | "") && !network.contains(':');
    if !a.publish.is_empty() && !bridged {
        bail!("-p needs --network bridge (or a network from `cella network create`)");
    }
    if let Some(m) = &a.mac_address {
        if !bridged {
            bail!("--mac-address needs --network bridge (or a network from `cella network create`)");
        }
        cella_engine::net::parse_mac(m)?;
    }
    if a.ip.is_some() && !bridged {
        bail!("--ip needs --network bridge (or a network from `cella network create`)");
    }
    for d in &a.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            bail!("--dns {d}: not an IP address");
        }
    }
    for h in &a.add_host {
        match h.split_once(':') {
            Some((n, ip)) if !n.is_empty() && ip.parse::<std::net::IpAddr>().is_ok() => {}
            _ => bail!("--add-host {h}: use NAME:IP"),
        }
    }
    let mut specs = a.publish.clone();
    if a.publish_all {
        specs.extend(cella_engine::image::find(paths, &a.image)?.config.exposed_ports);
    }
    if !specs.is_empty() && !bridged {
        bail!("-p/-P need --network bridge (or a network from `cella network create`)");
    }
    let mut ports = Vec::new();
    for spec in &specs {
        let mut free = || {
            // A port the kernel hands out now; the DNAT rule keeps it ours.
            std::net::TcpListener::bind("0.0.0.0:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or(0)
        };
        ports.push(cella_engine::nat::parse_publish(spec, &mut free)?);
    }
    let userns_auto = match a.userns.as_deref() {
        None | Some("") | Some("host") => false,
        Some("auto") => true,
        Some(other) => bail!("--userns {other}: use host or auto"),
    };
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let mut seccomp = None;
    let mut no_new_privileges = false;
    for o in &a.security_opt {
        match o.split_once(['=', ':']) {
            Some(("seccomp", v)) => seccomp = Some(v.to_string()),
            Some(("no-new-privileges", v)) => no_new_privileges = v != "false",
            None if o == "no-new-privileges" => no_new_privileges = true,
            _ => bail!("--security-opt {o}: use seccomp=unconfined|FILE or no-new-privileges"),
        }
    }
    Ok(RunConfig {
        image: a.image.clone(),
        hostname: a.hostname.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        entrypoint: a
            .entrypoint
            .as_ref()
            .map(|e| if e.is_empty() { Vec::new() } else { vec![e.clone()] }),
        cmd: a.command.clone(),
        volumes: a.volumes.clone(),
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        memory: a.memory.as_deref().map(cella_engine::spec::parse_memory).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        seccomp,
        no_new_privileges,
        ulimits: a.ulimit.clone(),
        sysctls: a.sysctl.clone(),
        network,
        ipc: a.ipc.clone(),
        pid: a.pid.clone(),
        uts: a.uts.clone(),
        tty: a.tty,
        interactive: a.interactive,
        auto_remove: a.rm,
        init: a.init,
        userns_auto,
        ports,
        ip: a.ip.clone(),
        dns: a.dns.clone(),
        add_hosts: a.add_host.clone(),
        mac_address: a.mac_address.clone(),
        cgroup_manager: Default::default(),
    })
}

/// The image to run, pulled first as --pull says.
fn resolve_image(paths: &Paths, a: &mut RunArgs) -> Result<()> {
    let here = cella_engine::image::find(paths, &a.image);
    let pull = match (a.pull.as_str(), &here) {
        (_, Ok(i)) if i.id == cella_engine::image::HOST_ID => false,
        ("always", _) => true,
        (_, Ok(_)) => false,
        ("missing", Err(cella_engine::error::Error::NotFound(_))) => true,
        ("never", Err(_)) => bail!("no image {:?} here, and --pull never: pull it first", a.image),
        (_, Err(e)) => bail!("{e}"),
    };
    if pull {
        let img = super::registry::pull_image(paths, &a.image, a.platform.as_deref(), &a.registry, a.quiet)?;
        if let Some(t) = img.repo_tags.first() {
            a.image = t.clone();
        }
    }
    Ok(())
}

pub fn run(paths: &Paths, mut a: RunArgs, start: bool, cgroup_manager: CgroupManager) -> Result<i32> {
    resolve_image(paths, &mut a)?;
    let cfg = RunConfig {
        cgroup_manager,
        ..config(paths, &a)?
    };
    let c = cella_engine::ops::create(paths, cfg, a.name.clone())?;
    if !start {
        println!("{}", c.id);
        return Ok(0);
    }
    if let Err(e) = cella_engine::ops::start(paths, &c, !a.detach) {
        // docker's codes: 127 command not found, 126 cannot be run.
        let after = cella_engine::container::load(paths, &c.id).ok();
        let code = cella_engine::monitor::start_failure_code(&e.to_string());
        if after.is_some() && a.rm {
            let _ = cella_engine::ops::remove(paths, &c, true);
        }
        eprintln!("cella: {e}");
        return Ok(code);
    }
    if a.detach {
        println!("{}", c.id);
        return Ok(0);
    }
    super::client::attach(paths, &c, a.interactive, a.tty, true)
}
