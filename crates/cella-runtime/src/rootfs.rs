//! The container's root filesystem: propagation, every `mounts` entry in
//! order, /dev, pivot_root, then read-only, masked and read-only paths and
//! sysctls.
//!
//! Every mount target is resolved inside the rootfs with openat2
//! RESOLVE_IN_ROOT and mounted on through its fd, so that a symlink planted in
//! the image can never redirect a mount to the host (CVE-2021-30465).

use crate::error::{Context, Error, Result};
use crate::mountopts::{self, MountOptions};
use cella_spec::{Device, Mount, Spec};
use cella_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use cella_sys::mount::{mount, mount_setattr, Target};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// What rootfs setup needs to know besides the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    /// The options of each `spec.mounts` entry, parsed by validation.
    pub mount_options: &'a [mountopts::MountOptions],
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// Inside a user namespace devices are bind-mounted instead of created.
    pub in_userns: bool,
    pub new_cgroupns: bool,
    pub cgroup_layout: Option<&'a cella_cgroups::Layout>,
    pub cgroup: Option<&'a cella_cgroups::Cgroup>,
    /// Puts the init in its cgroup and cgroup namespace, if it is not yet
    /// (see `init::CgroupEntry`): before a cgroup filesystem is mounted.
    pub enter_cgroup: &'a dyn Fn() -> Result<()>,
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The path relative to the root, without `.` and leading `/` (`..` is left to RESOLVE_IN_ROOT).
fn in_root(dest: &str) -> PathBuf {
    Path::new(dest)
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// `linux.rootfsPropagation` as mount(2) flags (None: runc's default, rslave).
fn requested_propagation(spec: &Spec) -> Result<Option<u64>> {
    match spec.linux().rootfs_propagation.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => mountopts::propagation_flag(p)
            .map(Some)
            .ok_or_else(|| Error::Config(format!("unknown linux.rootfsPropagation {p:?}"))),
    }
}

