//! `cella run` and `cella create`.

use anyhow::{bail, Context, Result};
use cella_engine::{CgroupManager, Engine, NamespaceMode, NetworkMode, Publish, RunConfig};
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
    /// no, on-failure[:MAX-RETRIES], always or unless-stopped: the monitor starts it again when it ends
    #[arg(long = "restart", default_value = "no")]
    restart: String,
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
    /// A command run in the container to check its health (through sh -c)
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between checks (e.g. 30s, 1m30s)
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Longest a check may take
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Failures in a row that make it unhealthy (default 3)
    #[arg(long = "health-retries")]
    health_retries: Option<u32>,
    /// Time to start during which failures do not count
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// No health check
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// HOST[:CONTAINER[:PERMS]]: a host device node in the container (PERMS some of rwm)
    #[arg(long = "device")]
    device: Vec<String>,
    /// The keys that detach from the container's terminal (default ctrl-p,ctrl-q; "" for none)
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Mount every volume of CONTAINER[:ro|rw] too
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// PORT[/tcp|udp] to expose: published by -P as the image's own
    #[arg(long = "expose")]
    expose: Vec<String>,
    /// type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,bind-propagation=…][,tmpfs-size=…][,tmpfs-mode=…]
    #[arg(long = "mount")]
    mount: Vec<String>,
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
    /// KEY=VALUE (or KEY) metadata, for `ps --filter label=`
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// A file of KEY=VALUE label lines
    #[arg(long = "label-file")]
    label_file: Vec<std::path::PathBuf>,
    /// KEY=VALUE for the OCI runtime's annotations
    #[arg(long = "annotation")]
    annotation: Vec<String>,
    /// Write the container id to FILE (which must not exist)
    #[arg(long = "cidfile", value_name = "FILE")]
    cidfile: Option<std::path::PathBuf>,
    /// The signal `stop` sends first (default SIGTERM)
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10)
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u64>,
    /// CPUs it may run on (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Relative CPU weight (docker's scale: 1024 is the default)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// Memory plus swap (e.g. 1g), -1 for unlimited swap; needs --memory
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Do not OOM-kill it (cgroup v1)
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Size of /dev/shm (e.g. 128m; default 64m)
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Further groups for the process (names from the container's /etc/group, or numbers)
    #[arg(long = "group-add")]
    group_add: Vec<String>,
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

/// `--label`/`--annotation` values as a map: KEY=VALUE, or KEY alone
/// (an empty value) where `bare_ok`.
pub(super) fn pairs(
    values: impl IntoIterator<Item = String>,
    flag: &str,
    bare_ok: bool,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for v in values {
        let (k, val) = match v.split_once('=') {
            Some((k, val)) => (k.to_string(), val.to_string()),
            None if bare_ok => (v.clone(), String::new()),
            None => bail!("{flag} {v}: use KEY=VALUE"),
        };
        if k.is_empty() {
            bail!("{flag} {v}: the key is empty");
        }
        out.insert(k, val);
    }
    Ok(out)
}

/// What a `--mount` adds: a `-v` entry or a `--tmpfs` entry.
#[derive(Debug, PartialEq)]
enum MountFlag {
    Volume(String),
    Tmpfs(String),
}

/// docker's `--mount KEY=VALUE,…`, as the `-v`/`--tmpfs` entry it means.
fn mount_flag(spec: &str) -> Result<MountFlag> {
    let (mut kind, mut source, mut target) = ("volume".to_string(), None, None);
    let mut options: Vec<String> = Vec::new();
    let mut tmpfs: Vec<String> = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('=').unwrap_or((field, "true"));
        let yes = || -> Result<bool> {
            match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => bail!("--mount {spec}: {k} is true or false"),
            }
        };
        match k {
            "type" => kind = v.to_string(),
            "source" | "src" => source = Some(v.to_string()),
            "target" | "destination" | "dst" => target = Some(v.to_string()),
            "readonly" | "ro" => {
                if yes()? {
                    options.push("ro".into());
                }
            }
            // podman's spelling too
            "volume-nocopy" | "nocopy" => {
                if yes()? {
                    options.push("nocopy".into());
                }
            }
            "bind-propagation" => options.push(v.to_string()),
            "tmpfs-size" => tmpfs.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs.push(format!("mode={v}")),
            "consistency" => {}
            _ => bail!("--mount {spec}: unknown key {k:?}"),
        }
    }
    let Some(target) = target else {
        bail!("--mount {spec}: give the target (target=/path)");
    };
    let opts = |mut entry: String, options: &[String]| {
        if !options.is_empty() {
            entry.push(':');
            entry.push_str(&options.join(","));
        }
        entry
    };
    match kind.as_str() {
        "bind" => {
            let Some(src) = source else {
                bail!("--mount {spec}: a bind mount needs source=/host/path");
            };
            if !src.starts_with('/') {
                bail!("--mount {spec}: the bind source must be an absolute host path");
            }
            Ok(MountFlag::Volume(opts(format!("{src}:{target}"), &options)))
        }
        "volume" => match source {
            Some(src) => Ok(MountFlag::Volume(opts(format!("{src}:{target}"), &options))),
            None if options.is_empty() => Ok(MountFlag::Volume(target)),
            None => bail!("--mount {spec}: an anonymous volume takes no options here: name it (source=NAME)"),
        },
        "tmpfs" => {
            if source.is_some() {
                bail!("--mount {spec}: a tmpfs has no source");
            }
            if options.iter().any(|o| o == "ro") {
                tmpfs.push("ro".into());
            }
            Ok(MountFlag::Tmpfs(opts(target, &tmpfs)))
        }
        other => bail!("--mount {spec}: type {other:?}: use bind, volume or tmpfs"),
    }
}

