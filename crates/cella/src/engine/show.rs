//! ps, inspect, logs, top.

use crate::table::Table;
use anyhow::{bail, Result};
use cella_engine::container::{self, Container, Status};
use cella_engine::paths::Paths;
use clap::Args;
use serde_json::{json, Value};

#[derive(Args)]
pub struct PsArgs {
    /// All containers, not only running ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Only ids
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// table (default) or json
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Full ids and commands
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// Seconds since the epoch of an RFC 3339 UTC time as the engine writes them.
fn epoch(ts: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// docker's wording for a duration: "5 seconds", "About a minute", "3 hours".
fn human_since(ts: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = epoch(ts).map_or(0, |t| (now - t).max(0));
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Running => format!("Up {}", human_since(&c.state.started_at)),
        Status::Paused => format!("Up {} (Paused)", human_since(&c.state.started_at)),
        Status::Created => "Created".into(),
        Status::Exited if c.state.finished_at.is_empty() => format!("Exited ({})", c.state.exit_code),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_since(&c.state.finished_at)
        ),
    }
}

fn image_name(paths: &Paths, c: &Container) -> String {
    cella_engine::image::find(paths, &c.image_id)
        .ok()
        .and_then(|i| i.repo_tags.first().cloned())
        .unwrap_or_else(|| c.config.image.clone())
}

