//! The cella engine: a daemonless container engine on the cella runtime
//! library. The store holds images and containers; each running container
//! has a small monitor process that outlives the command that started it.
//!
//! [`Engine`] is the CLI's only door: every command goes through one of its
//! methods, so that the rules (the store lock, rootless, sealing, which
//! runtime call does what) live here and nowhere else. The rooms behind it:
//! `store` (paths, the lock, ids), `safefs` (reading and writing inside a
//! root without leaving it), `image` (content, layers, intake, archives),
//! `distribution` (registries: pull, push, auth), `container` (records, the
//! bundle, the monitor, exec, copy), `network` (bridges, addresses,
//! published ports, pasta).

pub mod container;
pub mod distribution;
pub mod error;
pub mod events;
pub mod image;
pub mod network;
pub mod safefs;
pub mod store;
pub mod system;
pub mod system_usage;
pub mod volume;

pub use container::attach::Frame;
pub use container::bundle::{parse_memory, parse_memory_swap};
pub use container::config::HealthConfig;
pub use container::exec::ExecRequest;
pub use container::filter::Filter as ContainerFilter;
pub use container::inspect::Process;
pub use container::logs::{Entry as LogEntry, Follow as LogFollow};
pub use container::monitor::Invocation as MonitorInvocation;
pub use container::{CgroupManager, Container, NamespaceMode, NetworkMode, Publish, RestartPolicy, RunConfig, Status};
pub use distribution::pull::{Event as PullEvent, Options as RegistryOptions};
pub use error::{Error, Result};
pub use image::save::Format as ArchiveFormat;
pub use image::{Filter as ImageFilter, Image, ImageConfig};
pub use network::Network;
pub use store::time::{go_duration as parse_go_duration, Timestamp};
pub use volume::Volume;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::paths::Paths;

/// The engine over one store (`--root`) and runtime state (`--runroot`).
#[derive(Debug, Clone)]
pub struct Engine {
    paths: Paths,
}

/// Runs from a sealed copy of this executable from here on: to be called
/// first by any command that creates or joins a container (see
/// cella_runtime::selfexe; CVE-2019-5736).
pub fn seal_self() -> Result<()> {
    Ok(cella_runtime::selfexe::seal_image()?)
}

/// `cp -a` keeps the source's owners; plain `cp` gives the copies to the copier.
fn owner(archive: bool) -> container::copy::Owner {
    if archive {
        container::copy::Owner::Source
    } else {
        container::copy::Owner::Copier
    }
}

/// For a command that starts containers' monitors without entering a
/// container itself (`run`, `start`): not dumpable, so that no container
/// (one sharing the host's PID namespace) can open its exe or fds.
pub fn become_undumpable() -> Result<()> {
    Ok(cella_runtime::selfexe::become_undumpable()?)
}

impl Engine {
    /// Defaults: /var/lib/cella and /run/cella for root, the user's data and
    /// runtime directories otherwise.
    pub fn new(root: Option<PathBuf>, runroot: Option<PathBuf>) -> Engine {
        Engine {
            paths: Paths::new(root, runroot),
        }
    }

    // ---- containers -------------------------------------------------

    /// `create`: a record and a bundle; nothing runs yet.
    pub fn create(&self, cfg: RunConfig, name: Option<String>) -> Result<Container> {
        container::ops::create(&self.paths, cfg, name)
    }

    /// `start`: the monitor creates and starts it; `attach` makes it wait
    /// for a client before the container's process runs.
    pub fn start(&self, c: &Container, attach: bool) -> Result<()> {
        container::ops::start(&self.paths, c, attach)
    }

    /// The start of a container this process has just made with `create`
    /// (`cella run`): as `start`, without writing its bundle again.
    pub fn start_created(&self, c: &Container, attach: bool) -> Result<()> {
        container::ops::start_created(&self.paths, c, attach)
    }

