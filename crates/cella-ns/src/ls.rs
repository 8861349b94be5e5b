//! `cella ns ls`: every namespace on the machine, as util-linux's lsns shows
//! them (the same columns and defaults), plus the namespaces that no process
//! is in but a bind mount keeps alive (nsfs mounts in mountinfo).

use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The namespace types, in lsns's order of /proc/PID/ns names.
pub use crate::persist::TYPES;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Namespace {
    pub ns: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// A /proc path to open it by (or the bind mount when no process is in it).
    pub path: String,
    pub nprocs: usize,
    /// The lowest PID in it (lsns's choice), if any process is.
    pub pid: Option<i32>,
    pub ppid: Option<i32>,
    pub command: Option<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// Where it is bind-mounted (nsfs), if anywhere.
    pub nsfs: Option<String>,
    /// Parent namespace (pid and user types).
    pub pns: Option<u64>,
    /// Owning user namespace.
    pub ons: Option<u64>,
    /// NETNSID of a network namespace in ours (see `fill_netnsids`).
    pub netnsid: Option<i32>,
}

/// `net:[4026531840]` → ("net", 4026531840).
pub fn parse_link(s: &str) -> Option<(&str, u64)> {
    let (kind, rest) = s.split_once(":[")?;
    Some((kind, rest.strip_suffix(']')?.parse().ok()?))
}

fn proc_uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn proc_ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

fn proc_command(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        // Kernel threads: the name from comm, as lsns shows it.
        return std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|s| s.trim().to_string());
    }
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Some(words.join(" "))
}

use cella_sys::process::user_names;

/// The inode of the namespace an ioctl returns for `path` (PNS, ONS).
fn related(path: &str, parent: bool) -> Option<u64> {
    let fd = cella_sys::fd::open(Path::new(path), libc::O_RDONLY, 0).ok()?;
    let other = if parent {
        cella_sys::ns::ns_get_parent(fd.as_raw_fd()).ok()?
    } else {
        cella_sys::ns::ns_get_userns(fd.as_raw_fd()).ok()?
    };
    use std::os::fd::AsFd;
    cella_sys::fd::fstat(other.as_fd()).ok().map(|st| st.st_ino)
}

/// Scans /proc and /proc/self/mountinfo.
pub fn scan() -> Vec<Namespace> {
    let mut found: BTreeMap<(String, u64), Namespace> = BTreeMap::new();
    let users = user_names();
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    for pid in pids {
        for kind in TYPES {
            let path = format!("/proc/{pid}/ns/{kind}");
            let Ok(link) = std::fs::read_link(&path) else { continue };
            let Some((_, ino)) = parse_link(&link.to_string_lossy()).map(|(k, i)| (k.to_string(), i)) else {
                continue;
            };
            let e = found.entry((kind.to_string(), ino)).or_insert_with(|| {
                let uid = proc_uid(pid);
                Namespace {
                    ns: ino,
                    kind: kind.to_string(),
                    path: path.clone(),
                    nprocs: 0,
                    pid: Some(pid),
                    ppid: proc_ppid(pid),
                    command: proc_command(pid),
                    uid,
                    user: uid.map(|u| users.get(&u).cloned().unwrap_or_else(|| u.to_string())),
                    nsfs: None,
                    pns: if kind == "pid" || kind == "user" {
                        related(&path, true)
                    } else {
                        None
                    },
                    ons: related(&path, false),
                    netnsid: None,
                }
            });
            e.nprocs += 1;
        }
    }
    // Bind mounts of namespace files (ip netns, unshare --net=FILE, cella ns persist).
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split(' ').next() != Some("nsfs") {
            continue;
        }
        let f: Vec<&str> = left.split(' ').collect();
        let (Some(root), Some(mountpoint)) = (f.get(3), f.get(4)) else {
            continue;
        };
        let Some((kind, ino)) = parse_link(root) else { continue };
        let kind = if kind == "mnt" { "mnt" } else { kind };
        let e = found.entry((kind.to_string(), ino)).or_insert_with(|| Namespace {
            ns: ino,
            kind: kind.to_string(),
            path: mountpoint.to_string(),
            nprocs: 0,
            pid: None,
            ppid: None,
            command: None,
            uid: None,
            user: None,
            nsfs: None,
            pns: if kind == "pid" || kind == "user" {
                related(mountpoint, true)
            } else {
                None
            },
            ons: related(mountpoint, false),
            netnsid: None,
        });
        e.nsfs.get_or_insert_with(|| mountpoint.to_string());
    }
    let mut v: Vec<Namespace> = found.into_values().collect();
    v.sort_by_key(|n| n.ns);
    v
}

