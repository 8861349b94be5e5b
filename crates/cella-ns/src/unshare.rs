//! `cella ns unshare`: util-linux unshare's model. New namespaces for this
//! process (then, with --fork, for a child that runs the command), optional
//! id maps, mount propagation, /proc for a new PID namespace, and namespaces
//! persisted to files by a helper that stays in the original mount namespace.

use crate::error::Error;
use std::path::PathBuf;

pub use cella_idmap::IdRange;

/// util-linux's two spellings of an id range: `inner:outer:count` (2.39
/// and later) and `outer,inner,count` (2.38 and earlier).
pub fn parse_range(s: &str) -> Result<IdRange, Error> {
    let bad = || {
        Error::msg(format!(
            "invalid id range {s:?}: use INNER:OUTER:COUNT (or OUTER,INNER,COUNT)"
        ))
    };
    let (sep, swap) = if s.contains(':') { (':', false) } else { (',', true) };
    let f: Vec<u32> = s
        .split(sep)
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [a, b, count] = f[..] else { return Err(bad()) };
    let (inner, outer) = if swap { (b, a) } else { (a, b) };
    if count == 0 || inner.checked_add(count).is_none() || outer.checked_add(count).is_none() {
        return Err(bad());
    }
    Ok(IdRange { inner, outer, count })
}

/// The first range /etc/subuid (or /etc/subgid) gives the user (by name or
/// id), mapped from inner id 0, as `--map-users=auto` does.
pub fn subid_range(file: &std::path::Path, user: &str, id: u32) -> Result<IdRange, Error> {
    std::fs::metadata(file).map_err(e(format!("read {}", file.display())))?;
    cella_idmap::first_subid_range(file, user, id).ok_or_else(|| {
        Error::msg(format!(
            "no range for user {user} ({id}) in {}: add a line such as \"{user}:100000:65536\"",
            file.display()
        ))
    })
}

/// The ranges with a single-id map added first; the pairs it would collide
/// with (same inner or same outer id) are cut out of the ranges so that the
/// kernel accepts the map.
pub fn with_single(ranges: &[IdRange], single: Option<(u32, u32)>) -> Vec<IdRange> {
    let Some((inner, outer)) = single else {
        return ranges.to_vec();
    };
    let mut out = vec![IdRange { inner, outer, count: 1 }];
    for r in ranges {
        // Offsets k in 0..count whose pair (inner+k, outer+k) collides.
        let mut cuts: Vec<u32> = [inner.checked_sub(r.inner), outer.checked_sub(r.outer)]
            .into_iter()
            .flatten()
            .filter(|k| *k < r.count)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut start = 0;
        for k in cuts.into_iter().chain(std::iter::once(r.count)) {
            if k > start {
                out.push(IdRange {
                    inner: r.inner + start,
                    outer: r.outer + start,
                    count: k - start,
                });
            }
            start = k + 1;
        }
    }
    out
}

pub struct Unshare {
    /// (type, CLONE_NEW* flag, file to persist it to)
    pub namespaces: Vec<(&'static str, u64, Option<PathBuf>)>,
    pub fork: bool,
    pub kill_child: Option<i32>,
    pub mount_proc: Option<PathBuf>,
    /// (inside, outside) single-id maps, e.g. -r: (0, own uid).
    pub map_user: Option<(u32, u32)>,
    pub map_group: Option<(u32, u32)>,
    /// Id ranges (--map-users/--map-groups/--map-auto). When given, the maps
    /// are written from outside the namespace by a helper: directly as root,
    /// otherwise through newuidmap/newgidmap.
    pub uid_ranges: Vec<IdRange>,
    pub gid_ranges: Vec<IdRange>,
    /// "allow" or "deny" for /proc/self/setgroups.
    pub setgroups: Option<String>,
    /// MS_* propagation for "/" when a mount namespace is new (None: unchanged).
    pub propagation: Option<u64>,
    pub time_offsets: String,
    pub root: Option<PathBuf>,
    pub wd: Option<PathBuf>,
    /// -S / -G: the ids to switch to before running the command.
    pub setuid: Option<u32>,
    pub setgid: Option<u32>,
    /// --keep-caps: the capabilities of a new user namespace stay with the
    /// command (as ambient capabilities).
    pub keep_caps: bool,
}

/// What the helper (left in the original namespaces) does once told to.
struct HelperJob {
    persist: Vec<(&'static str, PathBuf)>,
    uid_map: Vec<IdRange>,
    gid_map: Vec<IdRange>,
}

fn e(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |err| Error::msg(format!("{what}: {err}"))
}

impl Unshare {
    fn flags(&self) -> u64 {
        self.namespaces.iter().fold(0, |f, n| f | n.1)
    }

