//! The systemd cgroup driver (`--systemd-cgroup`) against a real systemd:
//! transient scopes in nested slices with the limits as unit properties,
//! compared with runc's driver on the same input; update, pause, ps,
//! events, kill --all and delete on a scope; a daemon-reload; a crash; a
//! name clash; a user's own systemd. Run in the guest of tests/vm/run.sh.

mod common;
use cella_spec::resources::*;
use common::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn limits() -> Resources {
    Resources {
        memory: Some(Memory {
            limit: Some(64 << 20),
            reservation: Some(32 << 20),
            swap: Some(96 << 20),
            ..Default::default()
        }),
        cpu: Some(Cpu {
            shares: Some(512),
            quota: Some(20_000),
            period: Some(100_000),
            ..Default::default()
        }),
        pids: Some(Pids { limit: 40 }),
        ..Default::default()
    }
}

fn scoped(script: &str, cgroups_path: &str, r: Resources) -> Bundle {
    let mut b = sh(script);
    let l = b.spec.linux.as_mut().unwrap();
    l.resources = Some(r);
    l.cgroups_path = Some(cgroups_path.into());
    b
}

fn dir_of(unit: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup{}", unit_property(unit, "ControlGroup")))
}

fn read(p: impl AsRef<std::path::Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("<{e}>"))
}

