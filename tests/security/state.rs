//! Container state that someone else wrote: another user's planted state
//! directory (the rootless fallback /tmp/cella-UID), and a record that names
//! a process that is not the container's. Neither may make cella-runtime
//! signal a process.

#[path = "../../crates/cella-runtime/tests/common/mod.rs"]
mod common;
use common::*;
use std::process::Command;

#[test]
fn a_state_directory_planted_by_another_user_is_refused() {
    // In a private mount namespace whose /tmp is a tmpfs of the test's: user
    // 4444 makes /tmp/cella-4343 (world-writable) with a state.json naming a
    // process of user 4343, who then runs `kill` without XDG_RUNTIME_DIR.
    let script = format!(
        r#"set -u
        exec 9<{BIN}   # the binary stays reachable whatever /tmp held
        mount -t tmpfs tmpfs /tmp
        setpriv --reuid=4343 --regid=4343 --clear-groups sleep 300 &
        victim=$!
        for i in $(seq 50); do [ "$(stat -c %u /proc/$victim)" = 4343 ] && break; sleep 0.02; done
        start=$(cut -d' ' -f22 /proc/$victim/stat)
        state='{{"id":"evil","ociVersion":"1.0.2","bundle":"/","rootfs":"/","pid":'$victim',"pidStart":'$start',"created":"2026-01-01T00:00:00Z","owner":4343}}'
        setpriv --reuid=4444 --regid=4444 --clear-groups sh -c "mkdir -m 0777 /tmp/cella-4343 /tmp/cella-4343/evil && echo '$state' > /tmp/cella-4343/evil/state.json && chmod 0666 /tmp/cella-4343/evil/state.json"
        as_victim() {{ setpriv --reuid=4343 --regid=4343 --clear-groups env -u XDG_RUNTIME_DIR HOME=/tmp "$@"; }}
        as_victim /proc/self/fd/9 kill evil KILL; echo "kill=$?"
        as_victim /proc/self/fd/9 delete --force evil; echo "delete=$?"
        as_victim /proc/self/fd/9 state evil >/dev/null; echo "state=$?"
        sleep 0.2
        kill -0 $victim && echo alive
        kill $victim
        ls /tmp/cella-4343/evil"#
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for cmd in ["kill", "delete", "state"] {
        assert!(out.contains(&format!("{cmd}=1")), "{cmd} refused: {out} {err}");
    }
    assert!(out.contains("alive"), "the victim's process was signalled: {out} {err}");
    assert!(out.contains("state.json"), "the planted state is still there: {out}");
    assert!(
        err.contains("owned by uid 4444") && err.contains("XDG_RUNTIME_DIR"),
        "{err}"
    );
}

fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

#[test]
fn a_record_naming_a_process_that_is_not_the_containers_is_not_signalled() {
    // The user's own state directory, a record forged in it: the PID and
    // start time of an innocent process, beside a real container's cgroup,
    // or claiming a PID namespace of its own.
    let rt = Rt::new();
    let real = unique("real");
    rt.create(&sh("sleep 30"), &real).ok();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rt.state_dir(&real).join("state.json")).unwrap()).unwrap();
    let mut innocent = Command::new("sleep").arg("300").spawn().unwrap();
    let pid = innocent.id();
    for (name, cgroup, own_pid_ns, why) in [
        ("incg", record["cgroup"].clone(), false, "not in the container's cgroup"),
        ("inpidns", serde_json::Value::Null, true, "not PID 1 of a PID namespace"),
    ] {
        let id = unique(name);
        let mut forged = record.clone();
        forged["id"] = id.clone().into();
        forged["pid"] = pid.into();
        forged["pidStart"] = start_time(pid).into();
        forged["cgroup"] = cgroup;
        forged["ownPidNs"] = own_pid_ns.into();
        std::fs::create_dir_all(rt.state_dir(&id)).unwrap();
        std::fs::write(rt.state_dir(&id).join("state.json"), forged.to_string()).unwrap();
        for args in [
            vec!["kill", &id, "KILL"],
            vec!["kill", "--all", &id, "KILL"],
            vec!["delete", "--force", &id],
        ] {
            let o = rt.exec(&args);
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(
                innocent.try_wait().unwrap().is_none(),
                "{args:?} killed pid {pid}: {o:?}"
            );
            if args[1] != "--all" {
                assert!(o.stderr.contains(why), "{args:?}: {o:?}");
            }
        }
    }
    innocent.kill().unwrap();
    innocent.wait().unwrap();
}
