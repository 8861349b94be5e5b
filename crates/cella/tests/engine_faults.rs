//! The engine after a bad day: its monitor killed, records damaged, a
//! `cella run` killed part way, the firewall flushed, the bridge deleted.
//! Each test performs the fault for real and asserts that the truth is
//! recovered (or an error names what is wrong) and nothing is left.

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn state_json(e: &Engine, id: &str) -> serde_json::Value {
    let p = e.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The container's cgroup directories that still exist, in any hierarchy.
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join("cella").join(id))
        .filter(|d| d.exists())
        .collect()
}

/// Nothing of container `id` is left: no process, runtime state, cgroup
/// or record.
fn assert_gone(e: &Engine, id: &str, pids: &[i64]) {
    for &pid in pids {
        assert!(eventually(|| !alive(pid)), "process {pid} of {id} still runs");
    }
    assert!(!e.runroot.join(id).exists(), "runtime state of {id} left");
    assert!(
        eventually(|| cgroups_of(id).is_empty()),
        "cgroups left: {:?}",
        cgroups_of(id)
    );
    assert!(!e.root.join("containers").join(id).exists(), "record of {id} left");
}

fn run_sleeper(e: &Engine, bb: &str, name: &str) -> (String, i64, i64) {
    let id = e
        .ok(&["run", "-d", "--name", name, bb, "sleep", "1000"])
        .trim()
        .to_string();
    let st = state_json(e, &id);
    (id, st["Pid"].as_i64().unwrap(), st["MonitorPid"].as_i64().unwrap())
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn a_killed_monitor_leaves_a_running_container_that_stop_and_rm_still_reach() {
    let e = Engine::new();
    let bb = e.busybox();
    let (id, pid, monitor) = run_sleeper(&e, &bb, "orphan");
    cella_sys::process::kill(monitor as i32, libc::SIGKILL).unwrap();
    assert!(eventually(|| !alive(monitor)));
    assert!(alive(pid), "the container outlives its monitor");
    // The runtime's state is the truth: still running, with its PID.
    let ps = e.ok(&["ps", "--format", "json"]);
    assert!(ps.contains("orphan") && ps.contains("Up"), "{ps}");
    let st = &e.inspect("orphan")["State"];
    assert_eq!(st["Status"], "running", "{st}");
    assert_eq!(st["Pid"], pid, "{st}");
    assert!(st["Error"].as_str().unwrap().contains("monitor"), "{st}");
    assert_eq!(e.ok(&["exec", "orphan", "echo", "reached"]).trim(), "reached");
    // start of a running one changes nothing and is no error (docker's).
    e.ok(&["start", "orphan"]);
    assert_eq!(e.inspect("orphan")["State"]["Pid"], pid, "no second start");
    // stop acts on it through the runtime, and the record is made whole.
    e.ok(&["stop", "-t", "1", "orphan"]);
    assert!(!alive(pid), "stop stopped it");
    let st = &e.inspect("orphan")["State"];
    assert_eq!(st["Status"], "exited", "{st}");
    assert!(!e.runroot.join(&id).exists(), "the runtime state was deleted");
    assert!(eventually(|| cgroups_of(&id).is_empty()));
    assert_eq!(state_json(&e, &id)["Status"], "exited", "state.json agrees");
    e.ok(&["rm", "orphan"]);
    assert_gone(&e, &id, &[pid]);

    // rm -f of a running orphan.
    let (id, pid, monitor) = run_sleeper(&e, &bb, "orphan2");
    cella_sys::process::kill(monitor as i32, libc::SIGKILL).unwrap();
    assert!(eventually(|| !alive(monitor)));
    e.ok(&["rm", "-f", "orphan2"]);
    assert_gone(&e, &id, &[pid]);
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn damaged_state_records_are_named_listed_and_removable() {
    let e = Engine::new();
    let bb = e.busybox();
    for (name, junk) in [("emptystate", ""), ("junkstate", "\u{0}garbage{")] {
        let (id, pid, monitor) = run_sleeper(&e, &bb, name);
        std::fs::write(e.root.join("containers").join(&id).join("state.json"), junk).unwrap();
        let ps = e.ok(&["ps", "-a"]);
        assert!(ps.contains(name), "listed: {ps}");
        let st = &e.inspect(name)["State"];
        assert!(st["Error"].as_str().unwrap().contains("state.json"), "named: {st}");
        assert_eq!(st["Status"], "running", "from the runtime: {st}");
        e.ok(&["rm", "-f", name]);
        assert_gone(&e, &id, &[pid, monitor]);
    }
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn a_damaged_container_record_is_listed_and_removable() {
    let e = Engine::new();
    let bb = e.busybox();
    let (id, pid, monitor) = run_sleeper(&e, &bb, "junkrecord");
    std::fs::write(e.root.join("containers").join(&id).join("container.json"), "[1,").unwrap();
    let ps = e.ok(&["ps", "-a", "--no-trunc"]);
    assert!(ps.contains(&id), "listed by its id: {ps}");
    let st = &e.inspect(&id)["State"];
    assert!(st["Error"].as_str().unwrap().contains("container.json"), "named: {st}");
    let o = e.out(&["start", &id]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("container.json"),
        "{o:?}"
    );
    e.ok(&["rm", "-f", &id]);
    assert_gone(&e, &id, &[pid, monitor]);
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn a_run_killed_part_way_leaves_nothing_the_next_command_does_not_clear() {
    let e = Engine::new();
    let bb = e.busybox();
    // Killed at different moments: before, during and after the record.
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let mut run = e.cmd(&["run", "-d", &bb, "sleep", "1000"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = run.kill();
        let _ = run.wait();
    }
    // What the killed creates left in the middle of writing, by hand too.
    let debris = e.root.join("containers").join("0".repeat(64));
    std::fs::create_dir_all(debris.join("rootfs")).unwrap();
    std::fs::write(debris.join("config.tmp4242"), "{").unwrap();
    // Any command that takes the store lock clears what has no record.
    e.ok(&["run", "--rm", &bb, "true"]);
    assert!(!debris.exists());
    let dirs: Vec<String> = std::fs::read_dir(e.root.join("containers"))
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    let listed = e.ok(&["ps", "-a", "-q", "--no-trunc"]);
    for d in &dirs {
        assert!(listed.contains(d.as_str()), "{d} is on disk but not in ps -a: {listed}");
        e.ok(&["rm", "-f", d]);
        assert_gone(&e, d, &[]);
    }
    assert_eq!(e.containers_on_disk(), 0);
}

/// A removed container leaves the store's view at once (its directory is
/// moved into trash/ under the store lock) and its files go right after;
/// a remover killed in between leaves files that the next command holding
/// the lock deletes.
#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn removed_containers_files_go_even_when_their_remover_dies() {
    let e = Engine::new();
    let bb = e.busybox();
    let trash = e.root.join("trash");
    let count = |d: &std::path::Path| std::fs::read_dir(d).map(|d| d.count()).unwrap_or(0);
    e.ok(&["run", "--rm", "--name", "brief", &bb, "sh", "-c", "echo x > /written"]);
    assert_eq!(e.containers_on_disk(), 0);
    assert!(!e.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("brief"));
    assert!(eventually(|| count(&trash) == 0), "the --rm monitor emptied trash/");
    e.ok(&["run", "--name", "kept", &bb, "true"]);
    e.ok(&["rm", "kept"]);
    assert_eq!((e.containers_on_disk(), count(&trash)), (0, 0));
    // A remover killed after the move: its PID is gone.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let left = trash.join(format!("container-{pid}-0123456789abcdef"));
    std::fs::create_dir_all(left.join("diff/etc")).unwrap();
    std::fs::write(left.join("diff/etc/x"), "x").unwrap();
    e.ok(&["run", "--rm", &bb, "true"]);
    assert!(!left.exists(), "swept under the store lock");
    // A --rm monitor deletes the runtime's state with the files, after the
    // exit is out: killed in between, it leaves a container whose runtime
    // state, cgroups and files are in trash/ under its dead PID.
    let (id, pid, monitor) = run_sleeper(&e, &bb, "cut");
    for p in [monitor, pid] {
        cella_sys::process::kill(p as i32, libc::SIGKILL).unwrap();
        assert!(eventually(|| !alive(p)));
    }
    assert!(e.runroot.join(&id).exists() && !cgroups_of(&id).is_empty());
    let moved = trash.join(format!("container-{monitor}-{id}"));
    std::fs::rename(e.root.join("containers").join(&id), &moved).unwrap();
    e.ok(&["run", "--rm", &bb, "true"]);
    assert!(!moved.exists(), "swept under the store lock");
    assert_gone(&e, &id, &[pid]);
}

const SERVE: &str = "sh -c 'mkdir -p /www && echo page > /www/index.html && httpd -f -p 8080 -h /www'";

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn published_ports_survive_a_flushed_firewall_and_a_deleted_bridge() {
    let e = Engine::new();
    let bb = e.busybox();
    let get = "$(curl -fsS -m 3 http://127.0.0.1:18093/ 2>&1)";
    let (_, text) = e.in_netns(&format!(
            "BB={bb}; $C run -d --name w1 --network bridge -p 127.0.0.1:18093:8080 $BB {SERVE} >/dev/null && sleep 0.5 && \
             echo first={get} && $C rm -f w1 >/dev/null && \
             nft flush ruleset && \
             $C run -d --name w2 --network bridge -p 127.0.0.1:18093:8080 $BB {SERVE} >/dev/null; echo flushed_rc=$? && \
             sleep 0.5 && echo flushed={get} && $C rm -f w2 >/dev/null && \
             ip link del cella0 && \
             $C run -d --name w3 --network bridge -p 127.0.0.1:18093:8080 $BB {SERVE} >/dev/null; echo deleted_rc=$? && \
             sleep 0.5 && echo deleted={get} && \
             echo localnet=$(cat /proc/sys/net/ipv4/conf/cella0/route_localnet) && $C rm -f w3 >/dev/null"
        ),
    );
    for want in [
        "first=page",
        "flushed_rc=0",
        "flushed=page",
        "deleted_rc=0",
        "deleted=page",
        "localnet=1",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn engine_failures_exit_125_and_only_the_command_decides_126_and_127() {
    let e = Engine::new();
    let bb = e.busybox();
    let code = |args: &[&str]| e.out(args).status.code().unwrap();
    assert_eq!(code(&["run", "--rm", &bb, "/nonexistent"]), 127);
    assert_eq!(code(&["run", "--rm", &bb, "/etc/passwd"]), 126);
    // An engine-side failure whose words say "No such file": still 125.
    assert_eq!(
        code(&["run", "--rm", "-v", "/missing-dir-of-cella-test:/x", &bb, "true"]),
        125
    );
}
