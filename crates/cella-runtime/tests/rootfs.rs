//! The root filesystem: mounts with their options, devices, read-only root,
//! masked and read-only paths, sysctls, and mount targets that cannot escape.

mod common;
use cella_spec::Mount;
use common::*;

fn bind(src: &std::path::Path, dest: &str, opts: &[&str]) -> Mount {
    Mount {
        destination: dest.into(),
        kind: Some("bind".into()),
        source: Some(src.display().to_string()),
        options: opts.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn read_only_root_masked_and_read_only_paths() {
    let rt = Rt::new();
    let b = sh("touch /x 2>/dev/null && echo root-rw || echo root-ro;
        echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-rw || echo sys-ro;
        wc -c < /proc/keys; ls /sys/firmware 2>/dev/null | wc -l;
        touch /dev/shm/ok && echo shm-rw");
    let o = rt.run(&b, &unique("ro")).ok();
    assert_eq!(o.stdout, "root-ro\nsys-ro\n0\n0\nshm-rw\n");
}

#[test]
fn bind_mounts_with_options_and_relative_sources() {
    let rt = Rt::new();
    let mut b = sh(
        "cat /data/hello; echo x > /data/new 2>/dev/null && echo data-rw || echo data-ro;
        echo y > /rw/new && echo rw-ok; cat /rel/file;
        grep ' /data ' /proc/self/mountinfo | grep -q nosuid && echo nosuid",
    );
    let host = b.dir.join("hostdata");
    let rwdir = b.dir.join("rwdata");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(&rwdir).unwrap();
    std::fs::create_dir_all(b.dir.join("reldir")).unwrap();
    std::fs::write(host.join("hello"), "hi\n").unwrap();
    std::fs::write(b.dir.join("reldir/file"), "relative\n").unwrap();
    b.spec.mounts.push(bind(&host, "/data", &["rbind", "ro", "nosuid"]));
    b.spec.mounts.push(bind(&rwdir, "/rw", &["bind", "rw"]));
    b.spec.mounts.push(Mount {
        destination: "/rel".into(),
        kind: None,
        source: Some("reldir".into()),
        options: vec!["bind".into()],
    });
    let o = rt.run(&b, &unique("bind")).ok();
    assert_eq!(o.stdout, "hi\ndata-ro\nrw-ok\nrelative\nnosuid\n");
    assert_eq!(std::fs::read_to_string(rwdir.join("new")).unwrap(), "y\n");
    assert!(!host.join("new").exists());
}

#[test]
fn tmpfs_with_size_and_mode_and_file_bind_mount() {
    let rt = Rt::new();
    let mut b = sh("stat -c %a /scratch; df -k /scratch | tail -1 | awk '{print $2}'; cat /etc/motd");
    let motd = b.dir.join("motd");
    std::fs::write(&motd, "welcome\n").unwrap();
    b.spec.mounts.push(Mount {
        destination: "/scratch".into(),
        kind: Some("tmpfs".into()),
        source: Some("tmpfs".into()),
        options: vec!["mode=1770".into(), "size=2048k".into(), "nodev".into()],
    });
    b.spec.mounts.push(bind(&motd, "/etc/motd", &["bind", "ro"]));
    let o = rt.run(&b, &unique("tmpfs")).ok();
    assert_eq!(o.stdout, "1770\n2048\nwelcome\n");
}

#[test]
fn default_devices_symlinks_and_linux_devices() {
    let rt = Rt::new();
    let mut b = sh(
        "for d in null zero full random urandom tty; do stat -c '%n %t:%T %a' /dev/$d; done;
        readlink /dev/fd; readlink /dev/ptmx; stat -c '%n %t:%T %a %u' /dev/fuse; head -c 3 /dev/zero | wc -c",
    );
    b.spec.linux.as_mut().unwrap().devices.push(cella_spec::Device {
        kind: "c".into(),
        path: "/dev/fuse".into(),
        major: 10,
        minor: 229,
        file_mode: Some(0o600),
        uid: Some(0),
        gid: Some(0),
    });
    let o = rt.run(&b, &unique("dev")).ok();
    let want = "/dev/null 1:3 666\n/dev/zero 1:5 666\n/dev/full 1:7 666\n/dev/random 1:8 666\n/dev/urandom 1:9 666\n\
        /dev/tty 5:0 666\n/proc/self/fd\npts/ptmx\n/dev/fuse a:e5 600 0\n3\n";
    assert_eq!(o.stdout, want);
}

#[test]
fn namespaced_sysctl_is_applied_and_host_unchanged() {
    let rt = Rt::new();
    let mut b = sh("cat /proc/sys/net/ipv4/ip_unprivileged_port_start");
    b.spec
        .linux
        .as_mut()
        .unwrap()
        .sysctl
        .insert("net.ipv4.ip_unprivileged_port_start".into(), "99".into());
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let o = rt.run(&b, &unique("sysctl")).ok();
    assert_eq!(o.stdout, "99\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host_before
    );
}

#[test]
fn no_pivot_uses_a_move_mount_and_chroot() {
    let rt = Rt::new();
    let b = sh("ls / | grep -cx bin");
    b.write();
    let o = rt
        .exec(&[
            "run",
            "--no-pivot",
            "--bundle",
            b.dir.to_str().unwrap(),
            &unique("nopivot"),
        ])
        .ok();
    assert_eq!(o.stdout, "1\n", "{o:?}");
}

#[test]
fn rootfs_propagation_setting_is_honoured() {
    let rt = Rt::new();
    let mut b = sh("grep -E ' / / ' /proc/self/mountinfo | grep -o 'master:[0-9]*' | head -1 || echo none");
    b.spec.linux.as_mut().unwrap().rootfs_propagation = Some("private".into());
    let o = rt.run(&b, &unique("prop")).ok();
    assert!(!o.stdout.contains("master:"), "{o:?}");
}
