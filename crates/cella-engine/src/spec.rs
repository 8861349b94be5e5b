//! Turning a run configuration and an image into an OCI bundle
//! (containers/<id>/config.json with the rootfs beside it), with docker's
//! defaults: its capability set, a seccomp profile, masked /proc and /sys
//! paths, generated /etc/hostname, /etc/hosts and /etc/resolv.conf.

use crate::container::{Container, RunConfig};
use crate::error::{At, Error, Result};
use crate::image::{Image, HOST_DIRS, HOST_ID};
use crate::paths::Paths;
use cella_spec::{Capabilities, Mount, Namespace, Spec};
use std::path::Path;

/// docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after --privileged, --cap-add and --cap-drop (ALL allowed in both).
pub fn capabilities(cfg: &RunConfig) -> Result<Vec<String>> {
    // "All" is what we can give: the kernel's capabilities that are still in
    // our bounding set (a machine may lack some, e.g. CAP_SYS_RESOURCE).
    let bounding = bounding_set();
    let all: Vec<String> = cella_spec::caps::NAMES
        .iter()
        .filter(|n| {
            cella_spec::caps::number(n).is_some_and(|c| cella_sys::caps::kernel_knows(c) && bounding & (1u64 << c) != 0)
        })
        .map(|s| s.to_string())
        .collect();
    let mut caps: Vec<String> = if cfg.privileged {
        all.clone()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for c in &cfg.cap_drop {
        if c.eq_ignore_ascii_case("all") {
            caps.clear();
        } else {
            let n = cap_name(c);
            check_cap(&n)?;
            caps.retain(|x| *x != n);
        }
    }
    for c in &cfg.cap_add {
        if c.eq_ignore_ascii_case("all") {
            caps = all.clone();
        } else {
            let n = cap_name(c);
            check_cap(&n)?;
            if !caps.contains(&n) {
                caps.push(n);
            }
        }
    }
    Ok(caps)
}

/// This process's capability bounding set (CapBnd in /proc/self/status).
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn check_cap(n: &str) -> Result<()> {
    if cella_spec::caps::number(n).is_none() {
        return Err(Error::Invalid(format!("unknown capability {n:?}")));
    }
    Ok(())
}

/// docker's rule: --entrypoint replaces the image's and drops its Cmd;
/// a command given replaces the image's Cmd.
pub fn command(cfg: &RunConfig, image: &Image) -> Result<Vec<String>> {
    let (entry, cmd) = match &cfg.entrypoint {
        Some(e) => (e.clone(), cfg.cmd.clone()),
        None => (
            image.config.entrypoint.clone(),
            if cfg.cmd.is_empty() {
                image.config.cmd.clone()
            } else {
                cfg.cmd.clone()
            },
        ),
    };
    let args: Vec<String> = entry.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::Invalid(
            "no command specified: the image has none, so give one".into(),
        ));
    }
    Ok(args)
}

/// Sets or replaces KEY=VALUE entries.
fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(kv.to_string());
}

/// The root whose etc/passwd and etc/group describe the image's users: the
/// host's for `host`, else the topmost layer that has a passwd file.
fn image_root(paths: &Paths, image: &Image) -> Result<Option<std::fs::File>> {
    if image.id == HOST_ID {
        return std::fs::File::open("/").at("open", Path::new("/")).map(Some);
    }
    for l in image.layers.iter().rev() {
        let d = crate::layer::dir(paths, l);
        let root = std::fs::File::open(&d).at("open layer", &d)?;
        if crate::inroot::open_path(std::os::fd::AsFd::as_fd(&root), Path::new("etc/passwd")).is_ok() {
            return Ok(Some(root));
        }
    }
    Ok(None)
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: dest.into(),
        kind: Some(kind.into()),
        source: Some(source.into()),
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

/// `-v SRC:DST[:OPTS]`: a bind mount of an absolute host path.
pub fn volume(v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts[..] {
        [s, d] => (s, d, ""),
        [s, d, o] => (s, d, o),
        _ => return Err(Error::Invalid(format!("-v {v}: use SRC:DST[:ro|rw,…]"))),
    };
    if !src.starts_with('/') {
        return Err(Error::Invalid(format!(
            "-v {v}: the source must be an absolute host path (named volumes are not supported yet)"
        )));
    }
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "-v {v}: the destination must be an absolute path"
        )));
    }
    if !Path::new(src).exists() {
        return Err(Error::NotFound(format!("-v {v}: {src} does not exist")));
    }
    let mut options = vec!["rbind".to_string()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            // Read-only all the way down, as docker 25+ has it: `-v /:/host:ro`
            // must not leave /host/proc or /host/sys writable.
            "ro" | "rro" => options.extend(["ro".to_string(), "rro".to_string()]),
            "ro-non-recursive" => options.push("ro".into()),
            "rw" | "nosuid" | "nodev" | "noexec" | "private" | "rprivate" | "shared" | "rshared" | "slave"
            | "rslave" => options.push(o.to_string()),
            "z" | "Z" => {}
            other => return Err(Error::Invalid(format!("-v {v}: unknown option {other:?}"))),
        }
    }
    Ok(Mount {
        destination: dst.into(),
        kind: Some("bind".into()),
        source: Some(src.into()),
        options,
    })
}

