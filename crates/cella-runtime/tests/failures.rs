//! Every failure says what failed and where, exits non-zero, and leaves no
//! state directory, cgroup or process behind.

mod common;
use common::*;

/// No process anywhere still carries this container id on its command line.
fn no_process_with(id: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        !String::from_utf8_lossy(&cmd).contains(id)
    })
}

fn assert_nothing_left(rt: &Rt, id: &str) {
    assert!(!rt.state_dir(id).exists(), "state directory left");
    for d in default_cgroup_dirs(id) {
        assert!(!d.exists(), "{} left", d.display());
    }
    assert!(eventually(|| no_process_with(id)), "a process of {id} is still alive");
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(id));
}

#[test]
fn missing_rootfs_names_the_path() {
    let rt = Rt::new();
    let id = unique("norootfs");
    let b = sh("true");
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    let o = rt.run(&b, &id).failed();
    assert!(
        o.stderr.contains("open rootfs") && o.stderr.contains(&b.dir.display().to_string()),
        "{o:?}"
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn broken_config_json_names_the_file() {
    let rt = Rt::new();
    let id = unique("badjson");
    let b = sh("true");
    std::fs::write(b.dir.join("config.json"), "{ not json").unwrap();
    let o = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]).failed();
    assert!(o.stderr.contains("config.json"), "{o:?}");
    assert_nothing_left(&rt, &id);
}

#[test]
fn failure_inside_the_init_after_clone_leaves_nothing() {
    let rt = Rt::new();
    let id = unique("badmount");
    let mut b = sh("true");
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/data".into(),
        kind: Some("bind".into()),
        source: Some("/nonexistent/source/dir".into()),
        options: vec!["bind".into()],
    });
    let o = rt.run(&b, &id).failed();
    assert!(
        o.stderr.contains("/data") && o.stderr.contains("/nonexistent/source/dir"),
        "{o:?}"
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn refusals_of_bad_ids_configs_and_states() {
    let rt = Rt::new();
    let b = sh("true");
    b.write();
    let bundle = b.dir.to_str().unwrap();
    for bad in ["../escape", ".hidden", "a/b"] {
        let o = rt.exec(&["create", "--bundle", bundle, bad]).failed();
        assert!(o.stderr.contains("invalid container id"), "{o:?}");
    }
    let id = unique("dup");
    rt.create(&b, &id).ok();
    let o = rt.create(&b, &id).failed();
    assert!(o.stderr.contains("already exists"), "{o:?}");
    assert_eq!(
        rt.status(&id),
        "created",
        "the failed second create must not disturb the first"
    );

    let o = rt.exec(&["delete", "no-such-container"]).failed();
    assert!(o.stderr.contains("does not exist"), "{o:?}");
    rt.exec(&["delete", "--force", "no-such-container"]).ok();
    let o = rt.exec(&["kill", &id, "SIGNOPE"]).failed();
    assert!(o.stderr.contains("SIGNOPE"), "{o:?}");

    let mut b2 = sh("true");
    b2.spec.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "uts");
    let id2 = unique("nouts");
    let o = rt.create(&b2, &id2).failed();
    assert!(o.stderr.contains("hostname") && o.stderr.contains("UTS"), "{o:?}");
    assert_nothing_left(&rt, &id2);

    let mut b3 = sh("true");
    b3.spec.linux.as_mut().unwrap().seccomp = Some(cella_spec::seccomp::Seccomp {
        default_action: "SCMP_ACT_BOGUS".into(),
        ..Default::default()
    });
    let id3 = unique("seccomp");
    let o = rt.create(&b3, &id3).failed();
    assert!(
        o.stderr.contains("linux.seccomp") && o.stderr.contains("SCMP_ACT_BOGUS"),
        "{o:?}"
    );
    assert_nothing_left(&rt, &id3);
}

