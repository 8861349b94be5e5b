//! Pure cgroup v2 (the unified hierarchy alone, as most hosts boot today),
//! with the cgroupfs driver: every resource of the runtime spec that v2
//! has, the freezer, the eBPF device filter, nested cgroup namespaces and
//! CLONE_INTO_CGROUP. This machine is hybrid, so these run in the guest
//! that tests/vm/run.sh boots; on the host they are ignored.

mod common;
use cella_spec::resources::*;
use common::*;
use std::time::Duration;

fn with(script: &str, r: Resources) -> Bundle {
    let mut b = sh(script);
    b.spec.linux.as_mut().unwrap().resources = Some(r);
    b
}

/// The container's own cgroup directory on the host (cgroupfs default path).
fn host_dir(id: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/sys/fs/cgroup/cella/{id}"))
}

fn read(path: impl AsRef<std::path::Path>) -> String {
    let p = path.as_ref();
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn memory_max_low_swap_and_the_oom_kill_in_memory_events() {
    require_guest();
    let rt = Rt::new();
    let id = unique("v2mem");
    let limit = 32i64 << 20;
    let b = with(
        // The hog fills the container's /dev/shm (64 MiB, charged to its
        // memory cgroup, not reclaimable without swap): the kernel's own
        // page clearing, quick even on an emulated CPU, where a shell loop
        // through tr needed longer than the test waits once the host was busy.
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low /sys/fs/cgroup/memory.swap.max; \
         dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null; echo survived",
        Resources {
            memory: Some(Memory {
                limit: Some(limit),
                reservation: Some(limit / 2),
                swap: Some(limit), // memory+swap = memory: no swap
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    run_detached(&rt, &b, &id, false);
    let oom_kills = || {
        std::fs::read_to_string(host_dir(&id).join("memory.events"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ").map(|n| n.parse::<u64>().unwrap()))
            })
            .unwrap_or(0)
    };
    assert!(eventually(|| oom_kills() >= 1), "no oom_kill in memory.events");
    assert!(eventually(|| rt.status(&id) == "stopped"));
    // The same truth through the runtime's own view.
    let stats = rt.exec(&["events", "--stats", &id]);
    assert_eq!(stats.code, 0, "{stats:?}");
    rt.exec(&["delete", &id]).ok();
    assert!(!host_dir(&id).exists(), "delete removes the v2 directory");
    let o = rt.exec(&["run", "--bundle", b.dir.to_str().unwrap(), &unique("v2mem")]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    let (max, low) = (limit.to_string(), (limit / 2).to_string());
    assert_eq!(lines[..3], [max.as_str(), low.as_str(), "0"], "{o:?}");
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn cpu_weight_max_and_cpuset() {
    require_guest();
    let rt = Rt::new();
    let b = with(
        "cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/cpuset.mems; \
         grep Cpus_allowed_list /proc/self/status",
        Resources {
            cpu: Some(Cpu {
                shares: Some(2048),
                quota: Some(50_000),
                period: Some(100_000),
                cpus: Some("1".into()),
                mems: Some("0".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let o = rt.run(&b, &unique("v2cpu")).ok();
    let weight = cella_cgroups::shares_to_weight(2048).to_string();
    let want = [weight.as_str(), "50000 100000", "1", "0", "Cpus_allowed_list:\t1"];
    assert_eq!(o.stdout.lines().collect::<Vec<_>>(), want, "{o:?}");
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn pids_max_makes_fork_fail() {
    require_guest();
    let rt = Rt::new();
    // Builtins only once the limit is reached: a fork would fail.
    let b = with(
        "cat /sys/fs/cgroup/pids.max; (for i in $(seq 20); do sleep 5 & done) 2>/dev/null; \
         read n < /sys/fs/cgroup/pids.current; read e < /sys/fs/cgroup/pids.events; echo $e; echo started=$n",
        Resources {
            pids: Some(Pids { limit: 8 }),
            ..Default::default()
        },
    );
    let o = rt.run(&b, &unique("v2pids")).ok();
    assert!(o.stdout.starts_with("8\n"), "{o:?}");
    let current: u32 = o
        .stdout
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("started=")
        .parse()
        .unwrap();
    assert!(current <= 8, "pids.current {current} above pids.max: {o:?}");
}

/// The guest's disk, as major:minor.
fn vda() -> String {
    read("/sys/block/vda/dev")
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn io_weight_and_io_max() {
    require_guest();
    let rt = Rt::new();
    let (major, minor) = {
        let d = vda();
        let (a, b) = d.split_once(':').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    let b = with(
        "cat /sys/fs/cgroup/io.weight /sys/fs/cgroup/io.max",
        Resources {
            block_io: Some(BlockIo {
                weight: Some(500),
                throttle_read_bps_device: vec![ThrottleDevice {
                    major,
                    minor,
                    rate: 1 << 20,
                }],
                throttle_write_iops_device: vec![ThrottleDevice {
                    major,
                    minor,
                    rate: 100,
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let o = rt.run(&b, &unique("v2io")).ok();
    let weight = cella_cgroups::blkio_to_io_weight(500);
    assert!(o.stdout.contains(&format!("default {weight}")), "{o:?}");
    assert!(
        o.stdout
            .contains(&format!("{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100")),
        "{o:?}"
    );
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn hugetlb_and_unified_keys() {
    require_guest();
    let rt = Rt::new();
    let mut r = Resources {
        hugepage_limits: vec![HugepageLimit {
            page_size: "2MB".into(),
            limit: 4 << 20,
        }],
        ..Default::default()
    };
    r.unified.insert("memory.high".into(), "50000000".into());
    r.unified.insert("pids.max".into(), "7".into());
    let b = with(
        "cat /sys/fs/cgroup/hugetlb.2MB.max /sys/fs/cgroup/memory.high /sys/fs/cgroup/pids.max",
        r,
    );
    let o = rt.run(&b, &unique("v2uni")).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    // memory.high is rounded down to whole pages by the kernel.
    assert_eq!(lines[0], (4 << 20).to_string(), "{o:?}");
    assert_eq!(lines[1], (50_000_000 / 4096 * 4096).to_string(), "{o:?}");
    assert_eq!(lines[2], "7", "{o:?}");
    // A key naming no file is refused, and nothing is left.
    let mut bad = Resources::default();
    bad.unified.insert("memory.nonsense".into(), "1".into());
    let id = unique("v2bad");
    let o = rt.run(&with("true", bad), &id).failed();
    assert!(o.stderr.contains("memory.nonsense"), "{o:?}");
    assert!(!host_dir(&id).exists());
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn pause_writes_cgroup_freeze_and_stops_the_container() {
    require_guest();
    let rt = Rt::new();
    let id = unique("v2frz");
    let b = sh("i=0; while true; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.05; done");
    run_detached(&rt, &b, &id, false);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let count = || read(format!("/proc/{pid}/root/dev/shm/n")).parse::<u64>().unwrap_or(0);
    assert!(eventually(|| count() > 2));
    rt.exec(&["pause", &id]).ok();
    assert_eq!(read(host_dir(&id).join("cgroup.freeze")), "1");
    assert!(read(host_dir(&id).join("cgroup.events")).contains("frozen 1"));
    assert_eq!(rt.status(&id), "paused");
    let a = count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(), a, "a frozen container does not count");
    rt.exec(&["resume", &id]).ok();
    assert!(eventually(|| count() > a));
    assert_eq!(read(host_dir(&id).join("cgroup.freeze")), "0");
    rt.exec(&["delete", "--force", &id]).ok();
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn the_device_filter_is_an_ebpf_program_that_denies_unlisted_devices() {
    require_guest();
    let rt = Rt::new();
    let mut b = sh("head -c 1 /dev/zero | wc -c; cat /dev/probe 2>&1; echo end");
    with_probe_device(&mut b);
    let o = rt.run(&b, &unique("v2dev")).ok();
    assert!(
        o.stdout.starts_with("1\n") && o.stdout.contains("not permitted"),
        "{o:?}"
    );
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn nested_cgroup_namespaces_see_their_own_root() {
    require_guest();
    // util-linux's unshare -C (busybox has none): the guest's /usr bound
    // read-only into the busybox image, which links lib64 to it.
    let rt = Rt::new();
    let mut b = sh(
        "mkdir /sys/fs/cgroup/inner && echo $$ > /sys/fs/cgroup/inner/cgroup.procs && cat /proc/self/cgroup && \
         /usr/bin/unshare -C cat /proc/self/cgroup && cat /proc/self/cgroup",
    );
    std::fs::remove_dir_all(b.rootfs().join("usr")).unwrap();
    std::fs::create_dir(b.rootfs().join("usr")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", b.rootfs().join("lib64")).unwrap();
    std::os::unix::fs::symlink("usr/lib", b.rootfs().join("lib")).unwrap();
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/usr".into(),
        kind: Some("bind".into()),
        source: Some("/usr".into()),
        options: vec!["rbind".into(), "ro".into()],
    });
    for m in &mut b.spec.mounts {
        if m.destination == "/sys/fs/cgroup" {
            m.options.retain(|o| o != "ro");
            m.options.push("rw".into());
        }
    }
    // unshare(CLONE_NEWCGROUP) needs CAP_SYS_ADMIN.
    let caps = b.spec.process.as_mut().unwrap().capabilities.as_mut().unwrap();
    for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
        set.get_or_insert_with(Vec::new).push("CAP_SYS_ADMIN".into());
    }
    let o = rt.run(&b, &unique("v2ns")).ok();
    assert_eq!(
        o.stdout.lines().collect::<Vec<_>>(),
        ["0::/inner", "0::/", "0::/inner"],
        "{o:?}"
    );
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn the_init_is_born_in_its_cgroup_with_clone_into_cgroup() {
    require_guest();
    // strace shows the clone3 call with its cgroup fd, and that nothing
    // writes a PID to a cgroup.procs afterwards.
    let rt = Rt::new();
    let id = unique("v2clone");
    let b = sh("cat /proc/self/cgroup");
    let trace = b.dir.join("strace.out");
    let o = rt.sh(
        &format!(
            "strace -f -qq -e trace=clone3,openat -o {} {}",
            trace.display(),
            rt.run_line(&b, &id, "")
        ),
        false,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.trim(), "0::/", "{o:?}");
    let t = read(&trace);
    assert!(
        t.lines()
            .any(|l| l.contains("clone3(") && l.contains("CLONE_INTO_CGROUP")),
        "no clone3 with CLONE_INTO_CGROUP: {t}"
    );
    assert!(
        !t.lines().any(|l| l.contains("cgroup.procs") && l.contains("O_WRONLY")),
        "the init was moved, not born there: {t}"
    );
}