    /// `ps`: the running containers (every one with `all`, or when the
    /// filter asks about states) that pass `filter`, newest first.
    pub fn containers_matching(&self, filter: &ContainerFilter, all: bool) -> Result<Vec<Container>> {
        let images: std::collections::HashMap<&str, Option<String>> = filter
            .ancestors()
            .map(|r| (r, image::find(&self.paths, r).ok().map(|i| i.id)))
            .collect();
        let image_of = |r: &str| images.get(r).cloned().flatten();
        let all = all || filter.shows_stopped();
        Ok(container::list(&self.paths)?
            .into_iter()
            .filter(|c| all || matches!(c.state.status, Status::Running | Status::Paused))
            .filter(|c| filter.matches(c, &image_of))
            .collect())
    }

    /// By name, full id or unique id prefix.
    pub fn container(&self, key: &str) -> Result<Container> {
        container::find(&self.paths, key)
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        container::list(&self.paths)
    }

    /// The container's record as it is now.
    pub fn refresh(&self, c: &Container) -> Result<Container> {
        container::load(&self.paths, &c.id)
    }

    /// `signal` and `grace` default to the container's --stop-signal and
    /// --stop-timeout (SIGTERM, 10 s).
    pub fn stop(&self, c: &Container, signal: Option<i32>, grace: Option<Duration>) -> Result<Container> {
        container::ops::stop(&self.paths, c, signal, grace)
    }

    /// Its exit code once it has ended (kept a while if --rm removed it).
    pub fn wait_code(&self, c: &Container) -> Result<i32> {
        container::ops::wait_code(&self.paths, c)
    }

    /// `update`: `change` edits the container's configuration (limits,
    /// restart policy); a running one gets the new limits at once.
    pub fn update(&self, c: &Container, change: impl FnOnce(&mut RunConfig)) -> Result<()> {
        container::ops::update(&self.paths, c, change)
    }

    pub fn rename(&self, c: &Container, new: &str) -> Result<()> {
        container::ops::rename(&self.paths, c, new)
    }

    /// A signal to a running container's init (SIGKILL: to all of it).
    pub fn kill(&self, c: &Container, sig: i32) -> Result<()> {
        container::ops::kill(&self.paths, c, sig)
    }

    /// A signal passed on by an attached client; a container that is gone
    /// meanwhile is no error.
    pub fn forward_signal(&self, c: &Container, sig: i32) {
        let _ = cella_runtime::lifecycle::kill(&self.paths.runroot, &c.id, sig, false);
    }

    /// `volumes` (`rm -v`): its anonymous volumes go too.
    pub fn remove(&self, c: &Container, force: bool, volumes: bool) -> Result<()> {
        container::ops::remove(&self.paths, c, force, volumes)
    }

    /// Waits until it has stopped (or `timeout` passes): its record then.
    pub fn wait(&self, c: &Container, timeout: Option<Duration>) -> Result<Container> {
        container::ops::wait_exited(&self.paths, &c.id, timeout)
    }

    pub fn pause(&self, c: &Container) -> Result<()> {
        container::ops::pause(&self.paths, c, true)
    }

    pub fn unpause(&self, c: &Container) -> Result<()> {
        container::ops::pause(&self.paths, c, false)
    }

    /// A process in a running container; its exit code.
    pub fn exec(&self, c: &Container, req: &ExecRequest) -> Result<i32> {
        container::exec::exec(&self.paths, c, req)
    }

    /// `cp CONTAINER:SRC DST` (DST `-`: a tar stream on stdout), from a
    /// running container or a stopped one.
    /// `archive` (`cp -a`): the copies keep the source's owners.
    pub fn copy_from(&self, c: &Container, src: &str, dst: &str, follow: bool, archive: bool) -> Result<()> {
        let root = match c.state.status {
            Status::Running | Status::Paused => container::copy::running_root(container::ops::running_pid(c, "cp")?)?,
            _ if c.monitor_alive() => {
                return Err(Error::Conflict(format!(
                    "container {} is starting or stopping: try again",
                    c.name
                )))
            }
            _ => container::copy::stopped_root(&self.paths, c)?,
        };
        container::copy::from_container(root, src, dst, follow, owner(archive))
    }

    /// `cp SRC CONTAINER:DST` (SRC `-`: a tar stream on stdin).
    pub fn copy_into(&self, c: &Container, src: &str, dst: &str, follow: bool, archive: bool) -> Result<()> {
        let pid = container::ops::running_pid(c, "cp into a container")?;
        container::copy::into_container(pid, src, dst, follow, owner(archive))
    }

