//! cella: a daemonless container engine, and the namespace tools (`cella ns`).

mod engine;
mod ns;
mod table;
mod target;
mod template;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Shell completion for bash, zsh, fish, elvish or powershell, from the
    /// same definitions as the parser and --help (e.g. `cella completion
    /// bash > /etc/bash_completion.d/cella`)
    Completion { shell: clap_complete::Shell },
}

impl Command {
    /// Commands whose processes create or join a container's namespaces:
    /// the monitor creates the container (`run`/`start` execute it from a
    /// sealed image), `exec` and `ns enter` join one.
    fn enters_containers(&self) -> bool {
        match self {
            Command::Ns { command } => matches!(**command, ns::NsCommand::Enter(_)),
            Command::Engine(c) => c.enters_containers(),
            Command::Completion { .. } => false,
        }
    }
}

/// Prints a command-line error and gives its exit code: docker's 125 for
/// the engine's commands (scripts tell "the engine refused" from "the
/// container failed" by it), util-linux's 1 for `cella ns`, 0 for --help
/// and --version.
fn usage_error(e: clap::Error, args: impl Iterator<Item = String>) -> i32 {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        _ if first_word(args).as_deref() == Some("ns") => 1,
        _ => 125,
    }
}

/// The command word: the first argument that is not an option or the
/// value of a global option.
fn first_word(mut args: impl Iterator<Item = String>) -> Option<String> {
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" | "--runroot" | "--cgroup-manager" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            _ => return Some(a),
        }
    }
    None
}

/// A step without which no command may go on: its failure is the engine's (125).
fn or_exit<E: std::fmt::Display>(step: Result<(), E>) {
    if let Err(e) = step {
        eprintln!("cella: {e}");
        std::process::exit(engine::ENGINE_FAILED);
    }
}

fn main() {
    // `cella ps | head` ends quietly, as other tools do.
    cella_sys::process::set_sigpipe(true);
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A container's monitor, executed by run/start: its own command line,
    // read before (and without) the people's parser.
    if let Some(m) = cella_engine::MonitorInvocation::parse(argv.get(1..).unwrap_or_default()) {
        // It creates the container: from a sealed image (run/start execute
        // it from one, so this does not re-execute).
        or_exit(cella_engine::seal_self());
        let engine = cella_engine::Engine::new(Some(m.root), Some(m.runroot));
        std::process::exit(engine.run_monitor(&m.id, m.wait_for_attach));
    }
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(usage_error(e, std::env::args().skip(1))),
    };
    if cli.command.enters_containers() {
        // Before anything else (see cella_engine::seal_self): re-executes.
        or_exit(cella_engine::seal_self());
    } else if matches!(&cli.command, Command::Engine(c) if c.starts_monitors()) {
        or_exit(cella_engine::become_undumpable());
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
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "cella", &mut std::io::stdout());
            0
        }
        // docker's convention: 125 when the engine itself fails.
        Command::Engine(c) => match engine::run(&engine, c, cli.cgroup_manager.as_deref()) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("cella: {e:#}");
                engine::ENGINE_FAILED
            }
        },
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_as_docker_and_util_linux_do() {
        let code = |argv: &[&str]| {
            let e = Cli::try_parse_from(argv).err().unwrap();
            usage_error(e, argv[1..].iter().map(|s| s.to_string()))
        };
        assert_eq!(code(&["cella", "run", "--no-such-flag", "img"]), 125);
        assert_eq!(code(&["cella", "--root", "/r", "ps", "--bogus"]), 125);
        assert_eq!(code(&["cella", "no-such-command"]), 125);
        assert_eq!(code(&["cella", "--root", "ns", "ps", "--bogus"]), 125);
        assert_eq!(code(&["cella", "ns", "unshare", "--bogus"]), 1);
        assert_eq!(code(&["cella", "--help"]), 0);
    }

    /// Every command people use says what it does in --help (and so in the
    /// completions, generated from the same definitions). The commands of
    /// the groups (`container ls`, `image rm`…) are deferred, built only
    /// when used (the groups themselves are not, so that clap's `help`
    /// subcommand and the completions still list every nested command):
    /// building one must not change its description (a doc comment on a
    /// flattened struct or a group enum would replace it).
    #[test]
    fn every_command_has_its_help() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>, changed: &mut Vec<String>) {
            for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
                let p = format!("{path} {}", sub.get_name());
                let mut built = sub.clone();
                built.build();
                if built.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(p.clone());
                }
                if built.get_about().map(ToString::to_string) != sub.get_about().map(ToString::to_string) {
                    changed.push(format!("{p}: {:?}", built.get_about().map(ToString::to_string)));
                }
                walk(&built, &p, missing, changed);
            }
        }
        let (mut missing, mut changed) = (Vec::new(), Vec::new());
        walk(&Cli::command(), "cella", &mut missing, &mut changed);
        assert!(missing.is_empty(), "without help: {missing:?}");
        assert!(
            changed.is_empty(),
            "help replaced when the command is built: {changed:?}"
        );
        Cli::command().debug_assert();
    }

    /// The monitor's command line is not one people can give.
    #[test]
    fn the_monitor_is_not_a_command_of_the_parser() {
        assert!(Cli::try_parse_from(["cella", "container-monitor", "abc"]).is_err());
    }
}
