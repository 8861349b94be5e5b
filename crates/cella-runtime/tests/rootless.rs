//! The runtime as an unprivileged user: a `spec --rootless` bundle runs with a
//! user namespace that maps the caller to root. The tests switch to uid 1000
//! with setpriv(1) when started as root.

mod common;
use common::*;

const UID: u32 = 1000;

fn as_user(rt: &Rt, args: &[&str]) -> Out {
    let mut c = std::process::Command::new("setpriv");
    c.args([
        &format!("--reuid={UID}"),
        &format!("--regid={UID}"),
        "--clear-groups",
        "--inh-caps=-all",
        BIN,
        "--root",
    ])
    .arg(&rt.root)
    .args(args);
    rt.exec_cmd(c)
}

fn rootless_bundle(script: &str) -> Bundle {
    let b = Bundle::busybox_rootless(&["sh", "-c", script], UID, UID);
    b.write();
    b
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn rootless_run_maps_the_caller_to_root() {
    let rt = Rt::new();
    let b = rootless_bundle("id -u; cat /proc/self/uid_map /proc/self/gid_map; hostname; echo $$");
    let o = as_user(&rt, &["run", "--bundle", b.dir.to_str().unwrap(), &unique("rootless")]).ok();
    let words: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "1000", "1", "0", "1000", "1", "cella", "1"], "{o:?}");
    assert!(
        o.stderr.contains("rootless") && o.stderr.contains("cgroup"),
        "one warning about cgroups: {o:?}"
    );
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn rootless_create_start_delete() {
    let rt = Rt::new();
    let id = unique("rl-life");
    let b = rootless_bundle("sleep 30");
    as_user(&rt, &["create", "--bundle", b.dir.to_str().unwrap(), &id]).ok();
    as_user(&rt, &["start", &id]).ok();
    let st = as_user(&rt, &["state", &id]).ok();
    assert!(st.stdout.contains("\"running\""), "{st:?}");
    as_user(&rt, &["delete", "--force", &id]).ok();
    assert!(!rt.state_dir(&id).exists());
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn rootless_spec_command_writes_the_callers_mapping() {
    let rt = Rt::new();
    let dir = std::env::temp_dir().join(unique("rl-spec"));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(UID), Some(UID)).unwrap();
    as_user(&rt, &["spec", "--rootless", "--bundle", dir.to_str().unwrap()]).ok();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(v["linux"]["uidMappings"][0]["hostID"], UID);
    assert!(v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
fn rootless_subuid_ranges_go_through_newuidmap() {
    // A user with /etc/subuid and /etc/subgid ranges. So as not to change the
    // machine's files, the test's own passwd/group/subuid/subgid are bound over
    // /etc in a private mount namespace where newuidmap runs.
    let rt = Rt::new();
    let id = unique("subuid");
    let mut b = Bundle::busybox_rootless(&["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id"], UID, UID);
    let ranges = vec![
        cella_spec::IdMapping {
            container_id: 0,
            host_id: UID,
            size: 1,
        },
        cella_spec::IdMapping {
            container_id: 1,
            host_id: 300_000,
            size: 65536,
        },
    ];
    let l = b.spec.linux.as_mut().unwrap();
    l.uid_mappings = ranges.clone();
    l.gid_mappings = ranges;
    b.spec.process.as_mut().unwrap().user.additional_gids = vec![5];
    b.write();
    let etc = b.dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap() + &format!("tester:x:{UID}:{UID}::/tmp:/bin/sh\n");
    let group = std::fs::read_to_string("/etc/group").unwrap() + &format!("tester:x:{UID}:\n");
    for (name, text) in [
        ("passwd", passwd),
        ("group", group),
        ("subuid", "tester:300000:65536\n".into()),
        ("subgid", "tester:300000:65536\n".into()),
    ] {
        std::fs::write(etc.join(name), text).unwrap();
    }
    let binds: String = ["passwd", "group", "subuid", "subgid"]
        .iter()
        .map(|f| format!("mount --bind {}/{f} /etc/{f} && ", etc.display()))
        .collect();
    let run = rt.run_line(&b, &id, "");
    let o = rt
        .sh(
            &format!("{binds} exec setpriv --reuid={UID} --regid={UID} --clear-groups {run}"),
            true,
        )
        .ok();
    let words: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "0",
            "1000",
            "1",
            "1",
            "300000",
            "65536",
            "0",
            "1000",
            "1",
            "1",
            "300000",
            "65536",
            "uid=0(root)",
            "gid=0(root)",
            "groups=5"
        ],
        "{o:?}"
    );
}

#[test]
#[cfg_attr(not(cella_test_root), ignore = "needs root, as the whole suite does")]
#[cfg_attr(
    not(cella_test_v1_pids),
    ignore = "needs a v1 pids hierarchy to delegate; this host has none"
)]
fn rootless_uses_a_delegated_cgroup_and_skips_the_rest() {
    let layout = cella_cgroups::Layout::detect().unwrap();
    let pids = layout
        .hierarchies
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "pids"))
        .expect("a v1 pids hierarchy (cella_test_v1_pids)");
    // Delegate a pids cgroup to the user, as an administrator (or systemd) would.
    let name = unique("cella-deleg");
    let deleg = pids.mountpoint.join(&name);
    std::fs::create_dir(&deleg).unwrap();
    for p in [deleg.clone(), deleg.join("cgroup.procs"), deleg.join("tasks")] {
        std::os::unix::fs::chown(&p, Some(UID), Some(UID)).unwrap();
    }
    let rt = Rt::new();
    let mut b = Bundle::busybox_rootless(
        &[
            "sh",
            "-c",
            "(for i in $(seq 20); do sleep 5 & done; wait) 2>/dev/null; echo rc=$?",
        ],
        UID,
        UID,
    );
    let l = b.spec.linux.as_mut().unwrap();
    l.cgroups_path = Some(format!("/{name}/c"));
    l.resources = Some(cella_spec::Resources {
        pids: Some(cella_spec::resources::Pids { limit: 5 }),
        ..Default::default()
    });
    b.write();
    let o = as_user(&rt, &["run", "--bundle", b.dir.to_str().unwrap(), &unique("deleg")]);
    let leftover = deleg.join("c").exists();
    let _ = std::fs::remove_dir(deleg.join("c"));
    std::fs::remove_dir(&deleg).unwrap();
    let o = o.ok();
    assert!(
        !o.stdout.starts_with("rc=0"),
        "forks past the delegated pids limit must fail: {o:?}"
    );
    assert!(!leftover, "the container's cgroup was not removed");
}
