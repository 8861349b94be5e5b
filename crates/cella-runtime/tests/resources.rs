//! cgroup limits are enforced, not just written: checked by what the
//! container can and cannot do, on this machine's real kernel.

mod common;
use cella_spec::resources::*;
use common::*;
use std::time::{Duration, Instant};

fn with_resources(script: &str, r: Resources) -> Bundle {
    let mut b = sh(script);
    b.spec.linux.as_mut().unwrap().resources = Some(r);
    b
}

/// Reads a file inside the running container (through /proc/PID/root).
fn read_inside(rt: &Rt, id: &str, path: &str) -> Option<String> {
    let pid = rt.state(id)["pid"].as_i64()?;
    std::fs::read_to_string(format!("/proc/{pid}/root{path}")).ok()
}

#[test]
fn memory_limit_oom_kills_and_events_reports_it() {
    let rt = Rt::new();
    let id = unique("oom");
    let limit = 32 << 20;
    let b = with_resources(
        "while [ ! -e /dev/shm/go ]; do sleep 0.05; done; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        Resources {
            memory: Some(Memory {
                limit: Some(limit),
                swap: Some(limit),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let events_out = b.dir.join("events.out");
    let mut events = rt
        .cmd(&["events", "--interval", "100ms", &id])
        .stdout(std::fs::File::create(&events_out).unwrap())
        .spawn()
        .unwrap();
    // `events` counts the OOM kills it starts from before its first stats
    // line: the hog may start only after that line, or its kill is counted
    // as the past (a fixed pause was too short for the emulated guest).
    assert!(eventually(|| std::fs::read_to_string(&events_out)
        .unwrap()
        .contains("\"type\":\"stats\"")));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    std::fs::write(format!("/proc/{pid}/root/dev/shm/go"), "").unwrap();
    assert!(
        eventually(|| rt.status(&id) == "stopped"),
        "the OOM killer should have ended the container"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = events.kill();
    let text = std::fs::read_to_string(&events_out).unwrap();
    assert!(text.lines().any(|l| l.contains("\"type\":\"oom\"")), "events: {text}");
    let stats: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], limit);
}

#[test]
fn pids_limit_makes_fork_fail() {
    let rt = Rt::new();
    let b = with_resources(
        "(for i in $(seq 40); do sleep 5 & done; wait) 2>/dev/null; echo rc=$?; cat /sys/fs/cgroup/pids/pids.max",
        Resources {
            pids: Some(Pids { limit: 8 }),
            ..Default::default()
        },
    );
    let o = rt.run(&b, &unique("pids")).ok();
    assert!(
        o.stdout.starts_with("rc=") && !o.stdout.starts_with("rc=0"),
        "forks should have failed: {o:?}"
    );
    assert!(o.stdout.ends_with("8\n"), "{o:?}");
}

#[test]
fn cpu_quota_of_a_fifth_keeps_a_busy_loop_at_most_near_20_percent() {
    let rt = Rt::new();
    let id = unique("cpu");
    let b = with_resources(
        "while :; do :; done",
        Resources {
            cpu: Some(Cpu {
                quota: Some(20_000),
                period: Some(100_000),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let cg = default_cgroup(&id);
    let usage = || -> u64 {
        std::fs::read_to_string(cg.v1("cpuacct").unwrap().join("cpuacct.usage"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(300));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let share = (usage() - u0) as f64 / t0.elapsed().as_nanos() as f64;
    // The kernel's own evidence that the quota held the loop back.
    let throttled: u64 = std::fs::read_to_string(cg.v1("cpu").unwrap().join("cpu.stat"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    rt.exec(&["delete", "--force", &id]).ok();
    // A quota bounds usage from above only: a busy machine may give the
    // loop less, never more (a little slack for the period edges).
    assert!(share < 0.28, "busy loop used {:.0}% of a CPU", share * 100.0);
    assert!(
        throttled > 0,
        "the loop was never throttled (used {:.0}%)",
        share * 100.0
    );
}

#[test]
fn update_lowers_a_limit_on_a_running_container() {
    let rt = Rt::new();
    let id = unique("update");
    let b = with_resources(
        "while [ ! -e /dev/shm/go ]; do sleep 0.05; done; (for i in $(seq 10); do sleep 5 & done; wait) 2>/dev/null; echo rc=$? > /dev/shm/result; sleep 30",
        Resources { pids: Some(Pids { limit: 100 }), ..Default::default() },
    );
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    rt.exec(&["update", "--pids-limit", "4", "--memory", "64m", &id]).ok();
    let cg = default_cgroup(&id);
    let read = |ctrl: &str, f: &str| {
        std::fs::read_to_string(cg.v1(ctrl).unwrap().join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("pids", "pids.max"), "4");
    assert_eq!(read("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    std::fs::write(format!("/proc/{pid}/root/dev/shm/go"), "").unwrap();
    assert!(eventually(
        || read_inside(&rt, &id, "/dev/shm/result").is_some_and(|r| r.starts_with("rc="))
    ));
    let result = read_inside(&rt, &id, "/dev/shm/result").unwrap();
    assert_ne!(result.trim(), "rc=0", "forks beyond the updated limit must fail");
    // Also through --resources JSON on stdin, as containerd does.
    let mut c = rt.cmd(&["update", "--resources", "-", &id]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids":{"limit":9}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read("pids", "pids.max"), "9");
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn pause_stops_a_counting_loop_and_resume_continues_it() {
    let rt = Rt::new();
    let id = unique("pause");
    let b = sh("i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; done");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let count = || {
        read_inside(&rt, &id, "/dev/shm/n")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(eventually(|| count() > 10));
    rt.exec(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    let a = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), a, "a paused container must not run");
    assert!(rt.exec(&["pause", &id]).failed().stderr.contains("paused"));
    rt.exec(&["resume", &id]).ok();
    assert_eq!(rt.status(&id), "running");
    assert!(eventually(|| count() > a + 10));
    // delete --force of a paused container works too.
    rt.exec(&["pause", &id]).ok();
    rt.exec(&["delete", "--force", &id]).ok();
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left", d.display());
    }
}

#[test]
fn ps_lists_exactly_the_containers_processes() {
    let rt = Rt::new();
    let id = unique("ps");
    let b = sh("sleep 100 & sleep 101 & wait");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let init = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    let children = || -> Vec<i32> {
        let text = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap_or_default();
        text.split_whitespace().filter_map(|p| p.parse().ok()).collect()
    };
    assert!(eventually(|| children().len() == 2));
    let mut want = children();
    want.push(init);
    want.sort_unstable();
    let o = rt.exec(&["ps", "--format", "json", &id]).ok();
    let got: Vec<i32> = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(got, want);
    let table = rt.exec(&["ps", &id]).ok();
    assert!(
        table.stdout.starts_with("UID") && table.stdout.lines().count() == 4,
        "{table:?}"
    );
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn stats_once_and_device_rules() {
    let rt = Rt::new();
    let id = unique("stats");
    let mut b = with_resources(
        "sleep 30",
        Resources {
            pids: Some(Pids { limit: 50 }),
            ..Default::default()
        },
    );
    // A linux.devices node is allowed after the config's deny-all rule.
    b.spec.linux.as_mut().unwrap().devices.push(cella_spec::Device {
        kind: "c".into(),
        path: "/dev/fuse".into(),
        major: 10,
        minor: 229,
        file_mode: Some(0o666),
        uid: None,
        gid: None,
    });
    let r = b.spec.linux.as_mut().unwrap().resources.as_mut().unwrap();
    r.devices = vec![DeviceRule {
        allow: false,
        access: Some("rwm".into()),
        ..Default::default()
    }];
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let o = rt.exec(&["events", "--stats", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["data"]["pids"]["limit"], 50);
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert!(v["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    let devices = std::fs::read_to_string(default_cgroup(&id).v1("devices").unwrap().join("devices.list")).unwrap();
    assert!(
        devices.contains("c 1:3 rwm") && devices.contains("c 10:229 rwm") && !devices.contains("a *:* rwm"),
        "{devices}"
    );
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
fn a_device_without_an_allow_rule_cannot_be_opened() {
    let rt = Rt::new();
    let id = unique("devdeny");
    // /dev/loop-control's numbers (10:237) as a node in the image's own /dev
    // (no /dev tmpfs): no rule allows it, so opening it fails with EPERM.
    let mut b = sh("head -c 1 /dev/zero | wc -c; cat /dev/probe 2>&1; echo done");
    b.spec.root.as_mut().unwrap().readonly = false;
    with_probe_device(&mut b);
    let o = rt.run(&b, &id).ok();
    assert!(
        o.stdout.starts_with("1\n") && o.stdout.contains("not permitted"),
        "{o:?}"
    );
}

#[test]
fn crash_mid_create_leaves_a_cgroup_that_delete_removes() {
    let rt = Rt::new();
    let id = unique("crash");
    let mut b = sh("true");
    let hook_pid = with_hanging_create_hook(&mut b);
    b.write();
    let mut create = rt
        .cmd(&["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(|| hook_pid.exists()));
    create.kill().unwrap(); // SIGKILL: no cleanup code runs
    create.wait().unwrap();
    let hook: i32 = std::fs::read_to_string(&hook_pid).unwrap().trim().parse().unwrap();
    let _ = cella_sys::process::kill(hook, libc::SIGKILL);
    assert!(
        default_cgroup_dirs(&id).iter().all(|d| d.exists()),
        "the crash left the cgroup"
    );
    assert!(eventually(|| rt.status(&id) == "stopped"));
    rt.exec(&["delete", &id]).ok();
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left", d.display());
    }
    assert!(!rt.state_dir(&id).exists());
}