/// `--tmpfs DST[:OPTS]`.
pub fn tmpfs(t: &str) -> Result<Mount> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "--tmpfs {t}: the destination must be an absolute path"
        )));
    }
    let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    Ok(Mount {
        destination: dst.into(),
        kind: Some("tmpfs".into()),
        source: Some("tmpfs".into()),
        options,
    })
}

/// docker's smallest memory limit: a container needs some to start at all.
pub const MIN_MEMORY: i64 = 6 << 20;

/// `--memory`: a size (docker's units), at least 6 MiB, as docker has it.
pub fn parse_memory(s: &str) -> Result<i64> {
    let bytes = cella_spec::size::parse(s).ok_or_else(|| {
        Error::Invalid(format!(
            "invalid size {s:?}: use a number with b, k, m, g, t or p (and not more than 8 EiB)"
        ))
    })?;
    if bytes < MIN_MEMORY {
        return Err(Error::Invalid(format!(
            "--memory {s}: the minimum memory limit allowed is 6MB"
        )));
    }
    Ok(bytes)
}

/// `--ulimit NAME=SOFT[:HARD]`.
fn ulimit(u: &str) -> Result<cella_spec::Rlimit> {
    let bad = || Error::Invalid(format!("--ulimit {u}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048"));
    let (name, vals) = u.split_once('=').ok_or_else(bad)?;
    let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
    cella_spec::rlimit::resource(&kind).ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |v: &str| {
        if v == "-1" {
            Ok(u64::MAX)
        } else {
            v.parse::<u64>().map_err(|_| bad())
        }
    };
    Ok(cella_spec::Rlimit {
        kind,
        soft: num(soft)?,
        hard: num(hard)?,
    })
}

/// The namespace for --ipc/--pid/--uts: None (new), "host" (the host's:
/// no entry), or "container:NAME" (that container's).
fn share(paths: &Paths, kind: &str, how: &Option<String>) -> Result<Option<Option<String>>> {
    match how.as_deref() {
        None | Some("") | Some("private") => Ok(Some(None)),
        Some("host") => Ok(None),
        Some(other) => match other.strip_prefix("container:") {
            Some(name) => {
                let c = crate::container::find(paths, name)?;
                if c.state.pid <= 0 {
                    return Err(Error::Invalid(format!(
                        "container {name} is not running: cannot join its {kind} namespace"
                    )));
                }
                Ok(Some(Some(format!("/proc/{}/ns/{kind}", c.state.pid))))
            }
            None => Err(Error::Invalid(format!("--{kind} {other}: use host or container:NAME"))),
        },
    }
}

