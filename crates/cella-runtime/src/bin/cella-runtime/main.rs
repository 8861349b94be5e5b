//! cella-runtime: runc's command line over the cella runtime library.

mod args;
mod exec;
mod run;
mod update;

use anyhow::{bail, Context, Result};
use args::Opt;
use cella_runtime::cgroup::Driver;
use cella_runtime::create::{CreateOptions, StartedBy};
use cella_runtime::{lifecycle, log};
use std::io::Write;
use std::path::PathBuf;

const USAGE: &str = "usage: cella-runtime [global options] COMMAND [options] [ID] [...]

An OCI runtime with runc's command line.

commands:
  create   create a container from a bundle; it waits for `start`
  start    run the process of a created container
  exec     run a new process in a running container (-d, -t, --process FILE, -e, -u, --cwd, --cap)
  run      create and start a container (waits for it unless --detach)
  state    print a container's OCI state as JSON
  kill     send a signal to a container's init (or --all its processes)
  delete   delete a container (--force: also a running one)
  list     list containers (--format table|json, -q)
  pause    freeze every process of a container
  resume   thaw a paused container
  ps       host PIDs of a container's processes (--format table|json)
  update   change resource limits of a running container
  events   stream stats and OOM events as JSON lines (--stats: once)
  spec     write a default config.json (--rootless, --bundle DIR)
  features print what this build supports, as JSON

