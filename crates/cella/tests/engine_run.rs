//! `cella run` and friends on real containers: the issue's folklore checks.

#[path = "support/engine.rs"]
mod common;
use common::*;

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn hostname_changes_only_in_the_container() {
    let e = Engine::new();
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--hostname",
        "myapp",
        "host",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo $HOSTNAME",
    ]);
    assert_eq!(out, "myapp\nmyapp\nmyapp\n");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), before);
}

#[test]
fn ipc_objects_and_users_stay_in_their_container() {
    let e = Engine::new();
    let bb = e.busybox();
    // System V shared memory made in one container is not seen from another.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ipc1",
        "host",
        "sh",
        "-c",
        "ipcmk -M 4096 >/dev/null && sleep 30",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mine = e.ok(&["exec", "ipc1", "ipcs", "-m"]);
    let other = e.ok(&["run", "--rm", "host", "ipcs", "-m"]);
    let segments = |s: &str| s.lines().filter(|l| l.starts_with("0x")).count();
    assert_eq!(segments(&mine), 1, "{mine}");
    assert_eq!(segments(&other), 0, "{other}");
    // A user added in one container does not exist in another.
    e.ok(&[
        "run",
        "--name",
        "u1",
        &bb,
        "sh",
        "-c",
        "echo 'bob:x:1001:1001::/:/bin/sh' >> /etc/passwd; id bob",
    ]);
    let again = e.out(&["run", "--rm", &bb, "id", "bob"]);
    assert!(!again.status.success(), "{again:?}");
    assert!(
        e.ok(&["start", "-a", "u1"]).contains("uid=1001(bob)"),
        "still there when u1 runs again"
    );
    let diff = e.root.join("containers");
    let has_bob = std::fs::read_dir(&diff)
        .unwrap()
        .flatten()
        .any(|d| std::fs::read_to_string(d.path().join("diff/etc/passwd")).is_ok_and(|p| p.contains("bob:")));
    assert!(has_bob, "bob lives in u1's writable layer only");
}

#[test]
fn inspect_pid_is_the_host_pid_of_pid_1_with_its_namespaces() {
    let e = Engine::new();
    e.ok(&["run", "-d", "--name", "pid1", "host", "sleep", "30"]);
    let v = e.inspect("pid1");
    let pid = v["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "{v}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap();
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "PID 1 inside: {nspid}");
    assert_eq!(
        std::fs::read(format!("/proc/{pid}/cmdline")).unwrap(),
        b"sleep\x0030\x00"
    );
    assert_eq!(v["State"]["Status"], "running");
    for kind in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        let want = format!("{kind}:[{}]", v["Namespaces"][kind]);
        assert_eq!(link.to_string_lossy(), want);
    }
    // cella ns tools take the container by name.
    let o = std::process::Command::new(CELLA)
        .arg("--root")
        .arg(&e.root)
        .arg("--runroot")
        .arg(&e.runroot)
        .args(["ns", "pids", "-J", "pid1"])
        .output()
        .unwrap();
    let levels: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(levels["levels"][0]["pid"], pid, "{levels}");
}

#[test]
fn a_tmpfs_inside_is_not_in_the_hosts_mount_table() {
    let e = Engine::new();
    let marker = cella_testsupport::unique("/scratch-cella");
    let spec = format!("{marker}:size=1m");
    let inside = e.ok(&["run", "-d", "--name", "tm", "--tmpfs", &spec, "host", "sleep", "30"]);
    let _ = inside;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let seen = e.ok(&[
        "exec",
        "tm",
        "sh",
        "-c",
        &format!("grep -c ' {marker} ' /proc/self/mountinfo"),
    ]);
    assert_eq!(seen.trim(), "1");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(&marker));
    assert!(
        !host.contains(&e.root.to_string_lossy().to_string()),
        "not even the overlays"
    );
}

/// Runs `cmd` on a real terminal (script's pty): types `keys` once it has
/// had 1.5 s to start, waits `settle_ms`, closes the input.
fn through_pty(cmd: &str, keys: &[u8], settle_ms: u64) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    stdin.write_all(keys).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(settle_ms));
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn interactive_terminal_through_a_real_pty() {
    let e = Engine::new();
    let bb = e.busybox();
    let cmd = format!(
        "stty cols 91 rows 27; CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {} run -it --rm {bb} sh",
        e.root.display(),
        e.runroot.display()
    );
    let out = through_pty(&cmd, b"tty; echo size=$(stty size); exit 6\r", 1000);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("/dev/pts/0"), "{s}");
    assert!(s.contains("size=27 91"), "the window size goes through: {s}");
    assert_eq!(out.status.code(), Some(6), "{s}");
}

