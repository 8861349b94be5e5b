//! `cella ns ls` against util-linux's lsns on the same machine.

use std::collections::BTreeMap;
use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

/// The JSON a listing prints. lsns 2.38 fails now and then (exit 1, no
/// message) when a process it is reading ends under it, as other tests'
/// processes do: such a scan is simply taken again.
fn json(cmd: &mut Command) -> serde_json::Value {
    let mut out = cmd.output().unwrap();
    for _ in 0..5 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        out = cmd.output().unwrap();
    }
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of lsns -J output, with tree children flattened.
fn rows(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    fn walk<'a>(list: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        for n in list.as_array().into_iter().flatten() {
            out.push(n);
            walk(&n["children"], out);
        }
    }
    let mut out = Vec::new();
    walk(&v["namespaces"], &mut out);
    out
}

fn num(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// (ns, type) → (nprocs, pid)
fn index(v: &serde_json::Value) -> BTreeMap<(u64, String), (u64, Option<u64>)> {
    rows(v)
        .into_iter()
        .map(|n| {
            let ns = num(&n["ns"]).unwrap();
            let nprocs = num(&n["nprocs"]).unwrap_or(0);
            ((ns, n["type"].as_str().unwrap().to_string()), (nprocs, num(&n["pid"])))
        })
        .collect()
}

/// child ns → parent ns, from the nesting of a JSON tree.
fn tree_edges(v: &serde_json::Value) -> BTreeMap<u64, u64> {
    fn walk(list: &serde_json::Value, parent: Option<u64>, out: &mut BTreeMap<u64, u64>) {
        for n in list.as_array().into_iter().flatten() {
            let ns = num(&n["ns"]).unwrap();
            if let Some(p) = parent {
                out.insert(ns, p);
            }
            walk(&n["children"], Some(ns), out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&v["namespaces"], None, &mut out);
    out
}

fn ns_of(pid: u32, kind: &str) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let s = link.to_string_lossy();
    s[s.find('[').unwrap() + 1..s.len() - 1].parse().unwrap()
}

/// Starts two nested user+PID namespaces (`unshare -r -p -f` twice, the inner
/// one's first process a child of the outer one's first process) and
/// returns the holder and the host PIDs of the outer and inner processes.
fn nested_user_and_pid_namespaces() -> (std::process::Child, u32, u32) {
    let mut holder = Command::new("unshare")
        .args(["-r", "-p", "-f", "sh", "-c", "exec unshare -r -p -f sleep 30"])
        .spawn()
        .unwrap();
    let children = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok())
    };
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        // holder (unshare) → sh, exec'd into unshare → sleep
        let chain = children(holder.id()).and_then(|outer| Some((outer, children(outer)?)));
        if let Some((outer, inner)) = chain {
            return (holder, outer, inner);
        }
    }
    let _ = holder.kill();
    let _ = holder.wait();
    panic!("the nested namespaces did not start");
}

#[test]
fn lists_what_lsns_lists() {
    let lsns = index(&json(Command::new("lsns").args(["-J", "-o", "NS,TYPE,NPROCS,PID"])));
    let ours = index(&json(Command::new(CELLA).args([
        "ns",
        "ls",
        "-J",
        "-o",
        "NS,TYPE,NPROCS,PID",
    ])));
    let mut compared = 0;
    for (key, (nprocs, pid)) in &lsns {
        // Processes come and go between the two scans; a namespace whose only
        // processes were short-lived may be gone.
        let Some((our_nprocs, our_pid)) = ours.get(key) else {
            assert!(
                *nprocs <= 5,
                "lsns lists {key:?} with {nprocs} processes; cella does not"
            );
            continue;
        };
        // Other tests start and end processes while the two scans run.
        assert!(
            our_nprocs.abs_diff(*nprocs) <= 20,
            "{key:?}: lsns {nprocs} processes, cella {our_nprocs}"
        );
        if *nprocs > 5 {
            assert_eq!(our_pid, pid, "{key:?}: the lowest PID of a long-lived namespace");
        }
        compared += 1;
    }
    assert!(compared >= 8, "at least the host's eight namespaces");
}