global options:
  --root DIR          state directory (default /run/cella, or $XDG_RUNTIME_DIR/cella)
  --log FILE          write log lines to FILE instead of stderr
  --log-format FMT    text or json (runc's json lines: level, msg, time)
  --debug             log debug lines
  --systemd-cgroup    put containers in systemd scopes (cgroupsPath slice:prefix:name)
  -v, --version       print the version";

const GLOBAL: &[Opt] = &[
    Opt::value(&["root"]),
    Opt::value(&["log"]),
    Opt::value(&["log-format"]),
    Opt::flag(&["debug"]),
    Opt::flag(&["systemd-cgroup"]),
    Opt::value(&["rootless"]),
    Opt::value(&["criu"]),
    Opt::flag(&["version", "v"]),
    Opt::flag(&["help", "h"]),
];

const CREATE: &[Opt] = &[
    Opt::value(&["bundle", "b"]),
    Opt::value(&["pid-file"]),
    Opt::value(&["console-socket"]),
    Opt::value(&["preserve-fds"]),
    Opt::flag(&["no-pivot"]),
    Opt::flag(&["no-new-keyring"]),
    Opt::flag(&["detach", "d"]),
    Opt::flag(&["keep"]),
];

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match real_main(&argv) {
        Ok(code) => code,
        Err(e) => {
            log::error(&format!("{e:#}"));
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn real_main(argv: &[String]) -> Result<i32> {
    // The global options come before the command; the command's own after it.
    let global = args::parse_until(argv, GLOBAL, 1)?;
    let log_file = match global.value("log") {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("open log file {p}"))?,
        ),
        None => None,
    };
    let json = match global.value("log-format") {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => bail!("--log-format {other:?}: use text or json"),
    };
    log::init(log_file, json, global.flag("debug"));
    if global.flag("version") {
        println!("cella-runtime version {}", env!("CARGO_PKG_VERSION"));
        println!("commit: {}", env!("CELLA_COMMIT"));
        println!("spec: {}", cella_spec::OCI_VERSION);
        return Ok(0);
    }
    let (cmd, rest) = match global.positional.split_first() {
        Some((c, r)) if !global.flag("help") => (c.as_str(), r),
        _ => {
            println!("{USAGE}");
            return Ok(if global.flag("help") { 0 } else { 1 });
        }
    };
    let root = global
        .value("root")
        .map(PathBuf::from)
        .unwrap_or_else(cella_runtime::container::default_root);
    log::debug(|| format!("command {cmd} {rest:?} root {}", root.display()));
    match cmd {
        "create" | "run" => {
            // Runs from a sealed memfd copy from here on (CVE-2019-5736).
            cella_runtime::selfexe::seal_image()?;
            let p = args::parse(rest, CREATE)?;
            let id = p.one_id()?;
            if cmd == "create" && (p.flag("detach") || p.flag("keep")) {
                bail!("create: --detach and --keep belong to `run`");
            }
            let opts = CreateOptions {
                root,
                id: id.to_string(),
                bundle: PathBuf::from(p.value("bundle").unwrap_or(".")),
                pid_file: p.value("pid-file").map(PathBuf::from),
                console: p.console_target(cmd == "run" && !p.flag("detach")),
                preserve_fds: p.preserve_fds()?,
                no_pivot: p.flag("no-pivot"),
                no_new_keyring: p.flag("no-new-keyring"),
                cgroup_driver: if global.flag("systemd-cgroup") {
                    Driver::Systemd
                } else {
                    Driver::Cgroupfs
                },
                started_by: if cmd == "run" {
                    StartedBy::CallerAtOnce
                } else {
                    StartedBy::Command
                },
            };
            if cmd == "create" {
                cella_runtime::create::create(&opts)?;
                Ok(0)
            } else {
                run::run(&opts, p.flag("detach"), p.flag("keep"))
            }
        }
        "exec" => {
            // Runs from a sealed memfd copy: the classic moment for CVE-2019-5736.
            cella_runtime::selfexe::seal_image()?;
            exec::exec(&root, rest)
        }
        "start" => {
            let p = args::parse(rest, &[])?;
            lifecycle::start(&root, p.one_id()?)?;
            Ok(0)
        }
        "state" => {
            let p = args::parse(rest, &[])?;
            let st = lifecycle::state(&root, p.one_id()?)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        "kill" => {
            let p = args::parse(rest, &[Opt::flag(&["all", "a"])])?;
            let (id, sig) = match p.positional.as_slice() {
                [id] => (id, "SIGTERM"),
                [id, sig] => (id, sig.as_str()),
                _ => bail!("kill: usage: cella-runtime kill [--all] ID [SIGNAL]"),
            };
            let n = cella_spec::signal::parse(sig)
                .with_context(|| format!("kill: {sig:?} is not a signal name or number"))?;
            lifecycle::kill(&root, id, n, p.flag("all"))?;
            Ok(0)
        }
        "delete" => {
            let p = args::parse(rest, &[Opt::flag(&["force", "f"])])?;
            lifecycle::delete(&root, p.one_id()?, p.flag("force"))?;
            Ok(0)
        }
        "list" | "ls" => {
            let p = args::parse(rest, &[Opt::value(&["format", "f"]), Opt::flag(&["quiet", "q"])])?;
            list(&root, p.value("format").unwrap_or("table"), p.flag("quiet"))
        }
        "pause" => {
            cella_runtime::control::pause(&root, args::parse(rest, &[])?.one_id()?)?;
            Ok(0)
        }
        "resume" => {
            cella_runtime::control::resume(&root, args::parse(rest, &[])?.one_id()?)?;
            Ok(0)
        }
        "ps" => {
            // runc's ps passes what follows the ID on to ps(1).
            let p = args::parse_until(rest, &[Opt::value(&["format", "f"])], 1)?;
            let (id, ps_args) = p.positional.split_first().context("ps: a container ID is required")?;
            let pids = cella_runtime::control::ps(&root, id)?;
            match p.value("format").unwrap_or("table") {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => print_ps_table(&pids, ps_args)?,
                other => bail!("ps: --format {other:?}: use table or json"),
            }
            Ok(0)
        }
        "update" => {
            let p = args::parse(rest, update::OPTIONS)?;
            let res = update::resources(&p)?;
            cella_runtime::control::update(&root, p.one_id()?, &res)?;
            Ok(0)
        }
        "events" => {
            let p = args::parse(rest, &[Opt::flag(&["stats"]), Opt::value(&["interval"])])?;
            let interval = match p.value("interval") {
                Some(d) => update::parse_duration(d)?,
                None => std::time::Duration::from_secs(5),
            };
            let mut out = std::io::stdout().lock();
            cella_runtime::control::events(&root, p.one_id()?, interval, p.flag("stats"), &mut out)?;
            Ok(0)
        }
        "spec" => {
            let p = args::parse(rest, &[Opt::flag(&["rootless"]), Opt::value(&["bundle", "b"])])?;
            let spec = if p.flag("rootless") {
                cella_spec::defaults::rootless_spec(cella_sys::process::geteuid(), cella_sys::process::getgid())
            } else {
                cella_spec::defaults::default_spec()
            };
            let path = PathBuf::from(p.value("bundle").unwrap_or(".")).join("config.json");
            if path.exists() {
                bail!("{} exists: remove it first", path.display());
            }
            std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
        "features" => {
            args::parse(rest, &[])?;
            println!(
                "{}",
                serde_json::to_string_pretty(&cella_runtime::features::features())?
            );
            Ok(0)
        }
        other => bail!("unknown command {other:?}: see `cella-runtime --help`"),
    }
}

/// runc's `ps` table: the host's `ps` output (default `-ef`) limited to
/// the container's processes.
fn print_ps_table(pids: &[i32], ps_args: &[String]) -> Result<()> {
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
            .is_some_and(|p: i32| pids.contains(&p))
        {
            println!("{l}");
        }
    }
    Ok(())
}

fn list(root: &std::path::Path, format: &str, quiet: bool) -> Result<i32> {
    let entries = lifecycle::list(root)?;
    if quiet {
        for e in &entries {
            println!("{}", e.id);
        }
        return Ok(0);
    }
    match format {
        "json" => println!("{}", serde_json::to_string(&entries)?),
        "table" => {
            let rows: Vec<[String; 6]> =
                std::iter::once(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from))
                    .chain(entries.iter().map(|e| {
                        [
                            e.id.clone(),
                            e.pid.to_string(),
                            e.status.as_str().into(),
                            e.bundle.clone(),
                            e.created.clone(),
                            e.owner.clone(),
                        ]
                    }))
                    .collect();
            let mut widths = [0usize; 6];
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            for r in &rows {
                let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => bail!("list: --format {other:?}: use table or json"),
    }
    Ok(0)
}
