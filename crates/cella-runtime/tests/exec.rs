//! `exec`: a new process inside a running container.

mod common;
use common::*;

/// Starts `b` detached. Keep `b` alive while the container runs: dropping it
/// deletes the rootfs.
fn running(rt: &Rt, b: &Bundle, id: &str) -> i64 {
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), id]).ok();
    rt.state(id)["pid"].as_i64().unwrap()
}

fn ns_of(pid: i64, kind: &str) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap()
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let rt = Rt::new();
    let id = unique("exec");
    let mut b = sh("sleep 60");
    b.spec.hostname = Some("exec-box".into());
    let init = running(&rt, &b, &id);
    let pid_file = b.dir.join("exec.pid");
    rt.exec(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "30",
    ])
    .ok();
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    for kind in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_eq!(ns_of(pid, kind), ns_of(init, kind), "{kind} namespace");
    }
    let procs = std::fs::read_to_string(default_cgroup(&id).v1("pids").unwrap().join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "exec'd process not in the container's cgroup: {procs}"
    );
    let o = rt
        .exec(&["exec", &id, "sh", "-c", "hostname; echo $$; ps -o pid | wc -l"])
        .ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "exec-box");
    assert_ne!(lines[1], "1", "a new PID inside the container's PID namespace");
    rt.exec(&["delete", "--force", &id]).ok();
    assert!(!pid_alive(pid as i32));
}

#[test]
fn exec_returns_the_exit_code_and_applies_flags() {
    let rt = Rt::new();
    let id = unique("execflags");
    let b = sh("sleep 60");
    running(&rt, &b, &id);
    assert_eq!(rt.exec(&["exec", &id, "sh", "-c", "exit 7"]).code, 7);
    let o = rt
        .exec(&[
            "exec",
            "-e",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "-u",
            "1000:1000",
            "--additional-gids",
            "5",
            &id,
            "sh",
            "-c",
            "echo $FOO; pwd; id -u; id -g; id -G",
        ])
        .ok();
    assert_eq!(o.stdout, "bar\n/tmp\n1000\n1000\n1000 5\n");
    // The container's capabilities and no_new_privs, plus --cap.
    let o = rt
        .exec(&[
            "exec",
            "--cap",
            "CAP_NET_RAW",
            &id,
            "grep",
            "-E",
            "CapEff|NoNewPrivs",
            "/proc/self/status",
        ])
        .ok();
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 13) | (1 << 29));
    assert!(o.stdout.contains(&want) && o.stdout.contains("NoNewPrivs:\t1"), "{o:?}");
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_uses_a_process_json_and_the_containers_seccomp_filter() {
    let rt = Rt::new();
    let id = unique("execjson");
    let mut b = sh("sleep 60");
    b.spec.linux.as_mut().unwrap().seccomp = Some(cella_spec::seccomp::Seccomp {
        default_action: "SCMP_ACT_ALLOW".into(),
        syscalls: vec![cella_spec::seccomp::SyscallRule {
            names: vec!["mkdir".into(), "mkdirat".into()],
            action: "SCMP_ACT_ERRNO".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    running(&rt, &b, &id);
    let mut process = b.spec.process.clone().unwrap();
    process.args = vec!["sh".into(), "-c".into(), "echo from-json; mkdir /dev/shm/x 2>&1".into()];
    let file = b.dir.join("process.json");
    std::fs::write(&file, serde_json::to_vec(&process).unwrap()).unwrap();
    let o = rt.exec(&["exec", "--process", file.to_str().unwrap(), &id]);
    assert!(
        o.stdout.starts_with("from-json\n") && o.stdout.contains("Operation not permitted"),
        "{o:?}"
    );
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_is_refused_when_paused_or_stopped() {
    let rt = Rt::new();
    let id = unique("execpaused");
    let b = sh("sleep 60");
    running(&rt, &b, &id);
    rt.exec(&["pause", &id]).ok();
    let o = rt.exec(&["exec", &id, "true"]).failed();
    assert!(
        o.stderr.contains("paused") && o.stderr.contains("--ignore-paused"),
        "{o:?}"
    );
    rt.exec(&["exec", "-d", "--ignore-paused", &id, "true"]).ok();
    rt.exec(&["resume", &id]).ok();
    rt.exec(&["kill", &id, "KILL"]).ok();
    assert!(eventually(|| rt.status(&id) == "stopped"));
    let o = rt.exec(&["exec", &id, "true"]).failed();
    assert!(o.stderr.contains("stopped"), "{o:?}");
    let o = rt.exec(&["exec", &id]).failed();
    assert!(!o.stderr.is_empty());
}

#[test]
fn exec_with_a_terminal_in_the_foreground() {
    let rt = Rt::new();
    let id = unique("exectty");
    let b = sh("sleep 60");
    running(&rt, &b, &id);
    let o = rt
        .exec(&["exec", "-t", &id, "sh", "-c", "tty; test -t 0 && echo tty-ok"])
        .ok();
    assert_eq!(o.stdout.replace('\r', ""), "/dev/pts/0\ntty-ok\n");
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_of_a_missing_command_fails_cleanly() {
    let rt = Rt::new();
    let id = unique("execmissing");
    let b = sh("sleep 60");
    running(&rt, &b, &id);
    let before = std::fs::read_to_string(default_cgroup(&id).v1("pids").unwrap().join("cgroup.procs")).unwrap();
    let o = rt.exec(&["exec", &id, "no-such-command"]).failed();
    assert!(
        o.stderr.contains("no-such-command") && o.stderr.contains("not found"),
        "{o:?}"
    );
    let after = std::fs::read_to_string(default_cgroup(&id).v1("pids").unwrap().join("cgroup.procs")).unwrap();
    assert!(
        eventually(
            || std::fs::read_to_string(default_cgroup(&id).v1("pids").unwrap().join("cgroup.procs")).unwrap() == before
        ),
        "{before} vs {after}"
    );
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn exec_into_a_user_namespace_container() {
    let rt = Rt::new();
    let id = unique("execuser");
    let mut b = sh("sleep 60");
    with_userns(&mut b, 300_000);
    let init = running(&rt, &b, &id);
    let o = rt
        .exec(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"])
        .ok();
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "300000", "65536"]
    );
    let _ = init;
    rt.exec(&["delete", "--force", &id]).ok();
}
