//! Which cgroup hierarchies are mounted where, and this process's place in each.

use crate::{Error, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup2 is mounted (most distributions today).
    V2,
    /// Only v1 hierarchies are mounted.
    V1,
    /// v1 controllers plus a cgroup2 mount (systemd's "hybrid").
    Hybrid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// Empty for cgroup2; otherwise the v1 options naming controllers
    /// (`memory`, `cpu,cpuacct`, `name=systemd`).
    pub controllers: Vec<String>,
    /// This process's cgroup in the hierarchy, from /proc/self/cgroup.
    pub own: String,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub mode: Mode,
    pub hierarchies: Vec<Hierarchy>,
}

const V1_OPTIONS: [&str; 13] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
];

impl Layout {
    /// Reads /proc/self/mountinfo and /proc/self/cgroup.
    pub fn detect() -> Result<Layout> {
        let mi = cella_sys::fd::read_generated_string("/proc/self/mountinfo").map_err(Error::Mountinfo)?;
        let cg = cella_sys::fd::read_generated_string("/proc/self/cgroup").unwrap_or_default();
        let l = Layout::parse(&mi, &cg);
        if l.hierarchies.is_empty() {
            return Err(Error::NoCgroupFs);
        }
        Ok(l)
    }

    /// Builds the layout from the text of mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, self_cgroup: &str) -> Layout {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut r = right.split(' ');
            let fstype = r.next().unwrap_or("");
            let _src = r.next();
            let super_opts = r.next().unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                continue;
            }
            let mountpoint = match left.split(' ').nth(4) {
                Some(m) => PathBuf::from(unescape(m)),
                None => continue,
            };
            if hierarchies.iter().any(|h| h.mountpoint == mountpoint) {
                continue;
            }
            let controllers: Vec<String> = if fstype == "cgroup2" {
                Vec::new()
            } else {
                super_opts
                    .split(',')
                    .filter(|o| V1_OPTIONS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect()
            };
            if fstype == "cgroup" && controllers.is_empty() {
                continue;
            }
            // A hierarchy mounted twice (same controllers) is used once.
            if !controllers.is_empty() && hierarchies.iter().any(|h| h.controllers == controllers) {
                continue;
            }
            let own = own_path(self_cgroup, &controllers);
            hierarchies.push(Hierarchy {
                mountpoint,
                controllers,
                own,
            });
        }
        let v2 = hierarchies.iter().any(|h| h.is_v2());
        let v1 = hierarchies.iter().any(|h| !h.is_v2());
        let mode = match (v1, v2) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::V1,
            _ => Mode::V2,
        };
        Layout { mode, hierarchies }
    }
}

fn own_path(self_cgroup: &str, controllers: &[String]) -> String {
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let matches = if controllers.is_empty() {
            ctrls.is_empty()
        } else {
            let set: Vec<&str> = ctrls.split(',').collect();
            controllers.iter().all(|c| set.contains(&c.as_str()))
        };
        if matches {
            return path.to_string();
        }
    }
    "/".to_string()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_three_shapes() {
        let v2 = Layout::parse(
            "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/user.slice\n",
        );
        assert_eq!(v2.mode, Mode::V2);
        assert_eq!(v2.hierarchies[0].own, "/user.slice");
        let v1 = Layout::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n",
            "3:cpu,cpuacct:/a\n1:name=systemd:/b\n",
        );
        assert_eq!(v1.mode, Mode::V1);
        assert_eq!(v1.hierarchies[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(v1.hierarchies[0].own, "/a");
        assert_eq!(v1.hierarchies[1].own, "/b");
        let hy = Layout::parse(
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            "",
        );
        assert_eq!(hy.mode, Mode::Hybrid);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
