//! Runtime escapes, each tried for real with a bundle that attempts it:
//! the runtime binary through /proc/PID/exe (CVE-2019-5736), leaked host
//! fds (CVE-2024-21626), mount targets symlinked to the host
//! (CVE-2021-30465), masking with a /dev/null that is not one
//! (CVE-2025-31133), the /dev/console bind mount (CVE-2025-52565), and
//! writes into /proc redirected by mounts (CVE-2025-52881).

#[path = "../../crates/cella-runtime/tests/common/mod.rs"]
mod common;
use common::*;

#[test]
fn runtime_binary_cannot_be_rewritten_through_the_init() {
    // CVE-2019-5736: a container process reopening the runtime through
    // /proc/PID/exe must not reach the binary on the host. The runtime runs
    // from a copy of its own here, so that nothing else executing it could
    // hide a successful write behind "text file busy".
    let rt = Rt::new();
    let bin = rt.root.with_extension("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let copy = bin.join("cella-runtime");
    std::fs::copy(BIN, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let id = unique("exe");
    let b = sh("true");
    b.write();
    let mut c = std::process::Command::new(&copy);
    c.arg("--root")
        .arg(&rt.root)
        .args(["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    rt.exec_cmd(c).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    assert_ne!(
        std::fs::read_link(&exe).unwrap(),
        copy,
        "the init runs the host binary itself"
    );
    // What the attack does: hold the image, then write through it once
    // nothing runs it any more.
    let held = std::fs::File::open(&exe).unwrap();
    rt.exec(&["delete", "--force", &id]).ok();
    let through = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held));
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(&through)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(b"overwritten")
        });
    let err = write.expect_err("the runtime image of a container must not be writable");
    assert_ne!(
        err.raw_os_error(),
        Some(libc::ETXTBSY),
        "only busy, not protected: {err}"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), before, "the host binary changed");
    let _ = std::fs::remove_dir_all(&bin);
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

/// Gives the bundle a /dev of the image's making: a bind of a directory
/// (returned) that the image filled, instead of the runtime's tmpfs; the
/// devpts mount stays when `keep_pts`.
fn image_dev(b: &mut Bundle, keep_pts: bool) -> std::path::PathBuf {
    let fake_dev = b.dir.join("fakedev");
    std::fs::create_dir_all(fake_dev.join("pts")).unwrap();
    let pts = b.spec.mounts.iter().find(|m| m.destination == "/dev/pts").cloned();
    b.spec.mounts.retain(|m| !m.destination.starts_with("/dev"));
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/dev".into(),
        kind: Some("bind".into()),
        source: Some(fake_dev.display().to_string()),
        options: vec!["rbind".into()],
    });
    if keep_pts {
        b.spec.mounts.push(pts.expect("the default spec mounts devpts"));
    }
    fake_dev
}

#[test]
fn dev_null_replaced_by_a_symlink_is_not_used_for_masking() {
    // CVE-2025-31133: the mask source must really be the null device.
    let rt = Rt::new();
    let id = unique("devnull");
    let mut b = sh("true");
    let dev = image_dev(&mut b, false);
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    let o = rt.run(&b, &id).failed();
    assert!(o.stderr.contains("/dev/null"), "{o:?}");
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn dev_console_planted_as_a_symlink_is_replaced_not_followed() {
    // CVE-2025-52565: /dev/console from the image is a symlink to a /proc
    // file; binding the terminal through it would replace (or expose) that
    // file. The container must see a pty at /dev/console and the masked
    // /proc file still masked.
    let rt = Rt::new();
    let mut b =
        sh("stat -c '%F %t:%T' /dev/console; stat -c %t:%T /proc/keys; test -L /dev/console && echo link; true");
    b.spec.process.as_mut().unwrap().terminal = true;
    let dev = image_dev(&mut b, true);
    std::os::unix::fs::symlink("/proc/keys", dev.join("console")).unwrap();
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).unwrap();
    let dir = std::fs::File::open(&dev).unwrap();
    use std::os::fd::AsFd;
    let null = cella_sys::fd::makedev(1, 3);
    cella_sys::fd::mknodat(dir.as_fd(), std::path::Path::new("null"), libc::S_IFCHR | 0o666, null).unwrap();
    let o = rt.run(&b, &unique("console"));
    let out = o.stdout.replace('\r', "");
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("character special file 88:"),
        "a pty at /dev/console: {o:?}"
    );
    assert_eq!(lines[1], "1:3", "/proc/keys stays masked: {o:?}");
    assert_eq!(lines.len(), 2, "{o:?}");
}

#[test]
fn sysctl_writes_are_not_redirected_by_mounts_over_proc() {
    // CVE-2025-52881: a mount over /proc/sys/kernel/domainname (here a host
    // file of the test's) must not receive the runtime's sysctl write.
    let rt = Rt::new();
    let mut b = sh("echo started");
    let canary = b.dir.join("canary");
    std::fs::write(&canary, "untouched\n").unwrap();
    b.spec.mounts.push(cella_spec::Mount {
        destination: "/proc/sys/kernel/domainname".into(),
        kind: Some("bind".into()),
        source: Some(canary.display().to_string()),
        options: vec!["bind".into()],
    });
    b.spec
        .linux
        .as_mut()
        .unwrap()
        .sysctl
        .insert("kernel.domainname".into(), "redirected".into());
    let o = rt.run(&b, &unique("sysctl"));
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched\n", "{o:?}");
    assert_eq!(o.stdout, "started\n", "the sysctl went to the real procfs: {o:?}");
}

#[test]
fn symlinked_mount_targets_stay_inside_the_rootfs() {
    // CVE-2021-30465 style: the image plants absolute and ../ symlinks that
    // point at a host directory; the mounts must land inside the rootfs.
    let rt = Rt::new();
    let host_dir = std::env::temp_dir().join(unique("cella-victim"));
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("marker"), "host\n").unwrap();
    let mut b = sh("echo inside > /evil/written; echo inside2 > /evil2/written; ls /evil /evil2");
    b.spec.root.as_mut().unwrap().readonly = false;
    let rootfs = b.rootfs();
    std::os::unix::fs::symlink(&host_dir, rootfs.join("evil")).unwrap();
    let up = format!("../../../../../../../..{}", host_dir.display());
    std::os::unix::fs::symlink(&up, rootfs.join("evil2")).unwrap();
    for d in ["/evil", "/evil2"] {
        b.spec.mounts.push(cella_spec::Mount {
            destination: d.into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options: vec![],
        });
    }
    let o = rt.run(&b, &unique("escape"));
    let entries: Vec<String> = std::fs::read_dir(&host_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let _ = std::fs::remove_dir_all(&host_dir);
    let o = o.ok();
    assert_eq!(entries, ["marker"], "the host directory was written to: {o:?}");
    assert!(o.stdout.contains("written"), "{o:?}");
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&host_dir.display().to_string()));
}
