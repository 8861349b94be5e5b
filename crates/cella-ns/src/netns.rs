//! Named network namespaces with iproute2's conventions, so that
//! `ip netns` and `cella ns netns` see and use the same ones: a namespace is
//! a bind mount at /run/netns/NAME (a directory made a shared mount, so that
//! namespaces added later show up in other mount namespaces), and a command
//! run in it sees /sys for that namespace and /etc/netns/NAME/* over /etc.

use crate::error::Error;
use cella_sys::mount::{self, Target};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where named network namespaces live (iproute2's NETNS_RUN_DIR).
pub const RUN_DIR: &str = "/run/netns";
/// Per-namespace files bind-mounted over /etc on exec (iproute2's NETNS_ETC_DIR).
pub const ETC_DIR: &str = "/etc/netns";

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::msg(format!("{what}: {e}"))
}

/// A name `ip netns` would accept: a single path component.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::msg(format!(
            "invalid network namespace name {name:?}: it must be one path component (no '/', not '.' or '..')"
        )));
    }
    if name.len() > 255 {
        return Err(Error::msg(format!(
            "network namespace name too long ({} bytes; at most 255)",
            name.len()
        )));
    }
    Ok(())
}

/// /run/netns/NAME, for a valid name.
pub fn path_of(name: &str) -> Result<PathBuf, Error> {
    check_name(name)?;
    Ok(Path::new(RUN_DIR).join(name))
}

/// Creates /run/netns and makes it a shared mount (a bind mount of itself
/// first if it is not a mount point), as `ip netns add` does.
fn prepare_run_dir() -> Result<(), Error> {
    let dir = Path::new(RUN_DIR);
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(format!("create {RUN_DIR}"))(e)),
    }
    let shared = || {
        mount::mount(
            None,
            &Target::Path(dir),
            Some("none"),
            libc::MS_SHARED | libc::MS_REC,
            None,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            mount::mount(
                Some(dir),
                &Target::Path(dir),
                Some("none"),
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(io(format!("bind-mount {RUN_DIR} onto itself")))?;
            shared().map_err(io(format!("make {RUN_DIR} a shared mount")))
        }
        Err(e) => Err(io(format!("make {RUN_DIR} a shared mount"))(e)),
    }
}

/// Creates the empty file a namespace is mounted on; fails if the name is taken.
fn create_mount_point(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(path)
        .map(drop)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::msg(format!("network namespace {} already exists", path.display()))
            } else {
                io(format!("create {}", path.display()))(e)
            }
        })
}

fn bind_or_remove(src: &Path, path: &Path) -> Result<(), Error> {
    mount::mount(Some(src), &Target::Path(path), Some("none"), libc::MS_BIND, None).map_err(|e| {
        let _ = std::fs::remove_file(path);
        io(format!("bind-mount {} onto {}", src.display(), path.display()))(e)
    })
}

/// `ip netns add NAME`: a new, empty network namespace kept at /run/netns/NAME.
pub fn add(name: &str) -> Result<PathBuf, Error> {
    let path = path_of(name)?;
    prepare_run_dir()?;
    create_mount_point(&path)?;
    let original = std::fs::File::open("/proc/self/ns/net").map_err(|e| {
        let _ = std::fs::remove_file(&path);
        io("open /proc/self/ns/net".into())(e)
    })?;
    if let Err(e) = cella_sys::ns::unshare(cella_sys::ns::CLONE_NEWNET) {
        let _ = std::fs::remove_file(&path);
        return Err(io("unshare(CLONE_NEWNET)".into())(e));
    }
    let bound = bind_or_remove(Path::new("/proc/self/ns/net"), &path);
    cella_sys::ns::setns(original.as_fd(), cella_sys::ns::CLONE_NEWNET)
        .map_err(io("return to the original network namespace".into()))?;
    bound.map(|()| path)
}

/// `ip netns attach NAME PID`: names the network namespace of a process.
pub fn attach(name: &str, pid: i32) -> Result<PathBuf, Error> {
    let path = path_of(name)?;
    let src = crate::persist::proc_ns_path(pid, "net")?;
    prepare_run_dir()?;
    create_mount_point(&path)?;
    bind_or_remove(&src, &path).map(|()| path)
}

/// `ip netns delete NAME`: unmounts and removes the name; the namespace ends
/// with its last process.
pub fn delete(name: &str) -> Result<(), Error> {
    let path = path_of(name)?;
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(Error::msg(format!(
            "no network namespace {name:?} (nothing at {})",
            path.display()
        )));
    }
    // Not mounted (a leftover file) is fine: the name still goes.
    let _ = mount::umount2(&path, libc::MNT_DETACH);
    std::fs::remove_file(&path).map_err(io(format!("remove {}", path.display())))
}

/// A named network namespace, as `ip netns list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Named {
    pub name: String,
    /// Its NETNSID in the current network namespace, if one is assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
}

/// The names in /run/netns (none if it does not exist), in directory order
/// as `ip netns list` prints them.
pub fn list() -> Vec<Named> {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = std::fs::File::open(e.path())
                .ok()
                .filter(|f| cella_sys::fd::fstatfs_type(f.as_fd()).is_ok_and(|t| t == crate::persist::NSFS_MAGIC))
                .and_then(|f| crate::netnsid::get(f.as_raw_fd()).ok().flatten());
            Some(Named { name, id })
        })
        .collect()
}

