//! The container's cgroup as `create` sets it up, with either driver:
//! cgroupfs (cella makes the directories at cgroupsPath and writes the
//! limits) or systemd (a transient scope that systemd makes and owns, with
//! the limits systemd knows as unit properties, the rest written to the
//! scope's directories, as runc does).

use crate::error::Result;
use cella_cgroups::systemd::{self, Manager, ScopePath, Which};
use cella_cgroups::{Cgroup, Layout, Mode};
use cella_spec::resources::DeviceRule;
use cella_spec::Spec;

/// Who makes the container's cgroup (`--systemd-cgroup` chooses systemd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Cgroupfs,
    Systemd,
}

/// The systemd unit that holds a container, as its state records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    pub unit: String,
    pub manager: Which,
}

/// A container's cgroup between `prepare` (before the clone) and `join`
/// (after it, with the child's PID).
pub struct Placement {
    pub layout: Option<Layout>,
    /// Where the container's cgroup is (systemd: where its scope will be).
    pub cgroup: Option<Cgroup>,
    pub scope: Option<Scope>,
    systemd: Option<(Manager, ScopePath)>,
    /// Where the scope will be, from the cgroup root (`/system.slice/x.scope`).
    scope_dir: String,
    /// The scope was started: undo stops it.
    started: bool,
    /// cgroupfs: the directories are still to be made (`make`), after the
    /// state recorded where they will be.
    unmade: bool,
    /// cgroupfs: `make_birthplace` made the v2 directory ahead of the rest.
    birthplace_made: bool,
}

/// Not the machine's root: an ordinary user, or uid 0 of a user namespace
/// (rootless podman runs the runtime so). Cgroup limits that cannot be set
/// are warnings then, and the systemd driver uses the user's own systemd.
fn rootless() -> bool {
    cella_sys::process::geteuid() != 0 || cella_sys::process::in_user_namespace()
}

impl Placement {
    /// cgroupfs: resolves, creates and fills the cgroup (an unprivileged
    /// caller gets the hierarchies delegated to it; with none, the
    /// container runs without a cgroup and one warning names the limits
    /// that were skipped). systemd: reaches the manager and works out where
    /// the scope will be; nothing exists yet.
    pub fn prepare(spec: &Spec, id: &str, driver: Driver) -> Result<Placement> {
        let resources = spec.linux().resources.clone().unwrap_or_default();
        let mut p = Placement {
            layout: None,
            cgroup: None,
            scope: None,
            systemd: None,
            scope_dir: String::new(),
            started: false,
            unmade: false,
            birthplace_made: false,
        };
        let layout = match Layout::detect() {
            Ok(l) => l,
            Err(e) if driver == Driver::Cgroupfs => {
                crate::log::warn(&format!("no cgroups ({e}); skipped: {}", resource_fields(&resources)));
                return Ok(p);
            }
            Err(e) => return Err(e.into()),
        };
        let cgroups_path = spec.linux().cgroups_path.as_deref();
        if driver == Driver::Systemd {
            let which = if rootless() { Which::User } else { Which::System };
            let path = ScopePath::parse(cgroups_path, id, which == Which::User)?;
            let manager = Manager::connect(which)?;
            let root = match which {
                Which::System => String::new(),
                Which::User => {
                    let uid = cella_sys::process::geteuid_outside();
                    format!("/user.slice/user-{uid}.slice/user@{uid}.service")
                }
            };
            let slice = systemd::expand_slice(&path.slice)?;
            let dir = format!("{root}{}/{}", slice.trim_end_matches('/'), path.unit);
            p.cgroup = Some(Cgroup::resolve(&layout, &dir)?);
            p.scope_dir = dir;
            p.scope = Some(Scope {
                unit: path.unit.clone(),
                manager: which,
            });
            p.systemd = Some((manager, path));
            p.layout = Some(layout);
            return Ok(p);
        }
        let path = cgroups_path
            .map(str::to_string)
            .unwrap_or_else(|| format!("/cella/{id}"));
        let mut cg = Cgroup::resolve(&layout, &path)?;
        p.layout = Some(layout);
        if rootless() {
            cg.retain_writable();
            if cg.dirs.is_empty() {
                crate::log::warn(&format!(
                    "rootless: no cgroup is delegated to this user at {path:?}; running without cgroup limits; skipped: {}",
                    resource_fields(&resources)
                ));
                return Ok(p);
            }
        }
        p.cgroup = Some(cg);
        p.unmade = true;
        Ok(p)
    }

