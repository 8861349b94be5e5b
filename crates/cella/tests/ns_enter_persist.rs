//! `cella ns enter`, `persist`, `release`, checked against /proc and util-linux.

use std::process::{Command, Stdio};

const CELLA: &str = env!("CARGO_BIN_EXE_cella");
const KINDS: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

fn links(pid: &str) -> Vec<String> {
    KINDS
        .iter()
        .map(|k| {
            std::fs::read_link(format!("/proc/{pid}/ns/{k}"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn enter_all_lands_in_exactly_the_targets_namespaces() {
    let mut holder = Command::new("unshare")
        .args([
            "--net",
            "--uts",
            "--ipc",
            "--mount",
            "--cgroup",
            "--pid",
            "--fork",
            "--mount-proc",
            "sleep",
            "60",
        ])
        .spawn()
        .unwrap();
    let upid = holder.id();
    let mut target = String::new();
    for _ in 0..100 {
        target = std::fs::read_to_string(format!("/proc/{upid}/task/{upid}/children"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if !target.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let want = links(&target);
    let script = format!("for t in {}; do readlink /proc/self/ns/$t; done", KINDS.join(" "));
    let out = Command::new(CELLA)
        .args(["ns", "enter", "-t", &target, "-a", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(out.status.success(), "{out:?}");
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(got, want);
    assert_ne!(want, links("self"), "the target really is elsewhere");
}

#[test]
fn a_persisted_namespace_outlives_its_process_and_both_tools_join_it() {
    let dir = std::env::temp_dir().join(format!("cella-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("netns");
    // In a private mount namespace: the bind mount never reaches the host.
    let script = format!(
        "unshare --net sleep 30 & p=$!; sleep 0.3; readlink /proc/$p/ns/net; \
         {CELLA} ns persist $p net {f} || exit 1; kill $p; wait $p 2>/dev/null; \
         nsenter --net={f} readlink /proc/self/ns/net; \
         {CELLA} ns enter --net={f} readlink /proc/self/ns/net; \
         {CELLA} ns ls -t net -o NPROCS,NSFS -r -n | grep -c {f}; \
         {CELLA} ns release {f} && echo released; \
         {CELLA} ns release {f} 2>/dev/null || echo second-release-refused",
        f = f.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("net:["));
    assert_eq!(lines[1], lines[0], "nsenter joins the persisted namespace");
    assert_eq!(lines[2], lines[0], "cella ns enter joins it too");
    assert_eq!(lines[3], "1", "listed although no process is in it");
    assert_eq!(&lines[4..], ["released", "second-release-refused"]);
}

#[test]
fn bad_input_is_refused_without_side_effects() {
    let dir = std::env::temp_dir().join(format!("cella-badns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let me = std::process::id().to_string();
    let f = dir.join("x");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["persist".into(), me.clone(), "bogus".into(), f.display().to_string()],
            "unknown namespace type",
        ),
        (
            vec![
                "persist".into(),
                "999999999".into(),
                "net".into(),
                f.display().to_string(),
            ],
            "999999999",
        ),
        (
            vec!["release".into(), "/etc/hostname".into()],
            "not a persisted namespace",
        ),
        (
            vec!["enter".into(), "--net=/etc/hostname".into(), "true".into()],
            "not a net namespace",
        ),
        (vec!["enter".into(), "-a".into(), "true".into()], "-t PID"),
    ];
    for (args, want) in cases {
        let out = Command::new(CELLA).arg("ns").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    }
    assert!(!f.exists(), "a refused persist must not create its file");
    let _ = std::fs::remove_dir_all(&dir);
}
