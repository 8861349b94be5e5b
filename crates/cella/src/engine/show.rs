//! ps, inspect, logs, top.

use crate::table::Table;
use anyhow::Result;
use cella_engine::{Container, Engine, Status, Timestamp};
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
    /// table (default), json, or a Go template as docker's ('{{.Names}}', 'table {{.ID}}\t{{.Image}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Full ids and commands
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only those that match KEY=VALUE (name, id, status, ancestor, exited, label); repeatable
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

/// docker's wording for a duration: "5 seconds", "About a minute", "3 hours".
fn human_since(t: Option<Timestamp>) -> String {
    let s = t.map_or(0, |t| t.age().as_secs());
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
        Status::Running => format!("Up {}", human_since(c.state.started_at)),
        Status::Paused => format!("Up {} (Paused)", human_since(c.state.started_at)),
        Status::Created => "Created".into(),
        Status::Exited if c.state.finished_at.is_none() => format!("Exited ({})", c.state.exit_code),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_since(c.state.finished_at)
        ),
    }
}

pub fn ps(e: &Engine, a: PsArgs) -> Result<i32> {
    let filter = cella_engine::ContainerFilter::parse(&a.filter)?;
    let list: Vec<Container> = e.containers_matching(&filter, a.all)?;
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
                    "Id": c.id, "Names": [c.name], "Image": e.image_name_of(c),
                    "Command": e.command_of(c), "Created": c.created,
                    "State": c.state.status.to_string(), "Status": status_text(c),
                    "Pid": c.state.pid, "ExitCode": c.state.exit_code,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if a.format != "table" {
        let rows: Vec<Value> = list.iter().map(|c| ps_fields(e, c, a.no_trunc)).collect();
        crate::template::print_all(&a.format, &rows)?;
        return Ok(0);
    }
    let mut t = Table::new(
        &["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
        &[false; 6],
    );
    for c in &list {
        let f = ps_fields(e, c, a.no_trunc);
        let cell = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        t.rows.push(
            ["ID", "Image", "Command", "RunningFor", "Status", "Names"]
                .map(cell)
                .to_vec(),
        );
    }
    t.print(false, false);
    Ok(0)
}

/// A container as docker's `ps` templates name its fields (the table's
/// columns are some of them). Like docker, the command is cut to 20
/// characters unless `no_trunc`.
fn ps_fields(e: &Engine, c: &Container, no_trunc: bool) -> Value {
    let mut cmd = e.command_of(c).join(" ");
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    json!({
        "ID": if no_trunc { c.id.as_str() } else { c.short_id() },
        "Names": c.name,
        "Image": e.image_name_of(c),
        "Command": format!("\"{cmd}\""),
        "CreatedAt": c.created.to_string(),
        "RunningFor": format!("{} ago", human_since(Some(c.created))),
        "Status": status_text(c),
        "State": c.state.status.to_string(),
        "Ports": c
            .config
            .ports
            .iter()
            .map(|p| {
                let ip = p.host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string());
                format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.proto)
            })
            .collect::<Vec<_>>()
            .join(", "),
        "Labels": "",
        "Networks": c.config.network.to_string(),
        "Mounts": "",
    })
}

#[derive(Args)]
pub struct InspectArgs {
    /// Containers or images (names or ids)
    #[arg(required = true)]
    names: Vec<String>,
    /// container or image (default: whichever the name matches, containers first)
    #[arg(long = "type")]
    kind: Option<String>,
    /// A Go template rendered for each, as docker's (e.g. '{{.State.Status}}'), or json
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

pub fn inspect(e: &Engine, a: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let as_container = a.kind.as_deref() != Some("image");
        let as_image = a.kind.as_deref() != Some("container");
        let found = if as_container {
            e.container(n).ok().map(|c| e.inspect(&c))
        } else {
            None
        };
        match found {
            Some(v) => out.push(v),
            None if as_image => match e.image(n) {
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
    match a.format.as_deref() {
        None => println!("{}", serde_json::to_string_pretty(&out)?),
        Some("json") => println!("{}", serde_json::to_string(&out)?),
        Some(f) => crate::template::print_all(f, &out)?,
    }
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

pub fn logs(e: &Engine, a: LogsArgs) -> Result<i32> {
    use std::io::Write;
    let c = e.container(&a.container)?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let how = cella_engine::LogFollow {
        tail: a.tail,
        follow: a.follow,
    };
    e.logs(&c, how, &mut |entry| {
        let w: &mut dyn Write = if entry.stream == "stderr" { &mut err } else { &mut out };
        if a.timestamps {
            write!(w, "{} ", entry.time)?;
        }
        w.write_all(entry.log.as_bytes())?;
        w.flush()
    })?;
    Ok(0)
}

pub fn top(e: &Engine, name: &str) -> Result<i32> {
    let c = e.container(name)?;
    let mut t = Table::new(&["HOST PID", "PID", "USER", "COMMAND"], &[true, true, false, false]);
    for p in e.processes(&c)? {
        t.rows
            .push(vec![p.host_pid.to_string(), p.pid.to_string(), p.uid, p.command]);
    }
    t.print(false, false);
    Ok(0)
}

#[derive(Args)]
pub struct StatsArgs {
    /// Print once and exit
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// table (default), json, or a Go template as docker's ('{{.Names}}', 'table {{.ID}}\t{{.Image}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Containers (default: all running)
    containers: Vec<String>,
}

pub fn stats(e: &Engine, a: StatsArgs) -> Result<i32> {
    let pick = || -> Result<Vec<Container>> {
        Ok(if a.containers.is_empty() {
            e.containers()?
                .into_iter()
                .filter(|c| c.state.status == Status::Running)
                .collect()
        } else {
            a.containers.iter().map(|n| e.container(n)).collect::<Result<_, _>>()?
        })
    };
    let interval = std::time::Duration::from_millis(if a.no_stream { 500 } else { 1000 });
    loop {
        let list = pick()?;
        let before: Vec<Option<Value>> = list.iter().map(|c| e.stats(c)).collect();
        std::thread::sleep(interval);
        let mut rows = Vec::new();
        for (c, b) in list.iter().zip(before) {
            let Some(now) = e.stats(c) else { continue };
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
pub fn port(e: &Engine, name: &str) -> Result<i32> {
    let c = e.container(name)?;
    for p in &c.config.ports {
        for i in 0..p.count {
            let ip = p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |i| i.to_string());
            println!("{}/{} -> {ip}:{}", p.container_port + i, p.proto, p.host_port + i);
        }
    }
    Ok(0)
}