    /// `export`: the container's filesystem as a tar stream.
    pub fn export(&self, c: &Container, out: impl std::io::Write) -> Result<()> {
        container::changes::export(&self.paths, c, out)
    }

    /// `diff`: what the container added (A), changed (C) and deleted (D).
    pub fn diff(&self, c: &Container) -> Result<Vec<container::changes::Change>> {
        container::changes::diff(&self.paths, c)
    }

    /// A connection to the container's monitor, speaking [`Frame`]s.
    pub fn attach(&self, c: &Container) -> Result<std::os::unix::net::UnixStream> {
        container::attach::connect(&self.paths, c)
    }

    /// Its json-file log: each entry to `sink`, then with `how.follow`
    /// what comes until the container stops.
    pub fn logs(
        &self,
        c: &Container,
        how: LogFollow,
        sink: &mut dyn FnMut(&LogEntry) -> std::io::Result<()>,
    ) -> Result<()> {
        let path = c.dir(&self.paths).join(container::LOG);
        let mut alive = || self.refresh(c).map(|c| c.monitor_alive()).unwrap_or(false);
        container::logs::stream(&path, how, &mut alive, sink)
    }

    /// Its processes: host PID, PID inside, uid, command line.
    pub fn processes(&self, c: &Container) -> Result<Vec<Process>> {
        container::inspect::processes(c)
    }

    /// Its cgroup's statistics in runc's `events` shape (None when it has
    /// no cgroup, or has stopped).
    pub fn stats(&self, c: &Container) -> Option<serde_json::Value> {
        container::inspect::stats(&self.paths, c)
    }

    /// docker's `inspect` document of a container.
    pub fn inspect(&self, c: &Container) -> serde_json::Value {
        container::inspect::document(&self.paths, c)
    }

    /// The command it runs (its entrypoint and cmd, or the image's).
    pub fn command_of(&self, c: &Container) -> Vec<String> {
        container::inspect::command_of(&self.paths, c)
    }

    /// The name its image is known by (the id if it has none).
    pub fn image_name_of(&self, c: &Container) -> String {
        container::inspect::image_name_of(&self.paths, c)
    }

    /// The init PID of a cella-runtime container in the runroot (one not
    /// made by the engine), None if there is no such container.
    pub fn runtime_container_pid(&self, id: &str) -> Result<Option<i32>> {
        container::inspect::runtime_container_pid(&self.paths, id)
    }

    /// The container monitor's process (the command line that `run` and
    /// `start` execute, `MonitorInvocation`): its exit code.
    pub fn run_monitor(&self, id: &str, wait_for_attach: bool) -> i32 {
        container::monitor::main(&self.paths, id, wait_for_attach)
    }

    /// `system df`: images, containers and volumes, in use and not.
    pub fn disk_usage(&self) -> Result<Vec<system_usage::Usage>> {
        system_usage::disk_usage(&self.paths)
    }

    /// docker's `version` document.
    pub fn version(&self) -> serde_json::Value {
        system::version()
    }

    /// docker's `info` document: containers by state, images, the store,
    /// cgroups, the kernel and the machine.
    pub fn info(&self) -> Result<serde_json::Value> {
        system::info(&self.paths)
    }

    // ---- volumes ----------------------------------------------------

    /// `volume create`: an existing one is returned as it is (docker's).
    pub fn create_volume(
        &self,
        name: Option<&str>,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<Volume> {
        let _lock = store::lock(&self.paths)?;
        let v = volume::create(&self.paths, name, labels)?;
        events::record(&self.paths, "volume", "create", &v.name, &[("driver", "local")]);
        Ok(v)
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        volume::list(&self.paths)
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        volume::find(&self.paths, name)
    }

    /// Refused while a container (in any state) mounts it.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        let _lock = store::lock(&self.paths)?;
        volume::remove(&self.paths, name)?;
        events::record(&self.paths, "volume", "destroy", name, &[("driver", "local")]);
        Ok(())
    }

    /// Unused volumes (anonymous ones only unless `all`): their names.
    pub fn prune_volumes(&self, all: bool) -> Result<Vec<String>> {
        let _lock = store::lock(&self.paths)?;
        let gone = volume::prune(&self.paths, all)?;
        for n in &gone {
            events::record(&self.paths, "volume", "destroy", n, &[("driver", "local")]);
        }
        Ok(gone)
    }