/// Opens /run/netns/NAME and checks that a network namespace is mounted there.
pub fn open(name: &str) -> Result<std::fs::File, Error> {
    let path = path_of(name)?;
    let f = std::fs::File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::msg(format!(
                "no network namespace {name:?} (nothing at {}); create it with `cella ns netns add {name}`",
                path.display()
            ))
        } else {
            io(format!("open {}", path.display()))(e)
        }
    })?;
    match cella_sys::ns::ns_get_type(f.as_raw_fd()) {
        Ok(t) if t == cella_sys::ns::CLONE_NEWNET => Ok(f),
        _ => Err(Error::msg(format!(
            "{} is not a network namespace (nothing mounted there)",
            path.display()
        ))),
    }
}

/// `ip netns set NAME ID|auto`: assigns a NETNSID (-1: the next free one).
pub fn set_id(name: &str, id: i32) -> Result<(), Error> {
    let f = open(name)?;
    crate::netnsid::set(f.as_raw_fd(), id)
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// `ip netns pids NAME`: the processes in that namespace, in PID order.
pub fn pids(name: &str) -> Result<Vec<i32>, Error> {
    let target = open(name)?.metadata().map_err(io(format!("stat {RUN_DIR}/{name}")))?;
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(io("read /proc".into()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| same_file(&m, &target)))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// `ip netns identify PID`: the names under which the process's network
/// namespace is kept.
pub fn identify(pid: i32) -> Result<Vec<String>, Error> {
    let own = crate::persist::proc_ns_path(pid, "net")?;
    let own = std::fs::metadata(&own).map_err(io(format!("stat {}", own.display())))?;
    Ok(list()
        .into_iter()
        .filter(|n| std::fs::metadata(Path::new(RUN_DIR).join(&n.name)).is_ok_and(|m| same_file(&m, &own)))
        .map(|n| n.name)
        .collect())
}

/// What `ip netns exec NAME` does before running the command, in this
/// process: join the namespace, take a private view of the mounts (slave, so
/// nothing propagates back), mount a sysfs of the namespace on /sys and bind
/// /etc/netns/NAME/* over /etc/*. Returns warnings for /etc entries that
/// could not be bound, as ip prints them.
pub fn enter_for_exec(name: &str) -> Result<Vec<String>, Error> {
    let f = open(name)?;
    cella_sys::ns::setns(f.as_fd(), cella_sys::ns::CLONE_NEWNET)
        .map_err(io(format!("setns to network namespace {name:?}")))?;
    cella_sys::ns::unshare(cella_sys::ns::CLONE_NEWNS).map_err(io("unshare(CLONE_NEWNS)".into()))?;
    let slash = Path::new("/");
    mount::mount(
        None,
        &Target::Path(slash),
        Some("none"),
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(io("make / a slave mount".into()))?;
    let sys = Path::new("/sys");
    let flags = if sys_is_read_only() { libc::MS_RDONLY } else { 0 };
    if mount::umount2(sys, libc::MNT_DETACH).is_ok() {
        mount::mount(Some(Path::new(name)), &Target::Path(sys), Some("sysfs"), flags, None)
            .map_err(io("mount sysfs on /sys for the namespace".into()))?;
    }
    let mut warnings = Vec::new();
    let etc = Path::new(ETC_DIR).join(name);
    if let Ok(entries) = std::fs::read_dir(&etc) {
        for e in entries.flatten() {
            let dst = Path::new("/etc").join(e.file_name());
            if let Err(err) = mount::mount(Some(&e.path()), &Target::Path(&dst), Some("none"), libc::MS_BIND, None) {
                warnings.push(format!("bind {} over {}: {err}", e.path().display(), dst.display()));
            }
        }
    }
    Ok(warnings)
}

/// True when the /sys this process sees is mounted read-only.
fn sys_is_read_only() -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/sys"))
        .and_then(|l| l.split(' ').nth(5))
        .is_some_and(|opts| opts.split(',').any(|o| o == "ro"))
}

/// Runs `f` in the network namespace of process `pid`, then returns this
/// (single-threaded) process to its own: what `ip netns exec` does for one
/// call. The namespace's result, or why it could not be entered or left.
pub fn in_netns_of<R>(pid: i32, f: impl FnOnce() -> R) -> Result<R, Error> {
    let own_path = Path::new("/proc/self/ns/net");
    let own = std::fs::File::open(own_path).map_err(|e| Error::os(format!("open {}", own_path.display()), e))?;
    let theirs_path = format!("/proc/{pid}/ns/net");
    let theirs = std::fs::File::open(&theirs_path).map_err(|e| Error::os(format!("open {theirs_path}"), e))?;
    cella_sys::ns::setns(theirs.as_fd(), cella_sys::ns::CLONE_NEWNET)
        .map_err(|e| Error::os(format!("setns into {theirs_path}"), e))?;
    let out = f();
    cella_sys::ns::setns(own.as_fd(), cella_sys::ns::CLONE_NEWNET)
        .map_err(|e| Error::os("return to this process's network namespace", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        for bad in ["", ".", "..", "a/b", "/x", "x\0y"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"n".repeat(256)).is_err());
        for good in ["x", "blue-1", "a.b", "...", "ns_2"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        assert_eq!(path_of("red").unwrap(), Path::new("/run/netns/red"));
    }
}