/// The rootfs bound onto itself, every configured mount, /dev. Returns an
/// O_PATH fd of the rootfs mount.
///
/// Propagation: the mounts copied from the host stay shared when a shared
/// `rootfsPropagation` is asked for (a bind of a shared host mount then
/// joins the host's peer group: Kubernetes' bidirectional volumes), else
/// become slaves of the host's (runc's default, rslave). Either way nothing
/// mounted here propagates back: the rootfs's own mount and its parent are
/// made private first when they could be shared. pivot_root refuses shared
/// mounts around it, so `enter` makes the old root private, and the
/// requested propagation is given to the new `/` after pivot_root
/// (`apply_propagation`), which is also what lets `unbindable` bind the
/// rootfs onto itself.
pub fn prepare(cx: &RootfsContext<'_>) -> Result<OwnedFd> {
    let keep_shared = requested_propagation(cx.spec)?.is_some_and(|p| p & libc::MS_SHARED != 0);
    if keep_shared {
        make_private(cx.rootfs)?;
    } else {
        let slash = Path::new("/");
        mount(None, &Target::Path(slash), None, libc::MS_SLAVE | libc::MS_REC, None)
            .op(|| "make / a recursive slave".into())?;
    }
    make_parent_mount_private(cx.rootfs)?;
    mount(
        Some(cx.rootfs),
        &Target::Path(cx.rootfs),
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .at("bind-mount rootfs onto itself", cx.rootfs)?;
    let root = cella_sys::fd::open(cx.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).at("open rootfs", cx.rootfs)?;
    for (m, opts) in cx.spec.mounts.iter().zip(cx.mount_options) {
        if matches!(m.kind.as_deref(), Some("cgroup" | "cgroup2")) {
            (cx.enter_cgroup)()?;
        }
        mount_entry(cx, root.as_fd(), m, opts).map_err(|e| Error::Config(format!("mount {:?}: {e}", m.destination)))?;
    }
    let dev_bound = cx.spec.mounts.iter().any(|m| {
        in_root(&m.destination) == Path::new("dev")
            && (m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_bound {
        setup_dev(cx, root.as_fd())?;
    }
    Ok(root)
}

/// The mount point of the mount that holds `path` (the longest mount point
/// of /proc/self/mountinfo that is a prefix of it).
fn mount_holding(path: &Path) -> Result<PathBuf> {
    let mi =
        cella_sys::fd::read_generated_string("/proc/self/mountinfo").at("read", Path::new("/proc/self/mountinfo"))?;
    Ok(mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// Makes the mount that holds `path` private (not recursively).
fn make_private(path: &Path) -> Result<()> {
    let mp = mount_holding(path)?;
    mount(None, &Target::Path(&mp), None, libc::MS_PRIVATE, None).at("make mount private", &mp)
}

/// pivot_root requires that the new root's parent mount is not shared, and
/// a mount over the rootfs must not propagate out of the container.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    make_private(rootfs.parent().unwrap_or(Path::new("/")))
}

/// After pivot_root: the new `/` gets `linux.rootfsPropagation` (shared
/// gives it a peer group of its own, `shared:N` in mountinfo).
pub fn apply_propagation(spec: &Spec) -> Result<()> {
    let Some(p) = requested_propagation(spec)? else {
        return Ok(());
    };
    mount(None, &Target::Path(Path::new("/")), None, p, None).op(|| format!("set propagation {p:#x} of /"))
}

/// Opens `dest` inside the root, creating it (and missing parents) as a
/// directory or, with `dir == false`, an empty file. A dangling symlink on the
/// way is followed inside the root (an absolute target means the rootfs, never
/// the host) and its target created there.
pub fn ensure_target(root: BorrowedFd<'_>, dest: &Path, dir: bool) -> Result<OwnedFd> {
    match openat2(root, dest, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at("resolve mount target in rootfs", dest),
    }
    // Most often only the last component is missing: make it under its
    // resolved parent. Anything else (a missing parent, a dangling link)
    // takes the walk below.
    if let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(pfd) = openat2(root, parent, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
            if make_target(pfd.as_fd(), Path::new(name), dir).is_ok() {
                if let Ok(fd) = openat2(root, dest, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
                    return Ok(fd);
                }
            }
        }
    }
    let mut want = dest.to_path_buf();
    'restart: for _ in 0..40 {
        let mut parent =
            cella_sys::fd::openat(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0).at("open rootfs", dest)?;
        let comps: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
        let mut prefix = PathBuf::new();
        for (i, c) in comps.iter().enumerate() {
            prefix.push(c);
            match openat2(root, &prefix, libc::O_PATH, 0, RESOLVE_IN_ROOT) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at("resolve in rootfs", &prefix),
            }
            if let Ok(target) = cella_sys::fd::readlinkat(parent.as_fd(), c) {
                // Dangling link: continue the walk at its target, inside the root.
                let base = if target.is_absolute() {
                    PathBuf::new()
                } else {
                    prefix.parent().unwrap_or(Path::new("")).to_path_buf()
                };
                let mut next = base.join(in_root(&target.to_string_lossy()));
                next.extend(&comps[i + 1..]);
                want = next;
                continue 'restart;
            }
            let file = i + 1 == comps.len() && !dir;
            make_target(parent.as_fd(), c, !file).at(
                if file {
                    "create mount target file"
                } else {
                    "create mount target directory"
                },
                &prefix,
            )?;
            parent = openat2(root, &prefix, libc::O_PATH, 0, RESOLVE_IN_ROOT).at("resolve in rootfs", &prefix)?;
        }
        return Ok(parent);
    }
    Err(Error::Config(format!(
        "{}: too many levels of symbolic links",
        dest.display()
    )))
}

/// Makes `name` under `parent`: a directory (one that exists will do) or an
/// empty file, never through a final symlink.
fn make_target(parent: BorrowedFd<'_>, name: &Path, dir: bool) -> std::io::Result<()> {
    if !dir {
        let flags = libc::O_CREAT | libc::O_RDONLY | libc::O_NOFOLLOW;
        return cella_sys::fd::openat(parent, name, flags, 0o644).map(drop);
    }
    match cella_sys::fd::mkdirat(parent, name, 0o755) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// A recursive bind mount of `src` onto the inode `target` refers to.
fn rbind(src: &Path, target: BorrowedFd<'_>) -> std::io::Result<()> {
    mount(Some(src), &Target::Fd(target), None, libc::MS_BIND | libc::MS_REC, None)
}

/// Re-resolves `dest` after something was mounted there, to get the new mount.
fn reopen(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd> {
    openat2(root, dest, libc::O_PATH, 0, RESOLVE_IN_ROOT).at("reopen mount", dest)
}

fn mount_entry(cx: &RootfsContext<'_>, root: BorrowedFd<'_>, m: &Mount, opts: &mountopts::MountOptions) -> Result<()> {
    let dest = in_root(&m.destination);
    if dest.as_os_str().is_empty() {
        return Err(Error::Config("mount destination must not be the root itself".into()));
    }
    let kind = m.kind.as_deref().unwrap_or("");
    if kind == "cgroup" || kind == "cgroup2" {
        return mount_cgroup(cx, root, &dest, opts);
    }
    let bind = opts.bind || kind == "bind";
    let source = m.source.as_deref().map(|s| {
        if bind && !s.starts_with('/') {
            cx.bundle.join(s)
        } else {
            PathBuf::from(s)
        }
    });
    let src_is_dir = match (&source, bind) {
        (Some(s), true) => std::fs::metadata(s).at("stat bind source", s)?.is_dir(),
        _ => true,
    };
    let target = ensure_target(root, &dest, src_is_dir)?;
    if kind == "proc" || kind == "sysfs" {
        check_plain_dir(target.as_fd(), &dest)?;
    }
    if bind {
        let src = source
            .as_deref()
            .ok_or_else(|| Error::Config("bind mount without source".into()))?;
        let flags = libc::MS_BIND | if opts.recursive { libc::MS_REC } else { 0 };
        mount(Some(src), &Target::Fd(target.as_fd()), None, flags, None).at("bind mount", src)?;
        apply_bind_attrs(root, &dest, opts)?;
    } else {
        let src = source.unwrap_or_else(|| PathBuf::from(kind));
        let data = crate::lsm::with_mount_label(&opts.data, kind, cx.spec.linux().mount_label.as_deref());
        let res = mount(
            Some(&src),
            &Target::Fd(target.as_fd()),
            Some(kind),
            opts.flags,
            Some(data.as_str()).filter(|d| !d.is_empty()),
        );
        match res {
            Ok(()) => {}
            // sysfs needs a network namespace owned by our user namespace; as
            // runc does, bind the host's /sys instead.
            Err(e) if kind == "sysfs" && cx.in_userns && e.raw_os_error() == Some(libc::EPERM) => {
                let sys = Path::new("/sys");
                rbind(sys, target.as_fd()).at("bind /sys (sysfs not mountable in this user namespace)", sys)?;
                let mut ro = opts.clone();
                ro.recursive = true;
                apply_bind_attrs(root, &dest, &ro)?;
            }
            Err(e) => return Err(e).op(|| format!("mount {kind} on {}", m.destination)),
        }
    }
    for &p in &opts.propagation {
        let fd = reopen(root, &dest)?;
        mount(None, &Target::Fd(fd.as_fd()), None, p, None).op(|| format!("set propagation on {}", m.destination))?;
    }
    Ok(())
}

/// proc and sysfs may only go on a plain directory, never on top of another
/// procfs/sysfs file (CVE-2019-19921 style tricks).
fn check_plain_dir(fd: BorrowedFd<'_>, dest: &Path) -> Result<()> {
    let st = cella_sys::fd::fstat(fd).at("stat mount target", dest)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::Config(format!("{} is not a directory", dest.display())));
    }
    let fs = cella_sys::fd::fstatfs_type(fd).at("statfs mount target", dest)?;
    if fs == PROC_SUPER_MAGIC || fs == SYSFS_MAGIC {
        return Err(Error::Config(format!("{} is inside procfs or sysfs", dest.display())));
    }
    Ok(())
}

/// After a bind mount: the per-mount flags (ro, nosuid, ...) on the top mount
/// and the recursive attributes (rro, ...) on the whole tree.
fn apply_bind_attrs(root: BorrowedFd<'_>, dest: &Path, o: &MountOptions) -> Result<()> {
    let set = mountopts::ms_to_attr(o.flags);
    let clear = mountopts::ms_to_attr(o.cleared);
    if set == 0 && clear == 0 && o.rec_set == 0 && o.rec_clear == 0 {
        return Ok(());
    }
    let fd = reopen(root, dest)?;
    if set != 0 || clear != 0 {
        let mut clr = clear;
        if set & cella_sys::mount::MOUNT_ATTR__ATIME != 0 {
            clr |= cella_sys::mount::MOUNT_ATTR__ATIME;
        }
        match mount_setattr(
            fd.as_fd(),
            o.recursive && set & cella_sys::mount::MOUNT_ATTR_RDONLY == 0,
            set,
            clr,
        ) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                mount(
                    None,
                    &Target::Fd(fd.as_fd()),
                    None,
                    libc::MS_BIND | libc::MS_REMOUNT | o.flags,
                    None,
                )
                .at("remount bind mount", dest)?;
            }
            Err(e) => return Err(e).at("set mount attributes", dest),
        }
    }
    if o.rec_set != 0 || o.rec_clear != 0 {
        mount_setattr(fd.as_fd(), true, o.rec_set, o.rec_clear).at("set recursive mount attributes", dest)?;
    }
    Ok(())
}