    /// Containers that mount the volume (`volume ls -f dangling=`).
    pub fn volume_users(&self, name: &str) -> Result<Vec<Container>> {
        volume::users(&self.paths, name)
    }

    // ---- images -----------------------------------------------------

    /// The built-in `host` image first, then the store's.
    pub fn images(&self) -> Result<Vec<Image>> {
        let mut all = vec![image::host_image()];
        all.extend(image::list(&self.paths)?);
        Ok(all)
    }

    pub fn image(&self, reference: &str) -> Result<Image> {
        image::find(&self.paths, reference)
    }

    /// `commit`: the container's own layer as a new image over its image's.
    pub fn commit(&self, c: &Container, req: &image::commit::Request) -> Result<Image> {
        let img = image::commit::commit(&self.paths, c, req)?;
        let name = req.reference.clone().unwrap_or_default();
        events::record(
            &self.paths,
            "container",
            "commit",
            &c.id,
            &[("name", &c.name), ("image", &name)],
        );
        Ok(img)
    }

    /// `image history`: the image's steps, newest first.
    pub fn image_history(&self, img: &Image) -> Result<Vec<image::HistoryEntry>> {
        image::history(&self.paths, img)
    }

    /// docker's `image inspect` document of an image.
    pub fn inspect_image(&self, img: &Image) -> serde_json::Value {
        image::document(img)
    }

    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let _lock = store::lock(&self.paths)?;
        image::tag(&self.paths, source, target)?;
        if let Ok(img) = image::find(&self.paths, target) {
            events::record(
                &self.paths,
                "image",
                "tag",
                &img.id,
                &[("name", &image::normalize(target))],
            );
        }
        Ok(())
    }

    /// `rmi`: refused while containers use it, unless `force` (they go
    /// too). The lines docker prints (Untagged, Deleted).
    pub fn remove_image(&self, reference: &str, force: bool) -> Result<Vec<String>> {
        let img = image::find(&self.paths, reference)?;
        // Taking one of several names away leaves the image to its users.
        let users = if image::only_untags(&img, reference) {
            Vec::new()
        } else {
            container::ops::users_of_image(&self.paths, &img.id)?
        };
        if !users.is_empty() {
            if !force {
                return Err(Error::Conflict(format!(
                    "image {reference} is used by container {}: remove it first (or use -f)",
                    users.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            for c in &users {
                container::ops::remove(&self.paths, c, true, false)?;
            }
        }
        let _lock = store::lock(&self.paths)?;
        let lines = image::remove(&self.paths, reference, force)?;
        self.image_removal_events(&img.id, &lines);
        Ok(lines)
    }

    /// `untag` and `delete` events for the lines `image::remove` gave.
    fn image_removal_events(&self, id: &str, lines: &[String]) {
        for l in lines {
            if let Some(name) = l.strip_prefix("Untagged: ") {
                events::record(&self.paths, "image", "untag", id, &[("name", name)]);
            } else if l.starts_with("Deleted: ") {
                events::record(&self.paths, "image", "delete", id, &[]);
            }
        }
    }

    /// `image prune`: images no container uses, dangling ones (without a
    /// name) only unless `all`; never the built-in host image. The lines
    /// docker prints for each. Under the store lock, so no container can
    /// start using one meanwhile.
    pub fn prune_images(&self, all: bool) -> Result<Vec<String>> {
        let _lock = store::lock(&self.paths)?;
        let used: std::collections::HashSet<String> =
            container::list(&self.paths)?.into_iter().map(|c| c.image_id).collect();
        let mut lines = Vec::new();
        for img in image::list(&self.paths)? {
            if used.contains(&img.id) || (!all && !img.repo_tags.is_empty()) {
                continue;
            }
            let removed = image::remove(&self.paths, &img.id, true)?;
            self.image_removal_events(&img.id, &removed);
            lines.extend(removed);
        }
        Ok(lines)
    }

    pub fn import(&self, source: &str, reference: &str, config: ImageConfig) -> Result<Image> {
        let img = image::import::import(&self.paths, source, reference, config)?;
        events::record(
            &self.paths,
            "image",
            "import",
            &img.id,
            &[("name", &image::normalize(reference))],
        );
        Ok(img)
    }

    pub fn load(&self, source: &str) -> Result<Vec<Image>> {
        let images = image::load::load(&self.paths, source)?;
        for i in &images {
            let name = i.repo_tags.first().cloned().unwrap_or_default();
            events::record(&self.paths, "image", "load", &i.id, &[("name", &name)]);
        }
        Ok(images)
    }

    pub fn save(&self, images: &[String], format: ArchiveFormat, out: impl std::io::Write) -> Result<()> {
        image::save::save(&self.paths, images, format, out)
    }

    /// How to reach registries: registries.conf, with `insecure` registries
    /// reached over plain HTTP too, and explicit credentials or file.
    pub fn registry_options(
        &self,
        tls_verify: bool,
        insecure: Vec<String>,
        credentials: Option<(String, String)>,
        authfile: Option<PathBuf>,
    ) -> Result<RegistryOptions> {
        let mut registries = distribution::registries::Registries::load()?;
        registries.extra_insecure = insecure;
        Ok(RegistryOptions {
            tls_verify,
            credentials,
            authfile,
            registries,
        })
    }

    /// `platform`: os/arch[/variant], default this machine's.
    pub fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        opts: &RegistryOptions,
        progress: &(dyn Fn(PullEvent) + Sync),
    ) -> Result<Image> {
        let platform = platform.map_or_else(image::platform::default_platform, str::to_string);
        let img = distribution::pull::pull(&self.paths, reference, &platform, opts, progress)?;
        events::record(&self.paths, "image", "pull", &img.id, &[("name", reference)]);
        Ok(img)
    }

    /// The manifest digest pushed.
    pub fn push(
        &self,
        image: &str,
        destination: Option<&str>,
        opts: &RegistryOptions,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<String> {
        distribution::push::push(&self.paths, image, destination, opts, progress)
    }

    /// Checks the credentials against the registry and files them; the file.
    pub fn login(&self, registry: &str, user: &str, password: &str, opts: &RegistryOptions) -> Result<PathBuf> {
        distribution::pull::login(registry, user, password, opts)
    }

    /// Forgets the credentials of `registry` (all with None); false if
    /// there were none. The auth file read.
    pub fn logout(&self, authfile: Option<&Path>, registry: Option<&str>) -> Result<(bool, PathBuf)> {
        let removed = distribution::auth::remove(authfile, registry)?;
        Ok((removed, distribution::auth::auth_file(authfile)))
    }

    // ---- networks ---------------------------------------------------

    pub fn create_network(&self, name: &str, subnet: Option<&str>, gateway: Option<&str>) -> Result<Network> {
        let _lock = store::lock(&self.paths)?;
        let n = network::create(&self.paths, name, subnet, gateway)?;
        events::record(&self.paths, "network", "create", &n.name, &[("type", "bridge")]);
        Ok(n)
    }

    /// The default `bridge` network first.
    pub fn networks(&self) -> Vec<Network> {
        network::list(&self.paths)
    }

    pub fn network(&self, name: &str) -> Result<Network> {
        network::find(&self.paths, name)
    }

    pub fn remove_network(&self, name: &str) -> Result<()> {
        let _lock = store::lock(&self.paths)?;
        network::remove(&self.paths, name)?;
        events::record(&self.paths, "network", "destroy", name, &[("type", "bridge")]);
        Ok(())
    }

    /// `events`: the window's events, then (with `follow`) new ones until
    /// `sink` returns false.
    pub fn events(&self, w: &events::Window, follow: bool, sink: &mut dyn FnMut(&events::Event) -> bool) -> Result<()> {
        events::read(&self.paths, w, follow, sink)
    }

    /// `network connect`: a further interface in a running container.
    pub fn connect(&self, container: &str, network: &str, ip: Option<Ipv4Addr>) -> Result<Container> {
        network::connect(&self.paths, container, network, ip)
    }

    pub fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        network::disconnect(&self.paths, container, network)
    }

    /// The containers with an address on `network`.
    pub fn containers_on(&self, network: &str) -> Result<Vec<Container>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| c.addresses().iter().any(|(n, _)| n == network))
            .collect())
    }
}
