//! The engine's commands: docker's and podman's names, flags and exit codes.

mod client;
mod images;
mod manage;
mod network;
mod registry;
mod run;
mod show;

use anyhow::Result;
use cella_engine::{CgroupManager, Engine};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum EngineCommand {
    /// Create and start a container (IMAGE may be the built-in `host`)
    Run(Box<run::RunArgs>),
    /// Create a container without starting it
    Create(Box<run::RunArgs>),
    /// Start created or stopped containers
    Start(manage::StartArgs),
    /// Attach to a running container's input and output
    Attach(manage::AttachArgs),
    /// Run a command in a running container
    Exec(manage::ExecArgs),
    /// List containers
    Ps(show::PsArgs),
    /// Details of containers (or images) as JSON
    Inspect(show::InspectArgs),
    /// A container's output
    Logs(show::LogsArgs),
    /// A container's processes: host PID and PID inside, side by side
    Top { container: String },
    /// CPU, memory and process counts of running containers
    Stats(show::StatsArgs),
    /// A container's published ports
    Port { container: String },
    /// Copy files between the host and a running container (CONTAINER:PATH on
    /// one side; `-` on the other is a tar stream on stdin or stdout)
    Cp {
        /// Follow a symlink that SRC names (else the link itself is copied)
        #[arg(short = 'L', long = "follow-link")]
        follow_link: bool,
        source: String,
        destination: String,
    },
    /// Stop containers: SIGTERM, then SIGKILL after a grace period
    Stop(manage::StopArgs),
    /// Send a signal to containers
    Kill(manage::KillArgs),
    /// Remove containers
    Rm(manage::RmArgs),
    /// Wait for containers to stop and print their exit codes
    Wait { containers: Vec<String> },
    /// Freeze all processes of containers
    Pause { containers: Vec<String> },
    /// Thaw paused containers
    Unpause { containers: Vec<String> },
    /// List images
    Images(images::ImagesArgs),
    /// Import a root filesystem (tar archive, directory, or - for stdin) as an image
    Import(images::ImportArgs),
    /// Pull an image from a registry
    Pull(registry::PullArgs),
    /// Push an image to a registry, its blobs and manifest as stored
    Push(registry::PushArgs),
    /// Write images to an archive (docker-archive or oci-archive)
    Save(registry::SaveArgs),
    /// Check and store credentials for a registry (podman's auth.json)
    Login(registry::LoginArgs),
    /// Remove stored credentials for a registry
    Logout(registry::LogoutArgs),
    /// Load images from an archive written by `docker save` or `podman save`
    /// (docker-archive or oci-archive), or an OCI layout directory
    Load(images::LoadArgs),
    /// Remove images
    Rmi(images::RmiArgs),
    /// Add a name to an image
    Tag { source: String, target: String },
    /// Image commands: ls, inspect, rm
    Image {
        #[command(subcommand)]
        command: images::ImageCommand,
    },
    /// Bridge networks: create, ls, inspect, rm
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
}

impl EngineCommand {
    /// Whether the command starts a monitor (which creates the container)
    /// or joins a running container.
    pub fn enters_containers(&self) -> bool {
        matches!(
            self,
            EngineCommand::Run(_) | EngineCommand::Start(_) | EngineCommand::Exec(_)
        )
    }
}

/// Runs a command; the result is the process's exit code.
/// `cgroup_manager`: the global --cgroup-manager, for containers made now.
pub fn run(e: &Engine, cmd: EngineCommand, cgroup_manager: Option<&str>) -> Result<i32> {
    let cgroup_manager = || -> Result<CgroupManager> {
        Ok(match cgroup_manager {
            Some(m) => CgroupManager::parse(m)?,
            None => CgroupManager::for_this_host(),
        })
    };
    match cmd {
        EngineCommand::Run(a) => run::run(e, *a, true, cgroup_manager()?),
        EngineCommand::Create(a) => run::run(e, *a, false, cgroup_manager()?),
        EngineCommand::Start(a) => manage::start(e, a),
        EngineCommand::Attach(a) => manage::attach(e, a),
        EngineCommand::Exec(a) => manage::exec(e, a),
        EngineCommand::Ps(a) => show::ps(e, a),
        EngineCommand::Inspect(a) => show::inspect(e, a),
        EngineCommand::Logs(a) => show::logs(e, a),
        EngineCommand::Top { container } => show::top(e, &container),
        EngineCommand::Stats(a) => show::stats(e, a),
        EngineCommand::Port { container } => show::port(e, &container),
        EngineCommand::Cp {
            follow_link,
            source,
            destination,
        } => manage::cp(e, &source, &destination, follow_link),
        EngineCommand::Stop(a) => manage::stop(e, a),
        EngineCommand::Kill(a) => manage::kill(e, a),
        EngineCommand::Rm(a) => manage::rm(e, a),
        EngineCommand::Wait { containers } => manage::wait(e, &containers),
        EngineCommand::Pause { containers } => manage::pause(e, &containers, true),
        EngineCommand::Unpause { containers } => manage::pause(e, &containers, false),
        EngineCommand::Images(a) => images::images(e, a),
        EngineCommand::Import(a) => images::import(e, a),
        EngineCommand::Load(a) => images::load(e, a),
        EngineCommand::Pull(a) => registry::pull(e, a),
        EngineCommand::Push(a) => registry::push(e, a),
        EngineCommand::Save(a) => registry::save(e, a),
        EngineCommand::Login(a) => registry::login(e, a),
        EngineCommand::Logout(a) => registry::logout(e, a),
        EngineCommand::Rmi(a) => images::rmi(e, a),
        EngineCommand::Tag { source, target } => images::tag(e, &source, &target),
        EngineCommand::Image { command } => images::image(e, command),
        EngineCommand::Network { command } => network::run(e, command),
    }
}

/// Runs `f` on each name; reports failures as docker does (one line each)
/// and fails if any did.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    if names.is_empty() {
        anyhow::bail!("name at least one container");
    }
    let mut failed = false;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("cella: {n}: {e:#}");
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}
