//! `cella ns`: namespace tools with util-linux's and iproute2's conventions.

mod enter;
mod ls;
mod netns;
mod options;
mod pids;
mod unshare;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NsCommand {
    /// List namespaces, as lsns does, plus those only a bind mount keeps alive
    Ls(ls::LsArgs),
    /// Keep a process's namespace alive by bind-mounting it onto FILE
    Persist {
        /// A PID or a cella container
        target: String,
        /// cgroup, ipc, mnt, net, pid, time, user or uts
        #[arg(value_name = "TYPE")]
        kind: String,
        file: std::path::PathBuf,
    },
    /// Unmount a persisted namespace (it ends with its last user)
    Release { file: std::path::PathBuf },
    /// Run a command in other namespaces, as nsenter does
    Enter(enter::EnterArgs),
    /// Run a command in new namespaces, as util-linux unshare does
    Unshare(unshare::UnshareArgs),
    /// Named network namespaces, as `ip netns` (shared with it: /run/netns)
    Netns {
        #[command(subcommand)]
        command: netns::NetnsCommand,
    },
    /// The PID map: a process's PID at every level of nested PID namespaces
    /// (--members: every process of its PID namespace, host PID and PID inside)
    Pids(pids::PidsArgs),
}

pub fn run(cmd: NsCommand) -> Result<()> {
    match cmd {
        NsCommand::Ls(a) => ls::run(a),
        NsCommand::Persist { target, kind, file } => {
            let pid = crate::target::pid_of(&target)?;
            Ok(cella_ns::persist::persist(pid, &kind, &file)?)
        }
        NsCommand::Release { file } => Ok(cella_ns::persist::release(&file)?),
        NsCommand::Enter(a) => enter::run(a),
        NsCommand::Unshare(a) => unshare::run(a),
        NsCommand::Netns { command } => netns::run(command),
        NsCommand::Pids(a) => pids::run(a),
    }
}

/// The command to run: the given words, else $SHELL, else /bin/sh.
fn command_or_shell(mut argv: Vec<String>) -> Vec<String> {
    if argv.is_empty() {
        argv.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()));
    }
    argv
}

/// Replaces this process with the command; returns only on failure, with
/// the exit code shells use (127 not found, 126 cannot run).
fn exec(argv: &[String]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!("cella: exec {}: {err}", argv[0]);
    std::process::exit(code)
}

/// Runs the command as a child, waits, and exits with its status (128+N
/// for a signal, as shells report it).
fn run_and_exit(argv: &[String]) -> ! {
    let status = match std::process::Command::new(&argv[0]).args(&argv[1..]).status() {
        Ok(s) => s,
        Err(err) => {
            let code = if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("cella: run {}: {err}", argv[0]);
            std::process::exit(code)
        }
    };
    use std::os::unix::process::ExitStatusExt;
    std::process::exit(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