/// Fills NETNSID for the network namespaces (one rtnetlink query each, so
/// only when the column is shown).
pub fn fill_netnsids(all: &mut [Namespace]) {
    for n in all.iter_mut().filter(|n| n.kind == "net") {
        if let Ok(f) = std::fs::File::open(&n.path) {
            n.netnsid = crate::netnsid::get(f.as_raw_fd()).ok().flatten();
        }
    }
}

/// How `--tree` relates namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// lsns's default: a namespace whose first process is a child of the
    /// process shown for an earlier row hangs below that row.
    Process,
    /// Parent namespace (NS_GET_PARENT: pid and user types).
    Parent,
    /// Owning user namespace (NS_GET_USERNS).
    Owner,
}

impl Tree {
    pub fn parse(s: &str) -> Option<Tree> {
        match s {
            "process" => Some(Tree::Process),
            "parent" => Some(Tree::Parent),
            "owner" => Some(Tree::Owner),
            _ => None,
        }
    }
}

/// For each row, the index of the row it hangs below (always an earlier
/// row for `Process`; any row for the others), or None for a root.
pub fn tree_parents(all: &[Namespace], rel: Tree) -> Vec<Option<usize>> {
    match rel {
        Tree::Process => {
            // The latest row shown for each process, as lsns links them.
            let mut row_of: BTreeMap<i32, usize> = BTreeMap::new();
            all.iter()
                .enumerate()
                .map(|(i, n)| {
                    let parent = n.ppid.and_then(|pp| row_of.get(&pp).copied());
                    if let Some(p) = n.pid {
                        row_of.insert(p, i);
                    }
                    parent
                })
                .collect()
        }
        Tree::Parent | Tree::Owner => all
            .iter()
            .map(|n| {
                let (want, kind) = match rel {
                    Tree::Parent => (n.pns?, n.kind.as_str()),
                    _ => (n.ons?, "user"),
                };
                all.iter().position(|o| o.ns == want && o.kind == kind)
            })
            .collect(),
    }
}

/// Rows in tree order: (row index, drawing prefix such as "│ └─").
pub fn tree_order(parents: &[Option<usize>]) -> Vec<(usize, String)> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); parents.len()];
    let mut roots = Vec::new();
    for (i, p) in parents.iter().enumerate() {
        match p {
            Some(p) if *p != i => children[*p].push(i),
            _ => roots.push(i),
        }
    }
    let mut out = Vec::with_capacity(parents.len());
    let mut seen = vec![false; parents.len()];
    fn walk(
        i: usize,
        stem: &str,
        glyph: &str,
        children: &[Vec<usize>],
        seen: &mut [bool],
        out: &mut Vec<(usize, String)>,
    ) {
        if std::mem::replace(&mut seen[i], true) {
            return;
        }
        out.push((i, format!("{stem}{glyph}")));
        let below = match glyph {
            "├─" => format!("{stem}│ "),
            "└─" => format!("{stem}  "),
            _ => stem.to_string(),
        };
        let kids = &children[i];
        for (k, &c) in kids.iter().enumerate() {
            let g = if k + 1 == kids.len() { "└─" } else { "├─" };
            walk(c, &below, g, children, seen, out);
        }
    }
    for r in roots {
        walk(r, "", "", &children, &mut seen, &mut out);
    }
    // A cycle (not possible with real namespaces) would leave rows unvisited.
    for i in 0..parents.len() {
        if !seen[i] {
            walk(i, "", "", &children, &mut seen, &mut out);
        }
    }
    out
}

/// The column names lsns knows and cella fills.
pub const COLUMNS: [&str; 13] = [
    "NS", "TYPE", "PATH", "NPROCS", "PID", "PPID", "COMMAND", "UID", "USER", "NETNSID", "NSFS", "PNS", "ONS",
];
/// Columns lsns right-aligns.
pub const NUMERIC_COLUMNS: [&str; 8] = ["NS", "NPROCS", "PID", "PPID", "UID", "NETNSID", "PNS", "ONS"];
/// lsns's default columns.
pub const DEFAULT_COLUMNS: [&str; 6] = ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"];