/// The `cgroup` mount: with a new cgroup namespace the cgroup filesystems
/// themselves (they then show the container's cgroup as `/`); without one,
/// bind mounts of the container's own cgroup directories.
fn mount_cgroup(cx: &RootfsContext<'_>, root: BorrowedFd<'_>, dest: &Path, o: &MountOptions) -> Result<()> {
    let Some(layout) = cx.cgroup_layout else { return Ok(()) };
    let target = ensure_target(root, dest, true)?;
    if layout.mode == cella_cgroups::Mode::V2 {
        let h = HierarchyMount {
            index: 0,
            fstype: "cgroup2",
            data: None,
        };
        return mount_one_hierarchy(cx, root, dest, target, o.flags, &h);
    }
    let flags = o.flags & !libc::MS_RDONLY;
    mount(
        Some(Path::new("tmpfs")),
        &Target::Fd(target.as_fd()),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .at("mount tmpfs for cgroups", dest)?;
    // The tmpfs is this process's own and empty: each hierarchy's directory
    // is made and opened in it directly, with no walk from the root.
    let tmpfs = reopen(root, dest)?;
    for (i, h) in layout.hierarchies.iter().enumerate() {
        let name = h
            .mountpoint
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("unified"));
        let sub = dest.join(&name);
        let data = (!h.is_v2()).then(|| h.controllers.join(","));
        let mount_as = HierarchyMount {
            index: i,
            fstype: if h.is_v2() { "cgroup2" } else { "cgroup" },
            data: data.as_deref(),
        };
        make_target(tmpfs.as_fd(), &name, true).at("create cgroup mount point", &sub)?;
        let target = cella_sys::fd::openat(
            tmpfs.as_fd(),
            &name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .at("open cgroup mount point", &sub)?;
        mount_one_hierarchy(cx, root, &sub, target, o.flags, &mount_as)?;
        // cpu,cpuacct style co-mounts get a link per controller, as on the host.
        if h.controllers.len() > 1 {
            for c in &h.controllers {
                let _ = cella_sys::fd::symlinkat(&name, tmpfs.as_fd(), Path::new(c));
            }
        }
    }
    if o.flags & libc::MS_RDONLY != 0 {
        mount_setattr(tmpfs.as_fd(), false, cella_sys::mount::MOUNT_ATTR_RDONLY, 0)
            .at("make cgroup tmpfs read-only", dest)?;
    }
    Ok(())
}

/// Which of the layout's hierarchies to mount, and as what.
struct HierarchyMount<'a> {
    index: usize,
    fstype: &'a str,
    data: Option<&'a str>,
}

