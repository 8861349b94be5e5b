//! The v2 and pure-v1 paths against fake cgroupfs trees (plain files), since
//! the project's machines are hybrid. The real kernel is exercised by
//! cella-runtime's integration tests.

use cella_cgroups::{Cgroup, Layout, Mode};
use cella_spec::resources::*;
use cella_spec::Resources;
use std::path::{Path, PathBuf};

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let p = std::env::temp_dir().join(format!("cella-fakecg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tree(p)
    }
    fn files(&self, dir: &str, names: &[&str]) -> PathBuf {
        let d = self.0.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for n in names {
            std::fs::write(d.join(n), "").unwrap();
        }
        d
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

fn full_resources() -> Resources {
    Resources {
        memory: Some(Memory {
            limit: Some(64 << 20),
            reservation: Some(32 << 20),
            swap: Some(96 << 20),
            ..Default::default()
        }),
        cpu: Some(Cpu {
            shares: Some(1024),
            quota: Some(20_000),
            period: Some(100_000),
            cpus: Some("0-1".into()),
            mems: Some("0".into()),
            ..Default::default()
        }),
        pids: Some(Pids { limit: 10 }),
        block_io: Some(BlockIo {
            weight: Some(500),
            throttle_read_bps_device: vec![ThrottleDevice {
                major: 8,
                minor: 0,
                rate: 1 << 20,
            }],
            ..Default::default()
        }),
        hugepage_limits: vec![HugepageLimit {
            page_size: "2MB".into(),
            limit: 4 << 20,
        }],
        ..Default::default()
    }
}

#[test]
fn v2_converts_values_and_enables_controllers() {
    let t = Tree::new("v2");
    let root = t.files("", &["cgroup.subtree_control"]);
    std::fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n").unwrap();
    t.files("cella", &["cgroup.subtree_control"]);
    let c = t.files(
        "cella/x",
        &[
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "memory.high",
            "cpu.weight",
            "cpu.max",
            "pids.max",
            "io.weight",
            "io.max",
            "hugetlb.2MB.max",
            "cpuset.cpus",
            "cpuset.mems",
        ],
    );
    let mi = format!("30 1 0:26 / {} rw - cgroup2 cgroup2 rw\n", root.display());
    let layout = Layout::parse(&mi, "0::/\n");
    assert_eq!(layout.mode, Mode::V2);
    let cg = Cgroup::resolve(&layout, "/cella/x").unwrap();
    let mut r = full_resources();
    r.unified.insert("memory.high".into(), "50000000".into());
    // (Device rules on v2 load a BPF program into a real cgroup: tested by
    // cella-runtime's cgroup_shapes::pure_v2_view_enforces_device_rules.)
    let warnings = cg.apply(&r, &[]).unwrap();
    assert_eq!(read(&c, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&c, "memory.low"), (32u64 << 20).to_string());
    assert_eq!(
        read(&c, "memory.swap.max"),
        (32u64 << 20).to_string(),
        "v2 swap excludes memory"
    );
    assert_eq!(read(&c, "cpu.weight"), "39");
    assert_eq!(read(&c, "cpu.max"), "20000 100000");
    assert_eq!(read(&c, "pids.max"), "10");
    assert_eq!(read(&c, "io.weight"), "default 4950");
    assert_eq!(read(&c, "io.max"), "8:0 rbps=1048576");
    assert_eq!(read(&c, "hugetlb.2MB.max"), (4u64 << 20).to_string());
    assert_eq!(read(&c, "cpuset.cpus"), "0-1");
    assert_eq!(read(&c, "memory.high"), "50000000");
    // Controllers are enabled from the root down (a plain file keeps the last write).
    assert!(read(&root, "cgroup.subtree_control").starts_with('+'));
    assert!(read(&root.join("cella"), "cgroup.subtree_control").starts_with('+'));
    assert!(warnings.is_empty(), "{warnings:?}");

    let rt = Resources {
        cpu: Some(Cpu {
            realtime_runtime: Some(1000),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(cg.apply(&rt, &[]).unwrap_err().to_string().contains("realtime"));
    let unknown = Resources {
        unified: [("memory.nope".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    assert!(cg.apply(&unknown, &[]).unwrap_err().to_string().contains("memory.nope"));
}

#[test]
fn pure_v1_writes_each_controller_and_orders_devices() {
    let t = Tree::new("v1");
    let mut mi = String::new();
    let ctrls = [
        "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "hugetlb",
    ];
    for (i, c) in ctrls.iter().enumerate() {
        let mp = t.0.join(c);
        std::fs::create_dir_all(&mp).unwrap();
        mi += &format!(
            "{} 31 0:{} / {} rw - cgroup cgroup rw,{c}\n",
            40 + i,
            40 + i,
            mp.display()
        );
    }
    let layout = Layout::parse(&mi, "");
    assert_eq!(layout.mode, Mode::V1);
    let cg = Cgroup::resolve(&layout, "/cella/x").unwrap();
    let d = |c: &str| cg.v1(c).unwrap().to_path_buf();
    t.files(
        "memory/cella/x",
        &[
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
        ],
    );
    t.files("cpu/cella/x", &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"]);
    t.files("cpuset/cella/x", &["cpuset.cpus", "cpuset.mems"]);
    t.files("pids/cella/x", &["pids.max"]);
    t.files("blkio/cella/x", &["blkio.throttle.read_bps_device"]);
    t.files("hugetlb/cella/x", &["hugetlb.2MB.limit_in_bytes"]);
    t.files("devices/cella/x", &["devices.allow", "devices.deny"]);
    t.files("freezer/cella/x", &["freezer.state"]);

    // This machine's blkio has no weight file: the error names the field.
    let e = cg.apply(&full_resources(), &[]).unwrap_err().to_string();
    assert!(e.contains("blockIO.weight"), "{e}");
    let mut r = full_resources();
    r.block_io.as_mut().unwrap().weight = None;
    r.devices = vec![DeviceRule {
        allow: false,
        access: Some("rwm".into()),
        ..Default::default()
    }];
    let extra = [DeviceRule {
        allow: true,
        kind: Some("c".into()),
        major: Some(1),
        minor: Some(3),
        access: Some("rwm".into()),
    }];
    cg.apply(&r, &extra).unwrap();
    assert_eq!(read(&d("memory"), "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(
        read(&d("memory"), "memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(
        read(&d("memory"), "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(read(&d("cpu"), "cpu.shares"), "1024");
    assert_eq!(read(&d("cpu"), "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(&d("cpu"), "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&d("cpuset"), "cpuset.mems"), "0");
    assert_eq!(read(&d("pids"), "pids.max"), "10");
    assert_eq!(read(&d("blkio"), "blkio.throttle.read_bps_device"), "8:0 1048576");
    assert_eq!(
        read(&d("hugetlb"), "hugetlb.2MB.limit_in_bytes"),
        (4u64 << 20).to_string()
    );
    // Each file is opened once and each write(2) is one rule, as the
    // kernel takes them; this fake keeps every write, in order: deny-all,
    // then the config's deny (also "a"), then the allow rule.
    assert_eq!(read(&d("devices"), "devices.deny"), "aa");
    assert_eq!(read(&d("devices"), "devices.allow"), "c 1:3 rwm");

    cg.freeze().unwrap();
    assert!(cg.is_frozen());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());
    let stats = cg.stats();
    assert!(stats["memory"].is_object() && stats["cpu"].is_object());
}