#[test]
fn json_log_carries_the_error_for_containerd() {
    let rt = Rt::new();
    let id = unique("jsonlog");
    let b = sh("true");
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    b.write();
    let log = b.dir.join("log.json");
    let o = rt
        .exec(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ])
        .failed();
    assert!(
        o.stderr.contains("open rootfs"),
        "a person at a terminal sees the error too: {o:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("open rootfs"));
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn systemd_driver_without_a_reachable_systemd_is_a_clear_error() {
    // An empty /run: neither systemd's private socket nor a system bus.
    let rt = Rt::new();
    let id = unique("systemd");
    let b = sh("true");
    b.write();
    let o = rt
        .sh(
            &format!(
                "mount -t tmpfs none /run && exec env -u DBUS_SYSTEM_BUS_ADDRESS {} --root {} --systemd-cgroup create --bundle {} {id}",
                rt.bin.display(),
                rt.root.display(),
                b.dir.display()
            ),
            true,
        )
        .failed();
    assert!(
        o.stderr.contains("cannot reach the system's systemd") && o.stderr.contains("cgroupfs driver"),
        "{o:?}"
    );
    assert_nothing_left(&rt, &id);
}

#[test]
fn lsm_labels_without_the_lsm_are_refused_like_runc() {
    let rt = Rt::new();
    if !cella_runtime::lsm::apparmor_enabled() {
        let id = unique("aa");
        let mut b = sh("true");
        b.spec.process.as_mut().unwrap().apparmor_profile = Some("cella-default".into());
        let o = rt.create(&b, &id).failed();
        assert!(o.stderr.contains("AppArmor is not enabled"), "{o:?}");
        assert_nothing_left(&rt, &id);
    }
    if !cella_runtime::lsm::selinux_enabled() {
        let id = unique("se");
        let mut b = sh("true");
        b.spec.process.as_mut().unwrap().selinux_label = Some("system_u:system_r:container_t:s0".into());
        let o = rt.create(&b, &id).failed();
        assert!(o.stderr.contains("SELinux is not enabled"), "{o:?}");
        assert_nothing_left(&rt, &id);
    }
}

#[test]
fn a_create_killed_before_it_wrote_state_leaves_a_directory_delete_removes() {
    // What `create` killed between making its state directory and writing
    // state.json leaves (the cgroup is only made once state.json names it).
    let rt = Rt::new();
    for force in [false, true] {
        let id = unique("nostate");
        let dir = rt.state_dir(&id);
        std::fs::create_dir_all(&dir).unwrap();
        for d in [dir.as_path(), dir.parent().unwrap()] {
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        }
        let o = rt.exec(&["state", &id]).failed();
        assert!(o.stderr.contains("does not exist"), "as runc: {o:?}");
        let listed = rt.exec(&["list", "-q"]).ok();
        assert!(!listed.stdout.contains(&id), "{listed:?}");
        let args: &[&str] = if force {
            &["delete", "--force", &id]
        } else {
            &["delete", &id]
        };
        rt.exec(args).ok();
        assert!(!rt.state_dir(&id).exists());
        // The id can be used again.
        rt.run(&sh("true"), &id).ok();
        assert_nothing_left(&rt, &id);
    }
}

#[test]
fn a_damaged_state_is_named_and_delete_force_removes_it() {
    let rt = Rt::new();
    let id = unique("badstate");
    rt.create(&sh("true"), &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    std::fs::write(rt.state_dir(&id).join("state.json"), "{ not json").unwrap();
    let o = rt.exec(&["delete", &id]).failed();
    assert!(o.stderr.contains("state.json"), "names the file: {o:?}");
    assert!(rt.state_dir(&id).exists(), "nothing removed without --force");
    rt.exec(&["delete", "--force", &id]).ok();
    assert!(!rt.state_dir(&id).exists());
    // The init (waiting for start) still holds its cgroup: that is the
    // caller's to kill, as the state that named it is gone.
    let _ = cella_sys::process::kill(pid as i32, libc::SIGKILL);
    assert!(eventually(|| !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.contains(") Z"))));
    for d in default_cgroup_dirs(&id) {
        let _ = std::fs::remove_dir(d);
    }
}