/// Mounts a hierarchy on `target`, the opened mount point `dest`.
fn mount_one_hierarchy(
    cx: &RootfsContext<'_>,
    root: BorrowedFd<'_>,
    dest: &Path,
    target: OwnedFd,
    flags: u64,
    h: &HierarchyMount<'_>,
) -> Result<()> {
    if cx.new_cgroupns {
        let src = Path::new(h.fstype);
        return mount(Some(src), &Target::Fd(target.as_fd()), Some(h.fstype), flags, h.data)
            .at("mount cgroup filesystem", dest);
    }
    let Some(dir) = cx.cgroup.and_then(|c| c.dirs.get(h.index)).map(|d| d.path.as_path()) else {
        return Ok(());
    };
    rbind(dir, target.as_fd()).at("bind cgroup", dir)?;
    let attrs = mountopts::ms_to_attr(flags);
    if attrs != 0 {
        let top = reopen(root, dest)?;
        mount_setattr(top.as_fd(), true, attrs, 0).at("set cgroup mount attributes", dest)?;
    }
    Ok(())
}

const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The default devices, `linux.devices`, and the usual /dev symlinks.
fn setup_dev(cx: &RootfsContext<'_>, root: BorrowedFd<'_>) -> Result<()> {
    let dev = ensure_target(root, Path::new("dev"), true)?;
    for (name, major, minor) in DEFAULT_DEVICES {
        let d = Device {
            kind: "c".into(),
            path: format!("/dev/{name}"),
            major: major as i64,
            minor: minor as i64,
            file_mode: Some(0o666),
            uid: None,
            gid: None,
        };
        let rel = Path::new("dev").join(name);
        create_device_in(cx, root, dev.as_fd(), &rel, Path::new(name), &d)?;
    }
    for d in &cx.spec.linux().devices {
        create_device(cx, root, d)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        match cella_sys::fd::symlinkat(Path::new(target), dev.as_fd(), Path::new(link)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at("create /dev symlink", Path::new(link)),
        }
    }
    Ok(())
}