#[test]
fn lists_a_namespace_only_a_bind_mount_keeps_alive() {
    // A private mount namespace keeps the bind mount off the host.
    let dir = std::env::temp_dir().join(format!("cella-nsls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("netns");
    let script = format!(
        "touch {f} && unshare --net={f} true && {CELLA} ns ls -t net -o NS,NPROCS,NSFS -r -n | grep {f}; \
         readlink /proc/self/ns/net",
        f = file.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 3, "{text}");
    assert_eq!(f[1], "0", "no process is in it: {text}");
    assert_eq!(f[2], file.display().to_string());
    assert!(
        !text.contains(&format!("net:[{}]", f[0])),
        "it is not our own namespace"
    );
}

#[test]
fn filters_by_pid_and_type_and_refuses_bad_input() {
    let me = std::process::id().to_string();
    let v = json(Command::new(CELLA).args(["ns", "ls", "-J", "-p", &me, "-o", "NS,TYPE"]));
    assert_eq!(v["namespaces"].as_array().unwrap().len(), 8, "{v}");
    let v = json(Command::new(CELLA).args(["ns", "ls", "-J", "-t", "pid", "-t", "user", "-o", "TYPE,PNS,ONS"]));
    let all = v["namespaces"].as_array().unwrap();
    for n in all {
        assert!(n["type"] == "pid" || n["type"] == "user");
        // Only the initial user namespace has no owner (NS_GET_USERNS: EPERM).
        if n["type"] == "pid" {
            assert!(n["ons"].is_u64(), "a PID namespace is owned by a user namespace: {n}");
        }
    }
    assert_eq!(
        all.iter().filter(|n| n["type"] == "user" && n["ons"].is_null()).count(),
        1,
        "{v}"
    );
    for bad in [
        &["ns", "ls", "-t", "bogus"][..],
        &["ns", "ls", "-p", "999999999"],
        &["ns", "ls", "-o", "NOPE"],
    ] {
        let out = Command::new(CELLA).args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn trees_match_lsns_and_the_kernels_parents() {
    let (mut holder, outer, inner) = nested_user_and_pid_namespaces();
    let holder_pid = holder.id();
    let cols = ["-J", "-t", "user", "-t", "pid", "-o", "NS,TYPE"];
    let lsns = tree_edges(&json(Command::new("lsns").arg("--tree=owner").args(cols)));
    let ours = tree_edges(&json(Command::new(CELLA).args(["ns", "ls", "--tree=owner"]).args(cols)));
    let parent_tree = tree_edges(&json(
        Command::new(CELLA).args(["ns", "ls", "--tree=parent"]).args(cols),
    ));
    let text = String::from_utf8_lossy(
        &Command::new(CELLA)
            .args(["ns", "ls", "--tree=owner", "-t", "user", "-t", "pid"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    // The holder unshared the outer user namespace, the outer process the inner one.
    let (user1, user2) = (ns_of(holder_pid, "user"), ns_of(outer, "user"));
    let (pid1, pid2) = (ns_of(outer, "pid"), ns_of(inner, "pid"));
    let _ = holder.kill();
    let _ = holder.wait();
    // Owner: each user namespace owns its PID namespace and the next user namespace.
    assert_eq!(ours.get(&pid1), Some(&user1), "{ours:?}");
    assert_eq!(ours.get(&user2), Some(&user1), "{ours:?}");
    assert_eq!(ours.get(&pid2), Some(&user2), "{ours:?}");
    for ns in [user1, user2, pid1, pid2] {
        assert_eq!(ours.get(&ns), lsns.get(&ns), "as lsns --tree=owner: ns {ns}");
    }
    // Parent: the inner PID namespace hangs below the outer, the outer below the host's.
    assert_eq!(parent_tree.get(&pid2), Some(&pid1), "{parent_tree:?}");
    assert_eq!(parent_tree.get(&pid1), Some(&ns_of(std::process::id(), "pid")));
    assert_eq!(parent_tree.get(&user2), Some(&user1));
    // The table draws the nesting: host user ns > user1 > user2 > pid2.
    let line = text.lines().find(|l| l.contains(&format!("─{pid2} pid"))).expect(&text);
    let prefix: String = line.chars().take_while(|c| !c.is_ascii_digit()).collect();
    assert_eq!(prefix.chars().count(), 6, "{text}");
}

#[test]
fn default_view_is_lsns_process_tree_and_list_is_flat() {
    let (mut holder, outer, inner) = nested_user_and_pid_namespaces();
    let cols = ["-J", "-t", "pid", "-o", "NS,PID,COMMAND"];
    let tree = json(Command::new(CELLA).args(["ns", "ls"]).args(cols));
    let flat = json(Command::new(CELLA).args(["ns", "ls", "-l"]).args(cols));
    let lsns = json(Command::new("lsns").args(cols));
    // As lsns: the process tree is drawn in COMMAND; without that column the list is flat.
    let no_command = json(Command::new(CELLA).args(["ns", "ls", "-J", "-t", "pid", "-o", "NS,PID"]));
    let inner_ns = ns_of(inner, "pid");
    let outer_ns = ns_of(outer, "pid");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(tree_edges(&no_command).is_empty(), "{no_command}");
    // The inner sleep's parent process is the outer namespace's representative.
    assert_eq!(
        tree_edges(&tree).get(&inner_ns),
        tree_edges(&lsns).get(&inner_ns),
        "{tree} vs {lsns}"
    );
    // lsns (and cella) nest a row only below an earlier row, and rows go by
    // inode number, which the kernel does not hand out in order.
    if outer_ns < inner_ns {
        assert_eq!(tree_edges(&tree).get(&inner_ns), Some(&outer_ns), "{tree}");
    }
    assert!(tree_edges(&flat).is_empty(), "-l is flat: {flat}");
    // Other tests' namespaces come and go between the scans; ours are in both.
    for v in [&flat, &tree] {
        assert!(rows(v).iter().any(|r| num(&r["ns"]) == Some(inner_ns)), "{v}");
    }
}