/// A Go duration of a --health-* flag, in milliseconds (more than zero).
fn health_duration(v: &Option<String>, flag: &str) -> Result<Option<u64>> {
    v.as_deref()
        .map(|s| match cella_engine::parse_go_duration(s) {
            Some(d) if !d.is_zero() => Ok(d.as_millis() as u64),
            _ => bail!("{flag} {s}: use a duration such as 30s, 1m30s or 500ms"),
        })
        .transpose()
}

fn health(a: &RunArgs) -> Result<Option<cella_engine::HealthConfig>> {
    if a.no_healthcheck {
        if a.health_cmd.is_some() {
            bail!("conflicting options: --no-healthcheck and --health-cmd");
        }
        return Ok(None);
    }
    let Some(cmd) = &a.health_cmd else {
        if a.health_interval.is_some() || a.health_timeout.is_some() || a.health_retries.is_some() {
            bail!("--health-interval, --health-timeout and --health-retries need --health-cmd");
        }
        return Ok(None);
    };
    Ok(Some(cella_engine::HealthConfig {
        test: vec!["CMD-SHELL".into(), cmd.clone()],
        interval_ms: health_duration(&a.health_interval, "--health-interval")?,
        timeout_ms: health_duration(&a.health_timeout, "--health-timeout")?,
        start_period_ms: health_duration(&a.health_start_period, "--health-start-period")?,
        retries: a.health_retries,
    }))
}

fn config(a: &RunArgs, cgroup_manager: CgroupManager) -> Result<RunConfig> {
    let network = match &a.network {
        Some(n) => NetworkMode::parse(n)?,
        None => NetworkMode::default_for_this_user()?,
    };
    let ports = a.publish.iter().map(|p| Publish::parse(p)).collect::<Result<_, _>>()?;
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
    // Label files first: --label on the command line wins, as docker has it.
    let mut label_lines = Vec::new();
    for f in &a.label_file {
        label_lines.extend(env_file(f).with_context(|| format!("--label-file {}", f.display()))?);
    }
    label_lines.extend(a.label.iter().cloned());
    let size = |s: &Option<String>, flag: &str| -> Result<Option<i64>> {
        s.as_deref()
            .map(|v| {
                cella_spec::size::parse(v).ok_or_else(|| anyhow::anyhow!("{flag} {v}: use a size such as 64m or 1g"))
            })
            .transpose()
    };
    let (mut volumes, mut tmpfs) = (a.volumes.clone(), a.tmpfs.clone());
    for m in &a.mount {
        match mount_flag(m)? {
            MountFlag::Volume(v) => volumes.push(v),
            MountFlag::Tmpfs(t) => tmpfs.push(t),
        }
    }
    Ok(RunConfig {
        restart: cella_engine::RestartPolicy::parse(&a.restart)?,
        expose: a.expose.clone(),
        health: health(a)?,
        devices: a.device.clone(),
        volumes_from: a.volumes_from.clone(),
        labels: pairs(label_lines, "--label", true)?,
        annotations: pairs(a.annotation.iter().cloned(), "--annotation", false)?,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpu_shares: a.cpu_shares,
        memory_swap: a
            .memory_swap
            .as_deref()
            .map(cella_engine::parse_memory_swap)
            .transpose()?,
        oom_kill_disable: a.oom_kill_disable,
        shm_size: size(&a.shm_size, "--shm-size")?,
        group_add: a.group_add.clone(),
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
        volumes,
        tmpfs,
        read_only: a.read_only,
        memory: a.memory.as_deref().map(cella_engine::parse_memory).transpose()?,
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
        ipc: NamespaceMode::parse(a.ipc.as_deref(), "--ipc")?,
        pid: NamespaceMode::parse(a.pid.as_deref(), "--pid")?,
        uts: NamespaceMode::parse(a.uts.as_deref(), "--uts")?,
        tty: a.tty,
        interactive: a.interactive,
        auto_remove: a.rm,
        init: a.init,
        userns_auto,
        ports,
        publish_all: a.publish_all,
        ip: a.ip.clone(),
        dns: a.dns.clone(),
        add_hosts: a.add_host.clone(),
        mac_address: a.mac_address.clone(),
        cgroup_manager,
    })
}

