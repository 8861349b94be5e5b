//! cella: the engine (coming) and the namespace tools (`cella ns`).

mod ns;
mod table;
mod target;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cella", version, about = "A daemonless container engine and namespace tools")]
struct Cli {
    /// cella-runtime's state directory, where containers are looked up by name
    /// (default: /run/cella, or $XDG_RUNTIME_DIR/cella rootless)
    #[arg(long = "runtime-root", global = true, value_name = "DIR")]
    runtime_root: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Namespace tools: ls, unshare, enter, netns, persist, release, pids
    Ns {
        #[command(subcommand)]
        command: ns::NsCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Some(root) = cli.runtime_root {
        target::set_runtime_root(root);
    }
    let result = match cli.command {
        Command::Ns { command } => ns::run(command),
    };
    if let Err(e) = result {
        eprintln!("cella: {e:#}");
        std::process::exit(1);
    }
}