/// What a client can observe of a container's unit and cgroup.
fn observe(unit: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for p in [
        "ActiveState",
        "Slice",
        "Delegate",
        "MemoryMax",
        "MemoryLow",
        "MemorySwapMax",
        "TasksMax",
        "CPUWeight",
        "CPUQuotaPerSecUSec",
        "CPUQuotaPeriodUSec",
        "DevicePolicy",
    ] {
        m.insert(p.to_string(), unit_property(unit, p));
    }
    let dir = dir_of(unit);
    for f in [
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "pids.max",
        "cpu.weight",
        "cpu.max",
    ] {
        m.insert(f.to_string(), read(dir.join(f)));
    }
    m
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn a_scope_in_nested_slices_with_the_limits_runc_gives_it() {
    require_guest();
    let (cella, runc) = (Rt::new(), Rt::with_bin("runc"));
    let (id_c, id_r) = (unique("sdc"), unique("sdr"));
    let bc = scoped("sleep 60", &format!("cellatest-nested.slice:cella:{id_c}"), limits());
    let br = scoped("sleep 60", &format!("cellatest-nested.slice:runc:{id_r}"), limits());
    for (rt, b, id) in [(&cella, &bc, &id_c), (&runc, &br, &id_r)] {
        b.write();
        rt.exec(&["--systemd-cgroup", "run", "-d", "--bundle", b.dir.to_str().unwrap(), id])
            .ok();
    }
    let (uc, ur) = (format!("cella-{id_c}.scope"), format!("runc-{id_r}.scope"));
    let (oc, or) = (observe(&uc), observe(&ur));
    assert_eq!(oc, or, "cella's scope differs from runc's");
    assert_eq!(oc["ActiveState"], "active");
    assert_eq!(oc["Slice"], "cellatest-nested.slice");
    assert_eq!(oc["Delegate"], "yes");
    assert_eq!(oc["memory.max"], (64u64 << 20).to_string());
    assert_eq!(
        unit_property(&uc, "ControlGroup"),
        format!("/cellatest.slice/cellatest-nested.slice/{uc}")
    );
    let pid = cella.state(&id_c)["pid"].as_i64().unwrap();
    assert_eq!(
        read(format!("/proc/{pid}/cgroup")),
        format!("0::/cellatest.slice/cellatest-nested.slice/{uc}")
    );
    let dir = dir_of(&uc);
    cella.exec(&["delete", "--force", &id_c]).ok();
    runc.exec(&["delete", "--force", &id_r]).ok();
    assert!(eventually(|| !unit_exists(&uc)), "delete stops the unit");
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(!cella.state_dir(&id_c).exists());
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn update_pause_ps_events_and_kill_all_work_on_a_scope() {
    require_guest();
    let rt = Rt::new();
    let id = unique("sdlife");
    let b = scoped(
        "sleep 1000 & sleep 1000 & i=0; while true; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.05; done",
        &format!("system.slice:cella:{id}"),
        limits(),
    );
    run_detached(&rt, &b, &id, true);
    let unit = format!("cella-{id}.scope");
    let dir = dir_of(&unit);
    // update: systemd hears the new value (so that it keeps it) and the file has it.
    let r = serde_json::json!({"memory": {"limit": 48 << 20, "swap": 48 << 20}, "pids": {"limit": 30}});
    let rf = b.dir.join("r.json");
    std::fs::write(&rf, r.to_string()).unwrap();
    rt.exec(&["update", "--resources", rf.to_str().unwrap(), &id]).ok();
    assert_eq!(unit_property(&unit, "MemoryMax"), (48u64 << 20).to_string());
    assert_eq!(unit_property(&unit, "TasksMax"), "30");
    assert_eq!(read(dir.join("memory.max")), (48u64 << 20).to_string());
    assert_eq!(read(dir.join("pids.max")), "30");
    // ps: the init and its two sleeps.
    let ps = rt.exec(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert!(pids.len() >= 3, "{ps:?}");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    assert!(pids.contains(&pid), "{ps:?}");
    // pause/resume through the scope's cgroup.freeze.
    let count = || read(format!("/proc/{pid}/root/dev/shm/n")).parse::<u64>().unwrap_or(0);
    assert!(eventually(|| count() > 1));
    rt.exec(&["pause", &id]).ok();
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    let a = count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(), a);
    rt.exec(&["resume", &id]).ok();
    assert!(eventually(|| count() > a));
    // events: one stats line with the scope's numbers.
    let ev = rt.exec(&["events", "--stats", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(ev.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 48u64 << 20, "{ev:?}");
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 3, "{ev:?}");
    // kill --all reaches every process of the scope.
    rt.exec(&["kill", "--all", &id, "KILL"]).ok();
    assert!(eventually(|| rt.status(&id) == "stopped"));
    assert!(eventually(|| read(dir.join("cgroup.procs")).is_empty() || !dir.exists()));
    rt.exec(&["delete", &id]).ok();
    assert!(eventually(|| !unit_exists(&unit)));
    assert!(!dir.exists());
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn an_oom_kill_in_a_scope_is_an_oom_event() {
    require_guest();
    let rt = Rt::new();
    let id = unique("sdoom");
    let mut r = limits();
    r.memory.as_mut().unwrap().limit = Some(32 << 20);
    r.memory.as_mut().unwrap().swap = Some(32 << 20);
    // No CPU quota: at 20% of an emulated CPU the hog needs longer than the
    // test waits to fill 32 MiB.
    r.cpu = None;
    let b = scoped(
        // The hog runs in a subshell so that the OOM killer picks it, not
        // the init: systemd 252 cannot keep a scope after its last process
        // (OOMPolicy= for scopes came in 253), and an emptied scope takes its
        // memory.events with it before `events` can read the count.
        "while [ ! -e /dev/shm/go ]; do sleep 0.05; done; (x=$(head -c 200000000 /dev/zero | tr '\\0' a)); sleep 1000",
        &format!("system.slice:cella:{id}"),
        r,
    );
    run_detached(&rt, &b, &id, true);
    let out = b.dir.join("events.out");
    let mut events = rt
        .cmd(&["events", "--interval", "100ms", &id])
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    // `events` counts the OOM kills it starts from before its first stats
    // line: the hog may start only after that line, or its kill is counted
    // as the past (a fixed pause was too short for the emulated guest).
    assert!(eventually(|| std::fs::read_to_string(&out)
        .unwrap()
        .contains("\"type\":\"stats\"")));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    std::fs::write(format!("/proc/{pid}/root/dev/shm/go"), "").unwrap();
    assert!(eventually(|| std::fs::read_to_string(&out)
        .unwrap()
        .contains("\"type\":\"oom\"")));
    let _ = events.kill();
    let _ = events.wait();
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn a_daemon_reload_keeps_the_limits_and_the_device_rules() {
    require_guest();
    let rt = Rt::new();
    let id = unique("sdreload");
    let mut b = scoped("sleep 1000", &format!("system.slice:cella:{id}"), limits());
    with_probe_device(&mut b);
    let st = std::process::Command::new("mknod")
        .arg(b.rootfs().join("dev/null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(st.success());
    run_detached(&rt, &b, &id, true);
    let unit = format!("cella-{id}.scope");
    let before = observe(&unit);
    let reload = std::process::Command::new("systemctl")
        .arg("daemon-reload")
        .status()
        .unwrap();
    assert!(reload.success());
    assert_eq!(observe(&unit), before, "systemd re-applied something else");
    let probe = rt
        .exec(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /dev/probe 2>&1; echo x > /dev/null && echo null-ok",
        ])
        .ok();
    assert!(
        probe.stdout.contains("not permitted") && probe.stdout.contains("null-ok"),
        "{probe:?}"
    );
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn a_running_unit_of_the_same_name_is_refused_and_nothing_is_left() {
    require_guest();
    let rt = Rt::new();
    let (a, b_id) = (unique("sda"), unique("sdb"));
    let path = format!("system.slice:cella:clash-{a}");
    let b1 = scoped("sleep 1000", &path, Resources::default());
    b1.write();
    rt.exec(&[
        "--systemd-cgroup",
        "run",
        "-d",
        "--bundle",
        b1.dir.to_str().unwrap(),
        &a,
    ])
    .ok();
    let b2 = scoped("sleep 1000", &path, Resources::default());
    b2.write();
    let o = rt
        .exec(&[
            "--systemd-cgroup",
            "create",
            "--bundle",
            b2.dir.to_str().unwrap(),
            &b_id,
        ])
        .failed();
    assert!(o.stderr.contains("exists already"), "{o:?}");
    assert!(!rt.state_dir(&b_id).exists());
    // The first container is untouched.
    assert_eq!(rt.status(&a), "running");
    assert_eq!(
        unit_property(&format!("cella-clash-{a}.scope"), "ActiveState"),
        "active"
    );
    rt.exec(&["delete", "--force", &a]).ok();
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn a_create_killed_midway_leaves_a_scope_that_delete_stops() {
    require_guest();
    let rt = Rt::new();
    let id = unique("sdcrash");
    let mut b = scoped("true", &format!("system.slice:cella:{id}"), limits());
    let hook_pid = with_hanging_create_hook(&mut b);
    b.write();
    let mut create = rt
        .cmd(&["--systemd-cgroup", "create", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(|| hook_pid.exists()));
    create.kill().unwrap(); // SIGKILL: no cleanup code runs
    create.wait().unwrap();
    let hook: i32 = read(&hook_pid).parse().unwrap();
    let _ = cella_sys::process::kill(hook, libc::SIGKILL);
    // The state recorded the scope before anything ran in it. (systemd may
    // have collected it already: the orphaned init exits and leaves it empty.)
    let unit = format!("cella-{id}.scope");
    let state = read(rt.state_dir(&id).join("state.json"));
    assert!(state.contains(&unit), "{state}");
    rt.exec(&["delete", "--force", &id]).ok();
    assert!(eventually(|| !unit_exists(&unit)), "delete stopped it");
    assert!(!dir_for(&format!("/system.slice/{unit}")).exists());
    assert!(!rt.state_dir(&id).exists());
}

fn dir_for(cgroup: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup{cgroup}"))
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn a_user_gets_a_scope_from_their_own_systemd() {
    require_guest();
    // tests/vm's image has a user `tester` (uid 1000) with lingering on, so
    // user@1000.service runs and delegates its subtree.
    let rt = Rt::new();
    let id = unique("sduser");
    let mut b = Bundle::busybox_rootless(&["sleep", "1000"], 1000, 1000);
    b.spec.linux.as_mut().unwrap().resources = Some(Resources {
        memory: Some(Memory {
            limit: Some(64 << 20),
            ..Default::default()
        }),
        pids: Some(Pids { limit: 20 }),
        ..Default::default()
    });
    b.write();
    let as_tester = |args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all"])
            .args(["env", "XDG_RUNTIME_DIR=/run/user/1000"])
            .arg(&rt.bin)
            .arg("--root")
            .arg(&rt.root)
            .args(args);
        rt.exec_cmd(c)
    };
    as_tester(&[
        "--systemd-cgroup",
        "run",
        "-d",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ])
    .ok();
    // (root may not read a user's state: it could be planted.)
    let state: serde_json::Value = serde_json::from_str(&as_tester(&["state", &id]).ok().stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    let unit = format!("cella-{id}.scope");
    let cg = format!("/user.slice/user-1000.slice/user@1000.service/user.slice/{unit}");
    assert_eq!(read(format!("/proc/{pid}/cgroup")), format!("0::{cg}"));
    let dir = PathBuf::from(format!("/sys/fs/cgroup{cg}"));
    // What the user's manager delegates (memory and pids on Debian 12) is limited.
    assert_eq!(read(dir.join("memory.max")), (64u64 << 20).to_string());
    assert_eq!(read(dir.join("pids.max")), "20");
    // The user's own systemctl sees the unit in their manager.
    let user_unit = std::process::Command::new("setpriv")
        .args(["--reuid=1000", "--regid=1000", "--clear-groups"])
        .args([
            "env",
            "XDG_RUNTIME_DIR=/run/user/1000",
            "systemctl",
            "--user",
            "show",
            &unit,
        ])
        .args(["-p", "ActiveState", "--value"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&user_unit.stdout).trim(), "active");
    as_tester(&["delete", "--force", &id]).ok();
    assert!(eventually(|| !dir.exists()), "delete stopped the user's scope");
}