/// The image to run, pulled first as --pull says.
fn resolve_image(e: &Engine, a: &mut RunArgs) -> Result<()> {
    let here = e.image(&a.image);
    let pull = match (a.pull.as_str(), &here) {
        (_, Ok(i)) if i.id == cella_engine::image::HOST_ID => false,
        ("always", _) => true,
        (_, Ok(_)) => false,
        ("missing", Err(cella_engine::Error::NotFound(_))) => true,
        ("never", Err(_)) => bail!("no image {:?} here, and --pull never: pull it first", a.image),
        (_, Err(err)) => bail!("{err}"),
    };
    if pull {
        let img = super::registry::pull_image(e, &a.image, a.platform.as_deref(), &a.registry, a.quiet)?;
        if let Some(t) = img.repo_tags.first() {
            a.image = t.clone();
        }
    }
    Ok(())
}

pub fn run(e: &Engine, mut a: RunArgs, start: bool, cgroup_manager: CgroupManager) -> Result<i32> {
    if let Some(f) = &a.cidfile {
        if f.exists() {
            bail!(
                "--cidfile {}: the file exists; make sure no other container uses it, and remove it",
                f.display()
            );
        }
    }
    let keys = super::manage::detach_keys(&a.detach_keys)?;
    resolve_image(e, &mut a)?;
    let c = e.create(config(&a, cgroup_manager)?, a.name.clone())?;
    if let Some(f) = &a.cidfile {
        // create_new: a file that appeared meanwhile is not overwritten.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(f)
            .and_then(|mut file| std::io::Write::write_all(&mut file, c.id.as_bytes()));
        if let Err(err) = written {
            let _ = e.remove(&c, true, true);
            bail!("--cidfile {}: {err}", f.display());
        }
    }
    if !start {
        println!("{}", c.id);
        return Ok(0);
    }
    if let Err(err) = e.start_created(&c, !a.detach) {
        // docker's codes: 127 command not found, 126 cannot be run.
        let code = err.start_exit_code();
        if a.rm {
            let _ = e.remove(&c, true, true);
        }
        eprintln!("cella: {err}");
        return Ok(code);
    }
    if a.detach {
        println!("{}", c.id);
        return Ok(0);
    }
    super::client::attach(e, &c, a.interactive, a.tty, true, &keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_mean_what_v_and_tmpfs_mean() {
        let m = |s: &str| mount_flag(s).unwrap();
        assert_eq!(
            m("type=bind,source=/srv,target=/data,readonly"),
            MountFlag::Volume("/srv:/data:ro".into())
        );
        assert_eq!(
            m("type=bind,src=/srv,dst=/d,bind-propagation=rslave"),
            MountFlag::Volume("/srv:/d:rslave".into())
        );
        assert_eq!(
            m("source=db,target=/var/lib/db"),
            MountFlag::Volume("db:/var/lib/db".into())
        );
        assert_eq!(
            m("type=volume,src=db,dst=/x,volume-nocopy"),
            MountFlag::Volume("db:/x:nocopy".into())
        );
        assert_eq!(m("type=volume,target=/anon"), MountFlag::Volume("/anon".into()));
        assert_eq!(
            m("type=tmpfs,target=/run,tmpfs-size=1m,tmpfs-mode=1770"),
            MountFlag::Tmpfs("/run:size=1m,mode=1770".into())
        );
        for bad in [
            "type=bind,target=/x",
            "type=bind,source=rel,target=/x",
            "type=volume,source=db",
            "type=nfs,target=/x",
            "type=tmpfs,source=x,target=/x",
            "type=volume,target=/x,readonly",
            "type=bind,source=/a,target=/b,colour=red",
            "type=bind,source=/a,target=/b,readonly=maybe",
        ] {
            assert!(mount_flag(bad).is_err(), "{bad}");
        }
    }
}
