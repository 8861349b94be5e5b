//! The same runtime on the three cgroup shapes real machines have. This
//! machine is hybrid; a private mount namespace (unshare -m) gives the
//! runtime a pure-v1 view (cgroup2 unmounted) or a pure-v2 view (cgroup2
//! mounted on /sys/fs/cgroup) of the same kernel.

mod common;
use common::*;

fn run_in_view(prepare: &str, b: &Bundle, rt: &Rt, id: &str) -> Out {
    rt.sh(&format!("{prepare} && exec {}", rt.run_line(b, id, "")), true)
}

const PURE_V1: &str = "umount /sys/fs/cgroup/unified";
const PURE_V2: &str =
    "for m in $(awk '$3 == \"cgroup\" || $3 == \"cgroup2\" {print $2}' /proc/self/mounts); do umount $m; done; \
    umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup";

/// A bundle without a cgroup namespace prints its real cgroup paths.
fn cgroup_probe() -> Bundle {
    let mut b = sh("cat /proc/self/cgroup");
    b.spec.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "cgroup");
    b.spec.mounts.retain(|m| m.destination != "/sys/fs/cgroup");
    b
}

fn joined(out: &str, id: &str) -> (Vec<String>, Vec<String>) {
    let suffix = format!("/cella/{id}");
    out.lines().map(str::to_string).partition(|l| l.ends_with(&suffix))
}

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn pure_v1_view() {
    let rt = Rt::new();
    let id = unique("v1");
    let o = run_in_view(PURE_V1, &cgroup_probe(), &rt, &id).ok();
    let (inside, outside) = joined(&o.stdout, &id);
    assert!(inside.iter().any(|l| l.contains(":memory:")), "{o:?}");
    assert!(
        inside.iter().all(|l| !l.starts_with("0::")),
        "v2 must not be joined: {o:?}"
    );
    assert!(
        outside.iter().all(|l| l.starts_with("0::")),
        "every v1 hierarchy joined: {o:?}"
    );
}

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn pure_v1_view_joins_before_the_cgroup_namespace_and_mounts() {
    // The default spec (a cgroup namespace, /sys/fs/cgroup mounted) on pure
    // v1, where the init joins its v1 cgroups itself while its mounts are
    // made: it must have joined before making the namespace (so its cgroup
    // is / there) and before mounting the hierarchies (so they show its
    // cgroup, holding only the container's processes, not the host's).
    let rt = Rt::new();
    let id = unique("v1ns");
    let b = sh("cat /proc/self/cgroup; echo tasks $(wc -l < /sys/fs/cgroup/memory/tasks)");
    let o = run_in_view(PURE_V1, &b, &rt, &id).ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let (tasks, cgroups) = lines.split_last().expect("output");
    assert!(cgroups.iter().any(|l| l.contains(":memory:")), "{o:?}");
    assert!(cgroups.iter().all(|l| l.ends_with(":/")), "{o:?}");
    let n: usize = tasks
        .strip_prefix("tasks ")
        .and_then(|n| n.trim().parse().ok())
        .expect("a count");
    assert!((1..=3).contains(&n), "the memory hierarchy shows {n} tasks: {o:?}");
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

/// The cgroup mounts under /sys/fs/cgroup as "mount point, fstype, ro|rw"
/// (the fstype follows the "-" that ends the optional fields).
const CGROUP_MOUNTS: &str = "awk '$5 ~ \"^/sys/fs/cgroup\" {i = 7; while ($i != \"-\") i++; \
    split($6, o, \",\"); print $5, $(i + 1), o[1]}' /proc/self/mountinfo";

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn pure_v1_view_mounts_every_hierarchy_read_only() {
    // The default spec's /sys/fs/cgroup on pure v1: a read-only tmpfs with
    // each of the host's hierarchies mounted read-only at the name it has
    // on the host (the mount points are made in the runtime's own tmpfs).
    let rt = Rt::new();
    let host = rt.sh(&format!("{PURE_V1} && {CGROUP_MOUNTS}"), true).ok();
    let mut want: Vec<String> = host
        .stdout
        .lines()
        .filter(|l| l.contains(" cgroup "))
        .map(|l| {
            let mut f = l.split(' ');
            format!("{} cgroup ro", f.next().unwrap())
        })
        .collect();
    assert!(want.len() >= 2, "the host's v1 hierarchies: {host:?}");
    want.push("/sys/fs/cgroup tmpfs ro".into());
    want.sort();
    let o = run_in_view(PURE_V1, &sh(CGROUP_MOUNTS), &rt, &unique("v1mnt")).ok();
    let mut got: Vec<String> = o.stdout.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want, "{o:?}");
}

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn pure_v2_view() {
    let rt = Rt::new();
    let id = unique("v2");
    let o = run_in_view(PURE_V2, &cgroup_probe(), &rt, &id).ok();
    let (inside, _) = joined(&o.stdout, &id);
    assert_eq!(inside, [format!("0::/cella/{id}")], "{o:?}");
    // The container's v2 cgroup lived in the v2 tree and is gone again.
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/unified/cella/{id}")).exists());
}

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn pure_v2_view_enforces_device_rules() {
    // Without a v1 devices controller the rules become an eBPF program
    // attached to the container's v2 directory.
    let rt = Rt::new();
    let id = unique("v2dev");
    let mut b = sh("head -c 1 /dev/zero | wc -c; cat /dev/probe 2>&1; echo end");
    with_probe_device(&mut b);
    let o = run_in_view(PURE_V2, &b, &rt, &id).ok();
    assert!(
        o.stdout.starts_with("1\n") && o.stdout.contains("not permitted"),
        "{o:?}"
    );
}

#[test]
#[cfg_attr(
    not(cella_test_hybrid),
    ignore = "needs a hybrid cgroup host (v1 controllers and a v2 tree); this one is not"
)]
fn hybrid_joins_every_hierarchy() {
    let rt = Rt::new();
    let id = unique("hybrid");
    let b = sh("sleep 30");
    b.write();
    rt.exec(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let layout = cella_cgroups::Layout::detect().unwrap();
    let lines = own.lines().filter(|l| l.ends_with(&format!("/cella/{id}"))).count();
    assert_eq!(lines, layout.hierarchies.len(), "{own}");
    rt.exec(&["delete", "--force", &id]).ok();
}