fn create_device(cx: &RootfsContext<'_>, root: BorrowedFd<'_>, d: &Device) -> Result<()> {
    let rel = in_root(&d.path);
    let (parent_rel, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => (p, Path::new(n)),
        _ => return Err(Error::Config(format!("invalid device path {:?}", d.path))),
    };
    let parent = if parent_rel.as_os_str().is_empty() {
        cella_sys::fd::openat(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0).at("open rootfs", &rel)?
    } else {
        ensure_target(root, parent_rel, true)?
    };
    create_device_in(cx, root, parent.as_fd(), &rel, name, d)
}

/// Makes the node `d` as `name` in `parent`: its path `rel` in the rootfs,
/// the directory already resolved there.
fn create_device_in(
    cx: &RootfsContext<'_>,
    root: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    rel: &Path,
    name: &Path,
    d: &Device,
) -> Result<()> {
    if cx.in_userns {
        // mknod is not allowed in a user namespace: bind the host's node.
        let target = ensure_target(root, rel, false)?;
        let host = Path::new(&d.path);
        return mount(Some(host), &Target::Fd(target.as_fd()), None, libc::MS_BIND, None).at("bind device", host);
    }
    let kind = match d.kind.as_str() {
        "c" | "u" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        other => return Err(Error::Config(format!("device {}: unknown type {other:?}", d.path))),
    };
    let perm = d.file_mode.unwrap_or(0o666) & 0o7777;
    let devno = cella_sys::fd::makedev(d.major as u64, d.minor as u64);
    match cella_sys::fd::mknodat(parent, name, kind | perm, devno) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            cella_sys::fd::unlinkat(parent, name, 0).at("replace existing device", rel)?;
            cella_sys::fd::mknodat(parent, name, kind | perm, devno).at("mknod", rel)?;
        }
        Err(e) => return Err(e).at("mknod", rel),
    }
    cella_sys::fd::fchmodat(parent, name, perm).at("chmod device", rel)?;
    if d.uid.is_some() || d.gid.is_some() {
        let uid = d.uid.unwrap_or(u32::MAX);
        let gid = d.gid.unwrap_or(u32::MAX);
        cella_sys::fd::fchownat(parent, name, uid, gid, libc::AT_SYMLINK_NOFOLLOW).at("chown device", rel)?;
    }
    Ok(())
}

