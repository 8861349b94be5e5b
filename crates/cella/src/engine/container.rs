//! docker's `container` group: `cella container ls|run|stop|rm|prune…`,
//! the same commands as the top-level ones, plus `prune`.

use super::{manage, show, EngineCommand};
use anyhow::Result;
use cella_engine::Engine;
use clap::Subcommand;

#[derive(Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(show::PsArgs),
    /// Create and start a container
    Run(Box<super::run::RunArgs>),
    /// Create a container without starting it
    Create(Box<super::run::RunArgs>),
    /// Start created or stopped containers
    Start(manage::StartArgs),
    /// Stop containers and start them again
    Restart(manage::StopArgs),
    /// Attach to a running container
    Attach(manage::AttachArgs),
    /// Run a command in a running container
    Exec(manage::ExecArgs),
    /// Details of containers as JSON
    Inspect(show::InspectArgs),
    /// A container's output
    Logs(show::LogsArgs),
    /// A container's processes
    Top(show::TopArgs),
    /// Resource use of running containers
    Stats(show::StatsArgs),
    /// A container's published ports
    Port { container: String },
    /// Copy files between the host and a container
    Cp(manage::CpArgs),
    /// Stop containers
    Stop(manage::StopArgs),
    /// Send a signal to containers
    Kill(manage::KillArgs),
    /// Remove containers
    #[command(visible_alias = "remove")]
    Rm(manage::RmArgs),
    /// Wait for containers to stop and print their exit codes
    Wait(manage::Names),
    /// Freeze containers
    Pause(manage::Names),
    /// Thaw containers
    Unpause(manage::Names),
    /// New resource limits for containers
    Update(manage::UpdateArgs),
    /// Give a container a new name
    Rename { container: String, new_name: String },
    /// Remove every stopped container
    Prune(manage::PruneArgs),
    /// Write a container's filesystem as a tar archive
    Export {
        #[arg(short = 'o', long = "output")]
        output: Option<std::path::PathBuf>,
        container: String,
    },
    /// What a container changed in its filesystem
    Diff { container: String },
    /// Make an image of a container's changes
    Commit(super::images::CommitArgs),
}

impl ContainerCommand {
    pub fn enters_containers(&self) -> bool {
        matches!(self, ContainerCommand::Exec(_))
    }

    pub fn starts_monitors(&self) -> bool {
        matches!(
            self,
            ContainerCommand::Run(_) | ContainerCommand::Start(_) | ContainerCommand::Restart(_)
        )
    }
}

pub fn run(e: &Engine, cmd: ContainerCommand, manager: Option<&str>) -> Result<i32> {
    let same = match cmd {
        ContainerCommand::Prune(a) => return manage::prune(e, a),
        ContainerCommand::Ls(a) => EngineCommand::Ps(a),
        ContainerCommand::Run(a) => EngineCommand::Run(a),
        ContainerCommand::Create(a) => EngineCommand::Create(a),
        ContainerCommand::Start(a) => EngineCommand::Start(a),
        ContainerCommand::Restart(a) => EngineCommand::Restart(a),
        ContainerCommand::Attach(a) => EngineCommand::Attach(a),
        ContainerCommand::Exec(a) => EngineCommand::Exec(a),
        ContainerCommand::Inspect(a) => EngineCommand::Inspect(a),
        ContainerCommand::Logs(a) => EngineCommand::Logs(a),
        ContainerCommand::Top(a) => EngineCommand::Top(a),
        ContainerCommand::Stats(a) => EngineCommand::Stats(a),
        ContainerCommand::Port { container } => EngineCommand::Port { container },
        ContainerCommand::Cp(a) => EngineCommand::Cp(a),
        ContainerCommand::Stop(a) => EngineCommand::Stop(a),
        ContainerCommand::Kill(a) => EngineCommand::Kill(a),
        ContainerCommand::Rm(a) => EngineCommand::Rm(a),
        ContainerCommand::Wait(a) => EngineCommand::Wait(a),
        ContainerCommand::Pause(a) => EngineCommand::Pause(a),
        ContainerCommand::Unpause(a) => EngineCommand::Unpause(a),
        ContainerCommand::Rename { container, new_name } => EngineCommand::Rename { container, new_name },
        ContainerCommand::Update(a) => EngineCommand::Update(a),
        ContainerCommand::Export { output, container } => EngineCommand::Export { output, container },
        ContainerCommand::Diff { container } => EngineCommand::Diff { container },
        ContainerCommand::Commit(a) => EngineCommand::Commit(a),
    };
    super::run(e, same, manager)
}
