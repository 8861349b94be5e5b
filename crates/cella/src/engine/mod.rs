//! The engine's commands: docker's and podman's names, flags and exit codes.

mod client;
mod container;
mod images;
mod manage;
mod network;
mod registry;
mod run;
mod show;
mod system;
mod volume;

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
    Top(show::TopArgs),
    /// CPU, memory and process counts of running containers
    Stats(show::StatsArgs),
    /// A container's published ports
    Port { container: String },
    /// Copy files between the host and a running container (CONTAINER:PATH on
    /// one side; `-` on the other is a tar stream on stdin or stdout)
    Cp(manage::CpArgs),
    /// Stop containers: their stop signal (SIGTERM), then SIGKILL after a grace period
    Stop(manage::StopArgs),
    /// Stop containers and start them again
    Restart(manage::StopArgs),
    /// Write a container's filesystem as a tar archive (without its volumes)
    Export {
        /// Write to FILE instead of stdout
        #[arg(short = 'o', long = "output")]
        output: Option<std::path::PathBuf>,
        container: String,
    },
    /// Make an image of a container's changes over its image
    Commit(images::CommitArgs),
    /// What a container added (A), changed (C) and deleted (D) in its filesystem
    Diff { container: String },
    /// New resource limits (and restart policy) for containers, at once for running ones
    Update(manage::UpdateArgs),
    /// Give a container a new name
    Rename { container: String, new_name: String },
    /// Send a signal to containers
    Kill(manage::KillArgs),
    /// Remove containers
    Rm(manage::RmArgs),
    /// Wait for containers to stop and print their exit codes
    Wait(manage::Names),
    /// Freeze all processes of containers
    Pause(manage::Names),
    /// Thaw paused containers
    Unpause(manage::Names),
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
    /// Container commands: ls, run, stop, rm, prune… (docker's group forms)
    Container {
        #[command(subcommand)]
        command: container::ContainerCommand,
    },
    /// Image commands: ls, inspect, rm, prune, pull, tag…
    Image {
        #[command(subcommand)]
        command: images::ImageCommand,
    },
    /// Bridge networks: create, ls, inspect, rm
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// What happens to containers, images, volumes and networks (docker's events)
    Events(show::EventsArgs),
    /// Named volumes: create, ls, inspect, rm, prune
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// The store as a whole: df, prune, info
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
    /// The versions of cella and of what it runs on
    Version(show::VersionArgs),
    /// What this engine has: store, runtime, cgroups, containers, images
    Info(show::VersionArgs),
}

impl EngineCommand {
    /// Whether the command joins a running container (`exec`).
    pub fn enters_containers(&self) -> bool {
        match self {
            EngineCommand::Exec(_) => true,
            EngineCommand::Container { command } => command.enters_containers(),
            _ => false,
        }
    }

    /// Whether the command starts containers' monitors: it executes them
    /// from a sealed image and is not dumpable itself (a container that
    /// shares the host's PID namespace could otherwise open its exe).
    pub fn starts_monitors(&self) -> bool {
        match self {
            EngineCommand::Run(_) | EngineCommand::Start(_) | EngineCommand::Restart(_) => true,
            EngineCommand::Container { command } => command.starts_monitors(),
            _ => false,
        }
    }
}

/// The global --cgroup-manager, else what this host has.
fn cgroup_manager(manager: Option<&str>) -> Result<CgroupManager> {
    Ok(match manager {
        Some(m) => CgroupManager::parse(m)?,
        None => CgroupManager::for_this_host(),
    })
}