#[test]
fn detach_keys_leave_the_container_running() {
    let e = Engine::new();
    let bb = e.busybox();
    let cmd = format!(
        "CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {} run -it --name det {bb} sh",
        e.root.display(),
        e.runroot.display()
    );
    let out = through_pty(&cmd, &[0x10, 0x11], 800);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(e.inspect("det")["State"]["Status"], "running");
    // --detach-keys: ctrl-p ctrl-q are then plain input, ctrl-x x detaches.
    let cmd = format!(
        "CELLA_DEFAULT_NETWORK=none {CELLA} --root {} --runroot {} run -it --detach-keys ctrl-x,x --name det2 {bb} sh",
        e.root.display(),
        e.runroot.display()
    );
    let out = through_pty(&cmd, &[0x10, 0x11, 0x18, b'x'], 800);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(e.inspect("det2")["State"]["Status"], "running");
    // attach with the default keys again.
    let cmd = format!(
        "{CELLA} --root {} --runroot {} attach det2",
        e.root.display(),
        e.runroot.display()
    );
    let out = through_pty(&cmd, &[0x10, 0x11], 800);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(e.inspect("det2")["State"]["Status"], "running");
}

#[test]
fn kill_stop_and_exit_codes() {
    let e = Engine::new();
    e.ok(&["run", "-d", "--name", "k", "host", "sleep", "30"]);
    e.ok(&["kill", "k"]);
    assert_eq!(e.ok(&["wait", "k"]).trim(), "137");
    assert_eq!(e.inspect("k")["State"]["ExitCode"], 137);
    // stop: SIGTERM honoured…
    e.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "host",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    e.ok(&["stop", "t"]);
    assert_eq!(e.inspect("t")["State"]["ExitCode"], 0);
    // …or SIGKILL after the grace period.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "i",
        "host",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    e.ok(&["stop", "-t", "1", "i"]);
    assert!(t0.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(e.inspect("i")["State"]["ExitCode"], 137);
    // docker's codes: the command's own, 127 not found, 126 not executable, 125 the engine.
    assert_eq!(
        e.out(&["run", "--rm", "host", "sh", "-c", "exit 42"]).status.code(),
        Some(42)
    );
    assert_eq!(
        e.out(&["run", "--rm", "host", "/no/such/command"]).status.code(),
        Some(127)
    );
    assert_eq!(
        e.out(&["run", "--rm", "host", "/etc/hostname"]).status.code(),
        Some(126)
    );
    assert_eq!(e.out(&["run", "--rm", "no-such-image"]).status.code(), Some(125));
    assert_eq!(
        e.out(&["run", "--rm", "--memory", "lots", "host", "true"])
            .status
            .code(),
        Some(125)
    );
    assert_eq!(e.out(&["exec", "k", "true"]).status.code(), Some(125), "not running");
}

#[test]
fn rm_leaves_nothing_behind() {
    let e = Engine::new();
    let out = e.ok(&["run", "--rm", "--name", "gone", "host", "sh", "-c", "echo $PPID"]);
    assert_eq!(out.trim(), "0");
    // The record is gone when `run --rm` returns; the runtime's state and
    // cgroups go right after, once the exit code is out (the monitor's, or
    // the next store lock's work if it dies first).
    assert_eq!(e.containers_on_disk(), 0);
    assert!(
        eventually(|| std::fs::read_dir(&e.runroot).map(|d| d.count()).unwrap_or(0) == 0),
        "runtime state gone"
    );
    e.ok(&["run", "-d", "--name", "later", "host", "sleep", "30"]);
    let v = e.inspect("later");
    let id = v["Id"].as_str().unwrap().to_string();
    let refused = e.out(&["rm", "later"]);
    assert_eq!(refused.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is running"));
    e.ok(&["rm", "-f", "later"]);
    assert_eq!(e.containers_on_disk(), 0);
    let layout = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!layout.contains(&id));
    for ctrl in ["memory", "pids", "cpu"] {
        assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/{ctrl}/cella/{id}")).exists());
    }
}

/// A --rm container's writable layer is volatile (nothing synced when its
/// root is unmounted; it goes with the container), as podman's; a kept
/// container's layer is not, and its files survive its end.
#[test]
fn only_a_removed_containers_layer_is_volatile() {
    let e = Engine::new();
    let bb = e.busybox();
    let root_line = "grep ' / / ' /proc/self/mountinfo";
    let gone = e.ok(&["run", "--rm", &bb, "sh", "-c", root_line]);
    assert!(gone.contains("volatile"), "{gone}");
    let kept = e.ok(&[
        "run",
        "--name",
        "kept",
        &bb,
        "sh",
        "-c",
        &format!("{root_line}; echo hi > /f"),
    ]);
    assert!(kept.contains("overlay") && !kept.contains("volatile"), "{kept}");
    // Stopped, its layer still holds what it wrote.
    assert!(e.ok(&["cp", "kept:/f", "-"]).contains("hi\n"));
    e.ok(&["rm", "kept"]);
}

#[test]
fn twenty_concurrent_runs_leave_a_consistent_store() {
    let e = Engine::new();
    let children: Vec<_> = (0..20)
        .map(|i| {
            e.cmd(&[
                "run",
                "--name",
                &format!("c{i}"),
                "host",
                "sh",
                "-c",
                &format!("echo {i}"),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "c{i}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), i.to_string());
    }
    // docker's `ps --format json`: an object per line.
    let ps = e.ok(&["ps", "-a", "--format", "json"]);
    let rows: Vec<serde_json::Value> = ps.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 20);
    let mut names: Vec<&str> = rows.iter().map(|r| r["Names"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 20);
    assert!(
        rows.iter()
            .all(|r| r["State"] == "exited" && r["Status"].as_str().unwrap().starts_with("Exited (0)")),
        "{ps}"
    );
    // A taken name is refused and changes nothing.
    let dup = e.out(&["run", "--name", "c3", "host", "true"]);
    assert_eq!(dup.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already used"));
    assert_eq!(e.containers_on_disk(), 20);
}

#[test]
fn a_crashed_monitor_shows_the_container_exited() {
    let e = Engine::new();
    e.ok(&["run", "-d", "--name", "orphan", "host", "sleep", "30"]);
    let v = e.inspect("orphan");
    let pid = v["State"]["Pid"].as_i64().unwrap();
    // The monitor is the container init's parent.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/cmdline")).unwrap();
    assert!(comm.contains("cella"), "{comm}");
    std::process::Command::new("kill")
        .args(["-9", &ppid.to_string(), &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = e.inspect("orphan");
    assert_eq!(after["State"]["Status"], "exited", "{after}");
    assert_eq!(after["State"]["ExitCode"], 255);
    e.ok(&["rm", "orphan"]);
    assert_eq!(e.containers_on_disk(), 0);
}

#[test]
fn logs_exec_and_ps() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "host",
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line$i; done; echo oops >&2; sleep 30",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let all = e.out(&["logs", "chatty"]);
    assert_eq!(text(&all), "line1\nline2\nline3\nline4");
    assert_eq!(String::from_utf8_lossy(&all.stderr), "oops\n");
    assert_eq!(
        e.ok(&["logs", "--tail", "2", "chatty"]).lines().count(),
        1,
        "tail counts both streams"
    );
    let stamped = e.ok(&["logs", "-t", "chatty"]);
    assert!(stamped.lines().all(|l| l.contains("Z line")), "{stamped}");
    let out = e.ok(&[
        "exec",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "chatty",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -un)",
    ]);
    assert_eq!(out.trim(), "hi /tmp nobody");
    assert_eq!(e.out(&["exec", "chatty", "sh", "-c", "exit 9"]).status.code(), Some(9));
    let ps = e.ok(&["ps"]);
    assert!(
        ps.lines()
            .nth(1)
            .is_some_and(|l| l.contains("chatty") && l.contains("Up")),
        "{ps}"
    );
    assert_eq!(e.ok(&["ps", "-q"]).lines().count(), 1);
    let top = e.ok(&["top", "chatty"]);
    assert!(top.lines().any(|l| l.split_whitespace().nth(1) == Some("1")), "{top}");
    e.ok(&["stop", "-t", "0", "chatty"]);
    assert_eq!(e.ok(&["ps", "-q"]), "");
    assert_eq!(e.ok(&["ps", "-a", "-q"]).lines().count(), 1);
}

#[test]
fn window_size_changes_reach_the_container() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let e = Engine::new();
    let bb = e.busybox();
    // Our own pty, so that the test can resize it while cella runs on it.
    let (master, slave_path) = cella_sys::process::open_pty(std::path::Path::new("/dev/ptmx")).unwrap();
    cella_sys::process::set_winsize(master.as_raw_fd(), 24, 80);
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .unwrap();
    let mut child = e
        .cmd(&["run", "-it", "--rm", &bb, "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut m = std::fs::File::from(master);
    let mut seen = String::new();
    let mut wait_for = |m: &mut std::fs::File, want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains(want) && std::time::Instant::now() < deadline {
            use std::os::fd::AsFd;
            if cella_sys::poll::poll_readable(m.as_fd(), 200).unwrap_or(false) {
                let mut buf = [0u8; 4096];
                let n = m.read(&mut buf).unwrap_or(0);
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        assert!(seen.contains(want), "waiting for {want:?}: {seen}");
    };
    m.write_all(b"echo size=$(stty size)\r").unwrap();
    wait_for(&mut m, "size=24 80");
    cella_sys::process::set_winsize(m.as_raw_fd(), 31, 101);
    // The terminal's owner would get SIGWINCH from the kernel; here the pty is
    // not cella's controlling terminal, so the test sends it.
    std::process::Command::new("kill")
        .args(["-WINCH", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    m.write_all(b"echo size=$(stty size); exit 0\r").unwrap();
    wait_for(&mut m, "size=31 101");
    assert!(child.wait().unwrap().success());
}

#[test]
fn init_reaps_orphans_and_passes_signals_on() {
    let e = Engine::new();
    // Without --init, sh as PID 1 ignores SIGTERM: stop waits for SIGKILL.
    // With it, the built-in init is PID 1 and passes SIGTERM to sh.
    let ps = e.ok(&[
        "run",
        "--rm",
        "--init",
        "host",
        "sh",
        "-c",
        "(sleep 0.1 &); sleep 0.5; ps -o pid=,stat=,comm=",
    ]);
    let rows: Vec<Vec<&str>> = ps.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["1", "S", "cella-init"], "{ps}");
    assert_eq!(rows[1][2], "sh", "{ps}");
    assert!(
        !rows.iter().any(|r| r[1].starts_with('Z')),
        "the orphaned sleep was reaped: {ps}"
    );
    e.ok(&["run", "-d", "--init", "--name", "quick", "host", "sleep", "60"]);
    let t0 = std::time::Instant::now();
    e.ok(&["stop", "-t", "5", "quick"]);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "SIGTERM reached sleep"
    );
    assert_eq!(e.inspect("quick")["State"]["ExitCode"], 143);
    assert_eq!(
        e.out(&["run", "--rm", "--init", "host", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn inspect_carries_the_fields_docker_scripts_read() {
    let e = Engine::new();
    let bb = e.busybox();
    let data = e.root.with_file_name("data");
    std::fs::create_dir_all(&data).unwrap();
    let vol = format!("{}:/data:ro", data.display());
    e.ok(&[
        "run", "-d", "--name", "fields", "-m", "64m", "-w", "/tmp", "-e", "MINE=1", "-v", &vol, &bb, "sleep", "100",
    ]);
    let get = |t: &str| e.ok(&["inspect", "-f", t, "fields"]).trim().to_string();
    assert_eq!(
        get("{{.State.FinishedAt}}"),
        "0001-01-01T00:00:00Z",
        "Go's zero time while it runs"
    );
    assert_eq!(get("{{.Config.WorkingDir}}"), "/tmp");
    let env = get("{{json .Config.Env}}");
    assert!(
        env.contains("MINE=1") && env.contains("PATH="),
        "the whole environment: {env}"
    );
    assert_eq!(get("{{.HostConfig.Memory}}"), (64u64 << 20).to_string());
    assert_eq!(get("{{.HostConfig.RestartPolicy.Name}}"), "no");
    assert_eq!(get("{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}"), "/data false");
    e.ok(&["rm", "-f", "fields"]);
}