/// Writes the bundle for `c` (config.json, rootfs skeleton, /etc files).
pub fn write_bundle(paths: &Paths, c: &Container, image: &Image) -> Result<Spec> {
    let cfg = &c.config;
    let dir = c.dir(paths);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).at("create", &rootfs)?;
    let mut spec = cella_spec::defaults::default_spec();
    let hostname = cfg.hostname.clone().unwrap_or_else(|| c.short_id().to_string());
    spec.hostname = Some(hostname.clone());
    spec.root = Some(cella_spec::Root {
        path: "rootfs".into(),
        readonly: cfg.read_only,
    });
    let mut mounts = Vec::new();
    // Without privilege over the host's directories (rootless, or a user
    // namespace of its own), the host image's /etc is a copy and the rest
    // are read-only binds.
    let plain = cella_sys::process::geteuid() != 0 || c.id_base.is_some();
    if image.id == HOST_ID {
        mounts.extend(host_rootfs(&dir, &rootfs, plain)?);
        if let Some(base) = c.id_base {
            crate::userns::shift_ownership(&rootfs, base)?;
        }
    }
    mounts.append(&mut spec.mounts);
    // Generated files, bound over the image's.
    let hosts = crate::net::hosts_file(c, &hostname, &[]);
    for (name, text) in [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        (
            "resolv.conf",
            if cfg.dns.is_empty() {
                resolv_conf()
            } else {
                cfg.dns.iter().map(|d| format!("nameserver {d}\n")).collect()
            },
        ),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).at("write", &p)?;
        mounts.push(mount(
            &format!("/etc/{name}"),
            "bind",
            &p.to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    for v in &cfg.volumes {
        mounts.push(volume(v)?);
    }
    for t in &cfg.tmpfs {
        mounts.push(tmpfs(t)?);
    }
    spec.mounts = mounts;

    let root = image_root(paths, image)?;
    let ids = crate::users::resolve(
        root.as_ref().map(std::os::fd::AsFd::as_fd),
        cfg.user.as_deref().unwrap_or(&image.config.user),
    )?;
    let p = spec.process.as_mut().expect("default has a process");
    p.terminal = cfg.tty;
    p.args = command(cfg, image)?;
    p.cwd = cfg
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(image.config.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !p.cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "-w {}: the working directory must be absolute",
            p.cwd
        )));
    }
    p.user.uid = ids.uid;
    p.user.gid = ids.gid;
    p.user.additional_gids = ids.additional_gids;
    let mut env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    for e in &image.config.env {
        set_env(&mut env, e);
    }
    set_env(&mut env, &format!("HOSTNAME={hostname}"));
    set_env(&mut env, &format!("HOME={}", ids.home));
    if cfg.tty {
        set_env(&mut env, "TERM=xterm");
    }
    for e in &cfg.env {
        if !e.contains('=') {
            // docker: `-e NAME` passes the caller's value, if it has one.
            if let Ok(v) = std::env::var(e) {
                set_env(&mut env, &format!("{e}={v}"));
            }
            continue;
        }
        set_env(&mut env, e);
    }
    p.env = env;
    let caps = capabilities(cfg)?;
    p.capabilities = Some(Capabilities {
        bounding: Some(caps.clone()),
        effective: Some(caps.clone()),
        permitted: Some(caps),
        inheritable: None,
        ambient: None,
    });
    p.no_new_privileges = cfg.no_new_privileges;
    // docker's default: the caller's limits, not runc's 1024 files.
    p.rlimits.clear();
    for u in &cfg.ulimits {
        p.rlimits.push(ulimit(u)?);
    }

    let linux = spec.linux.as_mut().expect("default has linux");
    linux
        .namespaces
        .retain(|n| n.kind != "network" && n.kind != "ipc" && n.kind != "pid" && n.kind != "uts");
    match cfg.network.as_str() {
        "" | "none" => linux.namespaces.push(Namespace {
            kind: "network".into(),
            path: None,
        }),
        "host" => {}
        other if other.starts_with("container:") => {
            if let Some(path) = share(paths, "net", &Some(other.to_string()))? {
                linux.namespaces.push(Namespace {
                    kind: "network".into(),
                    path,
                });
            }
        }
        other if other.starts_with("ns:") => {
            let path = &other[3..];
            if !cella_ns::persist::is_namespace_file(Path::new(path)) {
                return Err(Error::Invalid(format!(
                    "--network {other}: {path} is not a namespace file"
                )));
            }
            linux.namespaces.push(Namespace {
                kind: "network".into(),
                path: Some(path.into()),
            });
        }
        // Unprivileged: a user-mode network through pasta instead of a bridge.
        "bridge" | "pasta" if cella_sys::process::geteuid() != 0 => linux.namespaces.push(Namespace {
            kind: "network".into(),
            path: None,
        }),
        name => {
            crate::net::find(paths, name)?;
            if cella_sys::process::geteuid() != 0 {
                return Err(Error::Invalid(format!(
                    "--network {name} needs root; rootless containers have bridge (through pasta), none or host"
                )));
            }
            linux.namespaces.push(Namespace {
                kind: "network".into(),
                path: None,
            });
        }
    }
    for (kind, how, proc_name) in [
        ("ipc", &cfg.ipc, "ipc"),
        ("pid", &cfg.pid, "pid"),
        ("uts", &cfg.uts, "uts"),
    ] {
        if let Some(path) = share(paths, proc_name, how)? {
            linux.namespaces.push(Namespace {
                kind: kind.into(),
                path,
            });
        }
    }
    if cfg.uts.as_deref() == Some("host") {
        spec.hostname = None;
    }
    for s in &cfg.sysctls {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("--sysctl {s}: use KEY=VALUE")))?;
        linux.sysctl.insert(k.into(), v.into());
    }
    let res = linux.resources.get_or_insert_with(Default::default);
    if let Some(m) = cfg.memory {
        res.memory.get_or_insert_with(Default::default).limit = Some(m);
    }
    if let Some(c) = cfg.cpus {
        if c <= 0.0 {
            return Err(Error::Invalid(format!("--cpus {c}: must be more than 0")));
        }
        let cpu = res.cpu.get_or_insert_with(Default::default);
        cpu.period = Some(100_000);
        cpu.quota = Some((c * 100_000.0) as i64);
    }
    if let Some(n) = cfg.pids_limit {
        res.pids = Some(cella_spec::resources::Pids { limit: n });
    }
    if cfg.privileged {
        linux.masked_paths.clear();
        linux.readonly_paths.clear();
        res.devices = vec![cella_spec::resources::DeviceRule {
            allow: true,
            access: Some("rwm".into()),
            ..Default::default()
        }];
        spec.mounts
            .iter_mut()
            .filter(|m| m.destination == "/sys")
            .for_each(|m| m.options.retain(|o| o != "ro"));
    }
    linux.seccomp = match (cfg.privileged, cfg.seccomp.as_deref()) {
        (true, _) | (_, Some("unconfined")) => None,
        (_, Some(file)) => {
            let text = std::fs::read(file).at("read seccomp profile", Path::new(file))?;
            Some(serde_json::from_slice(&text).map_err(|e| Error::Invalid(format!("seccomp profile {file}: {e}")))?)
        }
        (_, None) => Some(crate::seccomp_default::profile()),
    };
    linux.cgroups_path = Some(cfg.cgroup_manager.cgroups_path(&c.id));
    if cfg.init {
        spec.annotations
            .insert(cella_runtime::INIT_ANNOTATION.into(), "true".into());
    }
    if cella_sys::process::geteuid() != 0 {
        rootless(&mut spec)?;
    } else if let Some(base) = c.id_base {
        own_user_namespace(&mut spec, base);
    }
    crate::store::write_json(&dir.join("config.json"), &spec)?;
    Ok(spec)
}

