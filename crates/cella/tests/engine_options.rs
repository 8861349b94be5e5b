//! `cella run`'s options and secure defaults, checked inside real containers.

#[path = "support/engine.rs"]
mod common;
use common::*;

fn field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn default_security_is_dockers() {
    let e = Engine::new();
    let status = e.ok(&["run", "--rm", "host", "cat", "/proc/self/status"]);
    // docker's 14 default capabilities.
    assert_eq!(field(&status, "CapEff:"), "00000000a80425fb");
    assert_eq!(field(&status, "Seccomp:"), "2", "a seccomp filter is loaded");
    // The profile refuses namespaces, mounts and keyrings.
    let refused = e.out(&["run", "--rm", "host", "unshare", "-U", "true"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Operation not permitted"),
        "{refused:?}"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "host",
            "unshare",
            "-U",
            "true"
        ]),
        ""
    );
    // Masked and read-only /proc paths.
    assert_eq!(
        e.ok(&["run", "--rm", "host", "sh", "-c", "wc -c < /proc/keys"]).trim(),
        "0"
    );
    assert!(!e
        .out(&[
            "run",
            "--rm",
            "host",
            "sh",
            "-c",
            "echo 1 > /proc/sys/kernel/domainname"
        ])
        .status
        .success());
    // no-new-privileges only when asked.
    assert_eq!(field(&status, "NoNewPrivs:"), "0");
    let nnp = e.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "host",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(field(&nnp, "NoNewPrivs:"), "1");
}

#[test]
fn capabilities_and_privileged() {
    let e = Engine::new();
    let caps = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend(["host", "cat", "/proc/self/status"]);
        field(&e.ok(&a), "CapEff:")
    };
    assert_eq!(caps(&["--cap-drop", "ALL"]), "0000000000000000");
    assert_eq!(
        caps(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]),
        "0000000000001000"
    );
    let privileged = e.ok(&["run", "--rm", "--privileged", "host", "cat", "/proc/self/status"]);
    assert_eq!(field(&privileged, "Seccomp:"), "0");
    assert_ne!(field(&privileged, "CapEff:"), "00000000a80425fb");
    assert!(!e
        .out(&["run", "--rm", "--cap-add", "BOGUS", "host", "true"])
        .status
        .success());
}

#[test]
fn filesystem_options() {
    let e = Engine::new();
    let dir = e.root.with_file_name("shared");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in"), "from host").unwrap();
    let rw = format!("{}:/data", dir.display());
    let ro = format!("{}:/data:ro", dir.display());
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "-v",
            &rw,
            "host",
            "sh",
            "-c",
            "cat /data/in; echo back > /data/out"
        ]),
        "from host"
    );
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap(), "back\n");
    assert!(!e
        .out(&["run", "--rm", "-v", &ro, "host", "sh", "-c", "echo x > /data/x"])
        .status
        .success());
    // --read-only: the root is, a --tmpfs is not.
    let out = e.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "host",
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo root-writable; touch /scratch/y && echo tmpfs-writable",
    ]);
    assert_eq!(out, "tmpfs-writable\n");
    // Writes land in the container's own layer, never on the host.
    e.ok(&[
        "run",
        "--rm",
        "host",
        "sh",
        "-c",
        "echo scribble > /etc/cella-test-marker",
    ]);
    assert!(!std::path::Path::new("/etc/cella-test-marker").exists());
    // A relative host path is refused ("relative:/x" is a volume's name).
    assert!(!e
        .out(&["run", "--rm", "-v", "./relative:/x", "host", "true"])
        .status
        .success());
}

#[test]
fn process_options() {
    let e = Engine::new();
    let env_file = e.root.with_file_name("env");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(&env_file, "# comment\nFROM_FILE=1\nBOTH=file\n").unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "BOTH=flag",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "host",
        "sh",
        "-c",
        "echo $FROM_FILE $BOTH $(pwd) $(id -u)",
    ]);
    assert_eq!(out, "1 flag /tmp 65534\n");
    assert_eq!(
        e.ok(&["run", "--rm", "--entrypoint", "echo", "host", "a", "b"]),
        "a b\n"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "-u",
            "1234:5678",
            "host",
            "sh",
            "-c",
            "echo $(id -u) $(id -g)"
        ]),
        "1234 5678\n"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=100:200",
            "host",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn"
        ]),
        "100\n200\n"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--sysctl",
            "kernel.domainname=inside",
            "host",
            "cat",
            "/proc/sys/kernel/domainname"
        ]),
        "inside\n"
    );
    let unknown = e.out(&["run", "--rm", "-u", "nosuchuser", "host", "true"]);
    assert_eq!(unknown.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unable to find user nosuchuser"));
}

