//! cella: a daemonless container engine, and the namespace tools (`cella ns`).

mod engine;
mod ns;
mod table;
mod target;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cella", version, about = "A daemonless container engine and namespace tools")]
struct Cli {
    /// The store: images and containers (default /var/lib/cella, or
    /// $XDG_DATA_HOME/cella rootless). Before the command, as podman's; not
    /// global, since `cella ns enter/unshare` have util-linux's own --root.
    #[arg(long = "root", value_name = "DIR")]
    root: Option<std::path::PathBuf>,
    /// Runtime state (shared with cella-runtime; default /run/cella, or
    /// $XDG_RUNTIME_DIR/cella rootless)
    #[arg(long = "runroot", value_name = "DIR")]
    runroot: Option<std::path::PathBuf>,
    /// Who makes containers' cgroups: systemd (a scope per container; the
    /// default when systemd is the init) or cgroupfs
    #[arg(long = "cgroup-manager", value_name = "MANAGER", value_parser = ["systemd", "cgroupfs"])]
    cgroup_manager: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Namespace tools: ls, unshare, enter, netns, persist, release, pids
    Ns {
        #[command(subcommand)]
        command: Box<ns::NsCommand>,
    },
    #[command(flatten)]
    Engine(engine::EngineCommand),
    /// A container's monitor, started by `run`/`start` (not for people)
    #[command(name = "container-monitor", hide = true)]
    Monitor {
        id: String,
        #[arg(long = "wait-for-attach")]
        wait_for_attach: bool,
    },
}

impl Command {
    /// Commands whose processes create or join a container's namespaces:
    /// the monitor of `run`/`start` creates the container, `exec` and
    /// `ns enter` join one.
    fn enters_containers(&self) -> bool {
        match self {
            Command::Ns { command } => matches!(**command, ns::NsCommand::Enter(_)),
            Command::Engine(c) => c.enters_containers(),
            Command::Monitor { .. } => true,
        }
    }
}

fn main() {
    // `cella ps | head` ends quietly, as other tools do.
    cella_sys::process::set_sigpipe(true);
    let cli = Cli::parse();
    if cli.command.enters_containers() {
        // Before anything else (see cella_engine::seal_self): re-executes.
        if let Err(e) = cella_engine::seal_self() {
            eprintln!("cella: {e}");
            std::process::exit(125);
        }
    }
    let engine = cella_engine::Engine::new(cli.root, cli.runroot);
    target::set_engine(engine.clone());
    let code = match cli.command {
        Command::Ns { command } => match ns::run(*command) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cella: {e:#}");
                1
            }
        },
        Command::Monitor { id, wait_for_attach } => engine.run_monitor(&id, wait_for_attach),
        // docker's convention: 125 when the engine itself fails.
        Command::Engine(c) => match engine::run(&engine, c, cli.cgroup_manager.as_deref()) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("cella: {e:#}");
                125
            }
        },
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine execs this binary with its monitor command: the parser
    /// must accept exactly what `monitor::spawn` passes.
    #[test]
    fn the_monitor_command_the_engine_runs_is_ours() {
        let argv = [
            "cella",
            "--root",
            "/r",
            "--runroot",
            "/rr",
            cella_engine::MONITOR_COMMAND,
            "abc",
            "--wait-for-attach",
        ];
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Monitor { id, wait_for_attach } => assert!(id == "abc" && wait_for_attach),
            _ => panic!("{} is not the monitor's command", cella_engine::MONITOR_COMMAND),
        }
    }
}
