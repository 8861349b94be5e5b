//! Regression tests for known runtime escapes.

mod common;
use common::*;

#[test]
fn runtime_binary_is_a_sealed_copy_that_cannot_be_written() {
    // CVE-2019-5736: a container process reopening the runtime through
    // /proc/PID/exe must not reach the binary on the host.
    let rt = Rt::new();
    let id = unique("exe");
    rt.create(&sh("true"), &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    assert!(std::fs::read_link(&exe)
        .unwrap()
        .to_string_lossy()
        .starts_with("/memfd:"));
    let write = std::fs::OpenOptions::new().write(true).open(&exe).and_then(|mut f| {
        use std::io::Write;
        f.write_all(b"overwritten")
    });
    assert!(write.is_err(), "the runtime image of a container must not be writable");
    let host = std::fs::read(BIN).unwrap();
    assert!(!host.starts_with(b"overwritten"));
    rt.exec(&["delete", &id]).ok();
}

#[test]
fn leaked_host_fds_do_not_reach_the_container() {
    // CVE-2024-21626: an fd open in the caller (here /sys/fs/cgroup as fd 7)
    // must be closed before the container's process starts.
    let rt = Rt::new();
    let id = unique("leak");
    let b = sh("ls -l /proc/self/fd | grep -c /sys/fs/cgroup");
    let o = rt.sh(
        &format!("exec 7</sys/fs/cgroup; exec {}", rt.run_line(&b, &id, "")),
        false,
    );
    assert_eq!(o.stdout, "0\n", "{o:?}");
}

#[test]
fn cwd_through_a_leaked_fd_is_refused() {
    let rt = Rt::new();
    let id = unique("cwdleak");
    let mut b = sh("pwd; ls");
    b.spec.process.as_mut().unwrap().cwd = "/proc/self/fd/7".into();
    let o = rt
        .sh(
            &format!("exec 7</sys/fs/cgroup; exec {}", rt.run_line(&b, &id, "")),
            false,
        )
        .failed();
    assert!(o.stderr.contains("outside the container root"), "{o:?}");
    assert!(
        !o.stdout.contains("cpu"),
        "the container listed a host directory: {o:?}"
    );
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn dev_null_replaced_by_a_symlink_is_not_used_for_masking() {
    // The 2025 masking races: the mask source must really be the null device.
    let rt = Rt::new();
    let id = unique("devnull");
    let mut b = sh("true");
    // /dev as a bind of a directory from the image, where /dev/null is a link.
    let fake_dev = b.dir.join("fakedev");
    std::fs::create_dir_all(&fake_dev).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", fake_dev.join("null")).unwrap();
    b.spec.mounts.retain(|m| !m.destination.starts_with("/dev"));
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/dev".into(),
        kind: Some("bind".into()),
        source: Some(fake_dev.display().to_string()),
        options: vec!["rbind".into()],
    });
    let o = rt.run(&b, &id).failed();
    assert!(o.stderr.contains("/dev/null"), "{o:?}");
    assert!(!rt.state_dir(&id).exists());
}
