//! The engine on a systemd host: each container is a systemd scope in
//! machine.slice by default (as podman's systemd manager does), or a
//! cgroupfs directory with --cgroup-manager cgroupfs; rm stops the scope.
//! Run in the guest of tests/vm/run.sh.

#[path = "support/engine.rs"]
mod common;
use common::*;

fn show(unit: &str, p: &str) -> String {
    let o = std::process::Command::new("systemctl")
        .args(["show", unit, "-p", p, "--value"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn require_guest() {
    assert!(
        std::path::Path::new("/run/systemd/system").is_dir()
            && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        "needs systemd as PID 1 on pure cgroup v2: run tests/vm/run.sh"
    );
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn containers_are_scopes_in_machine_slice_by_default() {
    require_guest();
    let e = Engine::new();
    let img = e.busybox();
    let id = e.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--pids-limit",
        "30",
        &img,
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let unit = format!("cella-{id}.scope");
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "machine.slice");
    assert_eq!(show(&unit, "MemoryMax"), (64u64 << 20).to_string());
    let pid = e.inspect(id)["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/machine.slice/{unit}"));
    assert_eq!(
        std::fs::read_to_string(format!("/sys/fs/cgroup/machine.slice/{unit}/pids.max"))
            .unwrap()
            .trim(),
        "30"
    );
    // Inside, the container sees its own cgroup as the root, with its limit.
    let inside = e.ok(&["exec", id, "cat", "/sys/fs/cgroup/memory.max", "/proc/self/cgroup"]);
    assert_eq!(inside, format!("{}\n0::/\n", 64u64 << 20));
    e.ok(&["stop", "-t", "1", id]);
    e.ok(&["rm", id]);
    assert!(show(&unit, "ActiveState") != "active", "rm leaves no scope");
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/machine.slice/{unit}")).exists());
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn cgroup_manager_cgroupfs_keeps_cellas_own_directories() {
    require_guest();
    let e = Engine::new();
    let img = e.busybox();
    let id = e.ok(&[
        "--cgroup-manager",
        "cgroupfs",
        "run",
        "-d",
        "--memory",
        "64m",
        &img,
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid = e.inspect(id)["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/cella/{id}"));
    assert_eq!(
        std::fs::read_to_string(format!("/sys/fs/cgroup/cella/{id}/memory.max"))
            .unwrap()
            .trim(),
        (64u64 << 20).to_string()
    );
    // The choice was recorded: a restart uses it again.
    e.ok(&["stop", "-t", "1", id]);
    e.ok(&["start", id]);
    let pid = e.inspect(id)["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/cella/{id}"));
    e.ok(&["rm", "-f", id]);
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/cella/{id}")).exists());
}