/// Makes the prepared rootfs the process's root: pivot_root, or with
/// `no_pivot` a move mount and chroot (for ramdisk roots).
pub fn enter(root: OwnedFd, rootfs: &Path, no_pivot: bool) -> Result<()> {
    use cella_sys::mount::{chroot, fchdir, pivot_root, umount2};
    // pivot_root refuses a shared current root (and a shared new root, its
    // put_old): a shared one becomes a slave here (a slave or private one
    // stays as it is), only the mounts themselves, not what is mounted below
    // them. The old root goes anyway; the new one gets its propagation next.
    mount(None, &Target::Path(Path::new("/")), None, libc::MS_SLAVE, None).op(|| "make / a slave".into())?;
    mount(None, &Target::Fd(root.as_fd()), None, libc::MS_SLAVE, None).at("make rootfs a slave", rootfs)?;
    fchdir(root.as_fd()).at("chdir into rootfs", rootfs)?;
    let dot = Path::new(".");
    if no_pivot {
        mount(Some(rootfs), &Target::Path(Path::new("/")), None, libc::MS_MOVE, None)
            .at("move rootfs onto /", rootfs)?;
        chroot(dot).at("chroot", rootfs)?;
    } else {
        let old_root = cella_sys::fd::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
            .at("open the old root", Path::new("/"))?;
        pivot_root(dot, dot).at("pivot_root", rootfs)?;
        // Stop the unmount of the old root from propagating to the host: its
        // tree becomes a slave, through its own fd (`.` here names the new
        // root, whose tree holds the container's volumes: they keep theirs).
        mount(
            None,
            &Target::Fd(old_root.as_fd()),
            None,
            libc::MS_SLAVE | libc::MS_REC,
            None,
        )
        .op(|| "make old root slave".into())?;
        drop(old_root);
        umount2(dot, libc::MNT_DETACH).op(|| "unmount old root".into())?;
    }
    cella_sys::process::chdir(Path::new("/")).at("chdir", Path::new("/"))
}

/// Without a mount namespace of the container's own: its root by chroot.
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    cella_sys::mount::chroot(rootfs).at("chroot", rootfs)?;
    cella_sys::process::chdir(Path::new("/")).at("chdir", Path::new("/"))
}

/// Sysctls, through a procfs of the runtime's own (see `procfs`).
pub fn write_sysctls(spec: &Spec) -> Result<()> {
    let linux = spec.linux();
    if !linux.sysctl.is_empty() {
        let procfs = crate::procfs::Procfs::open()?;
        for (key, value) in &linux.sysctl {
            write_sysctl(&procfs, key, value)?;
        }
    }
    Ok(())
}