    /// cgroupfs: makes the directories and writes the limits. Called once
    /// the state records where they are, so that a create killed at any
    /// point leaves nothing that `delete` cannot find.
    pub fn make(&mut self, spec: &Spec) -> Result<()> {
        let Some(cg) = self.cgroup.as_ref().filter(|_| self.unmade) else {
            return Ok(());
        };
        // From here on undo removes what was made, even part of it.
        self.unmade = false;
        cg.create()?;
        fill(cg, spec)
    }

    /// cgroupfs, for a child that places itself while the runtime makes
    /// its cgroup (`make` after the clone): only the v2 directory, which
    /// clone3 needs to start the child in it.
    pub fn make_birthplace(&mut self) -> Result<()> {
        let Some(cg) = self.cgroup.as_ref().filter(|_| self.unmade) else {
            return Ok(());
        };
        if cg.v2().is_some() {
            // From here on undo removes what was made, even part of it.
            self.birthplace_made = true;
            cg.create_v2()?;
        }
        Ok(())
    }

    /// Puts the child in its cgroup. cgroupfs: writes its PID (unless it
    /// places itself, `self_placed`: born in its v2 cgroup, moving itself
    /// into its v1 ones). systemd: starts the scope with the
    /// PID and the unit properties, checks that systemd put it where
    /// expected, then makes the directories of the hierarchies systemd
    /// does not manage and writes every limit.
    pub fn join(&mut self, spec: &Spec, id: &str, child: i32, self_placed: bool) -> Result<()> {
        let Some((manager, path)) = self.systemd.as_mut() else {
            if let (Some(cg), false) = (&self.cgroup, self_placed) {
                cg.add_pid(child)?;
            }
            return Ok(());
        };
        let resources = spec.linux().resources.clone().unwrap_or_default();
        let v2 = self.layout.as_ref().is_some_and(|l| l.mode == Mode::V2);
        let mut props = systemd::resource_properties(&resources, v2);
        let mut rules = vec![DeviceRule {
            allow: false,
            ..Default::default()
        }];
        rules.extend(resources.devices.iter().cloned());
        rules.extend(default_device_rules(spec));
        if let Some(devices) = systemd::device_properties(&rules).filter(|_| !rootless()) {
            props.extend(devices);
        }
        manager.start_scope(path, child, &format!("cella container {id}"), &props)?;
        self.started = true;
        // Checked where systemd tracks processes; the other hierarchies
        // (v1 controllers systemd does not manage) are joined below.
        let placed = tracked_cgroup(child);
        if placed.as_deref() != Some(self.scope_dir.as_str()) {
            return Err(crate::error::Error::Cgroup(cella_cgroups::Error::Unsupported(format!(
                "systemd started {} but put the container's process in {placed:?}, not {}: is systemd's \
                 cgroup root not the cgroup mount's root (systemd in a container)?",
                path.unit, self.scope_dir
            ))));
        }
        let cg = self.cgroup.as_mut().expect("prepare resolved it");
        if rootless() {
            cg.retain_writable();
        }
        cg.create()?;
        cg.add_pid(child)?;
        fill(cg, spec)
    }