/// An unprivileged user's container: a user namespace mapping the caller to
/// root and, when /etc/subuid and /etc/subgid give them ranges, those ranges
/// from 1 up (written by newuidmap/newgidmap); otherwise runc's rootless
/// rules (cella_spec::defaults::make_rootless).
fn rootless(spec: &mut Spec) -> Result<()> {
    let (uid, gid) = (cella_sys::process::geteuid(), cella_sys::process::getgid());
    let user = cella_ns::ls::user_name(uid);
    let map = |host: u32, file: &str| {
        let mut v = vec![cella_spec::IdMapping {
            container_id: 0,
            host_id: host,
            size: 1,
        }];
        if let Ok(r) = cella_ns::unshare::subid_range(Path::new(file), &user, uid) {
            v.push(cella_spec::IdMapping {
                container_id: 1,
                host_id: r.outer,
                size: r.count,
            });
        }
        v
    };
    cella_spec::defaults::make_rootless(spec, map(uid, "/etc/subuid"), map(gid, "/etc/subgid"));
    Ok(())
}

/// --userns auto: container ids 0-65535 are host ids base… (uids and gids);
/// no cgroup filesystem (not mountable from a user namespace).
fn own_user_namespace(spec: &mut Spec, base: u32) {
    let map = vec![cella_spec::IdMapping {
        container_id: 0,
        host_id: base,
        size: crate::userns::SIZE,
    }];
    let linux = spec.linux.as_mut().expect("default has linux");
    linux.namespaces.retain(|n| n.kind != "user");
    linux.namespaces.push(Namespace {
        kind: "user".into(),
        path: None,
    });
    linux.uid_mappings = map.clone();
    linux.gid_mappings = map;
    spec.mounts.retain(|m| m.destination != "/sys/fs/cgroup");
}

/// Copies what can be read of a host tree (files, directories, symlinks),
/// skipping the rest (e.g. /etc/shadow for an unprivileged user).
fn copy_readable(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::create_dir_all(dst).is_err() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(src) else { return };
    for e in entries.flatten() {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(t) = std::fs::read_link(&from) {
                let _ = std::os::unix::fs::symlink(t, &to);
            }
        } else if meta.is_dir() {
            copy_readable(&from, &to);
        } else if meta.is_file() && std::fs::copy(&from, &to).is_ok() {
            let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.permissions().mode() | 0o200));
        }
    }
}

/// The host's resolv.conf, unless it only points at a loopback resolver
/// (which the container's own loopback does not have): then public ones.
fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<&str> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    if !servers.is_empty() && servers.iter().any(|s| !s.starts_with("127.") && *s != "::1") {
        return host;
    }
    "nameserver 8.8.8.8\nnameserver 1.1.1.1\n".into()
}