/// After pivot_root: read-only root, read-only and masked paths.
pub fn restrict(spec: &Spec) -> Result<()> {
    let linux = spec.linux();
    let slash = Path::new("/");
    let root = cella_sys::fd::open(slash, libc::O_PATH | libc::O_DIRECTORY, 0).at("open", slash)?;
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        make_readonly(root.as_fd(), Path::new("."), false)?;
    }
    for p in &linux.readonly_paths {
        readonly_path(root.as_fd(), p)?;
    }
    if !linux.masked_paths.is_empty() {
        let null = open_dev_null()?;
        for p in &linux.masked_paths {
            mask_path(root.as_fd(), p, &null)?;
        }
    }
    Ok(())
}

/// A sysctl, written through the runtime's own procfs (see `procfs`).
fn write_sysctl(procfs: &crate::procfs::Procfs, key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
        return Err(Error::Config(format!("invalid sysctl name {key:?}")));
    }
    let rel = Path::new("sys").join(key.replace('.', "/"));
    procfs.write(&rel, value.as_bytes())
}

fn make_readonly(root: BorrowedFd<'_>, rel: &Path, recursive: bool) -> Result<()> {
    let fd = openat2(root, rel, libc::O_PATH, 0, RESOLVE_IN_ROOT).at("open", rel)?;
    match mount_setattr(fd.as_fd(), recursive, cella_sys::mount::MOUNT_ATTR_RDONLY, 0) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => mount(
            None,
            &Target::Fd(fd.as_fd()),
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | if recursive { libc::MS_REC } else { 0 },
            None,
        )
        .at("remount read-only", rel),
        Err(e) => Err(e).at("make read-only", rel),
    }
}

fn readonly_path(root: BorrowedFd<'_>, p: &str) -> Result<()> {
    let rel = in_root(p);
    let fd = match openat2(root, &rel, libc::O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at("open read-only path", Path::new(p)),
    };
    let src = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    rbind(&src, fd.as_fd()).at("bind read-only path", Path::new(p))?;
    make_readonly(root, &rel, true)
}

/// /dev/null of the container, verified to be the real character device 1:3
/// before anything is masked with it (a planted symlink or file is refused).
fn open_dev_null() -> Result<OwnedFd> {
    let p = Path::new("/dev/null");
    let fd = cella_sys::fd::open(p, libc::O_PATH | libc::O_NOFOLLOW, 0).at("open", p)?;
    let st = cella_sys::fd::fstat(fd.as_fd()).at("stat", p)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != cella_sys::fd::makedev(1, 3) {
        return Err(Error::Config(
            "/dev/null in the container is not the null device (1:3); refusing to mask with it".into(),
        ));
    }
    Ok(fd)
}

fn mask_path(root: BorrowedFd<'_>, p: &str, null: &OwnedFd) -> Result<()> {
    let rel = in_root(p);
    let fd = match openat2(root, &rel, libc::O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at("open masked path", Path::new(p)),
    };
    let st = cella_sys::fd::fstat(fd.as_fd()).at("stat masked path", Path::new(p))?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        mount(
            Some(Path::new("tmpfs")),
            &Target::Fd(fd.as_fd()),
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k,mode=000"),
        )
        .at("mask directory", Path::new(p))
    } else {
        let src = PathBuf::from(format!("/proc/self/fd/{}", null.as_raw_fd()));
        mount(Some(&src), &Target::Fd(fd.as_fd()), None, libc::MS_BIND, None).at("mask file", Path::new(p))
    }
}

#[cfg(test)]
mod tests {
    use super::in_root;
    use std::path::Path;

    #[test]
    fn destinations_become_relative() {
        assert_eq!(in_root("/proc"), Path::new("proc"));
        assert_eq!(in_root("/dev/./pts/"), Path::new("dev/pts"));
        assert_eq!(in_root("relative/x"), Path::new("relative/x"));
        assert_eq!(in_root("/"), Path::new(""));
    }
}