    /// Sets everything up in this process; the caller then execs, or (with
    /// --fork) forks and the child calls `finish_in_child` and execs.
    pub fn apply(&self) -> Result<(), Error> {
        let flags = self.flags();
        // A helper forked first stays in our original namespaces, so that its
        // bind mounts of the new namespaces land where the caller can see them.
        let new_user = flags & cella_sys::ns::CLONE_NEWUSER != 0;
        let job = HelperJob {
            persist: self
                .namespaces
                .iter()
                .filter_map(|(k, _, f)| f.clone().map(|f| (*k, f)))
                .collect(),
            uid_map: if self.uid_ranges.is_empty() {
                Vec::new()
            } else {
                with_single(&self.uid_ranges, self.map_user)
            },
            gid_map: if self.gid_ranges.is_empty() {
                Vec::new()
            } else {
                with_single(&self.gid_ranges, self.map_group)
            },
        };
        let (outside_uid, outside_gid) = (!job.uid_map.is_empty(), !job.gid_map.is_empty());
        let helper = if job.persist.is_empty() && !outside_uid && !outside_gid {
            None
        } else {
            Some(spawn_helper(job)?)
        };
        cella_sys::ns::unshare(flags).map_err(e(format!("unshare({flags:#x})")))?;
        if new_user {
            if let Some(s) = &self.setgroups {
                std::fs::write("/proc/self/setgroups", s).map_err(e("write /proc/self/setgroups"))?;
            }
        }
        if let Some((pipe, pid)) = helper {
            use std::os::fd::AsRawFd;
            cella_sys::fd::write_all_raw(pipe.as_raw_fd(), b"go").map_err(e("signal the persist helper"))?;
            drop(pipe);
            match cella_sys::process::waitpid(pid, false).map_err(e("wait for the persist helper"))? {
                Some((_, cella_sys::process::Exit::Code(0))) => {}
                _ => return Err(Error::msg(
                    "the helper outside the namespace failed to write the id maps or persist a namespace (see above)",
                )),
            }
        }
        if new_user {
            if self.setgroups.is_none() && self.map_group.is_some() && !outside_gid {
                // An unprivileged gid_map needs setgroups denied first.
                let _ = std::fs::write("/proc/self/setgroups", "deny");
            }
            if let Some((inside, outside)) = self.map_user.filter(|_| !outside_uid) {
                std::fs::write("/proc/self/uid_map", format!("{inside} {outside} 1\n"))
                    .map_err(e("write /proc/self/uid_map"))?;
            }
            if let Some((inside, outside)) = self.map_group.filter(|_| !outside_gid) {
                std::fs::write("/proc/self/gid_map", format!("{inside} {outside} 1\n"))
                    .map_err(e("write /proc/self/gid_map"))?;
            }
        }
        if !self.time_offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", &self.time_offsets)
                .map_err(e("write /proc/self/timens_offsets"))?;
        }
        if flags & cella_sys::ns::CLONE_NEWNS != 0 {
            if let Some(p) = self.propagation {
                let slash = std::path::Path::new("/");
                cella_sys::mount::mount(
                    None,
                    &cella_sys::mount::Target::Path(slash),
                    None,
                    p | libc::MS_REC,
                    None,
                )
                .map_err(e("set the propagation of /"))?;
            }
        }
        Ok(())
    }