/// The `host` image's root: an empty skeleton (a writable directory of the
/// container) with the host's /usr, /etc, /lib… mounted as overlays whose
/// upper layers belong to the container.
fn host_rootfs(dir: &Path, rootfs: &Path, plain: bool) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for d in [
        "proc", "sys", "dev", "run", "root", "home", "var", "mnt", "srv", "media",
    ] {
        let p = rootfs.join(d);
        std::fs::create_dir_all(&p).at("create", &p)?;
    }
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp).at("create", &tmp)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).at("chmod", &tmp)?;
    for d in HOST_DIRS {
        let host = Path::new("/").join(d);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        let inside = rootfs.join(d);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host).at("read link", &host)?;
            if std::fs::symlink_metadata(&inside).is_err() {
                std::os::unix::fs::symlink(&target, &inside).at("create link", &inside)?;
            }
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        if plain {
            // Unprivileged, overlayfs cannot take a host directory as its
            // lower layer ("failed to clone lowerpath"): /etc is copied (what
            // the user may read of it), the rest is bound read-only.
            if d == "etc" {
                if !inside.join("passwd").exists() {
                    copy_readable(&host, &inside);
                }
            } else {
                std::fs::create_dir_all(&inside).at("create", &inside)?;
                mounts.push(mount(
                    &format!("/{d}"),
                    "bind",
                    &host.to_string_lossy(),
                    &["rbind", "ro", "nosuid"],
                ));
            }
            continue;
        }
        let upper = dir.join("diff").join(d);
        let work = dir.join("work").join(d);
        for p in [&inside, &upper, &work] {
            std::fs::create_dir_all(p).at("create", p)?;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            host.display(),
            upper.display(),
            work.display()
        );
        mounts.push(mount(&format!("/{d}"), "overlay", "overlay", &[&opts]));
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::host_image;

    #[test]
    fn entrypoint_and_cmd_follow_dockers_rules() {
        let mut img = host_image();
        img.config.entrypoint = vec!["/init".into()];
        img.config.cmd = vec!["serve".into()];
        let mut cfg = RunConfig::default();
        assert_eq!(command(&cfg, &img).unwrap(), ["/init", "serve"]);
        cfg.cmd = vec!["debug".into()];
        assert_eq!(command(&cfg, &img).unwrap(), ["/init", "debug"]);
        cfg.entrypoint = Some(vec!["sh".into()]);
        cfg.cmd.clear();
        assert_eq!(
            command(&cfg, &img).unwrap(),
            ["sh"],
            "--entrypoint drops the image's Cmd"
        );
        cfg.entrypoint = Some(vec![]);
        assert!(command(&cfg, &img).is_err());
    }

    #[test]
    fn capabilities_add_drop_and_all() {
        let mut cfg = RunConfig::default();
        assert_eq!(capabilities(&cfg).unwrap().len(), DEFAULT_CAPS.len());
        cfg.cap_drop = vec!["net_raw".into()];
        cfg.cap_add = vec!["SYS_ADMIN".into()];
        let c = capabilities(&cfg).unwrap();
        assert!(!c.contains(&"CAP_NET_RAW".to_string()) && c.contains(&"CAP_SYS_ADMIN".to_string()));
        cfg.cap_drop = vec!["ALL".into()];
        cfg.cap_add = vec!["chown".into()];
        assert_eq!(capabilities(&cfg).unwrap(), ["CAP_CHOWN"]);
        cfg.cap_add = vec!["bogus".into()];
        assert!(capabilities(&cfg).is_err());
    }

    #[test]
    fn volumes_tmpfs_sizes_and_ulimits_parse() {
        let m = volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            (m.destination.as_str(), m.options.clone()),
            ("/data", vec!["rbind".to_string(), "ro".into(), "rro".into()])
        );
        assert_eq!(volume("/tmp:/x:ro-non-recursive").unwrap().options, ["rbind", "ro"]);
        assert!(volume("relative:/x").is_err());
        assert!(volume("/tmp:/x:bogus").is_err());
        assert!(volume("/does/not/exist:/x").is_err());
        assert_eq!(tmpfs("/run:size=1m").unwrap().options.last().unwrap(), "size=1m");
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("4m").is_err(), "below docker's 6 MB");
        assert!(
            parse_memory("99999999999999999999g").is_err(),
            "overflow is refused, not unlimited"
        );
        let u = ulimit("nofile=100:200").unwrap();
        assert_eq!((u.kind.as_str(), u.soft, u.hard), ("RLIMIT_NOFILE", 100, 200));
        assert!(ulimit("bogus=1").is_err());
    }
}