/// One cell as text ("" when unknown).
pub fn cell(n: &Namespace, col: &str) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    match col {
        "NS" => n.ns.to_string(),
        "TYPE" => n.kind.clone(),
        "PATH" => n.path.clone(),
        "NPROCS" => n.nprocs.to_string(),
        "PID" => opt(n.pid.map(|p| p.to_string())),
        "PPID" => opt(n.ppid.map(|p| p.to_string())),
        "COMMAND" => opt(n.command.clone()),
        "UID" => opt(n.uid.map(|u| u.to_string())),
        "USER" => opt(n.user.clone()),
        "NETNSID" if n.kind == "net" => n.netnsid.map_or_else(|| "unassigned".into(), |i| i.to_string()),
        "NETNSID" => String::new(),
        "NSFS" => opt(n.nsfs.clone()),
        "PNS" => opt(n.pns.map(|p| p.to_string())),
        "ONS" => opt(n.ons.map(|p| p.to_string())),
        _ => String::new(),
    }
}

/// One row as lsns -J writes it: lower-case keys, numbers as numbers.
pub fn json_row(n: &Namespace, cols: &[&str]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for &c in cols {
        let v = match c {
            "NS" => n.ns.into(),
            "NPROCS" => n.nprocs.into(),
            "PID" => n.pid.map_or(serde_json::Value::Null, Into::into),
            "PPID" => n.ppid.map_or(serde_json::Value::Null, Into::into),
            "UID" => n.uid.map_or(serde_json::Value::Null, Into::into),
            "PNS" => n.pns.map_or(serde_json::Value::Null, Into::into),
            "ONS" => n.ons.map_or(serde_json::Value::Null, Into::into),
            "NETNSID" if n.kind == "net" => n.netnsid.map_or_else(|| "unassigned".into(), Into::into),
            other => {
                let s = cell(n, other);
                if s.is_empty() {
                    serde_json::Value::Null
                } else {
                    s.into()
                }
            }
        };
        m.insert(c.to_ascii_lowercase(), v);
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(ns: u64, kind: &str, pid: i32, ppid: i32, pns: Option<u64>, ons: Option<u64>) -> Namespace {
        Namespace {
            ns,
            kind: kind.into(),
            path: String::new(),
            nprocs: 1,
            pid: Some(pid),
            ppid: Some(ppid),
            command: None,
            uid: None,
            user: None,
            nsfs: None,
            pns,
            ons,
            netnsid: None,
        }
    }

    #[test]
    fn trees_follow_processes_parents_and_owners() {
        let all = vec![
            ns(1, "user", 2, 0, None, None),
            ns(2, "pid", 2, 0, None, Some(1)),
            ns(3, "user", 50, 2, Some(1), Some(1)),
            ns(4, "pid", 50, 2, Some(2), Some(3)),
            ns(5, "net", 60, 50, None, Some(3)),
        ];
        // Process: row 3's process (50) is a child of row 1's (2, shown last on row 1).
        assert_eq!(
            tree_parents(&all, Tree::Process),
            vec![None, None, Some(1), Some(1), Some(3)]
        );
        assert_eq!(
            tree_parents(&all, Tree::Parent),
            vec![None, None, Some(0), Some(1), None]
        );
        let owner = tree_parents(&all, Tree::Owner);
        assert_eq!(owner, vec![None, Some(0), Some(0), Some(2), Some(2)]);
        let order = tree_order(&owner);
        let shown: Vec<(usize, &str)> = order.iter().map(|(i, p)| (*i, p.as_str())).collect();
        assert_eq!(shown, vec![(0, ""), (1, "├─"), (2, "└─"), (3, "  ├─"), (4, "  └─")]);
    }

    #[test]
    fn netnsid_cells_are_for_network_namespaces_only() {
        let mut n = ns(9, "net", 1, 0, None, None);
        assert_eq!(cell(&n, "NETNSID"), "unassigned");
        n.netnsid = Some(3);
        assert_eq!(cell(&n, "NETNSID"), "3");
        assert_eq!(json_row(&n, &["NETNSID"])["netnsid"], 3);
        n.kind = "uts".into();
        assert_eq!(cell(&n, "NETNSID"), "");
    }

    #[test]
    fn parses_namespace_links() {
        assert_eq!(parse_link("net:[4026531840]"), Some(("net", 4026531840)));
        assert_eq!(parse_link("bogus"), None);
        assert_eq!(parse_link("net:[x]"), None);
    }

    #[test]
    fn own_namespaces_are_listed_with_this_process() {
        let me = std::process::id() as i32;
        let all = scan();
        for kind in TYPES {
            let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
            let (_, ino) = parse_link(link.to_str().unwrap()).unwrap();
            let n = all.iter().find(|n| n.ns == ino && n.kind == kind).expect(kind);
            assert!(n.nprocs >= 1 && n.pid.unwrap() <= me, "{n:?}");
        }
    }
}