    /// Undoes a failed create: kills what is in the cgroup, stops the
    /// scope, removes the directories.
    pub fn undo(&mut self) {
        if (self.systemd.is_some() && !self.started) || (self.unmade && !self.birthplace_made) {
            // Nothing was made; the cgroup path may be another container's
            // (a scope of the same name), which is not ours to touch.
            return;
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.signal_all(libc::SIGKILL);
        }
        if let (Some((manager, path)), true) = (self.systemd.as_mut(), self.started) {
            if let Err(e) = manager.stop(&path.unit) {
                crate::log::warn(&format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(Err(e)) = self.cgroup.as_ref().map(|cg| cg.remove()) {
            crate::log::warn(&format!("cleanup after failed create: {e}"));
        }
    }
}

/// The cgroup systemd tracks `pid` in: its v2 path (pure v2 and hybrid),
/// else its name=systemd path (pure v1).
fn tracked_cgroup(pid: i32) -> Option<String> {
    let text = cella_sys::fd::read_generated_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = |l: &str| l.splitn(3, ':').nth(2).map(str::to_string);
    text.lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| text.lines().find(|l| l.split(':').nth(1) == Some("name=systemd")))
        .and_then(path)
}

/// Writes `linux.resources` and the device rules into the cgroup. A
/// rootless caller's failures are warnings: the limit is skipped.
fn fill(cg: &Cgroup, spec: &Spec) -> Result<()> {
    let mut resources = spec.linux().resources.clone().unwrap_or_default();
    // Device rules need privileges a user namespace never has (a v2 device
    // program, the v1 devices files); there, only the user's own device
    // nodes can be reached anyway. runc skips them too.
    let extra = if rootless() {
        resources.devices.clear();
        Vec::new()
    } else {
        default_device_rules(spec)
    };
    match cg.apply(&resources, &extra) {
        Ok(warnings) => {
            for w in warnings {
                crate::log::warn(&w);
            }
            Ok(())
        }
        Err(e) if rootless() => {
            crate::log::warn(&format!("rootless: {e}; that limit was skipped"));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Stops a container's scope at `delete`. systemd collects an empty scope
/// by itself, so a manager that cannot be reached is a warning, not a
/// failure that would leave the container undeletable.
pub fn stop_scope(scope: &Scope) {
    let stopped = Manager::connect(scope.manager).and_then(|mut m| m.stop(&scope.unit));
    if let Err(e) = stopped {
        crate::log::warn(&format!("delete: stopping systemd unit {}: {e}", scope.unit));
    }
}

/// `update` for a container in a scope: tells systemd the new values
/// (so that it keeps them), then the caller writes them to the cgroup.
pub fn update_scope(scope: &Scope, resources: &cella_spec::Resources, v2: bool) -> Result<()> {
    let mut m = Manager::connect(scope.manager)?;
    m.set_properties(&scope.unit, &systemd::resource_properties(resources, v2))?;
    Ok(())
}

/// The resource fields a config sets, for a warning that names them.
fn resource_fields(r: &cella_spec::Resources) -> String {
    let mut v = Vec::new();
    if r.memory.is_some() {
        v.push("memory");
    }
    if r.cpu.is_some() {
        v.push("cpu");
    }
    if r.pids.is_some() {
        v.push("pids");
    }
    if r.block_io.is_some() {
        v.push("blockIO");
    }
    if !r.hugepage_limits.is_empty() {
        v.push("hugepageLimits");
    }
    if r.network.is_some() {
        v.push("network");
    }
    if !r.unified.is_empty() {
        v.push("unified");
    }
    if !r.devices.is_empty() {
        v.push("devices");
    }
    if v.is_empty() {
        "no limits were configured".into()
    } else {
        format!("linux.resources {}", v.join(", "))
    }
}

/// What the runtime itself lets every container use after the config's own
/// device rules, as runc does: mknod of anything, the standard character
/// devices, ptys, tun, and every node listed in linux.devices.
fn default_device_rules(spec: &Spec) -> Vec<DeviceRule> {
    let rule = |kind: &str, major: i64, minor: i64, access: &str| DeviceRule {
        allow: true,
        kind: Some(kind.into()),
        major: Some(major),
        minor: Some(minor),
        access: Some(access.into()),
    };
    let mut v = vec![
        rule("c", -1, -1, "m"),
        rule("b", -1, -1, "m"),
        rule("c", 1, 3, "rwm"),
        rule("c", 1, 5, "rwm"),
        rule("c", 1, 7, "rwm"),
        rule("c", 1, 8, "rwm"),
        rule("c", 1, 9, "rwm"),
        rule("c", 5, 0, "rwm"),
        rule("c", 5, 1, "rwm"),
        rule("c", 5, 2, "rwm"),
        rule("c", 136, -1, "rwm"),
        rule("c", 10, 200, "rwm"),
    ];
    for d in &spec.linux().devices {
        let kind = if d.kind == "u" { "c" } else { d.kind.as_str() };
        if kind == "c" || kind == "b" {
            v.push(rule(kind, d.major, d.minor, "rwm"));
        }
    }
    v
}
