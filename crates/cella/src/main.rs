//! cella: the engine (coming) and the namespace tools (`cella ns`).

mod ns;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cella", version, about = "A daemonless container engine and namespace tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Namespace tools: ls (more to come: unshare, enter, netns, persist)
    Ns {
        #[command(subcommand)]
        command: ns::NsCommand,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ns { command } => ns::run(command),
    };
    if let Err(e) = result {
        eprintln!("cella: {e:#}");
        std::process::exit(1);
    }
}
