//! `cella ns ls` against util-linux's lsns on the same machine.

use std::collections::BTreeMap;
use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (ns, type) → (nprocs, pid)
fn index(v: &serde_json::Value) -> BTreeMap<(u64, String), (u64, Option<u64>)> {
    v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let ns = n["ns"].as_u64().or_else(|| n["ns"].as_str()?.parse().ok()).unwrap();
            let pid = n["pid"].as_u64().or_else(|| n["pid"].as_str()?.parse().ok());
            let nprocs = n["nprocs"]
                .as_u64()
                .or_else(|| n["nprocs"].as_str()?.parse().ok())
                .unwrap_or(0);
            ((ns, n["type"].as_str().unwrap().to_string()), (nprocs, pid))
        })
        .collect()
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
                *nprocs <= 2,
                "lsns lists {key:?} with {nprocs} processes; cella does not"
            );
            continue;
        };
        assert!(
            our_nprocs.abs_diff(*nprocs) <= 5,
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