#[test]
fn resource_limits_are_enforced() {
    let e = Engine::new();
    // A pids limit: the cgroup's, and forks beyond it fail.
    e.ok(&["run", "-d", "--name", "few", "--pids-limit", "5", "host", "sleep", "30"]);
    let few = e.inspect("few");
    let fid = few["Id"].as_str().unwrap();
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/cella/{fid}/pids.max"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/cella/{fid}/pids.max")))
        .unwrap();
    assert_eq!(max.trim(), "5");
    let burst = e.out(&[
        "exec",
        "few",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
    ]);
    assert!(!burst.status.success(), "{burst:?}");
    e.ok(&["rm", "-f", "few"]);
    // Memory: the cgroup's limit, and the OOM killer recorded.
    e.ok(&["run", "-d", "--name", "mem", "--memory", "32m", "host", "sleep", "30"]);
    let v = e.inspect("mem");
    let id = v["Id"].as_str().unwrap();
    let v1 = format!("/sys/fs/cgroup/memory/cella/{id}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup/cella/{id}/memory.max");
    let limit = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap();
    assert_eq!(limit.trim(), "33554432");
    e.ok(&["rm", "-f", "mem"]);
    let oom = e.out(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        "host",
        "sh",
        "-c",
        "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(oom.status.code(), Some(137), "{oom:?}");
    assert_eq!(e.inspect("oom")["State"]["OOMKilled"], true);
}

#[test]
fn namespace_sharing_options() {
    let e = Engine::new();
    // --network none (the default for now): only loopback.
    assert_eq!(e.ok(&["run", "--rm", "host", "ls", "/sys/class/net"]), "lo\n");
    let lo = e.ok(&["run", "--rm", "host", "ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains(",UP,"), "loopback is up, as docker's none: {lo}");
    let bb = e.busybox();
    let ping = e.ok(&["run", "--rm", &bb, "ping", "-c", "1", "127.0.0.1"]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let joined = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "host",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(joined.trim(), host_net.to_string_lossy());
    assert_eq!(
        e.out(&["run", "--rm", "--network", "nosuchnet", "host", "true"])
            .status
            .code(),
        Some(125)
    );
    // --ipc container:NAME shares System V IPC with that container.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "owner",
        "host",
        "sh",
        "-c",
        "ipcmk -M 4096 >/dev/null; sleep 30",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let shared = e.ok(&["run", "--rm", "--ipc", "container:owner", "host", "ipcs", "-m"]);
    assert_eq!(shared.lines().filter(|l| l.starts_with("0x")).count(), 1, "{shared}");
    // --pid host: the host's processes are visible, and we are not PID 1.
    let me = std::process::id().to_string();
    let pids = e.ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "host",
        "sh",
        "-c",
        &format!("test -d /proc/{me} && echo sees-host; echo $$"),
    ]);
    let lines: Vec<&str> = pids.lines().collect();
    assert_eq!(lines[0], "sees-host");
    assert_ne!(lines[1], "1");
    // --uts host keeps the host's name.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(e.ok(&["run", "--rm", "--uts", "host", "host", "hostname"]), host_name);
}

#[test]
fn create_start_pause_and_attach() {
    let e = Engine::new();
    let id = e.ok(&["create", "--name", "later", "host", "sh", "-c", "echo ran; exit 5"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(e.inspect("later")["State"]["Status"], "created");
    let out = e.out(&["start", "-a", "later"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert_eq!(out.status.code(), Some(5));
    // Restartable; the log keeps both runs.
    e.ok(&["start", "later"]);
    assert_eq!(e.ok(&["wait", "later"]).trim(), "5");
    assert_eq!(e.ok(&["logs", "later"]), "ran\nran\n");
    // pause freezes a counting loop; unpause lets it go on.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "count",
        "host",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    e.ok(&["pause", "count"]);
    assert_eq!(e.inspect("count")["State"]["Status"], "paused");
    let pid = e.inspect("count")["State"]["Pid"].as_i64().unwrap();
    let read = || std::fs::read_to_string(format!("/proc/{pid}/root/tmp/n")).unwrap();
    let a = read();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(read(), a, "frozen");
    e.ok(&["unpause", "count"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_ne!(read(), a, "running again");
    // attach (without input) follows the output until the container ends.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "talk",
        "host",
        "sh",
        "-c",
        "sleep 0.5; echo late; exit 3",
    ]);
    let att = e.out(&["attach", "--no-stdin", "talk"]);
    assert_eq!(String::from_utf8_lossy(&att.stdout), "late\n");
    assert_eq!(att.status.code(), Some(3));
}