    /// In the process that will exec (after the fork, if any).
    pub fn finish_in_child(&self) -> Result<(), Error> {
        if let Some(sig) = self.kill_child {
            cella_sys::process::set_parent_death_signal(sig).map_err(e("prctl(PR_SET_PDEATHSIG)"))?;
        }
        if let Some(dir) = &self.mount_proc {
            let t = cella_sys::mount::Target::Path(dir);
            cella_sys::mount::mount(None, &t, None, libc::MS_PRIVATE | libc::MS_REC, None).ok();
            cella_sys::mount::mount(
                Some(std::path::Path::new("proc")),
                &t,
                Some("proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )
            .map_err(e(format!("mount proc on {}", dir.display())))?;
        }
        if let Some(r) = &self.root {
            cella_sys::mount::chroot(r).map_err(e(format!("chroot {}", r.display())))?;
            cella_sys::process::chdir(std::path::Path::new("/")).map_err(e("chdir /"))?;
        }
        if let Some(w) = &self.wd {
            cella_sys::process::chdir(w).map_err(e(format!("chdir {}", w.display())))?;
        }
        switch_ids(self.setuid, self.setgid)?;
        if self.keep_caps && self.flags() & cella_sys::ns::CLONE_NEWUSER != 0 {
            keep_capabilities()?;
        }
        Ok(())
    }
}

/// -G then -S, as util-linux does: supplementary groups dropped where the
/// namespace allows it (setgroups may be denied), then the gid, then the uid.
pub fn switch_ids(uid: Option<u32>, gid: Option<u32>) -> Result<(), Error> {
    if let Some(g) = gid {
        match cella_sys::process::setgroups(&[]) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {}
            Err(err) => return Err(e("setgroups([])")(err)),
        }
        cella_sys::process::setresgid(g).map_err(e(format!("setgid {g} (is it mapped in the user namespace?)")))?;
    }
    if let Some(u) = uid {
        cella_sys::process::setresuid(u).map_err(e(format!("setuid {u} (is it mapped in the user namespace?)")))?;
    }
    Ok(())
}

/// Makes every permitted capability inheritable and ambient, so that it
/// survives the execve of an unprivileged command.
fn keep_capabilities() -> Result<(), Error> {
    let mut sets = cella_sys::caps::capget().map_err(e("capget"))?;
    sets.inheritable = sets.permitted;
    cella_sys::caps::capset(sets).map_err(e("capset (inheritable = permitted)"))?;
    for cap in 0..64u32 {
        if sets.permitted & (1 << cap) != 0 && cella_sys::caps::kernel_knows(cap) {
            cella_sys::caps::ambient_raise(cap).map_err(e(format!("raise ambient capability {cap}")))?;
        }
    }
    Ok(())
}

/// Writes an id map for `pid` from outside its user namespace: directly when
/// we are root, otherwise through the setuid helper (newuidmap/newgidmap),
/// which checks the ranges against /etc/subuid and /etc/subgid.
fn write_map_outside(pid: i32, ids: cella_idmap::Ids, ranges: &[IdRange]) -> Result<(), cella_idmap::Error> {
    let how = if cella_sys::process::geteuid() == 0 {
        cella_idmap::Writer::Direct
    } else {
        cella_idmap::Writer::Helper
    };
    cella_idmap::write(pid, ids, ranges, how)
}

/// Forks a helper that stays in the original namespaces and, once told
/// "go", writes the id maps from outside and bind-mounts the parent's new
/// namespaces (pid and time: the ones for children) onto their files.
fn spawn_helper(job: HelperJob) -> Result<(std::os::fd::OwnedFd, i32), Error> {
    use std::os::fd::AsRawFd;
    let parent = cella_sys::process::getpid();
    let (r, w) = cella_sys::fd::pipe().map_err(e("pipe"))?;
    match cella_sys::ns::fork().map_err(e("fork the helper"))? {
        cella_sys::ns::Forked::Child => {
            drop(w);
            let mut b = [0u8; 2];
            if cella_sys::fd::read_raw(r.as_raw_fd(), &mut b).unwrap_or(0) == 0 {
                cella_sys::process::exit_now(1);
            }
            for (ids, ranges) in [
                (cella_idmap::Ids::Users, &job.uid_map),
                (cella_idmap::Ids::Groups, &job.gid_map),
            ] {
                if ranges.is_empty() {
                    continue;
                }
                if let Err(msg) = write_map_outside(parent, ids, ranges) {
                    eprintln!("cella: {msg}");
                    cella_sys::process::exit_now(1);
                }
            }
            for (kind, file) in job.persist {
                let proc_name = match kind {
                    "pid" => "pid_for_children",
                    "time" => "time_for_children",
                    k => k,
                };
                let src = PathBuf::from(format!("/proc/{parent}/ns/{proc_name}"));
                if !file.exists() && std::fs::File::create(&file).is_err() {
                    eprintln!("cella: create {}", file.display());
                    cella_sys::process::exit_now(1);
                }
                if let Err(err) = cella_sys::mount::mount(
                    Some(&src),
                    &cella_sys::mount::Target::Path(&file),
                    None,
                    libc::MS_BIND,
                    None,
                ) {
                    eprintln!("cella: bind {} onto {}: {err}", src.display(), file.display());
                    cella_sys::process::exit_now(1);
                }
            }
            cella_sys::process::exit_now(0)
        }
        cella_sys::ns::Forked::Parent(pid) => Ok((w, pid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(inner: u32, outer: u32, count: u32) -> IdRange {
        IdRange { inner, outer, count }
    }

    #[test]
    fn ranges_parse_in_both_util_linux_spellings() {
        assert_eq!(parse_range("0:100000:65536").unwrap(), r(0, 100000, 65536));
        assert_eq!(parse_range("100000,0,65536").unwrap(), r(0, 100000, 65536));
        for bad in ["", "1:2", "1:2:3:4", "a:b:c", "0:1:0", "4294967295:0:2"] {
            assert!(parse_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_single_map_is_cut_out_of_the_ranges() {
        // -r with a subuid range: 0 -> 1000, and the range loses inner 0.
        assert_eq!(
            with_single(&[r(0, 100000, 65536)], Some((0, 1000))),
            vec![r(0, 1000, 1), r(1, 100001, 65535)]
        );
        // A collision in the middle on both sides splits the range in three.
        assert_eq!(
            with_single(&[r(0, 100, 10)], Some((3, 105))),
            vec![r(3, 105, 1), r(0, 100, 3), r(4, 104, 1), r(6, 106, 4)]
        );
        assert_eq!(with_single(&[r(0, 100, 10)], None), vec![r(0, 100, 10)]);
        assert_eq!(
            with_single(&[r(10, 100, 5)], Some((0, 1000))),
            vec![r(0, 1000, 1), r(10, 100, 5)]
        );
    }

    #[test]
    fn subid_ranges_are_found_by_name_or_id() {
        let f = std::env::temp_dir().join(format!("cella-subid-{}", std::process::id()));
        std::fs::write(
            &f,
            "alice:200000:1000\nbob:300000:65536\n1001:400000:10\nbob:500000:5\n",
        )
        .unwrap();
        assert_eq!(subid_range(&f, "bob", 1000).unwrap(), r(0, 300000, 65536));
        assert_eq!(subid_range(&f, "carol", 1001).unwrap(), r(0, 400000, 10));
        let err = subid_range(&f, "dave", 1002).unwrap_err().to_string();
        assert!(err.contains("dave") && err.contains("dave:100000:65536"), "{err}");
        std::fs::remove_file(&f).unwrap();
    }
}
