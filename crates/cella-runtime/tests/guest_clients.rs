//! Clients with their defaults on a systemd host: Debian's podman 4.3
//! (cgroup_manager = "systemd", so it passes --systemd-cgroup and a
//! `machine.slice:libpod:ID` cgroupsPath) runs containers on cella-runtime
//! exactly as it does on runc: the limits, the scope, stop and rm; as root,
//! and rootless (the runtime then runs as uid 0 of podman's user namespace
//! and must use the user's own systemd, as the user's uid).
//! containerd with SystemdCgroup = true is in tests/cri. Run in the guest
//! of tests/vm/run.sh.

mod common;
use common::*;
use std::process::Command;

/// Who runs podman: root, or the guest's `tester` (uid 1000, lingering, so
/// that their systemd and session bus run).
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Root,
    Tester,
}

fn podman_cmd(who: Who) -> Command {
    match who {
        Who::Root => Command::new("podman"),
        Who::Tester => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=1000", "--regid=1000", "--init-groups", "--reset-env"])
                .args(["env", "HOME=/home/tester", "USER=tester", "LOGNAME=tester"])
                .args([
                    "XDG_RUNTIME_DIR=/run/user/1000",
                    "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
                ])
                .args(["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "podman"])
                .current_dir("/tmp");
            c
        }
    }
}

/// Runs podman with `args` on `runtime`; stdout when it succeeds.
fn podman(who: Who, runtime: &str, args: &[&str]) -> Result<String, String> {
    let o = podman_cmd(who)
        .arg("--runtime")
        .arg(runtime)
        .args(args)
        .output()
        .expect("run podman");
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    if o.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "podman {args:?} on {runtime} failed: {}\n{out}",
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// A busybox image in the user's podman store, made from the test bundle's rootfs.
fn image(who: Who) -> String {
    let name = "localhost/cella-guest-busybox:1".to_string();
    if podman_cmd(who)
        .args(["image", "exists", &name])
        .status()
        .unwrap()
        .success()
    {
        return name;
    }
    let b = Bundle::busybox(&["true"]);
    let tar = std::env::temp_dir().join(unique("busybox")).with_extension("tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(b.rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let o = podman_cmd(who).arg("import").arg(&tar).arg(&name).output().unwrap();
    let _ = std::fs::remove_file(&tar);
    assert!(
        o.status.success(),
        "podman import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    name
}

/// One podman session on a runtime: what a user sees, with ids replaced.
fn session(who: Who, runtime: &str, img: &str) -> Vec<String> {
    let podman = |runtime: &str, args: &[&str]| podman(who, runtime, args);
    let mut seen = Vec::new();
    let info = podman(
        runtime,
        &["info", "--format", "{{.Host.CgroupManager}} {{.Host.CgroupsVersion}}"],
    )
    .unwrap();
    seen.push(format!("info: {info}"));
    // A foreground run with limits, reading them inside.
    let out = podman(
        runtime,
        &[
            "run",
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpus",
            "0.5",
            img,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max /proc/self/cgroup",
        ],
    )
    .unwrap();
    seen.push(format!("run: {out}"));
    // A detached container: its scope, then stop and rm.
    let name = unique("pod");
    let id = podman(
        runtime,
        &["run", "-d", "--name", &name, "--memory", "32m", img, "sleep", "1000"],
    )
    .unwrap();
    let pid = podman(runtime, &["inspect", "--format", "{{.State.Pid}}", &name]).unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let unit = format!("libpod-{id}.scope");
    seen.push(format!("cgroup: {}", cgroup.trim().replace(&id, "ID")));
    let dir = format!("/sys/fs/cgroup{}", cgroup.trim().trim_start_matches("0::"));
    seen.push(format!(
        "memory.max: {}",
        std::fs::read_to_string(format!("{dir}/memory.max"))
            .unwrap_or_default()
            .trim()
    ));
    if who == Who::Root {
        seen.push(format!(
            "unit: {} {} {}",
            unit_property(&unit, "ActiveState"),
            unit_property(&unit, "Slice"),
            unit_property(&unit, "MemoryMax")
        ));
    }
    podman(runtime, &["stop", "-t", "2", &name]).unwrap();
    let status = podman(runtime, &["inspect", "--format", "{{.State.Status}}", &name]).unwrap();
    let left = || std::path::Path::new(&dir).exists();
    seen.push(format!("stopped: {status} cgroup left: {}", left()));
    podman(runtime, &["rm", &name]).unwrap();
    let gone = podman(
        runtime,
        &["ps", "-a", "--filter", &format!("name={name}"), "--format", "{{.ID}}"],
    )
    .unwrap();
    seen.push(format!("after rm: {gone:?} cgroup left: {}", left()));
    seen
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn podman_with_its_systemd_defaults_runs_on_cella_as_on_runc() {
    require_guest();
    let img = image(Who::Root);
    let runc = session(Who::Root, "/usr/sbin/runc", &img);
    let cella = session(Who::Root, BIN, &img);
    assert_eq!(cella, runc, "podman saw something else on cella than on runc");
    // And what both saw is right.
    assert_eq!(cella[0], "info: systemd v2");
    assert!(
        cella[1].starts_with("run: 67108864\n50\n50000 100000\n0::/"),
        "{cella:?}"
    );
    assert!(
        cella[2].starts_with("cgroup: 0::/machine.slice/libpod-ID.scope"),
        "{cella:?}"
    );
    assert_eq!(cella[3], format!("memory.max: {}", 32u64 << 20));
    assert_eq!(cella[4], format!("unit: active machine.slice {}", 32u64 << 20));
    assert_eq!(cella[5], "stopped: exited cgroup left: false");
    assert_eq!(cella[6], "after rm: \"\" cgroup left: false");
}

#[test]
#[ignore = "needs systemd as PID 1 on pure cgroup v2: runs in the guest of tests/vm/run.sh"]
fn rootless_podman_with_its_systemd_defaults_runs_on_cella_as_on_runc() {
    require_guest();
    let img = image(Who::Tester);
    let runc = session(Who::Tester, "/usr/sbin/runc", &img);
    let cella = session(Who::Tester, BIN, &img);
    assert_eq!(cella, runc, "rootless podman saw something else on cella than on runc");
    assert_eq!(cella[0], "info: systemd v2");
    assert!(
        cella[1].starts_with("run: 67108864\n50\n50000 100000\n0::/"),
        "{cella:?}"
    );
    assert!(
        cella[2].starts_with("cgroup: 0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-ID.scope"),
        "{cella:?}"
    );
    assert_eq!(cella[3], format!("memory.max: {}", 32u64 << 20));
    assert_eq!(cella[4], "stopped: exited cgroup left: false");
}