pub fn ps(paths: &Paths, a: PsArgs) -> Result<i32> {
    let list: Vec<Container> = container::list(paths)?
        .into_iter()
        .filter(|c| a.all || matches!(c.state.status, Status::Running | Status::Paused))
        .collect();
    if a.quiet {
        for c in &list {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    if a.format == "json" {
        let rows: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "Id": c.id, "Names": [c.name], "Image": image_name(paths, c),
                    "Command": command_of(paths, c), "Created": c.created,
                    "State": c.state.status.to_string(), "Status": status_text(c),
                    "Pid": c.state.pid, "ExitCode": c.state.exit_code,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if a.format != "table" {
        bail!("--format {}: use table or json", a.format);
    }
    let mut t = Table::new(
        &["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
        &[false; 6],
    );
    for c in &list {
        let mut cmd = command_of(paths, c).join(" ");
        if !a.no_trunc && cmd.chars().count() > 20 {
            cmd = cmd.chars().take(19).collect::<String>() + "…";
        }
        t.rows.push(vec![
            if a.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            },
            image_name(paths, c),
            format!("\"{cmd}\""),
            format!("{} ago", human_since(&c.created)),
            status_text(c),
            c.name.clone(),
        ]);
    }
    t.print(false, false);
    Ok(0)
}

fn command_of(paths: &Paths, c: &Container) -> Vec<String> {
    cella_engine::image::find(paths, &c.image_id)
        .ok()
        .and_then(|i| cella_engine::spec::command(&c.config, &i).ok())
        .unwrap_or_default()
}

#[derive(Args)]
pub struct InspectArgs {
    /// Containers or images (names or ids)
    #[arg(required = true)]
    names: Vec<String>,
    /// container or image (default: whichever the name matches, containers first)
    #[arg(long = "type")]
    kind: Option<String>,
}

/// The inode of each namespace of a running process.
fn namespaces(pid: i32) -> Value {
    let mut m = serde_json::Map::new();
    for k in cella_ns::ls::TYPES {
        if let Ok(link) = std::fs::read_link(format!("/proc/{pid}/ns/{k}")) {
            if let Some((_, ino)) = cella_ns::ls::parse_link(&link.to_string_lossy()) {
                m.insert(k.to_string(), ino.into());
            }
        }
    }
    Value::Object(m)
}

pub fn container_json(paths: &Paths, c: &Container) -> Result<Value> {
    let dir = c.dir(paths);
    let spec: Option<cella_spec::Spec> = cella_engine::store::read_json(&dir.join("config.json")).ok();
    let running = matches!(c.state.status, Status::Running | Status::Paused) && c.state.pid > 0;
    let mounts: Vec<Value> = spec
        .as_ref()
        .map(|s| {
            s.mounts
                .iter()
                .filter(|m| {
                    c.config
                        .volumes
                        .iter()
                        .any(|v| v.split(':').nth(1) == Some(&m.destination))
                        || m.kind.as_deref() == Some("tmpfs")
                            && c.config
                                .tmpfs
                                .iter()
                                .any(|t| t.split(':').next() == Some(&m.destination))
                })
                .map(
                    |m| json!({"Type": m.kind, "Source": m.source, "Destination": m.destination, "Options": m.options}),
                )
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "Id": c.id,
        "Name": c.name,
        "Created": c.created,
        "Image": c.image_id,
        "ImageName": image_name(paths, c),
        "Path": command_of(paths, c).first().cloned().unwrap_or_default(),
        "Args": command_of(paths, c).get(1..).map(|a| a.to_vec()).unwrap_or_default(),
        "State": {
            "Status": c.state.status.to_string(),
            "Running": c.state.status == Status::Running,
            "Paused": c.state.status == Status::Paused,
            "Pid": if running { c.state.pid } else { 0 },
            "ExitCode": c.state.exit_code,
            "OOMKilled": c.state.oom_killed,
            "Error": c.state.error,
            "StartedAt": c.state.started_at,
            "FinishedAt": c.state.finished_at,
        },
        "Namespaces": if running { namespaces(c.state.pid) } else { json!({}) },
        "NetworkSettings": {
            "Network": c.config.network,
            "IPAddress": c.state.ip_address,
            "Gateway": if c.state.ip_address.is_empty() { String::new() } else { cella_engine::net::default_network().gateway.to_string() },
        },
        "Mounts": mounts,
        "LogPath": dir.join(container::LOG),
        "Config": c.config,
        "Hostname": spec.as_ref().and_then(|s| s.hostname.clone()),
        "Spec": spec,
    }))
}

pub fn inspect(paths: &Paths, a: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let as_container = a.kind.as_deref() != Some("image");
        let as_image = a.kind.as_deref() != Some("container");
        let found = if as_container {
            container::find(paths, n).ok().map(|c| container_json(paths, &c))
        } else {
            None
        };
        match found {
            Some(v) => out.push(v?),
            None if as_image => match cella_engine::image::find(paths, n) {
                Ok(i) => out.push(serde_json::to_value(i)?),
                Err(e) => {
                    eprintln!("cella: {e}");
                    failed = true;
                }
            },
            None => {
                eprintln!("cella: no container {n:?}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if failed { 1 } else { 0 })
}

#[derive(Args)]
pub struct LogsArgs {
    /// Keep printing output as it comes, until the container stops
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// Only the last N lines
    #[arg(long = "tail", short = 'n')]
    tail: Option<usize>,
    /// Prefix each line with its time
    #[arg(short = 't', long = "timestamps")]
    timestamps: bool,
    container: String,
}

pub fn logs(paths: &Paths, a: LogsArgs) -> Result<i32> {
    use std::io::{Read, Seek, Write};
    let c = container::find(paths, &a.container)?;
    let path = c.dir(paths).join(container::LOG);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut print = |entries: &[cella_engine::logs::Entry]| -> std::io::Result<()> {
        for e in entries {
            let w: &mut dyn Write = if e.stream == "stderr" { &mut err } else { &mut out };
            if a.timestamps {
                write!(w, "{} ", e.time)?;
            }
            w.write_all(e.log.as_bytes())?;
        }
        out.flush()
    };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    // Only whole lines; a partial last line is read again when following.
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    let entries = cella_engine::logs::read(&text[..whole]);
    let skip = a.tail.map_or(0, |n| entries.len().saturating_sub(n));
    print(&entries[skip..])?;
    if !a.follow {
        return Ok(0);
    }
    let mut pos = whole as u64;
    loop {
        let alive = container::load(paths, &c.id)
            .map(|c| c.monitor_alive())
            .unwrap_or(false);
        file.seek(std::io::SeekFrom::Start(pos))?;
        let mut more = String::new();
        file.read_to_string(&mut more)?;
        let whole = more.rfind('\n').map_or(0, |i| i + 1);
        print(&cella_engine::logs::read(&more[..whole]))?;
        pos += whole as u64;
        if !alive {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn top(paths: &Paths, name: &str) -> Result<i32> {
    let c = container::find(paths, name)?;
    if c.state.status != Status::Running || c.state.pid <= 0 {
        bail!("container {} is not running", c.name);
    }
    let members = cella_ns::pids::members(c.state.pid)?;
    let mut t = Table::new(&["HOST PID", "PID", "USER", "COMMAND"], &[true, true, false, false]);
    for (host, inside) in members {
        let cmd = std::fs::read(format!("/proc/{host}/cmdline"))
            .map(|b| {
                b.split(|&x| x == 0)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let uid = std::fs::read_to_string(format!("/proc/{host}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_default();
        t.rows.push(vec![host.to_string(), inside.to_string(), uid, cmd]);
    }
    t.print(false, false);
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_parse_back_to_the_epoch() {
        assert_eq!(super::epoch("1970-01-01T00:00:00.000000000Z"), Some(0));
        assert_eq!(super::epoch("2026-11-22T12:00:05.5Z"), Some(1_795_348_805));
        assert_eq!(
            super::epoch(&cella_runtime::log::rfc3339(951_782_400, 0)),
            Some(951_782_400),
            "2000-02-29"
        );
        assert_eq!(super::epoch("garbage"), None);
    }
}

#[derive(Args)]
pub struct StatsArgs {
    /// Print once and exit
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// table (default) or json
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Containers (default: all running)
    containers: Vec<String>,
}

/// The cgroup statistics of a running container (runc's events shape).
fn cgroup_stats(paths: &Paths, c: &Container) -> Option<Value> {
    let p = cella_runtime::container::read_persisted(&paths.runroot.join(&c.id)).ok()?;
    Some(p.cgroup?.stats())
}

pub fn stats(paths: &Paths, a: StatsArgs) -> Result<i32> {
    let pick = || -> Result<Vec<Container>> {
        Ok(if a.containers.is_empty() {
            container::list(paths)?
                .into_iter()
                .filter(|c| c.state.status == Status::Running)
                .collect()
        } else {
            a.containers
                .iter()
                .map(|n| container::find(paths, n))
                .collect::<Result<_, _>>()?
        })
    };
    let interval = std::time::Duration::from_millis(if a.no_stream { 500 } else { 1000 });
    loop {
        let list = pick()?;
        let before: Vec<Option<Value>> = list.iter().map(|c| cgroup_stats(paths, c)).collect();
        std::thread::sleep(interval);
        let mut rows = Vec::new();
        for (c, b) in list.iter().zip(before) {
            let Some(now) = cgroup_stats(paths, c) else { continue };
            let cpu = |v: &Value| v["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
            let cpu_pct = b.map_or(0.0, |b| {
                cpu(&now).saturating_sub(cpu(&b)) as f64 / interval.as_nanos() as f64 * 100.0
            });
            let mem = now["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
            let limit = now["memory"]["usage"]["limit"].as_u64().unwrap_or(0);
            let pids = now["pids"]["current"].as_u64().unwrap_or(0);
            rows.push(json!({
                "Id": c.id, "Name": c.name, "CPUPerc": (cpu_pct * 100.0).round() / 100.0,
                "MemUsage": mem, "MemLimit": limit, "PIDs": pids,
            }));
        }
        if a.format == "json" {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            if !a.no_stream && crate::table::colour_on_stdout() {
                print!("\x1b[2J\x1b[H");
            }
            let mut t = Table::new(
                &["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"],
                &[false, false, true, true, true],
            );
            for r in &rows {
                let limit = r["MemLimit"].as_u64().unwrap_or(0);
                let lim = if limit == 0 || limit >= i64::MAX as u64 / 2 {
                    "-".to_string()
                } else {
                    crate::table::human_bytes(limit)
                };
                t.rows.push(vec![
                    r["Id"].as_str().unwrap_or("").chars().take(12).collect(),
                    r["Name"].as_str().unwrap_or("").into(),
                    format!("{:.2}%", r["CPUPerc"].as_f64().unwrap_or(0.0)),
                    format!(
                        "{} / {lim}",
                        crate::table::human_bytes(r["MemUsage"].as_u64().unwrap_or(0))
                    ),
                    r["PIDs"].to_string(),
                ]);
            }
            t.print(false, false);
        }
        if a.no_stream {
            return Ok(0);
        }
    }
}

/// `cella port NAME`: "CPORT/proto -> IP:HOSTPORT", as docker prints it.
pub fn port(paths: &Paths, name: &str) -> Result<i32> {
    let c = container::find(paths, name)?;
    for p in &c.config.ports {
        for i in 0..p.count {
            let ip = p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |i| i.to_string());
            println!("{}/{} -> {ip}:{}", p.container_port + i, p.proto, p.host_port + i);
        }
    }
    Ok(0)
}