/// Runs a command; the result is the process's exit code.
/// `manager`: the global --cgroup-manager, for containers made now.
pub fn run(e: &Engine, cmd: EngineCommand, manager: Option<&str>) -> Result<i32> {
    match cmd {
        EngineCommand::Run(a) => run::run(e, *a, true, cgroup_manager(manager)?),
        EngineCommand::Create(a) => run::run(e, *a, false, cgroup_manager(manager)?),
        EngineCommand::Start(a) => manage::start(e, a),
        EngineCommand::Attach(a) => manage::attach(e, a),
        EngineCommand::Exec(a) => manage::exec(e, a),
        EngineCommand::Ps(a) => show::ps(e, a),
        EngineCommand::Inspect(a) => show::inspect(e, a),
        EngineCommand::Logs(a) => show::logs(e, a),
        EngineCommand::Top(a) => show::top(e, a),
        EngineCommand::Stats(a) => show::stats(e, a),
        EngineCommand::Port { container } => show::port(e, &container),
        EngineCommand::Cp(a) => manage::cp(e, a),
        EngineCommand::Stop(a) => manage::stop(e, a),
        EngineCommand::Restart(a) => manage::restart(e, a),
        EngineCommand::Update(a) => manage::update(e, a),
        EngineCommand::Export { output, container } => manage::export(e, &container, output.as_deref()),
        EngineCommand::Commit(a) => images::commit(e, a),
        EngineCommand::Diff { container } => {
            for ch in e.diff(&e.container(&container)?)? {
                println!("{} {}", ch.kind, ch.path);
            }
            Ok(0)
        }
        EngineCommand::Rename { container, new_name } => manage::rename(e, &container, &new_name),
        EngineCommand::Kill(a) => manage::kill(e, a),
        EngineCommand::Rm(a) => manage::rm(e, a),
        EngineCommand::Wait(a) => manage::wait(e, &a.containers),
        EngineCommand::Pause(a) => manage::pause(e, &a.containers, true),
        EngineCommand::Unpause(a) => manage::pause(e, &a.containers, false),
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
        EngineCommand::Container { command } => container::run(e, command, manager),
        EngineCommand::Image { command } => images::image(e, command),
        EngineCommand::Network { command } => network::run(e, command),
        EngineCommand::Volume { command } => volume::run(e, command),
        EngineCommand::Events(a) => show::events(e, a),
        EngineCommand::System { command } => system::run(e, command),
        EngineCommand::Version(a) => show::version(e, a),
        EngineCommand::Info(a) => show::info(e, a),
    }
}

/// The exit code of a command the engine could not carry out, whichever
/// command (issue 20's consistency: a missing container is 125 for `stop`
/// as for `logs`; podman's convention, where docker's CLI exits 1 for
/// commands other than run/create).
pub const ENGINE_FAILED: i32 = 125;

/// Runs `f` on each name, one after the other; reports failures as docker
/// does (one line each) and fails if any did.
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
    Ok(if failed { ENGINE_FAILED } else { 0 })
}

/// How many containers `stop`, `rm` and `restart` act on at once: docker's
/// CLI bound (each mostly waits for its container to end).
const PARALLEL: usize = 50;

/// What `each_parallel`'s work did with one name.
enum Done {
    /// Acted on it: its name is printed.
    Acted,
    /// Nothing to do and nothing to say (`rm -f` of a missing one).
    Quiet,
}

/// As `each`, but on up to `PARALLEL` names at once (as docker's `stop`
/// and `rm` act in parallel); `f` prints nothing: the names it acted on
/// are printed in the order given, each failure on a line of its own.
fn each_parallel(names: &[String], f: impl Fn(&str) -> Result<Done> + Sync) -> Result<i32> {
    if names.is_empty() {
        anyhow::bail!("name at least one container");
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Done>>>> = names.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(names.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(n) = names.get(i) else { return };
                let r = f(n);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    let mut failed = false;
    for (n, r) in names.iter().zip(results) {
        match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(Done::Acted)) => println!("{n}"),
            Some(Ok(Done::Quiet)) => {}
            Some(Err(e)) => {
                eprintln!("cella: {n}: {e:#}");
                failed = true;
            }
            None => failed = true,
        }
    }
    Ok(if failed { ENGINE_FAILED } else { 0 })
}
