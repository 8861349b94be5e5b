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
    /// table (default), json (an object per line, as docker's), or a Go
    /// template as docker's ('{{.Names}}', 'table {{.ID}}\t{{.Image}}')
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Full ids and commands
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only those that match KEY=VALUE (name, id, status, ancestor, exited, label); repeatable
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// The N most recently created containers, in any state
    #[arg(short = 'n', long = "last", value_name = "N")]
    last: Option<usize>,
    /// The most recently created container, in any state (-n 1)
    #[arg(short = 'l', long = "latest")]
    latest: bool,
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
    if c.restarts.restarting {
        return format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human_since(c.state.finished_at)
        );
    }
    let health = match c.health.as_ref().map(|h| h.status.as_str()) {
        Some("starting") => " (health: starting)".to_string(),
        Some(s @ ("healthy" | "unhealthy")) => format!(" ({s})"),
        _ => String::new(),
    };
    match c.state.status {
        Status::Running => format!("Up {}{health}", human_since(c.state.started_at)),
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
    let last = if a.latest { Some(1) } else { a.last };
    let mut list: Vec<Container> = e.containers_matching(&filter, a.all || last.is_some())?;
    if let Some(n) = last {
        list.truncate(n); // newest first
    }
    if a.quiet {
        for c in &list {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    if a.format == "json" {
        // docker's: each container as one JSON object on a line of its own.
        for c in &list {
            println!("{}", serde_json::to_string(&ps_fields(e, c, a.no_trunc))?);
        }
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
        "State": c.state_word(),
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
        "Labels": c
            .config
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        "Networks": c.config.network.to_string(),
        "Mounts": c
            .config
            .volumes
            .iter()
            .filter_map(|v| v.split(':').nth(1))
            .collect::<Vec<_>>()
            .join(","),
        "LocalVolumes": "0",
        "Size": "0B",
    })
}

#[derive(Args)]
pub struct InspectArgs {
    /// Containers or images (names or ids)
    #[arg(required = true)]
    pub names: Vec<String>,
    /// container or image (default: whichever the name matches, containers first)
    #[arg(long = "type", value_parser = ["container", "image"])]
    pub kind: Option<String>,
    /// A Go template rendered for each, as docker's (e.g. '{{.State.Status}}'), or json
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
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
                Ok(i) => out.push(e.inspect_image(&i)),
                // docker's words when neither kind was asked for.
                Err(cella_engine::Error::NotFound(_)) if as_container => {
                    eprintln!("cella: no such object: {n}");
                    failed = true;
                }
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
    crate::template::print_documents(a.format.as_deref(), &out)?;
    Ok(if failed { super::ENGINE_FAILED } else { 0 })
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
    /// Only lines since this moment: RFC 3339, a date, Unix seconds, or a duration ago (10m)
    #[arg(long = "since")]
    since: Option<String>,
    /// Only lines before this moment (same forms as --since)
    #[arg(long = "until")]
    until: Option<String>,
    container: String,
}

/// A `--since`/`--until` value: RFC 3339, a date, Unix seconds or a
/// duration ago, as docker takes them.
fn moment(flag: &str, v: &Option<String>) -> Result<Option<Timestamp>> {
    v.as_deref()
        .map(|s| {
            Timestamp::parse_moment(s).ok_or_else(|| {
                anyhow::anyhow!(
                    "{flag} {s}: use RFC 3339 (2024-05-01T10:00:00Z), a date, Unix seconds, or a duration such as 10m"
                )
            })
        })
        .transpose()
}

pub fn logs(e: &Engine, a: LogsArgs) -> Result<i32> {
    use std::io::Write;
    let c = e.container(&a.container)?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let how = cella_engine::LogFollow {
        tail: a.tail,
        follow: a.follow,
        since: moment("--since", &a.since)?,
        until: moment("--until", &a.until)?,
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

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// Options for ps(1), as docker's `top CONTAINER -o pid,comm`: the host's
    /// ps runs with them and only the container's processes are kept
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_options: Vec<String>,
}

pub fn top(e: &Engine, a: TopArgs) -> Result<i32> {
    let c = e.container(&a.container)?;
    let processes = e.processes(&c)?;
    if !a.ps_options.is_empty() {
        return top_with_ps(&a.ps_options, &processes);
    }
    let mut t = Table::new(&["HOST PID", "PID", "USER", "COMMAND"], &[true, true, false, false]);
    for p in processes {
        t.rows
            .push(vec![p.host_pid.to_string(), p.pid.to_string(), p.uid, p.command]);
    }
    t.print(false, false);
    Ok(0)
}

/// docker's way: the host's `ps OPTIONS`, its header, and the rows whose
/// PID column names one of the container's processes.
fn top_with_ps(options: &[String], processes: &[cella_engine::Process]) -> Result<i32> {
    let out = std::process::Command::new("ps")
        .args(options)
        .output()
        .map_err(|err| anyhow::anyhow!("top: run ps: {err} (is procps installed?)"))?;
    if !out.status.success() {
        anyhow::bail!(
            "top: ps {} failed: {}",
            options.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(column) = header.split_whitespace().position(|h| h == "PID") else {
        anyhow::bail!(
            "top: ps {} prints no PID column: add pid to its fields",
            options.join(" ")
        );
    };
    println!("{header}");
    let ours: std::collections::HashSet<String> = processes.iter().map(|p| p.host_pid.to_string()).collect();
    for l in lines {
        if l.split_whitespace().nth(column).is_some_and(|pid| ours.contains(pid)) {
            println!("{l}");
        }
    }
    Ok(0)
}

#[derive(Args)]
pub struct VersionArgs {
    /// A Go template over the document, e.g. '{{.Server.Version}}', or json
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
}

/// Prints `doc` through --format, else as `Key: value` lines.
fn print_document(format: Option<&str>, doc: &Value) -> Result<i32> {
    match format {
        Some("json") => println!("{}", serde_json::to_string(doc)?),
        Some(t) => crate::template::print_all(t, std::slice::from_ref(doc))?,
        None => print_lines(doc, 0),
    }
    Ok(0)
}

fn print_lines(v: &Value, depth: usize) {
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            let pad = " ".repeat(depth * 2);
            match v {
                Value::Object(_) => {
                    println!("{pad}{k}:");
                    print_lines(v, depth + 1);
                }
                Value::String(s) => println!("{pad}{k}: {s}"),
                other => println!("{pad}{k}: {other}"),
            }
        }
    }
}

pub fn version(e: &Engine, a: VersionArgs) -> Result<i32> {
    print_document(a.format.as_deref(), &e.version())
}

pub fn info(e: &Engine, a: VersionArgs) -> Result<i32> {
    print_document(a.format.as_deref(), &e.info()?)
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
        } else if a.format != "table" {
            // docker's template fields, as its table prints them.
            let docker_rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let (mem, limit) = (r["MemUsage"].as_u64().unwrap_or(0), r["MemLimit"].as_u64().unwrap_or(0));
                    let unlimited = limit == 0 || limit >= i64::MAX as u64 / 2;
                    let id: String = r["Id"].as_str().unwrap_or("").chars().take(12).collect();
                    json!({
                        "ID": id, "Container": id, "Name": r["Name"],
                        "CPUPerc": format!("{:.2}%", r["CPUPerc"].as_f64().unwrap_or(0.0)),
                        "MemUsage": format!("{} / {}", crate::table::human_bytes(mem),
                            if unlimited { "-".into() } else { crate::table::human_bytes(limit) }),
                        "MemPerc": if unlimited { "0.00%".to_string() } else { format!("{:.2}%", mem as f64 / limit as f64 * 100.0) },
                        "PIDs": r["PIDs"].to_string(),
                        "NetIO": "--", "BlockIO": "--",
                    })
                })
                .collect();
            crate::template::print_all(&a.format, &docker_rows)?;
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

#[derive(Args)]
pub struct EventsArgs {
    /// Events since this moment (RFC 3339, a date, Unix seconds, or a duration ago: 10m); without it, only new ones
    #[arg(long = "since")]
    since: Option<String>,
    /// Events before this moment (same forms); with it, no following
    #[arg(long = "until")]
    until: Option<String>,
    /// type=, event=, container=, image=, volume=, network= (repeatable)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// A Go template over docker's fields ('{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'), or json
    #[arg(long = "format")]
    format: Option<String>,
}

pub fn events(e: &Engine, a: EventsArgs) -> Result<i32> {
    let mut filters = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some((k @ ("type" | "event" | "container" | "image" | "volume" | "network"), v)) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => anyhow::bail!("invalid filter {f:?}: keys are type, event, container, image, volume and network"),
        }
    }
    let window = cella_engine::events::Window {
        since: moment("--since", &a.since)?.or_else(|| Some(Timestamp::now())),
        until: moment("--until", &a.until)?,
        filters,
    };
    let template = match a.format.as_deref() {
        None | Some("json") => None,
        Some(t) => Some(crate::template::Template::parse(t)?),
    };
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    e.events(&window, window.until.is_none(), &mut |ev| {
        use std::io::Write;
        let line = match (&template, a.format.as_deref()) {
            (Some(t), _) => serde_json::to_value(ev)
                .map_err(anyhow::Error::from)
                .and_then(|v| t.render(&v)),
            (None, Some("json")) => serde_json::to_string(ev).map_err(anyhow::Error::from),
            (None, _) => {
                let when = Timestamp::from_unix_nanos(ev.time_nano);
                let attrs: Vec<String> = ev.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                Ok(format!(
                    "{when} {} {} {} ({})",
                    ev.kind,
                    ev.action,
                    ev.actor.id,
                    attrs.join(", ")
                ))
            }
        };
        match line.and_then(|l| {
            writeln!(out, "{l}")
                .and_then(|()| out.flush())
                .map_err(anyhow::Error::from)
        }) {
            Ok(()) => true,
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    })?;
    match failed {
        // A closed pipe (`events | head`) is the reader's choice, not a failure.
        Some(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(0)
        }
        Some(err) => Err(err),
        None => Ok(0),
    }
}
