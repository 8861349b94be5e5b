//! `cella ns unshare`, checked as the issue asks and against util-linux.

use std::process::Command;

const CELLA: &str = env!("CARGO_BIN_EXE_cella");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(CELLA)
        .arg("ns")
        .arg("unshare")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn fork_pid_mount_proc_gives_pid_1() {
    let out = run(&["--fork", "--pid", "--mount-proc", "readlink", "/proc/self"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
}

#[test]
fn new_namespaces_differ_and_exit_codes_pass_through() {
    let script = "for t in uts ipc net; do readlink /proc/self/ns/$t; done; exit 3";
    let out = run(&["-u", "-i", "-n", "--fork", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(3));
    let inside: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    for (i, t) in ["uts", "ipc", "net"].iter().enumerate() {
        assert_ne!(
            inside[i],
            std::fs::read_link(format!("/proc/self/ns/{t}"))
                .unwrap()
                .display()
                .to_string()
        );
    }
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn map_root_user_is_root_inside_and_the_caller_outside() {
    let child = Command::new("setpriv")
        .args([
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            CELLA,
            "ns",
            "unshare",
            "-r",
            "sh",
            "-c",
        ])
        .arg("id -u; cat /proc/self/uid_map; sleep 1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The same process (no --fork): the host sees the caller's uid.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "1000", "1"], "{text}");
    let host_uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default();
    assert!(host_uid.split_whitespace().nth(1) == Some("1000"), "{host_uid}");
}

#[test]
fn persisted_to_a_file_it_outlives_the_command() {
    let dir = std::env::temp_dir().join(format!("cella-unshare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("uts");
    // In a private mount namespace: the bind mount never reaches the host.
    let script = format!(
        "{CELLA} ns unshare --uts={f} sh -c 'hostname kept; readlink /proc/self/ns/uts' && \
         nsenter --uts={f} hostname && readlink {f} 2>/dev/null; \
         {CELLA} ns ls -t uts -o NPROCS,NSFS -r -n | grep {f}",
        f = f.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[0].starts_with("uts:["));
    assert_eq!(lines[1], "kept", "nsenter joins the persisted namespace: {text}");
    assert_eq!(lines.last().unwrap(), &format!("0 {}", f.display()), "{text}");
}

#[test]
fn bad_input_is_refused() {
    for (args, want) in [
        (&["true"][..], "no namespace"),
        (&["-m", "--propagation", "sideways", "true"], "--propagation"),
        (&["--monotonic", "5", "-u", "true"], "--time"),
        (&["-U", "--setgroups", "maybe", "true"], "--setgroups"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    }
}

/// Runs `script` as root in a private mount namespace where the test's own
/// passwd, group, subuid and subgid (user `nsuser`, uid 4242, ranges from
/// 300000) are bound over /etc, so the machine's files are never changed.
fn with_subids(script: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("cella-subids-{}-{}", std::process::id(), script.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap() + "nsuser:x:4242:4242::/tmp:/bin/sh\n";
    let group = std::fs::read_to_string("/etc/group").unwrap() + "nsuser:x:4242:\n";
    let files = [
        ("passwd", passwd),
        ("group", group),
        ("subuid", "nsuser:300000:65536\nroot:200000:65536\n".into()),
        ("subgid", "nsuser:300000:65536\nroot:200000:65536\n".into()),
    ];
    let mut binds = String::new();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
        binds += &format!("mount --bind {}/{name} /etc/{name} && ", dir.display());
    }
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("{binds} {script}"),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn words(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn map_users_takes_both_util_linux_spellings() {
    for (users, groups) in [
        ("0:100000:65536", "0:100000:65536"),
        ("100000,0,65536", "100000,0,65536"),
    ] {
        let out = run(&[
            &format!("--map-users={users}"),
            &format!("--map-groups={groups}"),
            "cat",
            "/proc/self/uid_map",
            "/proc/self/gid_map",
        ]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(words(&out), ["0", "100000", "65536", "0", "100000", "65536"], "{users}");
    }
    let bad = run(&["--map-users=1:2", "true"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid id range"));
}

#[test]
fn map_auto_uses_subuid_directly_as_root_and_through_newuidmap_otherwise() {
    // Root: the first range of root's entries, written to uid_map directly,
    // with -r's single mapping cut out of it.
    let out = with_subids(&format!(
        "{CELLA} ns unshare -r --map-auto cat /proc/self/uid_map /proc/self/gid_map"
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        words(&out),
        ["0", "0", "1", "1", "200001", "65535", "0", "0", "1", "1", "200001", "65535"]
    );
    // An ordinary user: newuidmap/newgidmap check the ranges against /etc/sub[ug]id.
    let out = with_subids(&format!(
        "setpriv --reuid=4242 --regid=4242 --clear-groups {CELLA} ns unshare -r --map-auto \
         sh -c 'cat /proc/self/uid_map; id -u'"
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(words(&out), ["0", "4242", "1", "1", "300001", "65535", "0"]);
    // A range the user does not own is refused by newuidmap, and said so.
    let out = with_subids(&format!(
        "setpriv --reuid=4242 --regid=4242 --clear-groups {CELLA} ns unshare --map-users=0:200000:10 true"
    ));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newuidmap failed"),
        "{out:?}"
    );
    // No range for this user at all.
    let out = with_subids(&format!(
        "setpriv --reuid=4243 --regid=4243 --clear-groups {CELLA} ns unshare --map-auto true"
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no range for user 4243"),
        "{out:?}"
    );
}

#[test]
fn setuid_setgid_and_keep_caps() {
    let out = run(&[
        "--map-users=0:0:2000",
        "--map-groups=0:0:2000",
        "-S",
        "1000",
        "-G",
        "1000",
        "sh",
        "-c",
        "echo $(id -u) $(id -g)",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(words(&out), ["1000", "1000"]);
    // An ordinary user's capabilities in its new user namespace survive exec
    // as ambient capabilities only with --keep-caps.
    let amb = |keep: bool| {
        let mut args = vec![
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            CELLA,
            "ns",
            "unshare",
            "-U",
        ];
        if keep {
            args.push("--keep-caps");
        }
        args.extend(["grep", "CapAmb", "/proc/self/status"]);
        let o = Command::new("setpriv").args(&args).output().unwrap();
        assert!(o.status.success(), "{o:?}");
        words(&o)[1].clone()
    };
    assert_eq!(amb(false), "0000000000000000");
    assert_ne!(amb(true), "0000000000000000");
}
