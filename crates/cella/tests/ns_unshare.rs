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
fn map_root_user_is_root_inside_and_the_caller_outside() {
    if cella_sys_geteuid() != 0 {
        return;
    }
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

fn cella_sys_geteuid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .unwrap()
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
